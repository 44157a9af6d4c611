"""The reaper: deletes temp prefixes (and JDBC staging tables) that no run needs any more.

Policy and decisions are pure (:func:`decide`, :func:`decide_staging_table`);
:func:`reap` and :func:`reap_staging_tables` apply them to S3 and PostgreSQL
through :mod:`loader.reaper_io`.

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
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .adapters import s3 as s3a
from .errors import ConfigError, LoaderError, RunNotFoundError, TransitionError
from .naming import (
    check_prefix_root,
    parse_prefix,
    parse_staging_table,
    prefix_table_part,
    s3_uri,
)
from .state.status import ACTIVE, RunStatus

if TYPE_CHECKING:
    from .connection import ConnectionSpec
    from .state.models import RunRecord
    from .state.store import StateStore

log = logging.getLogger(__name__)

DELETE = "delete"
KEEP = "keep"

# --- policy ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | int | timedelta, what: str = "duration") -> timedelta:
    """``"6h"``, ``"30m"``, ``"45s"``, ``"2d"``, ``"1w"`` or plain seconds (``"90"``, ``90``)."""
    if isinstance(text, timedelta):
        if text < timedelta(0):
            raise ConfigError(f"{what} must not be negative, got {text}")
        return text
    if isinstance(text, bool):
        raise ConfigError(f"{what} {text!r} is not a duration", next_step="use e.g. 6h, 30m, 45s, 2d or 90")
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"{what} must not be negative, got {text}")
        return timedelta(seconds=text)
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(f"{what} {text!r} is not a duration",
                          next_step="use a whole number with an optional unit s, m, h, d or w "
                                    "(e.g. 6h, 30m, 45s, 2d; a bare number is seconds)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class ReapPolicy:
    """What the reaper may delete. Durations are :class:`~datetime.timedelta`."""

    prefix_root: str = "tmp/postgres-copy"
    grace: timedelta = timedelta(hours=6)
    resume_window: timedelta = timedelta(hours=24)
    stale_after: timedelta = timedelta(minutes=30)
    dry_run: bool = False
    #: only prefixes of this target table name (``reap_before_run``); None: every table
    table: str | None = None
    #: recorded with each reap (e.g. host:pid), for the operator
    reaper_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix_root", check_prefix_root(self.prefix_root))
        for name in ("grace", "resume_window", "stale_after"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                value = parse_duration(value, name)
                object.__setattr__(self, name, value)
            if value < timedelta(0):
                raise ConfigError(f"reaper {name} must not be negative, got {value}")
        if self.table is not None:
            prefix_table_part(self.table)  # ConfigError for names that cannot name a prefix

    @property
    def table_part(self) -> str | None:
        """The table filter as it appears in prefix names."""
        return prefix_table_part(self.table) if self.table is not None else None


# --- decisions (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: str  # "delete" | "keep"
    reason: str
    run_id: str | None = None
    #: mark the run abandoned before deleting (conditional on ``status``)
    abandon: bool = False
    #: the run's status the decision was based on
    status: RunStatus | None = None

    @property
    def delete(self) -> bool:
        return self.action == DELETE


def _keep(reason: str, run: RunRecord | None = None) -> Decision:
    return Decision(KEEP, reason, run.run_id if run else None, False, run.status if run else None)


def _delete(reason: str, run: RunRecord | None = None, abandon: bool = False) -> Decision:
    return Decision(DELETE, reason, run.run_id if run else None, abandon, run.status if run else None)


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(td: timedelta) -> str:
    """``2d 3h``, ``5h 10m``, ``30m``, ``45s`` (two largest units)."""
    seconds = int(td.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + " ".join(parts[:2])


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the reaper needs timezone-aware datetimes (UTC)")
    return value.astimezone(timezone.utc)


def _split_uri(prefix_name: str) -> tuple[str | None, str]:
    if prefix_name.startswith("s3://"):
        rest = prefix_name[5:]
        bucket, _, key = rest.partition("/")
        return bucket, key
    return None, prefix_name


def _owns(run: RunRecord, bucket: str | None, key: str) -> bool:
    if not run.temp_path:
        return False
    run_bucket, run_key = _split_uri(run.temp_path)
    if run_bucket is None:
        return False
    if bucket is not None and run_bucket != bucket:
        return False
    return run_key.rstrip("/") == key.rstrip("/")


def _decide_run(run: RunRecord, now: datetime, policy: ReapPolicy, files: bool) -> Decision:
    """The rules for something (files or a staging table) owned by ``run``."""
    short = run.short_id
    status = run.status
    if status in ACTIVE:
        age = now - _utc(run.heartbeat_at)
        if age > policy.stale_after:
            return _delete(f"unfinished run {short} ({status.value}) is stale: last heartbeat "
                           f"{fmt_duration(age)} ago (stale after {fmt_duration(policy.stale_after)}); "
                           f"marked abandoned", run, abandon=True)
        return _keep(f"live run {short} ({status.value}, last heartbeat {fmt_duration(max(age, timedelta(0)))} "
                     f"ago)", run)
    ref = _utc(run.finished_at or run.heartbeat_at)
    until = ref + policy.resume_window
    if status is RunStatus.FAILED:
        if now > until:
            return _delete(f"failed run {short} beyond the resume window (failed {_ts(ref)}, resumable "
                           f"until {_ts(until)}); marked abandoned", run, abandon=True)
        return _keep(f"failed run {short} resumable until {_ts(until)}", run)
    # succeeded or abandoned
    cleanup = run.cleanup_status
    if files and cleanup == "kept":
        if now > until:
            return _delete(f"finished run {short} {status.value}; files kept on request (cleanup=False) "
                           f"past the resume window (until {_ts(until)})", run)
        return _keep(f"finished run {short} {status.value}; files kept on request (cleanup=False) "
                     f"until {_ts(until)}", run)
    if not files:
        return _delete(f"finished run {short} {status.value}; staging table left behind", run)
    if cleanup == "done":
        return _delete(f"finished run {short} {status.value}, cleanup done but objects remain", run)
    return _delete(f"finished run {short} {status.value}, cleanup {cleanup or 'not recorded'}", run)


def _combine(decisions: list[Decision]) -> Decision:
    if len(decisions) == 1:
        return decisions[0]
    keeps = [d for d in decisions if not d.delete]
    if keeps:
        return keeps[0]
    abandons = [d for d in decisions if d.abandon]
    if len(abandons) > 1:
        ids = ", ".join(str(d.run_id)[:8] for d in abandons)
        return Decision(KEEP, f"several unfinished runs ({ids}) claim it: abandon them first "
                              f"(loader status)", abandons[0].run_id, False, abandons[0].status)
    return abandons[0] if abandons else decisions[0]


def _unknown(epoch: int, now: datetime, policy: ReapPolicy, what: str) -> Decision:
    born = datetime.fromtimestamp(epoch, tz=timezone.utc)
    age = now - born
    if age > policy.grace:
        return _delete(f"unknown {what} older than grace (created {_ts(born)}, {fmt_duration(age)} ago, "
                       f"grace {fmt_duration(policy.grace)})")
    return _keep(f"unknown {what} inside grace: a run may be starting (created {_ts(born)})")


def decide(prefix_name: str, runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy) -> Decision:
    """Delete or keep one temp prefix. Pure.

    ``prefix_name`` is the prefix's URI ``s3://bucket/<root>/<table>-<epoch>-<hex>/`` (or
    only its key, then runs of any bucket may own it); ``runs`` are the candidates found
    by the short id (others are ignored: only a run whose ``temp_path`` is this prefix
    owns it).
    """
    now = _utc(now)
    bucket, key = _split_uri(prefix_name)
    root = policy.prefix_root + "/"
    if not key.startswith(root):
        return _keep(f"outside the prefix root {root}")
    segment = key[len(root):]
    if not segment.endswith("/") or "/" in segment[:-1]:
        return _keep(f"not a prefix directly under {root}")
    parsed = parse_prefix(segment)
    if parsed is None:
        return _keep("not a loader temp prefix (<table>-<epoch>-<8 hex>/)")
    if policy.table is not None and parsed.table != policy.table_part:
        return _keep(f"prefix of table {parsed.table}, not {policy.table}")
    owners = [r for r in runs if _owns(r, bucket, key)]
    if not owners:
        return _unknown(parsed.epoch, now, policy, "prefix")
    return _combine([_decide_run(r, now, policy, files=True) for r in owners])


def decide_staging_table(name: str, runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy) -> Decision:
    """Drop or keep one ``loader_stage_<8 hex>_<epoch>`` table. Pure.

    Owners are the runs whose id starts with the 8 hex (a resumed run creates a new
    staging table, so the run's ``staging_table`` need not name this one).
    """
    now = _utc(now)
    parsed = parse_staging_table(name)
    if parsed is None:
        return _keep("not a loader staging table (loader_stage_<8 hex>_<epoch>)")
    owners = [r for r in runs if r.run_id.startswith(parsed.short_id)]
    if not owners:
        return _unknown(parsed.epoch, now, policy, "staging table")
    return _combine([_decide_run(r, now, policy, files=False) for r in owners])


# --- report -------------------------------------------------------------------------------------


@dataclass
class ReapEntry:
    bucket: str
    prefix: str
    action: str
    reason: str
    objects: int = 0
    bytes: int = 0
    run_id: str | None = None
    #: this report counts the deletion (False: dry run, another reaper recorded it, nothing left)
    counted: bool = False
    #: the reaper marked the run abandoned
    abandoned: bool = False
    error: str | None = None
    #: "s3" (a temp prefix: bucket + prefix) or "table" (bucket: database, prefix: schema.table)
    kind: str = "s3"
    note: str | None = None

    @property
    def location(self) -> str:
        if self.kind == "table":
            return f"{self.bucket}:{self.prefix}" if self.bucket else self.prefix
        return s3_uri(self.bucket, self.prefix)

    def to_json_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["location"] = self.location
        return out


@dataclass
class ReapReport:
    entries: list[ReapEntry] = field(default_factory=list)
    dry_run: bool = False
    list_requests: int = 0
    delete_requests: int = 0
    #: failures that stopped a whole bucket or database (per-entry failures are on the entries)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.list_requests + self.delete_requests

    @property
    def deleted(self) -> list[ReapEntry]:
        """Deletions this report counts (for a dry run: would count)."""
        return [e for e in self.entries if e.action == DELETE and e.counted and e.error is None]

    @property
    def kept(self) -> list[ReapEntry]:
        return [e for e in self.entries if e.action == KEEP]

    @property
    def failed(self) -> list[ReapEntry]:
        return [e for e in self.entries if e.error is not None]

    @property
    def prefixes_deleted(self) -> int:
        return len(self.deleted)

    @property
    def objects_deleted(self) -> int:
        return sum(e.objects for e in self.deleted)

    @property
    def bytes_freed(self) -> int:
        return sum(e.bytes for e in self.deleted)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def totals(self) -> dict[str, int]:
        return {"deleted": self.prefixes_deleted, "objects": self.objects_deleted,
                "bytes": self.bytes_freed, "kept": len(self.kept), "failed": len(self.failed),
                "requests": self.requests, "list_requests": self.list_requests,
                "delete_requests": self.delete_requests}

    def merge(self, other: ReapReport) -> ReapReport:
        self.entries.extend(other.entries)
        self.list_requests += other.list_requests
        self.delete_requests += other.delete_requests
        self.errors.extend(other.errors)
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "ok": self.ok, "totals": self.totals(),
                "entries": [e.to_json_dict() for e in self.entries], "errors": list(self.errors)}


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def format_report(report: ReapReport) -> str:
    """One line per prefix/table, then a totals line."""
    lines = []
    for e in report.entries:
        if e.error is not None:
            verb = "FAILED"
        elif e.action == KEEP:
            verb = "KEEP"
        elif e.kind == "table":
            verb = "WOULD DROP" if report.dry_run else "DROP"
        else:
            verb = "WOULD DELETE" if report.dry_run else "DELETE"
        size = ""
        if e.action == DELETE and e.kind == "s3":
            size = f"  ({e.objects:,} object{'s' if e.objects != 1 else ''}, {human_bytes(e.bytes)})"
        text = f"{verb} {e.location}{size} {e.reason}" if size else f"{verb} {e.location}  {e.reason}"
        if e.note:
            text += f" [{e.note}]"
        if e.error:
            text += f": {e.error}"
        lines.append(text)
    for err in report.errors:
        lines.append(f"ERROR {err}")
    tables = any(e.kind == "table" for e in report.entries)
    what = "staging table" if tables else "prefix"
    n = report.prefixes_deleted
    plural = ("s" if tables else "es") if n != 1 else ""
    done = "would delete" if report.dry_run else "deleted"
    total = f"{'Dry run: ' if report.dry_run else ''}{done} {n} {what}{plural}"
    if not tables:
        total += f" ({report.objects_deleted:,} objects, {human_bytes(report.bytes_freed)}" \
                 f"{' would be' if report.dry_run else ''} freed)"
    total += f", kept {len(report.kept)}"
    if report.failed:
        total += f", failed {len(report.failed)}"
    if not tables:
        total += f"; {report.requests:,} S3 requests"
    if report.dry_run:
        total += "; nothing was deleted or recorded"
    lines.append(total)
    return "\n".join(lines)


# --- applying the decisions -----------------------------------------------------------------------


def default_buckets(store: StateStore) -> list[str]:
    """Every bucket the store has seen, plus the configured default bucket."""
    buckets = list(store.buckets_seen())
    buckets.append(s3a.resolve_bucket(None)[0])
    return list(dict.fromkeys(b for b in buckets if b))


def _clock(now: datetime | None) -> Callable[[], datetime]:
    if now is not None:
        fixed = _utc(now)
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
         now: datetime | None = None) -> ReapReport:
    """Delete the temp prefixes of ``buckets`` that ``policy`` says no run needs.

    ``now`` fixes the time the rules use (default: the clock, read per decision).
    A bucket that cannot be listed goes to ``report.errors``; a prefix that cannot
    be deleted is an entry with ``error`` set. Other buckets and prefixes go on.
    """
    from . import reaper_io as io

    client = client if client is not None else s3a.make_client()
    clock = _clock(now)
    report = ReapReport(dry_run=policy.dry_run)
    counter = io.RequestCounter()
    root = policy.prefix_root + "/"
    try:
        for bucket in dict.fromkeys(buckets):
            try:
                prefixes = list(io.list_prefixes(client, bucket, root, counter))
            except LoaderError as exc:
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
    from . import reaper_io as io

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
        listing = io.list_prefix(client, bucket, prefix, counter)
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
            io.delete_keys(client, bucket, listing.keys, counter)
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


def reap_staging_tables(store: StateStore, conn_spec: ConnectionSpec, policy: ReapPolicy,
                        now: datetime | None = None) -> ReapReport:
    """Drop ``loader_stage_<8 hex>_<epoch>`` tables (any schema) that no run needs.

    Same rules as temp prefixes, with the runs found by the short id; only tables
    whose name matches exactly are considered. ``policy.table`` and
    ``policy.prefix_root`` do not apply.
    """
    from . import reaper_io as io
    from .adapters import pg

    clock = _clock(now)
    report = ReapReport(dry_run=policy.dry_run)
    where = conn_spec.safe_description()
    conn = pg.connect(conn_spec, application_name="loader-reaper")
    try:
        try:
            tables = io.list_staging_tables(conn)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            report.errors.append(f"listing staging tables in {where}: {exc}")
            return report
        for ref in tables:
            parsed = parse_staging_table(ref.table)
            if parsed is None:  # pragma: no cover - list_staging_tables filters
                continue
            entry = ReapEntry(where, str(ref), KEEP, "", kind="table")
            report.entries.append(entry)
            try:
                d = decide_staging_table(ref.table, store.find_by_short_id(parsed.short_id), clock(), policy)
                if d.delete and d.abandon and not policy.dry_run:
                    d, entry.abandoned = _abandon_then(
                        store, lambda: store.find_by_short_id(parsed.short_id),  # noqa: B023
                        lambda runs: decide_staging_table(ref.table, runs, clock(), policy),  # noqa: B023
                        policy)
                entry.action, entry.reason, entry.run_id = d.action, d.reason, d.run_id
                if not d.delete:
                    continue
                if policy.dry_run:
                    entry.counted = True
                    if d.abandon:
                        entry.reason = entry.reason.replace("; marked abandoned", "; would be marked abandoned")
                    continue
                entry.counted = io.drop_table(conn, ref)
                if not entry.counted:
                    entry.note = "already dropped by someone else"
            except LoaderError as exc:
                entry.counted = False
                entry.error = str(exc)
                log.warning("reaping staging table %s failed: %s", ref, exc)
    finally:
        conn.close()
    return report
