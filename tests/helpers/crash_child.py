"""Run manifests and SIGKILL this whole process group at a chosen point of the load.

Used by tests/functional/engine/test_crash_resume.py and the crash tests of tests/functional/copy/. The patches only choose *where* the real
SIGKILL lands; everything else (Spark, S3, PostgreSQL, the state store) is real.

    python -m tests.helpers.crash_child STATE_URL PHASE MANIFEST_DIR
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def die() -> None:
    sys.stdout.flush()
    os.killpg(os.getpgid(0), signal.SIGKILL)


def install(phase: str) -> None:
    from loader.copy import method as copy_method
    from loader.copy import transaction as copy_load

    if phase.startswith("spark_reader_"):  # the same phase with Spark reading a Parquet source pyarrow could
        from loader.runner import run as runner_run

        runner_run.direct_candidate = lambda *args: "read by Spark for this test"  # type: ignore[assignment]
        phase = phase[len("spark_reader_"):]
    if phase == "staging":  # some parts loaded into the open transaction, staging still running
        original = copy_method._CopyRun._load_part

        def load_then_die(self: Any, *args: Any, **kwargs: Any) -> int:
            rows = original(self, *args, **kwargs)
            die()
            return rows

        copy_method._CopyRun._load_part = load_then_die  # type: ignore[method-assign]
    elif phase == "staged":  # everything staged, nothing committed
        original_finish = copy_load.CopyTransaction.finish

        def finish_then_die(self: Any) -> int:
            die()
            return original_finish(self)

        copy_load.CopyTransaction.finish = finish_then_die  # type: ignore[method-assign]
    elif phase == "loading":  # inside the final statements of the transaction
        original_finish = copy_load.CopyTransaction.finish

        def die_in_finish(self: Any) -> int:
            rows = original_finish(self)
            die()
            return rows

        copy_load.CopyTransaction.finish = die_in_finish  # type: ignore[method-assign]
    elif phase == "committed":  # the data is committed, the state store not yet told
        from loader.destination import load_transaction

        original_commit = load_transaction.LoadTransaction.commit

        def commit_then_die(self: Any, before: Any = None) -> None:
            original_commit(self, before)
            die()

        load_transaction.LoadTransaction.commit = commit_then_die  # type: ignore[method-assign]
    elif phase.startswith("shadow_"):
        _install_shadow(phase)
    elif phase in ("prepared", "decided", "one_committed"):
        _install_prepared(phase)
    elif phase.startswith("landing_"):
        _install_landing(phase)
    else:
        raise SystemExit(f"unknown phase {phase}")


def _install_shadow(phase: str) -> None:
    """The shadow overwrite (copy.connections > 1): killed while parts COPY into the shadow, once its
    indexes are built (before the swap), or right after the swap's COMMIT."""
    from loader.copy import shadow_copy
    from loader.destination import shadow_swap

    if phase == "shadow_copying":  # a part committed into the shadow, others on their way
        original_copy = shadow_copy.ShadowCopy._copy

        def copy_then_die(self: Any, key: str) -> int:
            rows = original_copy(self, key)
            die()
            return rows

        shadow_copy.ShadowCopy._copy = copy_then_die  # type: ignore[method-assign]
    elif phase == "shadow_built":  # every row in the shadow, its indexes built, no swap yet
        original_build = shadow_swap.ShadowTable.build

        def build_then_die(self: Any, conn: Any) -> None:
            original_build(self, conn)
            die()

        shadow_swap.ShadowTable.build = build_then_die  # type: ignore[method-assign]
    elif phase == "shadow_swapped":  # the swap committed, the state store not yet told
        original_swap = shadow_swap.ShadowTable.swap

        def swap_then_die(self: Any, *args: Any, **kwargs: Any) -> None:
            original_swap(self, *args, **kwargs)
            die()

        shadow_swap.ShadowTable.swap = swap_then_die  # type: ignore[method-assign]


def _install_prepared(phase: str) -> None:
    """An append over prepared transactions (copy/prepared_copy.py): killed with every connection
    prepared and no decision, right after the decision (the ledger row) committed, or between the
    first COMMIT PREPARED and the others."""
    from loader.copy import prepared_copy
    from loader.destination import prepared

    if phase == "prepared":  # every connection prepared, the ledger row not committed
        original_prepare = prepared_copy.PreparedCopy.prepare

        def prepare_then_die(self: Any) -> None:
            original_prepare(self)
            die()

        prepared_copy.PreparedCopy.prepare = prepare_then_die  # type: ignore[method-assign]
    elif phase == "one_committed":  # decided, and killed between the first COMMIT PREPARED and the next
        def commit_one_then_die(self: Any) -> None:
            conn, _ = self.prepared[0]
            conn.tpc_commit()
            die()

        prepared_copy.PreparedCopy.commit = commit_one_then_die  # type: ignore[method-assign]
    else:  # the ledger row committed (the decision), no COMMIT PREPARED yet
        original_decide = prepared.decide

        def decide_then_die(*args: Any) -> None:
            original_decide(*args)
            die()

        prepared.decide = decide_then_die  # type: ignore[assignment]


def _install_landing(phase: str) -> None:
    """An upsert or slice replace over N connections (copy/landing_method.py): killed once a part is
    committed into the staging table, or with every part in it and the merge not begun."""
    from loader.copy import landing_method
    from loader.destination import load_transaction

    if phase == "landing_copying":
        original_copy = landing_method.LandingCopy._copy

        def copy_then_die(self: Any, key: str) -> int:
            rows = original_copy(self, key)
            die()
            return rows

        landing_method.LandingCopy._copy = copy_then_die  # type: ignore[method-assign]
    elif phase == "landing_landed":  # the merge's transaction is the run's only LoadTransaction
        def begin_then_die(self: Any) -> Any:
            die()

        load_transaction.LoadTransaction.begin = begin_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown phase {phase}")


def main() -> None:
    state_url, phase, folder = sys.argv[1:4]
    os.setpgid(0, 0)
    install(phase)
    from loader import commands

    commands.run([folder], state_url=state_url)
    print("child finished without being killed", flush=True)


if __name__ == "__main__":
    main()
