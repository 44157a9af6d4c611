"""The reaper's rules, pure: policy, durations and the keep/delete decision (see loader.reaper.apply)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..naming import check_prefix_root, parse_prefix, prefix_table_part
from ..state.status import ACTIVE, RESUME_WINDOW, RunStatus

if TYPE_CHECKING:
    from ..state.models import RunRecord

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
    resume_window: timedelta = RESUME_WINDOW
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


def keep(reason: str, run: RunRecord | None = None) -> Decision:
    return Decision(KEEP, reason, run.run_id if run else None, False, run.status if run else None)


def delete(reason: str, run: RunRecord | None = None, abandon: bool = False) -> Decision:
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


def utc(value: datetime) -> datetime:
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


def decide_run(run: RunRecord, now: datetime, policy: ReapPolicy, files: bool, what: str = "staging table") -> Decision:
    """The rules for something (files, or a table: ``what``) owned by ``run``."""
    short = run.short_id
    status = run.status
    if status in ACTIVE:
        age = now - utc(run.heartbeat_at)
        if age > policy.stale_after:
            return delete(f"unfinished run {short} ({status.value}) is stale: last heartbeat "
                           f"{fmt_duration(age)} ago (stale after {fmt_duration(policy.stale_after)}); "
                           f"marked abandoned", run, abandon=True)
        return keep(f"live run {short} ({status.value}, last heartbeat {fmt_duration(max(age, timedelta(0)))} "
                     f"ago)", run)
    ref = utc(run.finished_at or run.heartbeat_at)
    until = ref + policy.resume_window
    if status is RunStatus.FAILED:
        if now > until:
            return delete(f"failed run {short} beyond the resume window (failed {_ts(ref)}, resumable "
                           f"until {_ts(until)}); marked abandoned", run, abandon=True)
        return keep(f"failed run {short} resumable until {_ts(until)}", run)
    # succeeded or abandoned
    cleanup = run.cleanup_status
    if files and cleanup == "kept":
        if now > until:
            return delete(f"finished run {short} {status.value}; files kept on request (cleanup=False) "
                           f"past the resume window (until {_ts(until)})", run)
        return keep(f"finished run {short} {status.value}; files kept on request (cleanup=False) "
                     f"until {_ts(until)}", run)
    if not files:
        return delete(f"finished run {short} {status.value}; {what} left behind", run)
    if cleanup == "done":
        return delete(f"finished run {short} {status.value}, cleanup done but objects remain", run)
    return delete(f"finished run {short} {status.value}, cleanup {cleanup or 'not recorded'}", run)


def combine(decisions: list[Decision]) -> Decision:
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


def unknown(epoch: int, now: datetime, policy: ReapPolicy, what: str) -> Decision:
    born = datetime.fromtimestamp(epoch, tz=timezone.utc)
    age = now - born
    if age > policy.grace:
        return delete(f"unknown {what} older than grace (created {_ts(born)}, {fmt_duration(age)} ago, "
                       f"grace {fmt_duration(policy.grace)})")
    return keep(f"unknown {what} inside grace: a run may be starting (created {_ts(born)})")


def decide(prefix_name: str, runs: Iterable[RunRecord], now: datetime, policy: ReapPolicy) -> Decision:
    """Delete or keep one temp prefix. Pure.

    ``prefix_name`` is the prefix's URI ``s3://bucket/<root>/<table>-<epoch>-<hex>/`` (or
    only its key, then runs of any bucket may own it); ``runs`` are the candidates found
    by the short id (others are ignored: only a run whose ``temp_path`` is this prefix
    owns it).
    """
    now = utc(now)
    bucket, key = _split_uri(prefix_name)
    root = policy.prefix_root + "/"
    if not key.startswith(root):
        return keep(f"outside the prefix root {root}")
    segment = key[len(root):]
    if not segment.endswith("/") or "/" in segment[:-1]:
        return keep(f"not a prefix directly under {root}")
    parsed = parse_prefix(segment)
    if parsed is None:
        return keep("not a loader temp prefix (<table>-<epoch>-<8 hex>/)")
    if policy.table is not None and parsed.table != policy.table_part:
        return keep(f"prefix of table {parsed.table}, not {policy.table}")
    owners = [r for r in runs if _owns(r, bucket, key)]
    if not owners:
        return unknown(parsed.epoch, now, policy, "prefix")
    return combine([decide_run(r, now, policy, files=True) for r in owners])
