"""In place: every part COPYed into the one load transaction on the driver's connection
(copy/transaction.py), committed once. The path of one connection, and of everything the others
refuse; ``on_error: reject`` sets rows aside inside it.

Each part is streamed from S3 through this process (client-side, any PostgreSQL) or imported by
the server itself (RDS/Aurora ``aws_s3``). If the server refuses the first binary part (an
extension that does not pass binary to COPY), it is rolled back to its savepoint and every part
is streamed instead: the same staged parts, the same transaction, no row twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from ...errors import StagingError
from ..transaction import CopyTransaction, aws_region
from .protocol import CopyRun, Published

log = logging.getLogger("loader")


class InPlace:
    label = ""
    leftover = None

    def __init__(self, run: CopyRun, server_side: bool) -> None:
        self.run, self.server_side = run, server_side
        self.load_txn = run.load_transaction()
        self.txn = CopyTransaction(self.load_txn, reject=run.reject, fmt=run.fmt,
                                   landing=run.landing.pg_types if run.cast_later else None)
        self.imported_once = False
        self.notes: list[str] = []
        self.rows = 0

    def open(self, staged_before: set[str]) -> dict[str, int]:
        self.txn.begin()
        return {}

    def load(self, key: str, size: int) -> int:
        return self._import(key) if self.server_side else self._stream(key)

    def publish(self, rows: int) -> None:
        self.rows = self.txn.finish()

    def commit(self, before_commit: Callable[[], None]) -> Published:
        self.load_txn.commit(before=before_commit)
        written = self.txn.written
        return Published(self.rows, rows_rejected=self.txn.rows_rejected,
                         rows_inserted=written.inserted if written else None,
                         rows_updated=written.updated if written else None, rows_deleted=self.load_txn.deleted,
                         server_side=self.server_side, notes=self.notes)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.run.conn.rollback()

    def cancel(self) -> None:
        self.run.conn.cancel()  # the statement running: COPY, index build, merge

    def close(self) -> None:
        """The driver's connection is the method's to close."""

    def _import(self, key: str) -> int:
        """Server-side import; the first binary part guarded by a savepoint (see the module)."""
        first = not self.imported_once
        may_refuse = first and self.txn.fmt.server_may_refuse
        try:
            rows = self.txn.import_server_side(self.run.parts.bucket, key, aws_region(), guarded=may_refuse)
        except StagingError as exc:
            if not may_refuse:
                raise
            log.warning("%s: the database refused a server-side import of binary parts (%s); the client "
                        "streams them from S3 instead", self.run.target, exc.message)
            self.server_side = False
            self.notes.append(f"server-side import refused ({exc.message}): parts streamed by the client")
            return self._stream(key)
        self.imported_once = True
        return rows

    def _stream(self, key: str) -> int:
        """COPY one part from S3 through this process (client-side)."""
        return self.txn.copy_stream(self.run.parts.open(key), self.run.parts.bucket, key)
