"""Bisection over numbered rows, for what no query can tell in advance: which row makes a
statement fail. Used by ``on_error: reject`` for casts PostgreSQL cannot test without raising
(before 16) and for an INSERT that still fails after the passes (a trigger, an exclusion
constraint). Each range is an index scan on the row number, so a step costs its own rows, not
the whole table's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..adapters import pg_errors
from ..errors import DataError
from ..naming import TableRef

#: rows per statement once a range failed: a chunk that fails is halved down to its bad row, so a
#: bad row costs about 2 * CHUNK rows run again (and rolled back), the good chunks once
CHUNK = 4096


class Bisection:
    """Runs ``statement(lo, hi)`` under savepoints; a failing range is cut into chunks of ``chunk``
    rows, a failing chunk into halves, down to single rows, which go to ``bad(row, error)``.
    Lower ranges first, so rows keep their order."""

    def __init__(self, cur: Any, target: TableRef, statement: Callable[[int, int], str],
                 bad: Callable[[int, DataError], None], chunk: int = CHUNK) -> None:
        self.cur, self.target, self.statement, self.bad, self.chunk = cur, target, statement, bad, chunk

    def run(self, lo: int, hi: int, *, failed: bool = False) -> int:
        """Returns the rows the statements that succeeded affected. ``failed``: the whole range is
        known to fail already, so it is not run again (unless it is one row: its error is needed)."""
        done = 0
        stack = [(lo, hi, failed and lo < hi)]
        while stack:
            a, b, known = stack.pop()
            if a > b:
                continue
            if not known:
                try:
                    with pg_errors.savepoint(self.cur, "loader_bisect", table=self.target):
                        self.cur.execute(self.statement(a, b))
                        done += max(int(self.cur.rowcount), 0)
                    continue
                except DataError as exc:
                    if a == b:
                        self.bad(a, exc)
                        continue
            stack.extend(reversed(split(a, b, self.chunk)))
        return done


def split(a: int, b: int, chunk: int) -> list[tuple[int, int, bool]]:
    """A failed range's pieces, in order: chunks when it is larger than one, else two halves."""
    if b - a + 1 > chunk:
        return [(lo, min(lo + chunk - 1, b), False) for lo in range(a, b + 1, chunk)]
    mid = (a + b) // 2
    return [(a, mid, False), (mid + 1, b, False)]
