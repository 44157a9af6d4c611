"""The COPY method's shadow path: an overwrite of an existing table over ``copy.connections`` > 1.

Staging is the in-place path's (method.py ``stage_and_load``: the same staging job, part loop and
checks, the same resume of staged parts); only where each part goes differs. The order:

1. decide the path once (destination/shadow_plan.py), logged and recorded with the run's reason;
2. record the shadow as the run's ``staging_table`` before it exists, so that a crash at any later
   point leaves a table the reaper can attribute (reaper/table_rules.py);
3. create the shadow, or keep the one an earlier attempt left when every part in it is still staged;
4. COPY each part into it as it is staged, over N connections (shadow_copy.py), each part committed
   with its row in ``loader_shadow_parts``;
5. build the indexes and constraints, then swap in one short transaction (shadow_swap.py) that also
   writes the ledger row: before its COMMIT the target is as it was, after it the new rows.

A failure the process survives drops the shadow; a killed process leaves it to ``--resume`` or the
reaper.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .. import interrupt
from ..destination import ledger
from ..destination.shadow_catalog import auto_sizing, read_facts
from ..destination.shadow_plan import auto_connections, path_before_catalog, plan_path
from ..destination.shadow_swap import ShadowTable
from ..options import WriteMode
from ..request import MethodOutcome
from .resume import ResumePlan
from .shadow_copy import ShadowCopy
from .staging import StagingThread

if TYPE_CHECKING:
    from .method import _CopyRun

log = logging.getLogger("loader")


def resolve_connections(run: _CopyRun, conn: Any, out: MethodOutcome) -> int:
    """``copy.connections`` as a number, decided once: ``auto`` by the target's size and the server's
    free slots (shadow_plan.auto_connections), said in the run's reason when it means more than 1."""
    req, setting = run.req, run.opts.connections
    if setting != "auto":
        return int(setting)
    whole = req.write.mode is WriteMode.OVERWRITE and not req.write.shares_table and not run.ctx.create_sql
    table_bytes, free = None, None
    if whole:
        with conn.cursor() as cur:
            table_bytes, free = auto_sizing(cur, req.target)
        conn.rollback()
    connections, why = auto_connections(whole_overwrite=whole, table_bytes=table_bytes, free_slots=free)
    log.info("%s: %s", req.target, why)
    if connections > 1:
        out.format_reason += f"; {why}"
    return connections


def choose_path(run: _CopyRun, conn: Any, cast_later: bool, out: MethodOutcome) -> ShadowTable | None:
    """Which path this load takes, decided once (shadow_plan.py), logged and recorded with the
    run's reason; the shadow table when it goes through one."""
    req, connections = run.req, run.connections
    reason = path_before_catalog(connections, overwrite=req.write.mode is WriteMode.OVERWRITE,
                                 shares_table=req.write.shares_table, reject=cast_later)
    shadow = None
    if reason is None:
        with conn.cursor() as cur:
            facts = None if run.ctx.create_sql else read_facts(cur, req.target)
        conn.rollback()
        plan = plan_path(facts, run.plan.names)
        reason = plan.reason(connections)
        if plan.possible and plan.facts is not None:
            shadow = ShadowTable(req.spec, req.target, run.run_id, plan.facts, ledger_schema=req.loader_schema)
    if connections > 1:
        log.info("%s: loaded %s", req.target, reason)
        out.format_reason += f"; loaded {reason}"
    return shadow


def run_shadow(run: _CopyRun, conn: Any, shadow: ShadowTable, fmt: Any, stager: StagingThread,
               resumed: ResumePlan, out: MethodOutcome) -> MethodOutcome:
    """Stage as ever; COPY the parts into the shadow over N connections; build; swap."""
    req, ctx = run.req, run.ctx
    ledger.ensure(conn, req.loader_schema)
    ctx.events.staging_table_created(shadow.ref.table)  # the reaper's, before it exists
    present = {o["Key"] for o in run.objects()} if ctx.attempt > 1 else set()
    # an earlier attempt's shadow is kept only if every part in it is still staged (parts staged
    # again may hold other rows)
    before = shadow.create(conn, reuse=lambda parts: bool(parts) and set(parts) <= present)
    copier = ShadowCopy(req.spec, shadow, fmt, list(run.plan.names), run.connections, run.client,
                        run.loc.bucket)
    run.start_staging(stager)
    t0 = time.monotonic()
    failed = True
    try:
        with interrupt.on_interrupt(conn.cancel), interrupt.on_interrupt(copier.cancel):
            # a part already in the shadow counts its rows; any other goes to a worker
            run.stage_and_load(lambda key, size: before[key] if key in before else copier.submit(key),
                               stager, resumed, out)
            copier.close(failed=False)
            t_build = time.monotonic()
            shadow.build(conn)
            out.timings["build"] = time.monotonic() - t_build
            t_swap = time.monotonic()
            shadow.swap(conn, run.rows_loaded, allow_empty=req.allow_empty, before=ctx.events.committing)
            out.timings["swap"] = time.monotonic() - t_swap
        failed = False
    finally:
        copier.close(failed=failed)
        if failed:
            shadow.drop(conn)
    out.rows = run.rows_loaded
    out.timings["load"] = time.monotonic() - t0
    log.info("COPY protocol completed successfully (shadow over %d connections, swapped)", run.connections)
    return out
