"""The COPY method's append over N connections, all or nothing (destination/prepared_plan.py).

Staging is as ever; the parts are handed out to ``PreparedCopy``'s workers as they are staged;
when every part is in, each worker's transaction is prepared, the ledger row is committed (the
decision) and each is committed. Until the decision a failure or an interruption rolls every
one back and the target is unchanged; after it, the rows are the run's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from .. import interrupt
from ..destination import ledger, prepared
from ..destination.prepared_plan import plan_prepared
from ..naming import prepared_marker
from ..options import WriteMode
from ..request import MethodOutcome
from .prepared_copy import PreparedCopy
from .resume import ResumePlan
from .staging import StagingThread

if TYPE_CHECKING:
    from .method import _CopyRun

log = logging.getLogger("loader")


def prepared_connections(run: _CopyRun, conn: Any, cast_later: bool, out: MethodOutcome) -> int:
    """How many connections this append loads over, decided once (plan_prepared), logged and
    recorded with the run's reason; 1 is the single load transaction."""
    req, connections = run.req, run.connections
    if connections <= 1:
        return 1
    max_prepared = None
    append = req.write.mode is WriteMode.APPEND and not req.write.shares_table
    if append:
        with conn.cursor() as cur:
            max_prepared = prepared.max_prepared(cur)
        conn.rollback()
    path = plan_prepared(connections, append=append,
                         creates=bool(run.ctx.create_sql), adds_columns=bool(run.plan.added), reject=cast_later,
                         max_prepared=max_prepared)
    log.info("%s: loaded %s", req.target, path.reason)
    out.format_reason += f"; loaded {path.reason}"
    return path.connections


def run_prepared(run: _CopyRun, conn: Any, connections: int, fmt: Any, stager: StagingThread,
                 resumed: ResumePlan, out: MethodOutcome) -> MethodOutcome:
    """Stage as ever; COPY the parts over ``connections`` prepared transactions; decide; commit."""
    req = run.req
    ledger.ensure(conn, req.loader_schema)
    # where the reaper must look should this process die with transactions prepared (reaper/settle.py)
    run.ctx.events.staging_table_created(prepared_marker(run.run_id))
    workers = PreparedCopy(req.spec, run.run_id, req.target, fmt, list(run.plan.names), connections, run.client,
                           run.loc.bucket)
    run.start_staging(stager)
    t0 = time.monotonic()
    decided = False
    try:
        with interrupt.on_interrupt(conn.cancel), interrupt.on_interrupt(workers.cancel):
            run.stage_and_load(lambda key, size: workers.submit(key), stager, resumed, out)
            workers.drain()
            workers.prepare()
            interrupt.check()  # a stop asked for until here leaves the target unchanged
            run.ctx.events.committing()
            prepared.decide(conn, req.spec, req.loader_schema, req.target, run.run_id, run.rows_loaded)
            decided = True
        workers.commit()
    finally:
        if not decided:
            # the COPYs stopped first: a worker still COPYing would hold its connection (and take
            # the next part); the driver's transaction (the ledger row) ended before any settling
            workers.stop()
            with contextlib.suppress(Exception):
                conn.rollback()
            workers.rollback()
        workers.close(failed=not decided)
    out.rows = run.rows_loaded
    out.timings["load"] = time.monotonic() - t0
    out.timings["commit_window"] = workers.commit_window
    log.info("COPY protocol completed successfully (%d prepared connections, committed in %.3f s)",
             connections, workers.commit_window)
    return out


