"""N threads, each COPYing staged parts on a PostgreSQL connection of its own.

The driver hands each part out once (``submit``); the futures say when it is in. Parts are
streamed by the client (``copy_expert``), whatever ``server_side`` says. What happens around each
connection's COPYs is the protocol's: into a shadow table or the run's staging table, committed
part by part (shadow.py, staging_merge.py), or into the target in one transaction per connection
that is prepared and committed with the others (prepared.py).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ...adapters import pg, pg_errors
from ...errors import TargetConnectionError
from ...naming import TableRef
from ..part_reader import PartStream
from ..transaction import COPY_BUFFER
from .protocol import CopyRun


class CopyWorkers:
    """``connections`` workers COPYing the run's parts into ``into`` (for the load of its target)."""

    #: what the COPY loads into, for errors ("the shadow of", "")
    into_label = ""

    def __init__(self, run: CopyRun, into: TableRef, connections: int) -> None:
        self.spec, self.run_id, self.target, self.into = run.spec, run.run_id, run.target, into
        self.fmt, self.parts, self.connect = run.fmt, run.parts, run.connect
        self.columns = pg.qualified_columns(list(run.plan.names))
        #: the workers' connections are ``<app>:<n>`` (pg_stat_activity): the driver's is ``<app>``, and
        #: a prepared append's connection ``n`` holds gid ``loader:<run>:n`` (prepared_plan.gid)
        self.app = f"loader-copy:{self.run_id[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix=f"loader-copy-{self.run_id[:8]}")
        self._local = threading.local()
        self._conns: list[Any] = []
        self._made = 0
        self._lock = threading.Lock()

    def submit(self, key: str) -> Future[int]:
        return self._pool.submit(self._copy, key)

    def connections(self) -> list[Any]:
        with self._lock:
            return list(self._conns)

    def _connected(self, conn: Any, n: int) -> None:
        """A worker's connection ``n`` (0, 1, ...) was just made: before its first COPY."""

    def _copied(self, conn: Any, cur: Any, key: str, rows: int) -> None:
        """Part ``key`` is in, on ``conn``'s open transaction."""

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                n, self._made = self._made, self._made + 1
            conn = self.connect(self.spec, application_name=f"{self.app}:{n}")
            with self._lock:
                self._conns.append(conn)
            self._connected(conn, n)
            self._local.conn = conn
        return conn

    def _copy(self, key: str) -> int:
        conn, where = self._conn(), f"s3://{self.parts.bucket}/{key}"
        sql = f"COPY {self.into.quoted} ({self.columns}) FROM STDIN WITH {self.fmt.copy_options(False)}"
        try:
            stream = PartStream(self.parts.open(key), self.parts.bucket)
            try:
                with pg_errors.translated(table=self.target, where=where, run_id=self.run_id,
                                          during=f"the COPY of {where} into {self.into_label}{self.target}"), \
                        conn.cursor() as cur:
                    cur.copy_expert(sql, stream, size=COPY_BUFFER)
                    rows = int(cur.rowcount)
                    self._copied(conn, cur, key, rows)
            except TargetConnectionError as exc:
                raise stream.failure or exc from None
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        return rows

    def cancel(self) -> None:
        """Cancel the statement running on every worker's connection (an interruption, a failure)."""
        for conn in self.connections():
            with contextlib.suppress(Exception):
                conn.cancel()

    def drain(self) -> None:
        """Wait for every submitted part; the connections stay open (their transactions too)."""
        self._pool.shutdown(wait=True)

    def close(self, failed: bool) -> None:
        if failed:
            self.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


class OverConnections:
    """What the protocols over N connections share (shadow.py, prepared.py, staging_merge.py): the
    workers take each part; an interruption cancels their statements and the driver's; they end
    with the protocol, cancelled first unless the outcome was committed (``done``)."""

    def __init__(self, run: CopyRun, workers: CopyWorkers, leftover: str, label: str) -> None:
        self.run, self.workers, self.leftover, self.label = run, workers, leftover, label
        self.done = False
        self.rows = 0
        self.timings: dict[str, float] = {}

    def load(self, key: str, size: int) -> Future[int]:
        return self.workers.submit(key)

    def cancel(self) -> None:
        with contextlib.suppress(Exception):
            self.run.conn.cancel()
        self.workers.cancel()

    def close(self) -> None:
        self.workers.close(failed=not self.done)
