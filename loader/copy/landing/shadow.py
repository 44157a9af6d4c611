"""Shadow: a whole-table overwrite COPYed into a shadow table over N connections, built, swapped in
(destination/shadow_swap.py). Readers read the old rows until the swap's short transaction, and
never a part of the new ones.

Each part is COPYed by one worker and committed with its row in ``loader_shadow_parts``: the
shadow is invisible to readers, so committing part by part costs no atomicity (the swap is what
publishes), and a resume knows which parts are in it. A failure the process survives drops the
shadow; a killed process leaves it to ``--resume`` (which loads on into it) or the reaper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...destination import ledger
from ...destination.shadow_plan import TargetFacts
from ...destination.shadow_swap import ShadowTable
from .protocol import CopyRun, Published
from .workers import CopyWorkers, OverConnections


class ShadowCopy(CopyWorkers):
    """Workers COPYing parts into the shadow, each part committed with its row in the parts table."""

    into_label = "the shadow of "

    def __init__(self, run: CopyRun, shadow: ShadowTable, connections: int) -> None:
        super().__init__(run, shadow.ref, connections)
        self.shadow = shadow

    def _copied(self, conn: Any, cur: Any, key: str, rows: int) -> None:
        self.shadow.record_part(cur, key, rows)
        conn.commit()


class ShadowSwap(OverConnections):
    def __init__(self, run: CopyRun, connections: int, facts: TargetFacts) -> None:
        self.shadow = ShadowTable(run.spec, run.target, run.run_id, facts, ledger_schema=run.home,
                                  connect=run.connect)
        super().__init__(run, ShadowCopy(run, self.shadow, connections), self.shadow.ref.table,
                         f"shadow over {connections} connections, swapped")

    def open(self, staged_before: set[str]) -> dict[str, int]:
        ledger.ensure(self.run.conn, self.run.home)
        # an earlier attempt's shadow is kept only if every part in it is still staged (parts staged
        # again may hold other rows); a part already in it counts its rows
        return self.shadow.create(self.run.conn, reuse=lambda parts: bool(parts) and set(parts) <= staged_before)

    def publish(self, rows: int) -> None:
        self.workers.close(failed=False)
        t0 = time.monotonic()
        self.shadow.build(self.run.conn)
        t1 = time.monotonic()
        self.shadow.swap(self.run.conn, rows, allow_empty=self.run.allow_empty)
        self.timings.update(build=t1 - t0, swap=time.monotonic() - t1)
        self.rows = rows

    def commit(self, before_commit: Callable[[], None]) -> Published:
        self.shadow.commit(self.run.conn, before=before_commit)
        self.done = True
        return Published(self.rows, timings=self.timings)

    def abort(self) -> None:
        if not self.done:
            self.workers.close(failed=True)
            self.shadow.drop(self.run.conn)
