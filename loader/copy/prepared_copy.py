"""Append over N connections, all or nothing (destination/prepared_plan.py says why it holds).

Each worker opens one two-phase transaction (psycopg2's ``tpc_begin`` with the gid the plan
names) and COPYs every part it is handed into the target; nothing is committed part by part.
``prepare`` PREPAREs each; ``commit`` COMMIT PREPAREs each, after the driver has committed the
ledger row (the decision). A failure before the decision rolls every one back here; a crash is
settled by ``--resume`` or the reaper (destination/prepared.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from ..adapters import pg_errors
from ..connection import ConnectionSpec
from ..destination.prepared_plan import gid
from ..naming import TableRef
from .copy_workers import CopyWorkers
from .formats import StagingFormat

log = logging.getLogger("loader")


class PreparedCopy(CopyWorkers):
    """``connections`` workers COPYing parts of ``bucket`` into ``target``, each in a transaction that
    is prepared and committed together with the others."""

    def __init__(self, spec: ConnectionSpec, run_id: str, target: TableRef, fmt: StagingFormat,
                 columns: list[str], connections: int, client: Any, bucket: str) -> None:
        super().__init__(spec, run_id, target, target, fmt, columns, connections, client, bucket)
        self.prepared: list[Any] = []
        #: seconds between the first and the last COMMIT PREPARED: when readers may see part of the rows
        self.commit_window = 0.0

    def _connected(self, conn: Any, n: int) -> None:
        conn.tpc_begin(gid(self.run_id, n))

    def prepare(self) -> None:
        """PREPARE TRANSACTION on every worker's connection (the parts are all in)."""
        for conn in self.connections():
            with pg_errors.translated(table=self.target, run_id=self.run_id,
                                      during=f"PREPARE TRANSACTION of the load of {self.target}"):
                conn.tpc_prepare()
            self.prepared.append(conn)

    def commit(self) -> None:
        """COMMIT PREPARED on each, once the ledger row (the decision) is committed. A connection lost
        here leaves its transaction prepared: the next ``--resume`` or reap commits it, since the
        ledger says the run decided to."""
        t0 = time.monotonic()
        for conn in self.prepared:
            with pg_errors.translated(table=self.target, run_id=self.run_id,
                                      during=f"COMMIT PREPARED of the load of {self.target}"):
                conn.tpc_commit()
        self.commit_window = time.monotonic() - t0
        self.prepared = []

    def rollback(self) -> None:
        """Before the decision: roll every transaction back, prepared or not (best effort: a prepared
        one this cannot reach is rolled back by the next ``--resume`` or reap, the ledger being
        silent about the run)."""
        for conn in self.connections():
            with contextlib.suppress(Exception):
                conn.tpc_rollback()
        self.prepared = []
