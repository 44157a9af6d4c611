"""The run-state store: one row per run and its named status transitions.

The database plumbing (engine, schema, error translation) is in ``db.py``; the
staged parts, the reaper's log and the usage summary in ``parts_reaps.py``.

Every status change is one conditional ``UPDATE ... WHERE run_id = :id AND
status = :expected`` (``resume`` also pins the attempt number), so of two
processes moving the same run at once exactly one wins; the other gets
:class:`~loader.errors.TransitionError`. The named transitions and their
sources come from :data:`loader.state.status.TRANSITIONS`, nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select, union, update
from sqlalchemy.exc import IntegrityError

from ..errors import RunNotFoundError, StateError, TransitionError
from . import models as m
from .display import fit_error
from .db import ENV_URL, UPDATABLE_FIELDS, default_state_path, default_url, utcnow
from .models import RunRecord
from .parts_reaps import PartsAndReaps
from .status import ACTIVE, TRANSITIONS, RunStatus

__all__ = ["ENV_URL", "UPDATABLE_FIELDS", "StateStore", "default_state_path", "default_url", "utcnow"]

_FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ABANDONED})
_RESUMABLE = ACTIVE | {RunStatus.FAILED}


class StateStore(PartsAndReaps):
    """The run-state store. Thread-safe; one instance per process is enough."""

    # --- runs ---------------------------------------------------------------------
    def create_run(
        self,
        run_id: str,
        *,
        manifest_name: str,
        manifest_hash: str,
        target: str,
        target_db: str,
        method_requested: str,
        write_mode: str,
        bucket: str | None = None,
        temp_path: str | None = None,
        reason: str | None = None,
    ) -> RunRecord:
        """Insert a new run in status ``pending`` (attempt 1)."""
        if not run_id or len(run_id) > 32:
            raise ValueError(f"run_id must be 1..32 characters, got {run_id!r}")
        now = self._now()
        values: dict[str, Any] = {
            "run_id": run_id, "manifest_name": manifest_name, "manifest_hash": manifest_hash,
            "target": target, "target_db": target_db, "method_requested": str(method_requested),
            "method_used": None, "write_mode": str(write_mode), "status": RunStatus.PENDING.value,
            "reason": reason, "temp_path": temp_path, "bucket": bucket, "parts_staged": 0,
            "parts_loaded": 0, "rows": None, "bytes_staged": 0, "rows_rejected": 0, "attempt": 1,
            "started_at": now, "heartbeat_at": now, "finished_at": None, "timings": "{}",
            "error": None, "fallback_reason": None, "cleanup_status": None,
            "source_fingerprint": None, "staging_table": None, "rows_in_flight": None, "rows_inserted": None,
            "rows_updated": None, "window_from": None, "high_water_mark": None, "attempt_started_at": now,
            "active_seconds": 0.0,
        }
        try:
            with self._write(f"creating run {run_id}") as conn:
                conn.execute(m.runs.insert().values(**values))
        except StateError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StateError(f"run {run_id} already exists in the state store",
                                 next_step="use a new run id", run_id=run_id) from None
            raise
        return RunRecord.from_row(values)

    def get(self, run_id: str) -> RunRecord:
        """The run, or RunNotFoundError."""
        record = self._get_or_none(run_id)
        if record is None:
            raise RunNotFoundError(f"no run {run_id} in the state store {self.url_for_display}",
                                   next_step="list runs with `loader status`", run_id=run_id)
        return record

    def resolve_id(self, prefix: str) -> str:
        """The id of the one run whose id starts with ``prefix`` (as git takes a short hash)."""
        with self._read(f"looking up run {prefix}") as conn:
            ids = conn.execute(select(m.runs.c.run_id).where(m.runs.c.run_id.startswith(prefix, autoescape=True))
                               .order_by(m.runs.c.run_id).limit(6)).scalars().all()
        if len(ids) > 1:
            raise RunNotFoundError(f"run id {prefix!r} is ambiguous: {', '.join(i[:12] for i in ids[:5])}"
                                   f"{' ...' if len(ids) > 5 else ''}", next_step="give more characters of the id")
        if not ids:
            raise RunNotFoundError(f"no run {prefix} in the state store {self.url_for_display}",
                                   next_step="list runs with `loader status`", run_id=prefix)
        return str(ids[0])

    def _get_or_none(self, run_id: str) -> RunRecord | None:
        with self._read(f"reading run {run_id}") as conn:
            row = conn.execute(select(m.runs).where(m.runs.c.run_id == run_id)).mappings().first()
        return RunRecord.from_row(row) if row is not None else None

    def list_runs(
        self,
        limit: int | None = 20,
        manifest_name: str | None = None,
        statuses: Iterable[RunStatus | str] | None = None,
    ) -> list[RunRecord]:
        """Runs newest first (by started_at, then run_id)."""
        query = select(m.runs).order_by(m.runs.c.started_at.desc(), m.runs.c.run_id.desc())
        if manifest_name is not None:
            query = query.where(m.runs.c.manifest_name == manifest_name)
        if statuses is not None:
            wanted = sorted({RunStatus(s).value for s in statuses})
            query = query.where(m.runs.c.status.in_(wanted))
        if limit is not None:
            query = query.limit(limit)
        with self._read("listing runs") as conn:
            rows = conn.execute(query).mappings().all()
        return [RunRecord.from_row(r) for r in rows]

    def latest_resumable(self, manifest_name: str) -> RunRecord | None:
        """The newest run of this manifest that is failed or unfinished, if any."""
        found = self.list_runs(limit=1, manifest_name=manifest_name, statuses=_RESUMABLE)
        return found[0] if found else None

    def marked_runs(self, manifest_name: str, statuses: Iterable[RunStatus | str] = (RunStatus.SUCCEEDED,),
                    limit: int | None = 1) -> list[RunRecord]:
        """Runs of this manifest that recorded a high-water mark, newest first (incremental loads:
        the newest succeeded one holds the current mark)."""
        wanted = sorted({RunStatus(s).value for s in statuses})
        query = (select(m.runs).where(m.runs.c.manifest_name == manifest_name, m.runs.c.status.in_(wanted),
                                      m.runs.c.high_water_mark.is_not(None))
                 .order_by(m.runs.c.started_at.desc(), m.runs.c.run_id.desc()).limit(limit))
        with self._read(f"reading the marks of {manifest_name}") as conn:
            return [RunRecord.from_row(r) for r in conn.execute(query).mappings().all()]

    def current_marks(self) -> list[RunRecord]:
        """Per manifest, its newest succeeded run with a high-water mark (``loader status``)."""
        done = (m.runs.c.status == RunStatus.SUCCEEDED.value) & m.runs.c.high_water_mark.is_not(None)
        newest = (select(m.runs.c.manifest_name, func.max(m.runs.c.started_at).label("at")).where(done)
                  .group_by(m.runs.c.manifest_name).subquery())
        query = (select(m.runs).join(newest, (newest.c.manifest_name == m.runs.c.manifest_name)
                                     & (newest.c.at == m.runs.c.started_at)).where(done)
                 .order_by(m.runs.c.manifest_name, m.runs.c.run_id.desc()))
        with self._read("reading the high-water marks") as conn:
            rows = [RunRecord.from_row(r) for r in conn.execute(query).mappings().all()]
        newest_first: dict[str, RunRecord] = {}
        for r in rows:  # two runs started in the same microsecond: the larger run id, as list_runs
            newest_first.setdefault(r.manifest_name, r)
        return list(newest_first.values())

    def find_by_short_id(self, short_id: str) -> list[RunRecord]:
        """Runs whose id starts with ``short_id`` (temp prefixes embed ``run_id[:8]``), newest first."""
        short_id = short_id.strip().lower()
        if not short_id:
            return []
        query = (select(m.runs).where(m.runs.c.run_id.startswith(short_id, autoescape=True))
                 .order_by(m.runs.c.started_at.desc(), m.runs.c.run_id.desc()))
        with self._read(f"looking up run {short_id}") as conn:
            rows = conn.execute(query).mappings().all()
        return [RunRecord.from_row(r) for r in rows]

    def runs_by_temp_path(self, temp_path: str) -> list[RunRecord]:
        """Runs whose temp_path is this URI (with or without the trailing slash), newest first."""
        bare = temp_path.rstrip("/")
        query = (select(m.runs).where(m.runs.c.temp_path.in_([bare, bare + "/"]))
                 .order_by(m.runs.c.started_at.desc(), m.runs.c.run_id.desc()))
        with self._read("looking up runs by temp path") as conn:
            rows = conn.execute(query).mappings().all()
        return [RunRecord.from_row(r) for r in rows]

    def runs_with_staging_table(self) -> list[RunRecord]:
        """Runs whose JDBC staging table may still exist: one was recorded and the run did not succeed
        (a run that succeeded dropped it in its publish transaction). Oldest first."""
        query = (select(m.runs).where(m.runs.c.staging_table.is_not(None),
                                      m.runs.c.status != RunStatus.SUCCEEDED.value)
                 .order_by(m.runs.c.started_at, m.runs.c.run_id))
        with self._read("listing runs with staging tables") as conn:
            rows = conn.execute(query).mappings().all()
        return [RunRecord.from_row(r) for r in rows]

    def buckets_seen(self) -> list[str]:
        """Every bucket a run staged into or the reaper cleaned, sorted."""
        query = union(
            select(m.runs.c.bucket.label("bucket")).where(m.runs.c.bucket.is_not(None)),
            select(m.reaps.c.bucket.label("bucket")),
        )
        with self._read("listing buckets") as conn:
            return sorted({r[0] for r in conn.execute(query) if r[0]})

    # --- field updates --------------------------------------------------------------
    def _field_values(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fields) - UPDATABLE_FIELDS)
        if unknown:
            raise TypeError(f"StateStore cannot update {', '.join(unknown)}; "
                            f"updatable: {', '.join(sorted(UPDATABLE_FIELDS))}")
        values = dict(fields)
        if "timings" in values:
            timings = values["timings"] or {}
            values["timings"] = json.dumps({str(k): float(v) for k, v in dict(timings).items()},
                                           sort_keys=True)
        status = values.get("cleanup_status")
        if status is not None and status not in m.CLEANUP_STATUSES:
            raise ValueError(f"cleanup_status must be one of {sorted(m.CLEANUP_STATUSES)}, got {status!r}")
        for key in ("method_used",):
            if values.get(key) is not None:
                values[key] = str(values[key])
        return values

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns without changing the status (see UPDATABLE_FIELDS)."""
        values = self._field_values(fields)
        if not values:
            return
        with self._write(f"updating run {run_id}") as conn:
            result = conn.execute(update(m.runs).where(m.runs.c.run_id == run_id).values(**values))
            if result.rowcount == 0:
                raise self._not_found(run_id)

    def merge_timings(self, run_id: str, timings: Mapping[str, float]) -> dict[str, float]:
        """Add/replace phases in the run's timings; returns the merged dict."""
        with self._write(f"updating timings of run {run_id}") as conn:
            query = select(m.runs.c.timings).where(m.runs.c.run_id == run_id)
            if not self._is_sqlite:
                query = query.with_for_update()
            raw = conn.execute(query).scalar_one_or_none()
            if raw is None:
                raise self._not_found(run_id)
            merged = dict(json.loads(raw or "{}"))
            merged.update({str(k): float(v) for k, v in timings.items()})
            conn.execute(update(m.runs).where(m.runs.c.run_id == run_id)
                         .values(timings=json.dumps(merged, sort_keys=True)))
        return merged

    def heartbeat(self, run_id: str, parts_staged: int | None = None, parts_loaded: int | None = None,
                  rows: int | None = None) -> None:
        """Mark the run alive now (and update progress counters if given). ``rows`` are in flight:
        ``rows`` of the record are only ever the committed ones."""
        values: dict[str, Any] = {"heartbeat_at": self._now()}
        for key, value in (("parts_staged", parts_staged), ("parts_loaded", parts_loaded),
                           ("rows_in_flight", rows)):
            if value is not None:
                values[key] = int(value)
        with self._write(f"heartbeat of run {run_id}") as conn:
            result = conn.execute(update(m.runs).where(m.runs.c.run_id == run_id).values(**values))
            if result.rowcount == 0:
                raise self._not_found(run_id)

    # --- transitions --------------------------------------------------------------------
    def _transition(
        self,
        run_id: str,
        name: str,
        expected: RunStatus | str | None = None,
        *,
        attempt: int | None = None,
        extra: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> RunRecord:
        """Apply the named transition as one conditional UPDATE; TransitionError if it matched no row.

        ``expected`` is the status the caller observed; it must be one of the
        transition's sources. Without it, a single-source transition pins that
        source, a multi-source one reads the row and pins what it sees.
        ``attempt`` additionally pins the attempt number (resume).
        """
        sources, dest = TRANSITIONS[name]
        if expected is not None:
            observed = RunStatus(expected)
        elif len(sources) == 1:
            observed = next(iter(sources))
        else:
            observed = self.get(run_id).status
        if observed not in sources:
            raise TransitionError(
                f"run {run_id}: cannot {name} from status {observed.value} "
                f"(allowed from {', '.join(sorted(s.value for s in sources))})",
                next_step=f"see `loader status` (run {run_id[:12]})",
                run_id=run_id, expected=observed.value, actual=observed.value, transition=name,
            )
        now = self._now()
        values = self._field_values(fields)
        values.update(extra or {})
        values["status"] = dest.value
        values["heartbeat_at"] = now
        if dest in _FINAL:
            values["finished_at"] = now
            values["active_seconds"] = self._attempt_end(run_id, now)
        where = [m.runs.c.run_id == run_id, m.runs.c.status == observed.value]
        if attempt is not None:
            where.append(m.runs.c.attempt == attempt)
        stmt = update(m.runs).where(*where).values(**values)
        with self._write(f"{name} of run {run_id}") as conn:
            if self._engine.dialect.update_returning:
                row = conn.execute(stmt.returning(*m.runs.c)).mappings().first()
                record = RunRecord.from_row(row) if row is not None else None
                matched = row is not None
            else:  # pragma: no cover - old SQLite without RETURNING
                matched = conn.execute(stmt).rowcount == 1
                record = None
        if not matched:
            current = self._get_or_none(run_id)
            if current is None:
                raise self._not_found(run_id)
            detail = f"it {current.status.described}"
            if attempt is not None and current.status == observed and current.attempt != attempt:
                detail += f" but attempt is {current.attempt}, not {attempt}"
            raise TransitionError(
                f"run {run_id}: cannot {name}: expected status {observed.value}, but {detail} "
                f"(another process moved it)",
                next_step=f"see `loader status` (run {run_id[:12]})",
                run_id=run_id, expected=observed.value, actual=current.status.value, transition=name,
            )
        return record if record is not None else self.get(run_id)

    def _attempt_end(self, run_id: str, now: Any) -> float:
        """The run's active seconds once the current attempt ends (at ``now``, or at its last
        heartbeat when it died unseen)."""
        current = self._get_or_none(run_id)
        return current.attempts_seconds(now) if current is not None else 0.0

    def start_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """pending -> staging."""
        return self._transition(run_id, "start_staging", **fields)

    def finish_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """staging -> staged."""
        return self._transition(run_id, "finish_staging", **fields)

    def start_loading(self, run_id: str, expected: RunStatus | str | None = None, **fields: Any) -> RunRecord:
        """pending (JDBC), staging (COPY's first part while the rest is staged) or staged -> loading."""
        return self._transition(run_id, "start_loading", expected, **fields)

    def succeed(self, run_id: str, rows: int | None = None, **fields: Any) -> RunRecord:
        """loading -> succeeded (sets finished_at)."""
        if rows is not None:
            fields["rows"] = int(rows)
        return self._transition(run_id, "succeed", **fields)

    def fail(self, run_id: str, error: str, expected: RunStatus | str | None = None,
             **fields: Any) -> RunRecord:
        """Any active status -> failed, with the error text (sets finished_at). A long error is cut in
        its middle: its first line and its next step are kept (``display.fit_error``)."""
        fields["error"] = fit_error(error)
        return self._transition(run_id, "fail", expected, **fields)

    def abandon(self, run_id: str, reason: str, expected: RunStatus | str | None = None,
                **fields: Any) -> RunRecord:
        """Active or failed -> abandoned (reaper/operator); ``reason`` goes to ``error``."""
        fields["error"] = fit_error(reason)
        return self._transition(run_id, "abandon", expected, **fields)

    def resume(self, run_id: str, expected: RunStatus | str | None = None, attempt: int | None = None,
               **fields: Any) -> RunRecord:
        """Failed or unfinished -> pending with attempt + 1 and the error cleared.

        Pins the status and attempt the caller observed (``expected``/``attempt``,
        e.g. from the record shown to the operator) or, if not given, the ones
        read now: of several concurrent resumes of what was seen exactly one
        succeeds.
        """
        if expected is None or attempt is None:
            current = self.get(run_id)
            expected = current.status if expected is None else expected
            attempt = current.attempt if attempt is None else attempt
        extra: dict[str, Any] = {"attempt": m.runs.c.attempt + 1, "error": None, "finished_at": None,
                 "attempt_started_at": self._now()}
        if expected is not None and RunStatus(expected).is_active:  # a killed attempt ran until its last beat
            extra["active_seconds"] = self._attempt_end(run_id, None)
        return self._transition(run_id, "resume", expected, attempt=attempt, extra=extra, **fields)
