"""Status changes: each named transition of :data:`loader.state.status.TRANSITIONS` applied as one
conditional ``UPDATE ... WHERE run_id = :id AND status = :expected`` (``resume`` also pins the
attempt number), so of two processes moving the same run at once exactly one wins; the other gets
:class:`~loader.errors.TransitionError`. The transitions and their sources come from that table,
nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update

from ..errors import TransitionError
from . import models as m
from .display import fit_error
from .models import RunRecord
from .runs import Runs, field_values
from .status import FINAL, TRANSITIONS, RunStatus


class Transitions:
    """The named transitions of a run (one method each)."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        self.db = runs.db

    def apply(self, run_id: str, name: str, expected: RunStatus | str | None = None, *,
              attempt: int | None = None, extra: Mapping[str, Any] | None = None, **fields: Any) -> RunRecord:
        """Apply the named transition as one conditional UPDATE; TransitionError if it matched no row.

        ``expected`` is the status the caller observed; it must be one of the transition's
        sources. Without it, a single-source transition pins that source, a multi-source one reads
        the row and pins what it sees. ``attempt`` additionally pins the attempt number (resume).
        """
        sources, dest = TRANSITIONS[name]
        if expected is not None:
            observed = RunStatus(expected)
        elif len(sources) == 1:
            observed = next(iter(sources))
        else:
            observed = self.runs.get(run_id).status
        if observed not in sources:
            raise TransitionError(
                f"run {run_id}: cannot {name} from status {observed.value} "
                f"(allowed from {', '.join(sorted(s.value for s in sources))})",
                next_step=f"see `loader status` (run {run_id[:12]})",
                run_id=run_id, expected=observed.value, actual=observed.value, transition=name,
            )
        now = self.db.now()
        values = field_values(fields)
        values.update(extra or {})
        values["status"] = dest.value
        values["heartbeat_at"] = now
        if dest in FINAL:
            values["finished_at"] = now
            values["active_seconds"] = self._attempt_end(run_id, now)
        where = [m.runs.c.run_id == run_id, m.runs.c.status == observed.value]
        if attempt is not None:
            where.append(m.runs.c.attempt == attempt)
        stmt = update(m.runs).where(*where).values(**values)
        with self.db.write(f"{name} of run {run_id}") as conn:
            if self.db.engine.dialect.update_returning:
                row = conn.execute(stmt.returning(*m.runs.c)).mappings().first()
                record = RunRecord.from_row(row) if row is not None else None
                matched = row is not None
            else:  # pragma: no cover - old SQLite without RETURNING
                matched = conn.execute(stmt).rowcount == 1
                record = None
        if not matched:
            raise self._lost(run_id, name, observed, attempt)
        return record if record is not None else self.runs.get(run_id)

    def _lost(self, run_id: str, name: str, observed: RunStatus, attempt: int | None) -> Exception:
        """Why the conditional UPDATE matched no row: no such run, or another process moved it."""
        current = self.runs.get_or_none(run_id)
        if current is None:
            return self.db.not_found(run_id)
        detail = f"it {current.status.described}"
        if attempt is not None and current.status == observed and current.attempt != attempt:
            detail += f" but attempt is {current.attempt}, not {attempt}"
        return TransitionError(
            f"run {run_id}: cannot {name}: expected status {observed.value}, but {detail} "
            f"(another process moved it)",
            next_step=f"see `loader status` (run {run_id[:12]})",
            run_id=run_id, expected=observed.value, actual=current.status.value, transition=name,
        )

    def _attempt_end(self, run_id: str, now: datetime | None) -> float:
        """The run's active seconds once the current attempt ends (at ``now``, or at its last
        heartbeat when it died unseen)."""
        current = self.runs.get_or_none(run_id)
        return current.attempts_seconds(now) if current is not None else 0.0

    # --- the named transitions -----------------------------------------------------------
    def start_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """pending -> staging."""
        return self.apply(run_id, "start_staging", **fields)

    def finish_staging(self, run_id: str, **fields: Any) -> RunRecord:
        """staging -> staged."""
        return self.apply(run_id, "finish_staging", **fields)

    def start_loading(self, run_id: str, expected: RunStatus | str | None = None, **fields: Any) -> RunRecord:
        """pending (JDBC), staging (COPY's first part while the rest is staged) or staged -> loading."""
        return self.apply(run_id, "start_loading", expected, **fields)

    def succeed(self, run_id: str, rows: int | None = None, **fields: Any) -> RunRecord:
        """loading -> succeeded (sets finished_at); ``rows`` are the committed rows."""
        if rows is not None:
            fields["rows"] = int(rows)
        return self.apply(run_id, "succeed", **fields)

    def fail(self, run_id: str, error: str, expected: RunStatus | str | None = None, **fields: Any) -> RunRecord:
        """Any active status -> failed, with the error text (sets finished_at). A long error is cut in
        its middle: its first line and its next step are kept (``display.fit_error``)."""
        fields["error"] = fit_error(error)
        return self.apply(run_id, "fail", expected, **fields)

    def abandon(self, run_id: str, reason: str, expected: RunStatus | str | None = None,
                **fields: Any) -> RunRecord:
        """Active or failed -> abandoned (reaper/operator); ``reason`` goes to ``error``."""
        fields["error"] = fit_error(reason)
        return self.apply(run_id, "abandon", expected, **fields)

    def resume(self, run_id: str, expected: RunStatus | str | None = None, attempt: int | None = None,
               **fields: Any) -> RunRecord:
        """Failed or unfinished -> pending with attempt + 1, the error and the attempt's progress
        (``parts_loaded``, ``rows_in_flight``) cleared; the staged parts are kept.

        Pins the status and attempt the caller observed (``expected``/``attempt``, e.g. from the
        record shown to the operator) or, if not given, the ones read now: of several concurrent
        resumes of what was seen exactly one succeeds.
        """
        if expected is None or attempt is None:
            current = self.runs.get(run_id)
            expected = current.status if expected is None else expected
            attempt = current.attempt if attempt is None else attempt
        # a new attempt: its progress starts again (the last one's COPYed parts were rolled back)
        extra: dict[str, Any] = {"attempt": m.runs.c.attempt + 1, "error": None, "finished_at": None,
                                 "attempt_started_at": self.db.now(), "parts_loaded": 0, "rows_in_flight": None}
        if RunStatus(expected).is_active:  # a killed attempt ran until its last beat
            extra["active_seconds"] = self._attempt_end(run_id, None)
        return self.apply(run_id, "resume", expected, attempt=attempt, extra=extra, **fields)
