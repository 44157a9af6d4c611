"""Incremental runs (``source.incremental``): choose the window, filter the source, learn the new mark.

The decisions are pure (``loader/watermark.py``); this module reads what they need from the state
store, the target's ledger and Spark. Order of events, chosen so that no row is skipped or loaded
twice across crashes:

1. a new run's window starts after the *current mark*: that of the newest succeeded run, or of a
   newer run that recorded a mark and is in the target's ledger (it committed, then died before
   its record said so); a resume loads the window it recorded when it started, never a new one;
2. the source is filtered to the window and observed (``Observation``: max of the cursor and the
   row count are computed by the load's own Spark job, no second pass);
3. just before the COMMIT the engine asks for the mark (``IncrementalLoad.mark``) and stores it;
   it counts only once the run is succeeded. A resumed attempt may skip partitions staged before
   (their rows never pass the observation), and a fallback may have observed a failed job, so
   those compute the mark with one aggregate over the window instead.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..adapters import pg
from ..destination import ledger
from ..errors import SourceChangedError, SourceError
from ..manifest import Manifest
from ..state import RunRecord, StateStore
from ..state.status import ACTIVE, RunStatus
from ..watermark import Mark, Window, lag_for, next_mark, parse_value, plan_window, spark_cursor_type

log = logging.getLogger("loader")

#: how long to wait for the load's observed metrics before computing them with an aggregate
OBSERVATION_WAIT_SECONDS = 30.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class WindowChoice:
    """``--full-refresh`` / ``--from VALUE`` of ``loader run`` (``--from`` as text, parsed per cursor type)."""

    full_refresh: bool = False
    from_value: str | None = None


class IncrementalLoad:
    """The window's rows of the source (``df``) and, once they are loaded, their mark (request.Watermark)."""

    def __init__(self, source: Any, window: Window) -> None:
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        self.plan = window
        self.window = window.to_json()
        col = F.col("`" + window.cursor.replace("`", "``") + "`")
        keep = col.isNotNull()  # a NULL cursor is in no window
        if window.lower is not None:
            bound = _literal(window.type, window.lower)
            keep = keep & (col >= bound if window.inclusive else col > bound)
        self.rows = source.filter(keep)
        self._metrics = [_max_expr(window.type, col).alias("mark"), F.count(F.lit(1)).alias("rows")]
        self._observation = Observation()
        self.df = self.rows.observe(self._observation, *self._metrics)

    def mark(self, first_attempt: bool) -> str | None:
        metrics = self._observed() if first_attempt else None
        if metrics is None:
            metrics = self.rows.agg(*self._metrics).first().asDict()
        observed = _from_spark(self.plan.type, metrics["mark"])
        mark = next_mark(self.plan, observed, int(metrics["rows"] or 0))
        log.info("%s: %s row(s) in the window; high-water mark %s", self.plan.cursor, metrics["rows"],
                 mark if mark is not None else "none yet")
        return mark.to_json() if mark is not None else None

    def _observed(self) -> dict[str, Any] | None:
        """The metrics the load's job filled in (Spark fills them when its action ends; a thread,
        because ``Observation.get`` would wait forever for an action that never ran)."""
        found: dict[str, Any] = {}
        waiter = threading.Thread(target=lambda: found.update(self._observation.get), daemon=True)
        waiter.start()
        waiter.join(OBSERVATION_WAIT_SECONDS)
        return found or None


def _literal(ctype: str, value: Any) -> Any:
    """The bound as a Spark literal of the cursor's type, exact whatever the session time zone."""
    from pyspark.sql import functions as F

    from ..watermark import to_json_value

    if ctype in ("timestamp", "timestamp_ntz", "date"):  # ISO text with its zone (Z) or none: exact casts
        return F.lit(to_json_value(ctype, value)).cast(ctype)
    return F.lit(value)  # int, Decimal (its own precision), str


def _max_expr(ctype: str, col: Any) -> Any:
    from pyspark.sql import functions as F

    # timestamps as microseconds: PySpark would turn an instant into a local wall-clock datetime
    return F.unix_micros(F.max(col)) if ctype == "timestamp" else F.max(col)


def _from_spark(ctype: str, value: Any) -> Any:
    if value is None or ctype != "timestamp":
        return value
    try:
        return _EPOCH + timedelta(microseconds=int(value))
    except OverflowError:
        raise SourceError(f"a cursor value ({value} microseconds since 1970) is outside the years 1 to 9999",
                          next_step="filter such rows out of the source") from None


def prepare(source: Any, m: Manifest, store: StateStore, resume: RunRecord | None,
            choice: WindowChoice = WindowChoice()) -> IncrementalLoad:
    """The window of this run of ``m`` (a resume's own, else a new one) over the source DataFrame."""
    spec = m.source.incremental
    assert spec is not None
    where = f"{m.path}: source.incremental"
    ctype = cursor_type(source, spec.cursor, f"{where}.cursor")
    if resume is not None and resume.window_from:
        window = Window.from_json(resume.window_from)
        if (window.cursor, window.type) != (spec.cursor, ctype):
            raise SourceChangedError(f"run {resume.run_id} loads {window.cursor} ({window.type}) but the manifest "
                                     f"now says {spec.cursor} ({ctype})", run_id=resume.run_id,
                                     next_step="start a new run (loader run without --resume)")
        check_resumable(store, m, resume)
    else:
        window = _new_window(m, ctype, current_mark(store, m), choice)
    log.info("%s: incremental window: %s", m.name, window.describe())
    return IncrementalLoad(source, window)


def cursor_type(source: Any, cursor: str, where: str) -> str:
    fields = {f.name: f for f in source.schema.fields}
    if cursor not in fields:
        near = [n for n in fields if n.lower() == cursor.lower()]
        raise SourceError(f"{where}: column {cursor!r} is not in the source" +
                          (f" (did you mean {near[0]!r}?)" if near else ""),
                          next_step="name a column of the source; it has: " + ", ".join(list(fields)[:20]))
    return spark_cursor_type(fields[cursor].dataType.simpleString(), cursor, where)


def current_mark(store: StateStore, m: Manifest) -> Mark | None:
    """The mark of the newest succeeded run, unless a newer run committed (the target's ledger
    says so) and died before its record did: then that run's mark, which the data already has."""
    done = store.marked_runs(m.name)
    newest = done[0] if done else None
    unfinished = [r for r in store.marked_runs(m.name, statuses=ACTIVE | {RunStatus.FAILED, RunStatus.ABANDONED},
                                               limit=5) if newest is None or r.started_at > newest.started_at]
    for run in unfinished:
        if _committed(m, run.run_id) and run.high_water_mark:
            log.warning("%s: run %s committed its rows but its record was not finished; its mark counts "
                        "(loader resume %s finishes the record)", m.name, run.run_id[:12], run.run_id[:12])
            return Mark.from_json(run.high_water_mark)
    return Mark.from_json(newest.high_water_mark) if newest is not None and newest.high_water_mark else None


def check_resumable(store: StateStore, m: Manifest, resume: RunRecord) -> None:
    """A run resumed after a newer run succeeded would load rows that run loaded already."""
    newer = [r for r in store.marked_runs(m.name, limit=1) if r.started_at > resume.started_at]
    if newer and not _committed(m, resume.run_id):
        raise SourceChangedError(f"run {resume.run_id[:12]} cannot be resumed: the newer run {newer[0].run_id[:12]} "
                                 "has loaded past its window since", run_id=resume.run_id,
                                 next_step="start a new run (loader run without --resume); the old run's "
                                           "staged files are reaped")


def _committed(m: Manifest, run_id: str) -> bool:
    conn = pg.connect(m.target.connection)
    try:
        with conn.cursor() as cur:
            return ledger.committed_rows(cur, m.target.loader_schema, run_id) is not None
    finally:
        conn.close()


def describe_planned(m: Manifest, store: StateStore, choice: WindowChoice = WindowChoice()) -> str:
    """``--dry-run``: the window a run would load, from the stored mark (the source is not read;
    before the first mark the cursor's type is not known, so values are shown as written)."""
    spec = m.source.incremental
    assert spec is not None
    previous = current_mark(store, m)
    if previous is None or previous.cursor != spec.cursor:
        if choice.from_value is not None and not choice.full_refresh:
            return f"{spec.cursor} > {choice.from_value} (--from)"
        what = "first run: initial" if not choice.full_refresh else "--full-refresh: every row, table replaced"
        bound = f"{spec.cursor} >= {spec.initial}" if spec.initial is not None else \
            f"every row with {spec.cursor} not NULL"
        return f"{bound} ({what})"
    return _new_window(m, previous.type, previous, choice).describe()


def _new_window(m: Manifest, ctype: str, previous: Mark | None, choice: WindowChoice) -> Window:
    spec, where = m.source.incremental, f"{m.path}: source.incremental"
    assert spec is not None
    return plan_window(
        spec.cursor, ctype, previous=previous,
        initial=None if spec.initial is None else parse_value(ctype, spec.initial, f"{where}.initial"),
        lag=None if spec.lag is None else lag_for(ctype, spec.lag, f"{where}.lag"),
        from_value=None if choice.from_value is None else parse_value(ctype, choice.from_value, "--from"),
        full_refresh=choice.full_refresh)
