"""Run manifests and SIGKILL this whole process group at a chosen point of the load.

Used by tests/functional/engine/test_crash_resume.py and the crash tests of tests/functional/copy/. The patches only choose *where* the real
SIGKILL lands; everything else (Spark, S3, PostgreSQL, the state store) is real.

    python -m tests.helpers.crash_child STATE_URL PHASE MANIFEST_DIR

``run_killed`` is the parent's side: it runs the child and checks that it was killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: what must live as long as this process (a context manager entered for good)
_HELD: list[Any] = []


def die() -> None:
    sys.stdout.flush()
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _die_after(owner: Any, name: str) -> None:
    """``owner.name`` does its work, then the process group dies."""
    original = getattr(owner, name)

    def then_die(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        die()
        return result

    setattr(owner, name, then_die)


def _die_before(owner: Any, name: str) -> None:
    """The process group dies when ``owner.name`` is called, before it does anything."""
    def instead(*args: Any, **kwargs: Any) -> Any:
        die()

    setattr(owner, name, instead)


def install(phase: str) -> None:
    from loader.copy import transaction as copy_load
    from loader.copy.landing import in_place
    from loader.destination import load_transaction

    if phase.startswith("spark_reader_"):  # the same phase with Spark reading a Parquet source pyarrow could
        from loader.runner import run as runner_run

        runner_run.direct_candidate = lambda *args: "read by Spark for this test"  # type: ignore[assignment]
        phase = phase[len("spark_reader_"):]
    if phase == "staging":  # some parts loaded into the open transaction, staging still running
        _die_after(in_place.InPlace, "load")
    elif phase == "staged":  # everything staged, nothing committed
        _die_before(copy_load.CopyTransaction, "finish")
    elif phase == "loading":  # inside the final statements of the transaction
        _die_after(copy_load.CopyTransaction, "finish")
    elif phase == "committed":  # the data is committed, the state store not yet told
        _die_after(load_transaction.LoadTransaction, "commit")
    elif phase.startswith("shadow_"):
        _install_shadow(phase)
    elif phase in ("prepared", "decided", "one_committed"):
        _install_prepared(phase)
    elif phase == "landing_copying":  # a merge over N connections: a part committed into the staging table
        from loader.copy.landing import staging_merge

        _die_after(staging_merge.LandingCopy, "_copy")
    elif phase == "landing_landed":  # every part in the staging table; the merge's transaction (the run's
        _die_before(load_transaction.LoadTransaction, "begin")  # only LoadTransaction) not begun
    else:
        raise SystemExit(f"unknown phase {phase}")


def _install_shadow(phase: str) -> None:
    """The shadow overwrite (copy.connections > 1): killed while parts COPY into the shadow, once its
    indexes are built (before the swap), or right after the swap's COMMIT."""
    from loader.copy.landing import shadow
    from loader.destination import shadow_swap

    if phase == "shadow_copying":  # a part committed into the shadow, others on their way
        _die_after(shadow.ShadowCopy, "_copy")
    elif phase == "shadow_built":  # every row in the shadow, its indexes built, no swap yet
        _die_after(shadow_swap.ShadowTable, "build")
    elif phase == "shadow_swapped":  # the swap committed, the state store not yet told
        _die_after(shadow_swap.ShadowTable, "commit")
    else:
        raise SystemExit(f"unknown phase {phase}")


def _install_prepared(phase: str) -> None:
    """An append over prepared transactions (copy/landing/prepared.py): killed with every connection
    prepared and no decision, right after the decision (the ledger row) committed, or between the
    first COMMIT PREPARED and the others."""
    from loader.copy.landing import prepared as prepared_copy
    from loader.destination import prepared
    from tests.helpers.backend_kill import every_worker_connected

    # both connections hold a prepared transaction, for this process's life: the context manager is
    # kept, since one that is collected closes its generator, which restores the original at once
    _HELD.append(every_worker_connected(2))
    _HELD[-1].__enter__()
    if phase == "prepared":  # every connection prepared, the ledger row not committed
        _die_after(prepared_copy.PreparedCopy, "prepare")
    elif phase == "one_committed":  # decided, and killed between the first COMMIT PREPARED and the next
        def commit_one_then_die(self: Any) -> None:
            conn, _ = self.prepared[0]
            conn.tpc_commit()
            die()

        prepared_copy.PreparedCopy.commit = commit_one_then_die  # type: ignore[method-assign]
    else:  # the ledger row committed (the decision), no COMMIT PREPARED yet
        _die_after(prepared, "decide")


def run_killed(state_url: str, phase: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the child on ``folder``'s manifests and check that it was SIGKILLed at ``phase``."""
    child = subprocess.run([sys.executable, "-m", "tests.helpers.crash_child", state_url, phase, str(folder)],
                           env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stdout[-2000:] + child.stderr[-3000:]
    return child


def main() -> None:
    state_url, phase, folder = sys.argv[1:4]
    os.setpgid(0, 0)
    install(phase)
    from loader import commands

    commands.run([folder], state_url=state_url)
    print("child finished without being killed", flush=True)


if __name__ == "__main__":
    main()
