"""The reaper's rules for tables in the target databases, pure: JDBC staging tables and shadow tables.

Both are judged by the run that made them, with the prefixes' rules (``rules.decide_run``): a live
run's table is kept, a stale run is marked abandoned first, a failed run's table is kept for the
resume window (its ``--resume`` reuses it), a finished run's goes. A table no run of the state store
owns goes once it is older than ``grace``: a staging table's age is in its name
(``loader_stage_<8 hex>_<epoch>``); a shadow's name must be the same for every attempt of its run,
so its age is in its comment (``naming.shadow_comment``), which the swap replaces with the
target's. A shadow without that comment (made before it was written) has no age and is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..naming import parse_prepared_marker, parse_shadow_table, parse_staging_table
from ..state.status import ACTIVE, RunStatus
from .rules import Decision, ReapPolicy, combine, decide_run, delete, fmt_duration, keep, unknown, utc

if TYPE_CHECKING:
    from ..state.models import RunRecord


def _owners(short_id: str, runs: Iterable[RunRecord]) -> list[RunRecord]:
    # a resumed run keeps its id: every attempt's table is the run's
    return [r for r in runs if r.run_id.startswith(short_id)]


def decide_staging_table(name: str, runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy) -> Decision:
    """Drop or keep one ``loader_stage_<8 hex>_<epoch>`` table. Pure.

    Owners are the runs whose id starts with the 8 hex (a resumed run creates a new
    staging table, so the run's ``staging_table`` need not name this one).
    """
    now = utc(now)
    parsed = parse_staging_table(name)
    if parsed is None:
        return keep("not a loader staging table (loader_stage_<8 hex>_<epoch>)")
    owners = _owners(parsed.short_id, runs)
    if not owners:
        return unknown(parsed.epoch, now, policy, "staging table")
    return combine([decide_run(r, now, policy, files=False) for r in owners])


def decide_shadow_table(name: str, created: int | None, runs: Iterable[RunRecord], now: datetime,
                        policy: ReapPolicy) -> Decision:
    """Drop or keep one ``<table>__loader_shadow_<8 hex>`` table created at epoch ``created`` (None:
    unknown). Pure. A shadow is a whole copy of its table: a dead run's is dropped by the rules
    of a staging table, never a live run's (its workers are COPYing into it)."""
    now = utc(now)
    parsed = parse_shadow_table(name)
    if parsed is None:
        return keep("not a loader shadow table (<table>__loader_shadow_<8 hex>)")
    owners = _owners(parsed.short_id, runs)
    if owners:
        return combine([decide_run(r, now, policy, files=False, what="shadow table") for r in owners])
    if created is None:
        return keep("unknown shadow table without its creation time: no run of this state store owns it; "
                     "drop it by hand once no load of its table runs")
    return unknown(created, now, policy, "shadow table")


def decide_table(name: str, runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy,
                 created: int | None = None) -> Decision:
    """A staging table's or a shadow's decision, by its name (or a prepared append's marker)."""
    short = parse_prepared_marker(name)
    if short is not None:
        return decide_prepared(short, None, runs, now, policy)
    if parse_shadow_table(name) is not None:
        return decide_shadow_table(name, created, runs, now, policy)
    return decide_staging_table(name, runs, now, policy)


def tables_to_visit(runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy) -> list[RunRecord]:
    """Of the runs whose staging or shadow table may still exist (``StateStore.runs_with_staging_table``),
    those whose table the rules would drop now: their databases are the ones the reaper connects to."""
    return [r for r in runs if r.staging_table and r.status is not RunStatus.SUCCEEDED
            and decide_table(r.staging_table, [r], now, policy).delete]


def decide_prepared(run_id: str, age: float | None, runs: Iterable[RunRecord], now: datetime,
                    policy: ReapPolicy) -> Decision:
    """Settle (``delete``) or keep a prepared transaction of run ``run_id`` (a full id, or the short
    one of its marker), prepared ``age`` seconds ago (None: unknown). Pure.

    Unlike a staging table, a prepared transaction holds locks and is worth nothing to a resume
    (which settles it first and loads from the staged parts), so a run that is not live has its
    transactions settled at once: committed if its ledger row says it decided to, else rolled back.
    A live run's are its own, in the middle of being committed."""
    now = utc(now)
    owners = [r for r in runs if r.run_id.startswith(run_id)]
    for run in owners:
        if run.status in ACTIVE:
            return decide_run(run, now, policy, files=False, what="prepared transaction")
    if owners:
        run = owners[0]
        return delete(f"run {run.short_id} is {run.status.value}: its prepared transactions are settled by its "
                       "ledger row", run)
    if age is not None and age > policy.grace.total_seconds():
        return delete(f"no run of this state store owns it, prepared {fmt_duration(timedelta(seconds=age))} ago "
                       "(older than grace): "
                       "settled by its ledger row")
    return keep("no run of this state store owns it; within grace")

