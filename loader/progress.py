"""Progress of one run: phase, parts and rows so far.

Reported three ways, all throttled: a periodic log line (logger ``loader``),
a heartbeat callback (the state store's heartbeat, which is what tells the
reaper that a run is alive), and an optional live line on a terminal.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("loader")

HeartbeatFn = Callable[[str, int, int], None]  # phase, parts loaded, rows loaded


@dataclass
class Progress:
    label: str = ""
    heartbeat: HeartbeatFn | None = None
    live: bool = False
    log_every: float = 10.0
    beat_every: float = 5.0
    current: str = "pending"
    parts: int = 0
    rows: int = 0
    bytes: int = 0
    parts_total: int | None = None
    _t0: float = field(default_factory=time.monotonic)
    _last_log: float = 0.0
    _last_beat: float = 0.0

    def phase(self, name: str, parts_total: int | None = None) -> None:
        self.current = name  # display only: the engine makes the run-state transitions
        if parts_total is not None:
            self.parts_total = parts_total
        self._report(force=True)

    def part_loaded(self, key: str, rows: int, nbytes: int) -> None:
        self.parts += 1
        self.rows += rows
        self.bytes += nbytes
        self._report()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        total = f"/{self.parts_total}" if self.parts_total else ""
        return (f"{self.label} {self.current}: {self.parts}{total} parts, {self.rows:,} rows "
                f"({self.rows / elapsed:,.0f} rows/s, {elapsed:.0f}s)").strip()

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.heartbeat and (force or now - self._last_beat >= self.beat_every):
            self._last_beat = now
            try:
                self.heartbeat(self.current, self.parts, self.rows)
            except Exception as exc:  # a missed heartbeat must not fail the load
                log.debug("heartbeat failed: %s", exc)
        if force or now - self._last_log >= self.log_every:
            self._last_log = now
            log.info("progress: %s", self.line())
        if self.live and sys.stderr.isatty():
            sys.stderr.write("\r\033[K" + self.line())
            sys.stderr.flush()

    def done(self) -> None:
        if self.live and sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
