"""Runs: one row each in ``loader_runs``. Create, read, look up, set fields, heartbeat; the status
changes are ``transitions.py``'s.

Who writes each counter of the row (one writer each, and they agree):

* ``parts_staged``, ``bytes_staged``: counted from the parts table by ``Parts.record_part``, in
  the transaction that records the part;
* ``parts_loaded``, ``rows_in_flight``: the live attempt's progress (the parts COPYed so far and
  their rows, not yet committed), set by :meth:`Runs.heartbeat` as each part is COPYed; the
  transition to ``succeeded`` sets ``parts_loaded`` to what the attempt loaded;
* ``rows``: only the transition to ``succeeded``, from the committed statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union, update
from sqlalchemy.exc import IntegrityError

from ..errors import RunNotFoundError, StateError
from . import models as m
from .db import StateDatabase
from .models import RunRecord
from .status import RESUMABLE, RunStatus

#: run columns ``update`` (and the transitions' keyword arguments) may set
UPDATABLE_FIELDS = frozenset({
    "method_used", "temp_path", "bucket", "reason", "fallback_reason", "rows", "bytes_staged",
    "rows_rejected", "parts_staged", "parts_loaded", "cleanup_status", "source_fingerprint",
    "staging_table", "timings", "error", "rows_inserted", "rows_updated", "window_from", "high_water_mark",
    "rows_deleted",
})

_NEWEST_FIRST = (m.runs.c.started_at.desc(), m.runs.c.run_id.desc())


def field_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Checked column values for ``fields`` (see UPDATABLE_FIELDS); timings as JSON."""
    unknown = sorted(set(fields) - UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"StateStore cannot update {', '.join(unknown)}; "
                        f"updatable: {', '.join(sorted(UPDATABLE_FIELDS))}")
    values = dict(fields)
    if "timings" in values:
        timings = values["timings"] or {}
        values["timings"] = json.dumps({str(k): float(v) for k, v in dict(timings).items()}, sort_keys=True)
    status = values.get("cleanup_status")
    if status is not None and status not in m.CLEANUP_STATUSES:
        raise ValueError(f"cleanup_status must be one of {sorted(m.CLEANUP_STATUSES)}, got {status!r}")
    if values.get("method_used") is not None:
        values["method_used"] = str(values["method_used"])
    return values


class Runs:
    """The rows of ``loader_runs``, outside their status changes."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def create(self, run_id: str, *, manifest_name: str, manifest_hash: str, target: str, target_db: str,
               method_requested: str, write_mode: str, bucket: str | None = None,
               temp_path: str | None = None, reason: str | None = None,
               manifest_uri: str | None = None) -> RunRecord:
        """Insert a new run in status ``pending`` (attempt 1)."""
        if not run_id or len(run_id) > 32:
            raise ValueError(f"run_id must be 1..32 characters, got {run_id!r}")
        now = self.db.now()
        values: dict[str, Any] = {
            "run_id": run_id, "manifest_name": manifest_name, "manifest_hash": manifest_hash,
            "target": target, "target_db": target_db, "method_requested": str(method_requested),
            "method_used": None, "write_mode": str(write_mode), "status": RunStatus.PENDING.value,
            "reason": reason, "temp_path": temp_path, "bucket": bucket, "parts_staged": 0,
            "parts_loaded": 0, "rows": None, "bytes_staged": 0, "rows_rejected": 0, "attempt": 1,
            "started_at": now, "heartbeat_at": now, "finished_at": None, "timings": "{}",
            "error": None, "fallback_reason": None, "cleanup_status": None,
            "source_fingerprint": None, "staging_table": None, "rows_in_flight": None, "rows_inserted": None,
            "rows_updated": None, "rows_deleted": None, "window_from": None, "high_water_mark": None, "attempt_started_at": now,
            "active_seconds": 0.0, "manifest_uri": manifest_uri,
        }
        try:
            with self.db.write(f"creating run {run_id}") as conn:
                conn.execute(m.runs.insert().values(**values))
        except StateError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StateError(f"run {run_id} already exists in the state store",
                                 next_step="use a new run id", run_id=run_id) from None
            raise
        return RunRecord.from_row(values)

    # --- reading ----------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        record = self.get_or_none(run_id)
        if record is None:
            raise self.db.not_found(run_id)
        return record

    def get_or_none(self, run_id: str) -> RunRecord | None:
        with self.db.read(f"reading run {run_id}") as conn:
            row = conn.execute(select(m.runs).where(m.runs.c.run_id == run_id)).mappings().first()
        return RunRecord.from_row(row) if row is not None else None

    def _select(self, query: Any, what: str) -> list[RunRecord]:
        with self.db.read(what) as conn:
            return [RunRecord.from_row(r) for r in conn.execute(query).mappings().all()]

    def resolve_id(self, prefix: str) -> str:
        """The id of the one run whose id starts with ``prefix`` (as git takes a short hash)."""
        with self.db.read(f"looking up run {prefix}") as conn:
            ids = conn.execute(select(m.runs.c.run_id).where(m.runs.c.run_id.startswith(prefix, autoescape=True))
                               .order_by(m.runs.c.run_id).limit(6)).scalars().all()
        if len(ids) > 1:
            raise RunNotFoundError(f"run id {prefix!r} is ambiguous: {', '.join(i[:12] for i in ids[:5])}"
                                   f"{' ...' if len(ids) > 5 else ''}", next_step="give more characters of the id")
        if not ids:
            raise self.db.not_found(prefix)
        return str(ids[0])

    def list_runs(self, limit: int | None = 20, manifest_name: str | None = None,
             statuses: Iterable[RunStatus | str] | None = None) -> list[RunRecord]:
        """Runs newest first (by started_at, then run_id)."""
        query = select(m.runs).order_by(*_NEWEST_FIRST)
        if manifest_name is not None:
            query = query.where(m.runs.c.manifest_name == manifest_name)
        if statuses is not None:
            query = query.where(m.runs.c.status.in_(sorted({RunStatus(s).value for s in statuses})))
        if limit is not None:
            query = query.limit(limit)
        return self._select(query, "listing runs")

    def started_since(self, since: datetime | None) -> list[RunRecord]:
        """Runs started at or after ``since`` (all runs if None), for the summary."""
        query = select(m.runs)
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            query = query.where(m.runs.c.started_at >= since)
        return self._select(query, "computing the summary")

    def latest_resumable(self, manifest_name: str) -> RunRecord | None:
        """The newest run of this manifest that is failed or unfinished, if any."""
        found = self.list_runs(limit=1, manifest_name=manifest_name, statuses=RESUMABLE)
        return found[0] if found else None

    def marked(self, manifest_name: str, statuses: Iterable[RunStatus | str], limit: int | None) -> list[RunRecord]:
        """Runs of this manifest that recorded a high-water mark, newest first."""
        wanted = sorted({RunStatus(s).value for s in statuses})
        query = (select(m.runs).where(m.runs.c.manifest_name == manifest_name, m.runs.c.status.in_(wanted),
                                      m.runs.c.high_water_mark.is_not(None))
                 .order_by(*_NEWEST_FIRST).limit(limit))
        return self._select(query, f"reading the marks of {manifest_name}")

    def current_marks(self) -> list[RunRecord]:
        """Per manifest, its newest succeeded run with a high-water mark."""
        done = (m.runs.c.status == RunStatus.SUCCEEDED.value) & m.runs.c.high_water_mark.is_not(None)
        newest = (select(m.runs.c.manifest_name, func.max(m.runs.c.started_at).label("at")).where(done)
                  .group_by(m.runs.c.manifest_name).subquery())
        query = (select(m.runs).join(newest, (newest.c.manifest_name == m.runs.c.manifest_name)
                                     & (newest.c.at == m.runs.c.started_at)).where(done)
                 .order_by(m.runs.c.manifest_name, m.runs.c.run_id.desc()))
        newest_first: dict[str, RunRecord] = {}
        for r in self._select(query, "reading the high-water marks"):
            newest_first.setdefault(r.manifest_name, r)  # two runs started in the same microsecond
        return list(newest_first.values())

    def find_by_short_id(self, short_id: str) -> list[RunRecord]:
        """Runs whose id starts with ``short_id`` (temp prefixes embed ``run_id[:8]``), newest first."""
        short_id = short_id.strip().lower()
        if not short_id:
            return []
        query = select(m.runs).where(m.runs.c.run_id.startswith(short_id, autoescape=True)).order_by(*_NEWEST_FIRST)
        return self._select(query, f"looking up run {short_id}")

    def with_staging_table(self) -> list[RunRecord]:
        """Runs whose JDBC staging table may still exist: one was recorded and the run did not succeed
        (a run that succeeded dropped it in its publish transaction). Oldest first."""
        query = (select(m.runs).where(m.runs.c.staging_table.is_not(None),
                                      m.runs.c.status != RunStatus.SUCCEEDED.value)
                 .order_by(m.runs.c.started_at, m.runs.c.run_id))
        return self._select(query, "listing runs with staging tables")

    def buckets_seen(self) -> list[str]:
        """Every bucket a run staged into or the reaper cleaned, sorted."""
        query = union(
            select(m.runs.c.bucket.label("bucket")).where(m.runs.c.bucket.is_not(None)),
            select(m.reaps.c.bucket.label("bucket")),
        )
        with self.db.read("listing buckets") as conn:
            return sorted({r[0] for r in conn.execute(query) if r[0]})

    # --- writing, status unchanged ------------------------------------------------------
    def _set(self, run_id: str, values: Mapping[str, Any], what: str) -> None:
        with self.db.write(what) as conn:
            if conn.execute(update(m.runs).where(m.runs.c.run_id == run_id).values(**values)).rowcount == 0:
                raise self.db.not_found(run_id)

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns without changing the status (see UPDATABLE_FIELDS)."""
        values = field_values(fields)
        if values:
            self._set(run_id, values, f"updating run {run_id}")

    def heartbeat(self, run_id: str, parts_staged: int | None = None, parts_loaded: int | None = None,
                  rows: int | None = None) -> None:
        """Mark the run alive now, with the attempt's progress if given (``rows`` are in flight:
        ``rows`` of the record are only ever the committed ones)."""
        values: dict[str, Any] = {"heartbeat_at": self.db.now()}
        for key, value in (("parts_staged", parts_staged), ("parts_loaded", parts_loaded),
                           ("rows_in_flight", rows)):
            if value is not None:
                values[key] = int(value)
        self._set(run_id, values, f"heartbeat of run {run_id}")
