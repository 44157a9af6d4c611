"""A reader of the target table, polling it while a load runs, as the website would."""

from __future__ import annotations

import threading
import time
from typing import Any


class Reader(threading.Thread):
    """Reads ``count(*), count(DISTINCT id), min(v)`` of ``table`` over and over in autocommit.

    ``seen`` collects every distinct answer, so a test can assert the reader only ever saw
    the old rows or the new ones, never a mix; ``errors`` holds any error a query raised.
    """

    def __init__(self, pg_db: Any, table: str, interval: float = 0.01, query: str | None = None) -> None:
        """``query``: what to read instead (e.g. through a view on the table)."""
        super().__init__(daemon=True)
        self.pg_db, self.table, self.interval = pg_db, table, interval
        self.query = query or f"SELECT count(*), count(DISTINCT id), min(v) FROM {table}"
        self.seen: set[tuple[Any, ...]] = set()
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        #: the longest one read took (seconds): how long the load kept this reader waiting
        self.longest = 0.0
        self.reads = 0

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(**self.pg_db.psycopg2_kwargs())
        conn.autocommit = True
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                with conn.cursor() as cur:
                    cur.execute(self.query)
                    self.seen.add(cur.fetchone())
                self.longest = max(self.longest, time.monotonic() - t0)
                self.reads += 1
                time.sleep(self.interval)
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test through `errors`
            self.errors.append(exc)
        finally:
            conn.close()

    def __enter__(self) -> Reader:
        self.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop.set()
        self.join()
        if self.errors and exc_type is None:
            raise AssertionError(f"the reader of {self.table} failed: {self.errors[0]!r}")
