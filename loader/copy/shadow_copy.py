"""COPY staged parts into a shadow table over N connections at once (destination/shadow_swap.py).

Each part is COPYed by one worker thread on that thread's own connection, and committed with its
row in ``loader_shadow_parts`` in the same transaction: the shadow is invisible to readers, so
committing part by part costs no atomicity (the swap is what publishes), and a resume knows
exactly which parts are in it. The driver hands each part out once; the futures say when it is in.
Parts are streamed by the client (psycopg2 ``copy_expert``), whatever ``server_side`` says.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..adapters import pg, pg_errors, s3
from ..connection import ConnectionSpec
from ..destination.shadow_swap import ShadowTable
from ..errors import TargetConnectionError
from .formats import StagingFormat
from .part_reader import PartStream
from .transaction import COPY_BUFFER


class ShadowCopy:
    """``connections`` workers COPYing parts of ``bucket`` into ``shadow``."""

    def __init__(self, spec: ConnectionSpec, shadow: ShadowTable, fmt: StagingFormat, columns: list[str],
                 connections: int, client: Any, bucket: str) -> None:
        self.spec, self.shadow, self.fmt, self.client, self.bucket = spec, shadow, fmt, client, bucket
        self.columns = pg.qualified_columns(columns)
        run8 = shadow.run_id[:8]
        self.app = f"loader-copy:{run8}"
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix=f"loader-shadow-{run8}")
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def submit(self, key: str) -> Future[int]:
        return self._pool.submit(self._copy, key)

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = pg.connect(self.spec, application_name=self.app)
            with self._lock:
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    def _copy(self, key: str) -> int:
        conn, where = self._conn(), f"s3://{self.bucket}/{key}"
        target = self.shadow.target
        sql = f"COPY {self.shadow.ref.quoted} ({self.columns}) FROM STDIN WITH {self.fmt.copy_options(False)}"
        try:
            body = s3.call("GetObject", self.client.get_object, Bucket=self.bucket, Key=key, bucket=self.bucket)["Body"]
            stream = PartStream(body, self.bucket)
            try:
                with pg_errors.translated(table=target, where=where, run_id=self.shadow.run_id,
                                          during=f"the COPY of {where} into the shadow of {target}"), \
                        conn.cursor() as cur:
                    cur.copy_expert(sql, stream, size=COPY_BUFFER)
                    rows = int(cur.rowcount)
                    self.shadow.record_part(cur, key, rows)
                    conn.commit()
            except TargetConnectionError as exc:
                raise stream.failure or exc from None
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        return rows

    def cancel(self) -> None:
        """Cancel the statement running on every worker's connection (an interruption, a failure)."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.cancel()

    def close(self, failed: bool) -> None:
        if failed:
            self.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
