"""Progress of one run: phase, rows done of the estimate, rate, ETA.

Reported three ways, all throttled: on a terminal a live line redrawn in place (``live``); elsewhere
(Airflow, cron: no terminal) a log line every ``log_every`` seconds and at each phase change (logger
``loader``); and a heartbeat callback (the state store's heartbeat, which tells the reaper a run is
alive).

Where the numbers come from: exact rows when a method knows them (COPY's loaded parts, JDBC once
Spark has written), and while a Spark job runs, its tasks done of total (``track``: Spark's
statusTracker for the run's job group), which is real progress whatever the row estimate says. The
estimate of the total (``expect``) is Spark's optimizer statistics (``plan/facts.expected_rows``),
so it is shown with a ``~``. A ticker thread keeps the line fresh between events.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("loader")

HeartbeatFn = Callable[[str, int, int], None]  # phase, parts loaded, rows loaded
#: (tasks done, tasks total) of the Spark job doing the phase's work, or None when none is running
TaskSampler = Callable[[], "tuple[int, int] | None"]


def fraction_done(rows: int, rows_total: int | None, tasks: tuple[int, int] | None) -> float | None:
    """How much of the phase is done, 0..1, or None when nothing says. Tasks first: they are counted,
    the total rows only estimated."""
    if tasks is not None and tasks[1] > 0:
        return min(tasks[0] / tasks[1], 1.0)
    if rows_total:
        return min(rows / rows_total, 1.0)
    return None


def eta_seconds(fraction: float | None, elapsed: float) -> float | None:
    """Seconds left at the pace so far; None before anything is done, or when done."""
    if fraction is None or fraction <= 0 or fraction >= 1:
        return None
    return elapsed * (1 - fraction) / fraction


def fmt_seconds(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_line(label: str, phase: str, *, rows: int, rows_total: int | None, elapsed: float,
                tasks: tuple[int, int] | None = None, parts: int = 0, rows_exact: bool = True) -> str:
    """``public.t loading: 2/8 tasks, ~250,000 of ~1,000,000 rows (25%), 41,000 rows/s, ETA 18s, 6s``."""
    fraction = fraction_done(rows, rows_total, tasks)
    if not rows_exact and fraction is not None and rows_total:
        rows = int(rows_total * fraction)  # rows are not counted while Spark writes: estimated
    bits = []
    if tasks is not None and tasks[1] > 0:
        bits.append(f"{tasks[0]}/{tasks[1]} tasks")
    if parts:
        bits.append(f"{parts} part{'s' if parts != 1 else ''}")
    shown = f"{'' if rows_exact else '~'}{rows:,}"
    of = f" of ~{rows_total:,}" if rows_total and rows <= rows_total else ""
    pct = f" ({fraction:.0%})" if fraction is not None else ""
    bits.append(f"{shown}{of} rows{pct}")
    if rows and elapsed > 0:
        bits.append(f"{rows / elapsed:,.0f} rows/s")
    eta = eta_seconds(fraction, elapsed)
    if eta is not None:
        bits.append(f"ETA {fmt_seconds(eta)}")
    bits.append(fmt_seconds(elapsed))
    return f"{label} {phase}: {', '.join(bits)}".strip()


@dataclass
class Progress:
    label: str = ""
    heartbeat: HeartbeatFn | None = None
    live: bool = False
    log_every: float = 10.0
    beat_every: float = 5.0
    tick_every: float = 0.5
    #: a display thread between reports; only for an owner that calls ``done()`` (the engine):
    #: otherwise the thread would outlive the load and keep logging
    ticks: bool = True
    current: str = "pending"
    parts: int = 0
    rows: int = 0
    bytes: int = 0
    parts_total: int | None = None
    #: the estimate of the rows to load (None: unknown)
    rows_total: int | None = None
    #: rows are counted (COPY's parts, JDBC once written), not estimated from tasks
    rows_exact: bool = True
    _sampler: TaskSampler | None = None
    _t0: float = field(default_factory=time.monotonic)
    _last_log: float = 0.0
    _last_beat: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _ticker: threading.Thread | None = None

    def expect(self, rows_total: int | None) -> None:
        self.rows_total = rows_total if rows_total and rows_total > 0 else None

    def phase(self, name: str, parts_total: int | None = None) -> None:
        self.current = name  # display only: the engine makes the run-state transitions
        if parts_total is not None:
            self.parts_total = parts_total
        self._start_ticker()
        self._report(force=True)

    def track(self, sampler: TaskSampler | None, *, rows_exact: bool = True) -> None:
        """While a Spark job does the phase's work: ``sampler`` gives its tasks done of total;
        ``rows_exact=False`` when rows are not counted meanwhile (JDBC: estimated from tasks)."""
        self._sampler, self.rows_exact = sampler, rows_exact

    def restart(self) -> None:
        """A new attempt within the run (the fallback after COPY): counts start again."""
        with self._lock:
            self.parts, self.rows, self.bytes, self.parts_total = 0, 0, 0, None
        self._t0 = time.monotonic()

    def set_rows(self, rows: int) -> None:
        """The exact row count, once known (JDBC: what Spark wrote)."""
        self.rows, self.rows_exact = rows, True
        self._report()

    def part_loaded(self, key: str, rows: int, nbytes: int) -> None:
        with self._lock:
            self.parts += 1
            self.rows += rows
            self.bytes += nbytes
        self._report(beat_now=True)  # the run's parts_loaded follows each COPYed part

    def _tasks(self) -> tuple[int, int] | None:
        sampler = self._sampler
        if sampler is None:
            return None
        try:
            return sampler()
        except Exception as exc:  # Spark's tracker is a courtesy: never fail a load for it
            log.debug("progress: could not read Spark's task counts: %s", exc)
            return None

    def line(self) -> str:
        return format_line(self.label, self.current, rows=self.rows, rows_total=self.rows_total,
                           elapsed=max(time.monotonic() - self._t0, 0.0), tasks=self._tasks(), parts=self.parts,
                           rows_exact=self.rows_exact)

    def _on_terminal(self) -> bool:
        return self.live and sys.stderr.isatty()

    def _report(self, force: bool = False, beat: bool = True, beat_now: bool = False) -> None:
        now = time.monotonic()
        if beat and self.heartbeat and (force or beat_now or now - self._last_beat >= self.beat_every):
            self._last_beat = now
            try:
                self.heartbeat(self.current, self.parts, self.rows)
            except Exception as exc:  # a missed heartbeat must not fail the load
                log.debug("heartbeat failed: %s", exc)
        if self._on_terminal():  # the live line says it all; log lines would break it
            sys.stderr.write("\r\033[K" + self.line())
            sys.stderr.flush()
        elif force or now - self._last_log >= self.log_every:
            self._last_log = now
            log.info("progress: %s", self.line())

    def _start_ticker(self) -> None:
        if self.ticks and self._ticker is None and not self._stop.is_set():
            self._ticker = threading.Thread(target=self._tick, name="loader-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        # display only: the heartbeat (which writes the run's counters) stays with the load's own
        # thread, so no tick can write counters after the run's final record
        every = self.tick_every if self._on_terminal() else 1.0
        while not self._stop.wait(every):
            self._report(beat=False)

    def done(self) -> None:
        """Stop the ticker and clear the live line (idempotent; called on success and failure)."""
        self._stop.set()
        self._sampler = None
        if self._on_terminal():
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
