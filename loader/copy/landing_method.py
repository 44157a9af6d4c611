"""The COPY method's upsert and slice replace over ``copy.connections`` > 1 (destination/landing_plan.py).

Staging is as ever (method.py ``stage_and_load``). The parts are COPYed, as they are staged, over
N connections into the run's UNLOGGED staging table, each part committed on its worker's
connection; when every part is in, the driver's one load transaction merges the staging table into
the target (the slice's DELETE and INSERT, or the upsert's INSERT ... ON CONFLICT), writes the
ledger row and drops the staging table. Before that COMMIT the target is as it was; after it, the
new rows are all there. A failure the process survives drops the staging table; a killed process
leaves it to ``--resume`` (which drops it and lands the parts again) or the reaper.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from .. import interrupt
from ..destination import staging_table
from ..destination.landing_plan import plan_landing
from ..destination.load_transaction import LoadTransaction
from ..naming import TableRef, loader_schema, quote_ident, staging_table_name
from ..request import MethodOutcome
from .copy_workers import CopyWorkers
from .resume import ResumePlan
from .staging import StagingThread

if TYPE_CHECKING:
    from .method import _CopyRun

log = logging.getLogger("loader")


class LandingCopy(CopyWorkers):
    """Workers COPYing parts into the run's staging table, each part committed (nobody reads it)."""

    into_label = "the staging table of "

    def _copied(self, conn: Any, cur: Any, key: str, rows: int) -> None:
        conn.commit()


def landing_connections(run: _CopyRun, conn: Any, reject: bool, out: MethodOutcome) -> int:
    """How many connections this merging load lands over, decided once (plan_landing), logged and
    recorded with the run's reason; 1 is the single load transaction and its TEMP table."""
    req, connections = run.req, run.connections
    if connections <= 1:
        return 1
    home = loader_schema(req.target, req.loader_schema)
    may_create = None
    if not reject:
        with conn.cursor() as cur:
            may_create = staging_table.may_create_in(cur, home)
        conn.rollback()
    path = plan_landing(connections, merges=req.write.merges, reject=reject, may_create=may_create, schema=home)
    log.info("%s: loaded %s", req.target, path.reason)
    out.format_reason += f"; loaded {path.reason}"
    return path.connections


def run_landing(run: _CopyRun, conn: Any, connections: int, fmt: Any, stager: StagingThread,
                resumed: ResumePlan, out: MethodOutcome, *, cast_later: bool) -> MethodOutcome:
    """Stage as ever; COPY the parts into the staging table over ``connections``; merge in one
    transaction. ``cast_later``: the parts hold the source's types (a slice replace), cast in the merge."""
    req, ctx = run.req, run.ctx
    home = loader_schema(req.target, req.loader_schema)
    stage = TableRef(home, staging_table_name(run.run_id))
    ctx.events.staging_table_created(stage.table)  # the reaper's, before it exists
    with conn.cursor() as cur:
        dropped = staging_table.drop_earlier_attempts(cur, home, run.run_id)
    conn.commit()
    if dropped:
        log.info("resuming run %s: dropped the staging table(s) %s of its earlier attempt; the parts land again",
                 run.run_id, ", ".join(dropped))
    types = run.landing.pg_types if cast_later else run.plan.pg_types
    staging_table.create(req.spec, stage, ", ".join(f"{quote_ident(n)} {t}" for n, t in
                                                    zip(run.plan.names, types, strict=True)), run.run_id, req.target)
    workers = LandingCopy(req.spec, run.run_id, req.target, stage, fmt, list(run.plan.names), connections,
                          run.client, run.loc.bucket)
    run.start_staging(stager)
    t0 = time.monotonic()
    committed = False
    try:
        with interrupt.on_interrupt(conn.cancel), interrupt.on_interrupt(workers.cancel):
            run.stage_and_load(lambda key, size: workers.submit(key), stager, resumed, out)
            workers.close(failed=False)
            t_merge = time.monotonic()
            load = LoadTransaction(conn, req.spec, req.target, run.plan, req.write, run.run_id,
                                   create_sql=ctx.create_sql, defer_indexes=req.defer_indexes,
                                   error_key=ctx.error_key, allow_empty=req.allow_empty,
                                   ledger_schema=req.loader_schema)
            cur = load.begin()
            written = load.publish(stage.quoted, casts=run.plan.pg_types if cast_later else None)
            cur.execute(f"DROP TABLE {stage.quoted}")  # gone exactly when its rows are in
            load.finish(written)
            load.commit(before=ctx.events.committing)
            out.timings["merge"] = time.monotonic() - t_merge
        committed = True
    finally:
        workers.close(failed=not committed)
        if not committed:
            with contextlib.suppress(Exception):
                conn.rollback()
            staging_table.drop_quietly(req.spec, stage)
    out.rows = run.rows_loaded
    out.rows_inserted, out.rows_updated, out.rows_deleted = written.inserted, written.updated, load.deleted
    out.timings["load"] = time.monotonic() - t0
    log.info("COPY protocol completed successfully (landed over %d connections, merged)", connections)
    return out
