"""The run-state store: one facade over the database edge and the modules that use it.

    StateStore ──► runs.Runs                  create, read, look up, update, heartbeat
               ──► transitions.Transitions    the named status changes (status.TRANSITIONS)
               ──► parts.Parts                staged parts (and the run's part counts)
               ──► reaps.Reaps                the reaper's log
               all over db.StateDatabase      engine, transactions, errors (tables: schema.py)

Every method here only delegates; what it does is said where it is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from . import schema
from .db import ENV_URL, StateDatabase, default_state_path, default_url, utcnow
from .metrics import summarize
from .models import PartRecord, ReapRecord, RunRecord
from .parts import Parts
from .reaps import Reaps
from .runs import UPDATABLE_FIELDS, Runs
from .status import RunStatus
from .transitions import Transitions

__all__ = ["ENV_URL", "UPDATABLE_FIELDS", "StateStore", "default_state_path", "default_url", "utcnow"]


class StateStore:
    """The run-state store. Thread-safe; one instance per process is enough."""

    def __init__(self, url: str | URL | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = StateDatabase(url, clock=clock, prepare=schema.ensure)
        self._runs = Runs(self.db)
        self._transitions = Transitions(self._runs)
        self._parts = Parts(self.db)
        self._reaps = Reaps(self.db)

    @classmethod
    def from_env(cls) -> StateStore:
        """``LOADER_STATE_URL`` or the default SQLite file."""
        return cls(None)

    # --- the store itself --------------------------------------------------------------
    @property
    def url_for_display(self) -> str:
        """The URL with the password masked: safe for logs and errors."""
        return self.db.url_for_display

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def ensure_schema(self) -> None:
        """Create the tables if needed; refuse a store written by a newer loader."""
        self.db.ensure_schema()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.url_for_display!r})"

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, run_id: str, *, manifest_name: str, manifest_hash: str, target: str, target_db: str,
                   method_requested: str, write_mode: str, bucket: str | None = None,
                   temp_path: str | None = None, reason: str | None = None,
                   manifest_uri: str | None = None) -> RunRecord:
        """Insert a new run in status ``pending`` (attempt 1)."""
        return self._runs.create(run_id, manifest_name=manifest_name, manifest_hash=manifest_hash,
                                 manifest_uri=manifest_uri, target=target,
                                 target_db=target_db, method_requested=method_requested, write_mode=write_mode,
                                 bucket=bucket, temp_path=temp_path, reason=reason)

    def get(self, run_id: str) -> RunRecord:
        """The run, or RunNotFoundError."""
        return self._runs.get(run_id)

    def resolve_id(self, prefix: str) -> str:
        """The id of the one run whose id starts with ``prefix`` (as git takes a short hash)."""
        return self._runs.resolve_id(prefix)

    def list_runs(self, limit: int | None = 20, manifest_name: str | None = None,
                  statuses: Iterable[RunStatus | str] | None = None) -> list[RunRecord]:
        """Runs newest first (by started_at, then run_id)."""
        return self._runs.list_runs(limit, manifest_name, statuses)

    def latest_resumable(self, manifest_name: str) -> RunRecord | None:
        """The newest run of this manifest that is failed or unfinished, if any."""
        return self._runs.latest_resumable(manifest_name)

    def marked_runs(self, manifest_name: str, statuses: Iterable[RunStatus | str] = (RunStatus.SUCCEEDED,),
                    limit: int | None = 1) -> list[RunRecord]:
        """Runs of this manifest that recorded a high-water mark, newest first (incremental loads:
        the newest succeeded one holds the current mark)."""
        return self._runs.marked(manifest_name, statuses, limit)

    def current_marks(self) -> list[RunRecord]:
        """Per manifest, its newest succeeded run with a high-water mark (``loader status``)."""
        return self._runs.current_marks()

    def find_by_short_id(self, short_id: str) -> list[RunRecord]:
        """Runs whose id starts with ``short_id`` (temp prefixes embed ``run_id[:8]``), newest first."""
        return self._runs.find_by_short_id(short_id)

    def runs_with_staging_table(self) -> list[RunRecord]:
        """Runs whose JDBC staging table may still exist, oldest first."""
        return self._runs.with_staging_table()

    def buckets_seen(self) -> list[str]:
        """Every bucket a run staged into or the reaper cleaned, sorted."""
        return self._runs.buckets_seen()

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns without changing the status (see UPDATABLE_FIELDS)."""
        self._runs.update(run_id, **fields)

    def heartbeat(self, run_id: str, parts_staged: int | None = None, parts_loaded: int | None = None,
                  rows: int | None = None) -> None:
        """Mark the run alive now, with the attempt's progress if given (``rows`` are in flight)."""
        self._runs.heartbeat(run_id, parts_staged=parts_staged, parts_loaded=parts_loaded, rows=rows)

    # --- transitions ---------------------------------------------------------------------
    def start_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """pending -> staging."""
        return self._transitions.start_staging(run_id, **fields)

    def finish_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """staging -> staged."""
        return self._transitions.finish_staging(run_id, **fields)

    def start_loading(self, run_id: str, expected: RunStatus | str | None = None, **fields: Any) -> RunRecord:
        """pending (JDBC), staging (COPY's first part while the rest is staged) or staged -> loading."""
        return self._transitions.start_loading(run_id, expected, **fields)

    def succeed(self, run_id: str, rows: int | None = None, **fields: Any) -> RunRecord:
        """loading -> succeeded (sets finished_at)."""
        return self._transitions.succeed(run_id, rows, **fields)

    def fail(self, run_id: str, error: str, expected: RunStatus | str | None = None, **fields: Any) -> RunRecord:
        """Any active status -> failed, with the error text (sets finished_at)."""
        return self._transitions.fail(run_id, error, expected, **fields)

    def abandon(self, run_id: str, reason: str, expected: RunStatus | str | None = None,
                **fields: Any) -> RunRecord:
        """Active or failed -> abandoned (reaper/operator); ``reason`` goes to ``error``."""
        return self._transitions.abandon(run_id, reason, expected, **fields)

    def resume(self, run_id: str, expected: RunStatus | str | None = None, attempt: int | None = None,
               **fields: Any) -> RunRecord:
        """Failed or unfinished -> pending with attempt + 1 (pins the status and attempt seen)."""
        return self._transitions.resume(run_id, expected, attempt, **fields)

    # --- parts and reaps -----------------------------------------------------------------
    def record_part(self, run_id: str, index: int, key: str, rows: int, bytes: int) -> PartRecord:
        """Record (or re-record) a staged part; keeps runs.parts_staged/bytes_staged in step."""
        return self._parts.record(run_id, index, key, rows, bytes)

    def parts(self, run_id: str, status: str | None = None) -> list[PartRecord]:
        """The run's parts by index."""
        return self._parts.of_run(run_id, status)

    def record_reap(self, bucket: str, prefix: str, objects: int, bytes: int, reason: str,
                    run_id: str | None = None, reaper_id: str = "") -> bool:
        """Log a reaped prefix; False if (bucket, prefix) was already recorded (not counted twice)."""
        return self._reaps.record(bucket, prefix, objects, bytes, reason, run_id=run_id, reaper_id=reaper_id)

    def reaps(self, limit: int | None = 50, bucket: str | None = None) -> list[ReapRecord]:
        """Reaped prefixes, newest first."""
        return self._reaps.newest(limit, bucket)

    def summary(self, since: datetime | None = None) -> dict[str, Any]:
        """Aggregates over runs started at or after ``since`` (all runs if None); see metrics.summarize."""
        return summarize(self._runs.started_since(since), since=since, reaped=self._reaps.totals(since))
