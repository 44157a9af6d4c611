"""The reaper: deletes temp prefixes (and JDBC staging and shadow tables) that no run needs any more.

Policy and decisions are pure (:func:`decide`, :func:`decide_staging_table`, ``table_rules``);
:func:`reap` and :func:`reap_staging_tables` apply them to S3 and PostgreSQL
through :mod:`loader.reaper.tables`.

What is looked at
-----------------
Only prefixes directly under ``<bucket>/<prefix_root>/`` whose last segment is
exactly ``<table>-<epoch>-<8 hex>/`` (:func:`loader.naming.parse_prefix`). The
bucket is listed with ``Prefix=<root>/`` and ``Delimiter=/``, so keys outside
the root, objects directly under it and look-alike names are never touched.

The rules (ages are compared with ``>``: a value exactly on a boundary keeps)
----------------------------------------------------------------------------
A prefix is *owned* by a run found by the prefix's 8 hex characters whose
``temp_path`` is this prefix's URI.

* no owner: delete when the epoch in the name is older than ``grace``, else keep
  (a run may be starting: it records its prefix before writing, but the
  reaper may have read the store before that).
* owner unfinished (pending/staging/staged/loading): heartbeat older than
  ``stale_after`` -> mark the run abandoned (conditional on the status seen),
  then delete; fresh heartbeat -> keep (live run).
* owner failed: keep while inside ``resume_window`` (from finished_at, else the
  last heartbeat); beyond it mark the run abandoned (conditional on "failed", so
  a concurrent ``resume`` wins and the files stay) and delete.
* owner finished (succeeded/abandoned): delete unless ``cleanup_status`` is
  ``kept`` (the user asked to keep the files with ``cleanup=False``); kept files
  are kept for ``resume_window`` after the run finished, then deleted, so
  debugging files do not live forever. ``done`` with objects still present (a
  late writer, a partial delete) is deleted too.
* several owners (never happens with uuid run ids): keep if any rule keeps.

Concurrency
-----------
*Two reapers.* For a prefix to delete, a reaper lists it (objects, bytes), then
*claims* it with ``record_reap`` (an insert on the unique (bucket, prefix); one
insert wins), then deletes the keys it listed. Only the winner counts the
prefix in its report. The winner's count is exact: it listed before its claim,
the loser deletes only after its (losing) claim, so nothing was deleted before
the winner listed. The loser still deletes what it listed (idempotent, and it
cleans up after a winner that crashed between claim and delete, or late writes)
but counts nothing.

*A starting run.* The engine creates the run, then records the prefix URI as
``temp_path``, then writes the first object. A prefix is only visible once it
has an object, so when the reaper sees it the owner is recorded and live (kept);
and a prefix whose owner the reaper did not find is brand new, so its epoch is
inside ``grace`` (kept).

*A run becoming active again.* Abandoning is one conditional UPDATE pinned on
the status the reaper saw, done after re-reading the run; if it fails (the run
was resumed, finished, or abandoned by another reaper) the reaper re-reads and
decides again without abandoning: a resumed run is kept, a run abandoned by
someone else is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..adapters import s3
from ..errors import LoaderError, RunNotFoundError, TransitionError
from ..naming import parse_prefix, parse_shadow_table, parse_staging_table, s3_uri
from .report import ReapEntry, ReapReport, format_report, human_bytes
from .rules import (
    DELETE,
    KEEP,
    Decision,
    ReapPolicy,
    decide,
    fmt_duration,
    parse_duration,
    utc,
)
from .settle import settle_prepared
from .table_rules import decide_staging_table, decide_table

if TYPE_CHECKING:
    from ..connection import ConnectionSpec
    from ..state.models import RunRecord
    from ..state.store import StateStore

log = logging.getLogger(__name__)

__all__ = ["DELETE", "KEEP", "Decision", "ReapEntry", "ReapPolicy", "ReapReport", "decide", "decide_staging_table",
           "default_buckets", "fmt_duration", "format_report", "human_bytes", "parse_duration", "reap",
           "reap_all_staging_tables", "reap_staging_tables"]


def default_buckets(store: StateStore) -> list[str]:
    """Every bucket the store has seen, plus the configured default bucket."""
    buckets = list(store.buckets_seen())
    buckets.append(s3.resolve_bucket(None)[0])
    return list(dict.fromkeys(b for b in buckets if b))


def _clock(now: datetime | None) -> Callable[[], datetime]:
    if now is not None:
        fixed = utc(now)
        return lambda: fixed
    return lambda: datetime.now(timezone.utc)


def _abandon_then(store: StateStore, reread: Callable[[], list[RunRecord]], decide_now: Callable[
        [list[RunRecord]], Decision], policy: ReapPolicy) -> tuple[Decision, bool]:
    """Re-read, re-decide, abandon conditionally. Returns (final decision, abandoned by us)."""
    d = decide_now(reread())
    if not d.delete or not d.abandon:
        return d, False
    assert d.run_id is not None and d.status is not None
    who = f"reaper {policy.reaper_id}" if policy.reaper_id else "reaper"
    try:
        store.abandon(d.run_id, f"{who}: {d.reason}", expected=d.status)
    except TransitionError:
        again = decide_now(reread())
        if again.delete and not again.abandon:
            return again, False  # someone else (another reaper) abandoned it
        return Decision(KEEP, f"run {d.run_id[:8]} moved while reaping: left alone"
                              f" ({again.reason})", d.run_id, False, again.status), False
    except RunNotFoundError:
        return Decision(KEEP, f"run {d.run_id[:8]} vanished from the state store while reaping",
                        d.run_id), False
    return d, True


def reap(store: StateStore, buckets: Iterable[str], policy: ReapPolicy, client: Any = None,
         now: datetime | None = None, may_be_missing: Iterable[str] = ()) -> ReapReport:
    """Delete the temp prefixes of ``buckets`` that ``policy`` says no run needs.

    ``now`` fixes the time the rules use (default: the clock, read per decision).
    A bucket that cannot be listed goes to ``report.errors``, except one in
    ``may_be_missing`` that does not exist (a default nobody named: nothing to reap
    there); a prefix that cannot be deleted is an entry with ``error`` set. Other
    buckets and prefixes go on.
    """
    optional = frozenset(may_be_missing)
    client = client if client is not None else s3.make_client()
    clock = _clock(now)
    report = ReapReport(dry_run=policy.dry_run)
    counter = s3.RequestCounter()
    root = policy.prefix_root + "/"
    try:
        for bucket in dict.fromkeys(buckets):
            try:
                prefixes = list(s3.list_prefixes(client, bucket, root, counter))
            except LoaderError as exc:
                if bucket in optional and exc.ids.get("code") in ("NoSuchBucket", "404"):
                    log.info("bucket %s does not exist: nothing to reap there", bucket)
                    continue
                report.errors.append(f"s3://{bucket}/{root}: {exc}")
                continue
            for prefix in prefixes:
                entry = _reap_prefix(store, client, bucket, prefix, policy, clock, counter)
                if entry is not None:
                    report.entries.append(entry)
    finally:
        report.list_requests = counter.lists
        report.delete_requests = counter.deletes
    return report


def _reap_prefix(store: StateStore, client: Any, bucket: str, prefix: str, policy: ReapPolicy,
                 clock: Callable[[], datetime], counter: Any) -> ReapEntry | None:
    root = policy.prefix_root + "/"
    parsed = parse_prefix(prefix[len(root):]) if prefix.startswith(root) else None
    if parsed is None:
        if policy.table is not None:
            return None
        return ReapEntry(bucket, prefix, KEEP, "not a loader temp prefix (<table>-<epoch>-<8 hex>/)")
    if policy.table is not None and parsed.table != policy.table_part:
        return None  # another table's prefix: not this reap's business
    uri = s3_uri(bucket, prefix)
    entry = ReapEntry(bucket, prefix, KEEP, "")
    try:
        d = decide(uri, store.find_by_short_id(parsed.short_id), clock(), policy)
        if d.delete and d.abandon and not policy.dry_run:
            d, entry.abandoned = _abandon_then(
                store, lambda: store.find_by_short_id(parsed.short_id),
                lambda runs: decide(uri, runs, clock(), policy), policy)
        entry.action, entry.reason, entry.run_id = d.action, d.reason, d.run_id
        if not d.delete:
            return entry
        listing = s3.list_prefix(client, bucket, prefix, counter)
        entry.objects, entry.bytes = listing.objects, listing.bytes
        if policy.dry_run:
            entry.counted = True
            if d.abandon:
                entry.reason = entry.reason.replace("; marked abandoned", "; would be marked abandoned")
            return entry
        if listing.objects == 0:
            entry.note = "already empty (deleted by someone else)"
        else:
            # claim first: the one insert that wins counts; everyone who decided "delete" deletes
            won = store.record_reap(bucket, prefix, listing.objects, listing.bytes, d.reason,
                                    run_id=d.run_id, reaper_id=policy.reaper_id)
            s3.delete_keys(client, bucket, listing.keys, counter)
            entry.counted = won
            if not won:
                entry.note = "already recorded by another reaper: not counted"
        if d.run_id is not None:
            try:
                store.update(d.run_id, cleanup_status="done")
            except RunNotFoundError:
                pass
    except LoaderError as exc:
        entry.counted = False
        entry.error = str(exc)
        log.warning("reaping %s failed: %s", uri, exc)
    return entry


def reap_all_staging_tables(store: StateStore, policy: ReapPolicy, given: Iterable[ConnectionSpec] = (),
                            now: datetime | None = None) -> list[ReapReport]:
    """One report per database to visit (``databases.databases``: the store's runs that left a
    staging table, and the connections ``given``), each database once."""
    from . import databases as dbs

    found, errors = dbs.databases(store, given, policy, now)
    reports = []
    if errors:
        reports.append(ReapReport(dry_run=policy.dry_run, errors=errors, database="(not described)"))
    for db in found.values():
        report = reap_staging_tables(store, db.spec, policy, now)
        dbs.forget_dropped(store, db, report)
        reports.append(report)
    return reports


def reap_staging_tables(store: StateStore, conn_spec: ConnectionSpec, policy: ReapPolicy,
                        now: datetime | None = None) -> ReapReport:
    """Drop ``loader_stage_<8 hex>_<epoch>`` and ``<table>__loader_shadow_<8 hex>`` tables (any schema)
    that no run needs.

    Same rules as temp prefixes, with the runs found by the short id (``table_rules``); only tables
    whose name matches exactly are considered. ``policy.table`` and ``policy.prefix_root`` do not
    apply.
    """
    from ..adapters import pg
    from . import tables as io

    clock = _clock(now)
    where = conn_spec.safe_description()
    report = ReapReport(dry_run=policy.dry_run, database=where)
    try:
        conn = pg.connect(conn_spec, application_name="loader-reaper")
    except LoaderError as exc:
        report.errors.append(f"staging tables in {where}: {exc}")
        return report
    try:
        try:
            tables = [(ref, None) for ref in io.list_staging_tables(conn)] + io.list_shadow_tables(conn)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            report.errors.append(f"listing staging tables in {where}: {exc}")
            return report
        for ref, created in tables:
            parsed = parse_staging_table(ref.table) or parse_shadow_table(ref.table)
            if parsed is None:  # pragma: no cover - the listings filter
                continue
            entry = ReapEntry(where, str(ref), KEEP, "", kind="table")
            report.entries.append(entry)
            try:
                d = decide_table(ref.table, store.find_by_short_id(parsed.short_id), clock(), policy, created)
                if d.delete and d.abandon and not policy.dry_run:
                    d, entry.abandoned = _abandon_then(
                        store, lambda: store.find_by_short_id(parsed.short_id),  # noqa: B023
                        lambda runs: decide_table(ref.table, runs, clock(), policy, created),  # noqa: B023
                        policy)
                entry.action, entry.reason, entry.run_id = d.action, d.reason, d.run_id
                if not d.delete:
                    continue
                if policy.dry_run:
                    entry.counted = True
                    if d.abandon:
                        entry.reason = entry.reason.replace("; marked abandoned", "; would be marked abandoned")
                    continue
                entry.counted = io.drop_table(conn, ref, shadow=parse_shadow_table(ref.table) is not None)
                if not entry.counted:
                    entry.note = "already dropped by someone else"
            except LoaderError as exc:
                entry.counted = False
                entry.error = str(exc)
                log.warning("reaping staging table %s failed: %s", ref, exc)
    finally:
        conn.close()
    settle_prepared(store, conn_spec, policy, clock, report, _abandon_then)
    return report

