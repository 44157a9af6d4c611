"""Tables of the run-state store (SQLAlchemy Core), identical on SQLite and PostgreSQL.

``loader_schema_version`` holds one row with the schema version the tables were
created with; :data:`SCHEMA_VERSION` is the version this code writes and reads.
A later release that changes the tables bumps it and migrates; an older release
opening a newer store refuses (``schema.py``).

Datetimes are stored in UTC: ``timestamptz`` on PostgreSQL, naive UTC text on
SQLite. Both come back as timezone-aware UTC datetimes (:class:`UTCDateTime`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from .status import RunStatus

#: version of the tables below; bump together with a migration in ``schema.py``
SCHEMA_VERSION = 4

CLEANUP_STATUSES = frozenset({"pending", "done", "failed", "kept"})
#: a part row says the part is in S3; whether it was COPYed is the attempt's progress (runs.parts_loaded)
PART_STATUSES = frozenset({"staged"})


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    Naive datetimes are refused on the way in (they are ambiguous); aware ones
    are converted to UTC. SQLite keeps naive UTC (ISO text, which sorts in
    time order); values read back get ``tzinfo=timezone.utc``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the state store; use datetime.now(timezone.utc)")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: SQLite text not produced by us
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData()

schema_version = Table(
    "loader_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one row
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

runs = Table(
    "loader_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("manifest_name", Text, nullable=False),
    Column("manifest_hash", Text, nullable=False),
    Column("target", Text, nullable=False),  # schema.table
    Column("target_db", Text, nullable=False),  # user@host:port/db, never a password
    Column("method_requested", String(32), nullable=False),
    Column("method_used", String(32), nullable=True),
    Column("write_mode", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("temp_path", Text, nullable=True),  # s3://bucket/prefix/
    Column("bucket", Text, nullable=True),
    Column("parts_staged", Integer, nullable=False, default=0),
    Column("parts_loaded", Integer, nullable=False, default=0),
    Column("rows", BigInteger, nullable=True),
    Column("bytes_staged", BigInteger, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("attempt", Integer, nullable=False, default=1),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("timings", Text, nullable=False, default="{}"),  # JSON: phase -> seconds
    Column("error", Text, nullable=True),
    Column("fallback_reason", Text, nullable=True),
    Column("cleanup_status", String(16), nullable=True),
    Column("source_fingerprint", Text, nullable=True),
    # what the run may leave in the target's database should it die, recorded before it exists: its
    # staging table, its shadow table, or the marker of its prepared transactions (the reaper's)
    Column("staging_table", Text, nullable=True),
    # --- version 2 -------------------------------------------------------------------
    # committed rows only ever go to ``rows``; a live attempt's progress goes here
    Column("rows_in_flight", BigInteger, nullable=True),
    Column("rows_inserted", BigInteger, nullable=True),  # upsert: new keys
    Column("rows_updated", BigInteger, nullable=True),  # upsert: existing keys
    # incremental loads: JSON {"cursor", "type", "value"}; the mark counts once the run succeeded
    Column("window_from", Text, nullable=True),
    Column("high_water_mark", Text, nullable=True),
    # time the attempts really ran: a resumed run does not count the hours it sat interrupted
    Column("attempt_started_at", UTCDateTime(), nullable=True),
    Column("active_seconds", Float, nullable=False, default=0.0),
    # --- version 3 -------------------------------------------------------------------
    Column("rows_deleted", BigInteger, nullable=True),  # a slice replace: the slice's old rows
    # --- version 4 -------------------------------------------------------------------
    # where the manifest was read from: s3://bucket/key (EMR) or file:///abs/path
    Column("manifest_uri", Text, nullable=True),
)

#: columns added by version 2 (``schema.py`` adds them to a version 1 store)
V2_RUN_COLUMNS = ("rows_in_flight", "rows_inserted", "rows_updated", "window_from", "high_water_mark",
                  "attempt_started_at", "active_seconds")
#: columns added by version 3
V3_RUN_COLUMNS = ("rows_deleted",)
#: columns added by version 4
V4_RUN_COLUMNS = ("manifest_uri",)
Index("ix_loader_runs_manifest_started", runs.c.manifest_name, runs.c.started_at)
Index("ix_loader_runs_started", runs.c.started_at)
Index("ix_loader_runs_status", runs.c.status)

parts = Table(
    "loader_parts",
    metadata,
    Column("run_id", String(32), ForeignKey("loader_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("part_index", Integer, nullable=False),
    Column("key", Text, nullable=False),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False, default="staged"),
    PrimaryKeyConstraint("run_id", "part_index", name="pk_loader_parts"),
)

reaps = Table(
    "loader_reaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bucket", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("objects", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("reason", Text, nullable=False, default=""),
    Column("reaped_at", UTCDateTime(), nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("reaper_id", String(64), nullable=False, default=""),
    UniqueConstraint("bucket", "prefix", name="uq_loader_reaps_bucket_prefix"),
)

#: creation order (parents first)
ALL_TABLES = (schema_version, runs, parts, reaps)


# --- records: what the store returns ------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class RunRecord:
    """One row of ``loader_runs``; datetimes are timezone-aware UTC."""

    run_id: str
    manifest_name: str
    manifest_hash: str
    target: str
    target_db: str
    method_requested: str
    method_used: str | None
    write_mode: str
    status: RunStatus
    reason: str | None
    temp_path: str | None
    bucket: str | None
    parts_staged: int
    parts_loaded: int
    rows: int | None
    bytes_staged: int
    rows_rejected: int
    attempt: int
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    fallback_reason: str | None = None
    cleanup_status: str | None = None
    source_fingerprint: str | None = None
    staging_table: str | None = None
    rows_in_flight: int | None = None
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    window_from: str | None = None
    high_water_mark: str | None = None
    attempt_started_at: datetime | None = None
    active_seconds: float = 0.0
    manifest_uri: str | None = None

    @property
    def short_id(self) -> str:
        """The first 8 characters, embedded in temp prefixes and shown by ``loader status``."""
        return self.run_id[:8]

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def attempts_seconds(self, now: datetime | None = None) -> float:
        """The time the attempts ran: finished attempts, plus the live one up to ``now`` (or the last
        heartbeat); not the time the run sat failed or killed between attempts."""
        if not self.status.is_active:
            return self.active_seconds
        start = self.attempt_started_at or self.started_at
        end = now or self.heartbeat_at
        return self.active_seconds + max((end - start).total_seconds(), 0.0)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> RunRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["status"] = RunStatus(values["status"])
        raw = values["timings"]
        values["timings"] = dict(json.loads(raw)) if raw else {}
        for key in ("parts_staged", "parts_loaded", "bytes_staged", "rows_rejected", "attempt"):
            values[key] = int(values[key] or 0)
        for key in ("rows", "rows_in_flight", "rows_inserted", "rows_updated", "rows_deleted"):
            if values[key] is not None:
                values[key] = int(values[key])
        values["active_seconds"] = float(values["active_seconds"] or 0.0)
        return cls(**values)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only (ISO-8601 datetimes, status as its string)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = _iso(value)
            elif isinstance(value, RunStatus):
                value = value.value
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class PartRecord:
    """One row of ``loader_parts``."""

    run_id: str
    part_index: int
    key: str
    rows: int
    bytes: int
    status: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> PartRecord:
        return cls(run_id=row["run_id"], part_index=int(row["part_index"]), key=row["key"],
                   rows=int(row["rows"] or 0), bytes=int(row["bytes"] or 0), status=row["status"])

    def to_json_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ReapRecord:
    """One row of ``loader_reaps``: a temp prefix the reaper deleted."""

    id: int
    bucket: str
    prefix: str
    objects: int
    bytes: int
    reason: str
    reaped_at: datetime
    run_id: str | None
    reaper_id: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ReapRecord:
        return cls(id=int(row["id"]), bucket=row["bucket"], prefix=row["prefix"],
                   objects=int(row["objects"] or 0), bytes=int(row["bytes"] or 0),
                   reason=row["reason"] or "", reaped_at=row["reaped_at"], run_id=row["run_id"],
                   reaper_id=row["reaper_id"] or "")

    def to_json_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["reaped_at"] = _iso(self.reaped_at)
        return out
