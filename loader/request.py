"""The contract between the callers, the engine and the load methods.

``LoadRequest`` is what ``write_to_postgres`` and the runner hand the engine: every choice
the user made, already checked and resolved (the write mode is a strategy object, the bucket
is known). ``LoadMethod`` is what the engine hands the work to (COPY, JDBC, or a fake one in
tests, as httpx's transports and ``MockTransport``): ``run(ctx)`` with a ``MethodContext`` that
carries the request, the column plan and the ``RunEvents`` through which a method tells the
engine what happened. The engine alone turns those events into run-state transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .adapters.s3 import resolve_bucket
from .adapters.staging_area import BlobStore, S3Blobs, StagingArea
from .connection import ConnectionSpec
from .destination.modes import write_mode
from .destination.write_modes import WriteStrategy
from .errors import ConfigError
from .naming import TableRef, TempLocation, loader_schema
from .options import (
    ON_NARROWING,
    SCHEMA_EVOLUTION,
    CopyOptions,
    JdbcOptions,
    Method,
    RejectPolicy,
    WriteMode,
    with_bucket,
)
from .plan.direct_plan import DirectRead
from .plan.typemap import ColumnPlan
from .progress import Progress


@dataclass(frozen=True)
class LoadRequest:
    df: Any
    spec: ConnectionSpec
    target: TableRef
    method: Method = Method.AUTO
    mode: WriteMode = WriteMode.APPEND
    key: tuple[str, ...] = ()
    #: auto | truncate: how a whole-table overwrite replaces the rows (destination/modes.py)
    overwrite: str = "auto"
    create: str = "if_missing"
    copy: CopyOptions = field(default_factory=CopyOptions)
    jdbc: JdbcOptions = field(default_factory=JdbcOptions)
    manifest_name: str | None = None
    manifest_hash: str | None = None
    #: where the manifest was read from (``s3://...`` or ``file://...``), recorded with the run
    manifest_uri: str | None = None
    wait_for_lock: bool = False
    live_progress: bool = False
    source_fingerprint: str | None = None
    on_error: str = "fail"  # fail | reject
    max_errors: int | None = None
    #: build the target's indexes after the rows when it is new, overwritten or empty (index_defer)
    defer_indexes: bool = True
    #: none | add_columns: a source column the table lacks is added in the load transaction
    schema_evolution: str = "none"
    #: an incremental run's window and mark (runner/incremental.py); ``df`` is already its window
    watermark: Watermark | None = None
    #: overwrite one slice: the rows matching this SQL predicate (destination/slice_modes.py)
    replace_where: str | None = None
    #: overwrite the slices (distinct values of these columns) the source holds
    replace_by: tuple[str, ...] = ()
    #: an overwrite or slice replace from an empty source may empty the table or the slice
    allow_empty: bool = False
    #: round | error: a value the target's numeric scale or range would change is rounded, or refused
    on_narrowing: str = "round"
    #: the schema of the ledger, the JDBC staging tables and loader_rejects (None: the target's)
    ledger_schema: str | None = None
    #: a Parquet source the runner read bare: its files as pyarrow may read them on the executors
    #: (plan/direct_plan.py), or why Spark's reader stays; None for a DataFrame handed in
    direct: DirectRead | str | None = None
    #: the write mode as behaviour, chosen once here (upsert without a key is refused here)
    write: WriteStrategy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schema_evolution not in SCHEMA_EVOLUTION:
            raise ConfigError(f"schema_evolution={self.schema_evolution!r} is not one of {', '.join(SCHEMA_EVOLUTION)}")
        loader_schema(self.target, self.ledger_schema)  # a name PostgreSQL would cut is refused now
        if self.on_narrowing not in ON_NARROWING:
            raise ConfigError(f"on_narrowing={self.on_narrowing!r} is not one of {', '.join(ON_NARROWING)}")
        object.__setattr__(self, "write", write_mode(self.mode, self.key, replace_where=self.replace_where,
                                                     replace_by=self.replace_by, wait=self.wait_for_lock,
                                                     overwrite=self.overwrite))
        if self.copy.bucket is None:  # argument, else $PYSPARK_TEMP_S3_BUCKET, else the project default
            object.__setattr__(self, "copy", with_bucket(self.copy, resolve_bucket(None)[0]))

    @property
    def loader_schema(self) -> str:
        """Where this load's own tables are: ``ledger_schema``, else the target's schema."""
        return loader_schema(self.target, self.ledger_schema)

    @property
    def reject(self) -> RejectPolicy | None:
        return RejectPolicy(self.max_errors) if self.on_error == "reject" else None


class Watermark(Protocol):
    """An incremental run's window and how to learn its new high-water mark (both as JSON)."""

    #: the window the run loads, recorded when the run is created (a resume keeps it)
    window: str

    def mark(self, first_attempt: bool) -> str | None:
        """The mark of the rows loaded, once the load's Spark job has run (``first_attempt``: no
        part was staged by an earlier attempt, so the job saw every row of the window)."""
        ...


class RunEvents(Protocol):
    """What a method reports while it works; the engine records each (state transitions,
    parts, the temp location, the staging table)."""

    def use_staging_area(self, area: StagingArea) -> None: ...  # recorded before the first object
    def staging_started(self) -> None: ...
    def part_staged(self, partition: int, seq: int, key: str, rows: int, nbytes: int) -> None: ...
    def staged(self) -> None: ...
    def loading_started(self) -> None: ...
    #: what the run may leave in the target's database should it die (its staging or shadow table,
    #: its prepared transactions' marker), for the reaper, before it exists
    def leftover_recorded(self, name: str) -> None: ...
    #: every row is read and the COMMIT follows: what must be in the state store first (the mark)
    def committing(self) -> None: ...


@dataclass
class MethodContext:
    req: LoadRequest
    run_id: str
    plan: ColumnPlan
    #: CREATE TABLE for a target that does not exist yet (run inside the load transaction)
    create_sql: str | None
    #: key columns named in data errors (the upsert key, else the table's primary key)
    error_key: tuple[str, ...]
    events: RunEvents
    #: the temp location an earlier attempt of this run recorded (a resume reuses its parts)
    staged_at: str | None = None
    #: the engine passes its own (it stops it); a default one starts no ticker nobody would stop
    progress: Progress = field(default_factory=lambda: Progress(ticks=False))
    #: the bucket was checked already (auto's readiness check): no second HeadBucket
    bucket_checked: bool = False
    #: 1 for a new run; a resume's attempt number (its first attempt's staged parts are reused)
    attempt: int = 1
    #: where staged parts are listed and deleted (the engine's edge; S3 unless a test passes one)
    blobs: BlobStore = field(default_factory=S3Blobs)

    def __post_init__(self) -> None:
        self._area: StagingArea | None = None

    @property
    def staging_area(self) -> StagingArea:
        """Where this run stages, for a method that stages: the earlier attempt's prefix, else a
        new one in the bucket the request resolved (the only place a temp location is made).
        The method reports it (``events.use_staging_area``) before the first object exists."""
        if self._area is None:
            copy = self.req.copy
            location = TempLocation.parse(self.staged_at) if self.staged_at else \
                TempLocation.new(str(copy.bucket), copy.prefix, self.req.target.table, self.run_id)
            self._area = StagingArea(location, self.blobs, cleanup=copy.cleanup)
        return self._area


@dataclass
class MethodOutcome:
    rows: int = 0
    bytes_staged: int = 0
    parts: int = 0
    server_side: bool = False
    rows_rejected: int = 0
    #: upsert: rows whose key was new, rows whose key existed (None for append and overwrite)
    rows_inserted: int | None = None
    rows_updated: int | None = None
    #: a slice replace: the target's rows it deleted (None for the other modes)
    rows_deleted: int | None = None
    #: COPY's staging format (binary or csv) and why; None for methods that do not stage
    staging_format: str | None = None
    format_reason: str = ""
    #: COPY: who read the source (pyarrow from the Parquet files, or Spark and why)
    read_reason: str = ""
    #: COPY: how the rows landed and why (copy.connections, the path, a refused server-side import)
    path_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class LoadMethod(Protocol):
    #: what LoadResult.method and the state store call it: copy, optimized, standard
    name: str

    def run(self, ctx: MethodContext) -> MethodOutcome: ...

    @property
    def fallback(self) -> LoadMethod | None:
        """What an infrastructure failure (``StagingError``) falls back to, or None."""
        ...
