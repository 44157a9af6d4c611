"""Kill a PostgreSQL backend of a load from outside, as an operator's pg_terminate_backend or a
crashed backend would: found in pg_stat_activity by its application_name (the COPY workers'
connections are ``loader-copy:<run8>:<n>``, the driver's ``loader-copy:<run8>``, copy/landing/workers.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any


def terminate(pg_db: Any, where: str, params: tuple[Any, ...] = (), limit: int = 1) -> list[tuple[int, str]]:
    """pg_terminate_backend up to ``limit`` backends matching ``where`` (SQL over pg_stat_activity),
    and wait until each is gone; returns their (pid, application_name)."""
    import psycopg2

    admin = psycopg2.connect(**pg_db.psycopg2_kwargs())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"SELECT pid, application_name FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        f"AND ({where}) ORDER BY application_name, pid LIMIT {int(limit)}", params)
            victims = [(int(pid), str(app)) for pid, app in cur.fetchall()]
            for pid, _ in victims:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 20
            pids = [pid for pid, _ in victims]
            while pids and time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
                if cur.fetchone()[0] == 0:
                    break
                time.sleep(0.02)
            else:
                if pids:
                    raise AssertionError(f"backends {pids} did not exit")
        return victims
    finally:
        admin.close()


def worker(run_id: str, n: int) -> tuple[str, tuple[Any, ...]]:
    """The ``where`` of COPY worker ``n``'s backend of run ``run_id``."""
    return "application_name = %s", (f"loader-copy:{run_id[:8]}:{n}",)


def driver(run_id: str) -> tuple[str, tuple[Any, ...]]:
    """The ``where`` of the driver's (the coordinator's) backend of run ``run_id``."""
    return "application_name = %s", (f"loader-copy:{run_id[:8]}",)


COPYING = ("application_name LIKE 'loader-copy:%%:%%' AND state = 'active' AND query ILIKE 'COPY%%'", ())


@contextlib.contextmanager
def copying_worker_killed_on_first_read(pg_db: Any) -> Iterator[list[tuple[int, str]]]:
    """Inside, the first read of a staged part (a worker's COPY is running, its backend waiting for
    data) terminates one COPYing worker's backend, once; yields the list of the one killed."""
    from loader.copy import part_reader

    original, killed, once = part_reader.PartStream.read, [], threading.Lock()

    def read_after_a_kill(self: Any, size: int = -1) -> bytes:
        with once:  # the workers read at once: one kill
            if not killed:
                killed.extend(terminate(pg_db, *COPYING) or [(0, "none")])
        return original(self, size)

    part_reader.PartStream.read = read_after_a_kill  # type: ignore[method-assign]
    try:
        yield killed
    finally:
        part_reader.PartStream.read = original  # type: ignore[method-assign]


@contextlib.contextmanager
def every_worker_connected(n: int = 2) -> Iterator[None]:
    """Inside, the first ``n`` parts' COPYs wait for each other before they start, so that ``n``
    workers, each on its connection, take parts however fast COPY is next to staging (the pool
    hands a part to an idle worker rather than start another: copy/landing/workers.py)."""
    from loader.copy.landing import workers as copy_workers

    original, barrier, started, lock = copy_workers.CopyWorkers._copy, threading.Barrier(n, timeout=60), [0], \
        threading.Lock()

    def copy(self: Any, key: str) -> int:
        with lock:
            first = started[0] < n
            started[0] += 1
        if first:
            barrier.wait()
        return int(original(self, key))

    copy_workers.CopyWorkers._copy = copy  # type: ignore[method-assign]
    try:
        yield
    finally:
        copy_workers.CopyWorkers._copy = original  # type: ignore[method-assign]
