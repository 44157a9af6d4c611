"""Staging merge: an upsert or a slice replace landed over N connections in the run's UNLOGGED
staging table (destination/staging_table.py), each part committed on its worker's connection (no
reader looks at it); when every part is in, the driver's one load transaction merges it into the
target (the slice's DELETE and INSERT, or the upsert's INSERT ... ON CONFLICT), writes the ledger
row and drops the staging table. Before that COMMIT the target is as it was; after it, the new
rows are all there. A failure the process survives drops the staging table; a killed process
leaves it to ``--resume`` (which drops it and lands the parts again) or the reaper.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ...destination import staging_table
from ...destination.write_modes import Written
from ...naming import TableRef, quote_ident, staging_table_name
from .protocol import CopyRun, Published
from .workers import CopyWorkers, OverConnections

log = logging.getLogger("loader")


class LandingCopy(CopyWorkers):
    """Workers COPYing parts into the run's staging table, each part committed (nobody reads it)."""

    into_label = "the staging table of "

    def _copied(self, conn: Any, cur: Any, key: str, rows: int) -> None:
        conn.commit()


class StagingMerge(OverConnections):
    def __init__(self, run: CopyRun, connections: int) -> None:
        self.stage = TableRef(run.home, staging_table_name(run.run_id))
        super().__init__(run, LandingCopy(run, self.stage, connections), self.stage.table,
                         f"landed over {connections} connections, merged")
        self.load_txn = run.load_transaction()
        self.written = Written(0)

    def open(self, staged_before: set[str]) -> dict[str, int]:
        run = self.run
        with run.conn.cursor() as cur:
            dropped = staging_table.drop_earlier_attempts(cur, run.home, run.run_id)
        run.conn.commit()
        if dropped:
            log.info("resuming run %s: dropped the staging table(s) %s of its earlier attempt; the parts land again",
                     run.run_id, ", ".join(dropped))
        # the parts hold the source's types where they are cast in the merge (a slice replace)
        types = run.landing.pg_types if run.cast_later else run.plan.pg_types
        staging_table.create(run.spec, self.stage, ", ".join(f"{quote_ident(n)} {t}" for n, t in
                                                             zip(run.plan.names, types, strict=True)),
                             run.run_id, run.target, connect=run.connect)
        return {}

    def publish(self, rows: int) -> None:
        self.workers.close(failed=False)
        t0 = time.monotonic()
        load = self.load_txn
        cur = load.begin()
        self.written = load.publish(self.stage.quoted, casts=self.run.plan.pg_types if self.run.cast_later else None)
        cur.execute(f"DROP TABLE {self.stage.quoted}")  # gone exactly when its rows are in
        load.finish(self.written)
        self.timings["merge"] = time.monotonic() - t0
        self.rows = rows

    def commit(self, before_commit: Callable[[], None]) -> Published:
        t0 = time.monotonic()
        self.load_txn.commit(before=before_commit)
        self.done = True
        self.timings["merge"] += time.monotonic() - t0
        w = self.written
        return Published(self.rows, rows_inserted=w.inserted, rows_updated=w.updated,
                         rows_deleted=self.load_txn.deleted, timings=self.timings)

    def abort(self) -> None:
        if not self.done:
            self.workers.close(failed=True)
            with contextlib.suppress(Exception):
                self.run.conn.rollback()
            staging_table.drop_quietly(self.run.spec, self.stage, connect=self.run.connect)
