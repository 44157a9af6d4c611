"""Loading staged parts with COPY inside ONE transaction: all or nothing.

Why one transaction (measured, see ARCHITECTURE.md): COPY straight into the
target inside a transaction writes every row once, while a staging table
writes it twice (COPY, then INSERT ... SELECT). Readers never see a partial
load, a failure or a killed connection rolls everything back, and the ledger
row that proves the commit is written in the same transaction.

* append: ``COPY target`` directly;
* overwrite: ``TRUNCATE target`` then ``COPY ... FREEZE`` (allowed because the
  table was truncated in this transaction; rows are written frozen, so no
  later vacuum rewrites them);
* upsert: COPY into a ``TEMP`` table (dropped on commit; nothing to clean after a
  crash) and one ``INSERT ... ON CONFLICT`` through ``publish``.

Each part is either streamed from S3 into ``COPY ... FROM STDIN`` (client-side,
any PostgreSQL) or imported by the server itself with
``aws_s3.table_import_from_s3`` (RDS/Aurora).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from typing import Any, cast

from ..adapters import pg, pg_errors
from ..adapters import s3 as s3a
from ..errors import StagingError, TargetConnectionError, TargetError
from ..naming import TableRef, quote_ident
from ..options import RejectPolicy
from ..plan.typemap import ColumnPlan
from ..target.evolve import add_planned_columns
from ..target.index_defer import DeferredIndexes
from ..target.publish import publish_counted
from ..target.rejects import publish_rejecting
from ..target.write_modes import WriteStrategy, Written
from .formats import CsvFormat, StagingFormat

COPY_BUFFER = 1 << 20


class _Raw:
    """An S3 body with its first bytes already peeked at."""

    def __init__(self, body: Any, head: bytes) -> None:
        self._body, self._head = body, head

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if size is None or size < 0:
                return head + self._body.read()
            return head + self._body.read(max(0, size - len(head)))
        return bytes(self._body.read(size if size and size > 0 else None))


class PartStream:
    """File-like view of an S3 object for psycopg2's copy_expert: gunzips when the bytes are
    gzip (checked by magic number, whatever an HTTP layer did with Content-Encoding).
    An S3 failure or a KeyboardInterrupt while reading is kept in ``failure``: psycopg2 reports
    either only as a cancelled COPY ("COPY from stdin failed: error in .read() call"), and it is the
    S3 error, or the interruption, that says what happened."""

    def __init__(self, body: Any, bucket: str | None = None) -> None:
        self.bucket = bucket
        self.failure: BaseException | None = None
        head = self._guard(body.read, 2)
        raw = _Raw(body, head)
        self._src: Any = gzip.GzipFile(fileobj=cast(Any, raw), mode="rb") if head == b"\x1f\x8b" else raw

    def read(self, size: int = -1) -> bytes:
        return bytes(self._guard(self._src.read, size))

    def _guard(self, read: Any, size: int) -> Any:
        try:
            with s3a.translated("GetObject", self.bucket):
                return read(size)
        except (StagingError, KeyboardInterrupt) as exc:
            self.failure = exc
            raise


@dataclass
class CopyTransaction:
    """The destination of one run's COPYs, inside one open transaction on ``conn``."""

    conn: Any
    target: TableRef
    plan: ColumnPlan
    write: WriteStrategy
    run_id: str
    create_sql: str | None = None
    reject: RejectPolicy | None = None
    #: build the target's indexes after the rows when it is new, overwritten or empty (index_defer)
    defer_indexes: bool = False
    #: binary or CSV parts (formats.py)
    fmt: StagingFormat = field(default_factory=CsvFormat)
    #: the types the parts are COPYed into (formats.landing_types); None: the target's
    landing: tuple[str, ...] | None = None
    rows: int = 0
    rows_rejected: int = 0
    #: upsert: which rows were new keys and which updated existing ones (set by ``finish``)
    written: Written | None = None
    deferred: DeferredIndexes | None = None
    #: reject mode: each part (as a SQL literal) and the loader_line of its first row
    part_lines: dict[str, int] = field(default_factory=dict)

    def begin(self) -> None:
        self.cur = self.conn.cursor()
        created = bool(self.create_sql)
        if created:
            self.cur.execute(self.create_sql)
        add_planned_columns(self.cur, self.target, self.plan)  # schema_evolution: in this transaction
        freeze = created
        if self.reject is not None:
            # on_error: reject: columns that accept every value the source holds (text for CSV,
            # the source's own types for binary); the casts happen in rejects.publish_rejecting,
            # where a bad row can be told apart and set aside
            self.dest = quote_ident(f"loader_reject_src_{self.run_id[:8]}")
            types = self.landing or ("text",) * len(self.plan.names)
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(self.plan.names, types, strict=True))
            self.cur.execute(f"CREATE TEMP TABLE {self.dest} ({cols}, loader_part text, "
                             "loader_line bigserial) ON COMMIT DROP")
            self.cur.execute("SELECT pg_get_serial_sequence(%s, 'loader_line')", (self.dest,))
            self.line_seq = self.cur.fetchone()[0]
            freeze = False
        elif self.write.merges:
            self.dest = quote_ident(f"loader_upsert_{self.run_id[:8]}")
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(self.plan.names, self.plan.pg_types,
                                                                    strict=True))
            self.cur.execute(f"CREATE TEMP TABLE {self.dest} ({cols}) ON COMMIT DROP")
            freeze = True
        else:
            self.dest = self.target.quoted
            freeze = self.write.prepare(self.cur, self.target, created=created)
            if self.defer_indexes:
                self.deferred, freeze = self.write.defer_indexes(self.cur, self.target, fresh=freeze)
        self.freeze = freeze and not self._partitioned()
        self.columns = pg.qualified_columns(list(self.plan.names))

    def _partitioned(self) -> bool:
        self.cur.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", (self.target.quoted,))
        row = self.cur.fetchone()
        return bool(row and row[0])

    def copy_options(self, freeze: bool) -> str:
        return self.fmt.copy_options(freeze and self.freeze)

    def copy_stream(self, body: Any, bucket: str, key: str) -> int:
        """COPY one part streamed from S3 (client-side)."""
        where = f"s3://{bucket}/{key}"
        self._mark_part(where)
        sql = f"COPY {self.dest} ({self.columns}) FROM STDIN WITH {self.copy_options(freeze=True)}"
        stream = PartStream(body, bucket)
        try:
            with pg_errors.translated(table=self.target, where=where, run_id=self.run_id,
                                      during=f"the COPY of {where} into {self.target}"):
                self.cur.copy_expert(sql, stream, size=COPY_BUFFER)
        except TargetConnectionError as exc:
            raise stream.failure or exc from None
        self.rows += self.cur.rowcount
        return int(self.cur.rowcount)

    def import_server_side(self, bucket: str, key: str, region: str, guarded: bool = False) -> int:
        """Let the database pull the part itself (RDS/Aurora ``aws_s3``). ``guarded``: under a
        savepoint, so that a refusal leaves the transaction usable for another way in."""
        where = f"s3://{bucket}/{key}"
        self._mark_part(where)
        context = dict(table=self.target, where=where, run_id=self.run_id)
        try:
            with pg_errors.savepoint(self.cur, "loader_import", **context) if guarded else \
                    pg_errors.translated(**context):
                self.cur.execute(
                    "SELECT aws_s3.table_import_from_s3(%s, %s, %s, aws_commons.create_s3_uri(%s, %s, %s))",
                    # no FREEZE: the extension's function runs COPY in a subtransaction of its own
                    (self.dest, self.columns, self.copy_options(freeze=False), bucket, key, region),
                )
                message = self.cur.fetchone()[0]
        except TargetError as exc:
            # not the data's fault (22/23) nor the connection's: the server could not import from S3
            raise StagingError(f"the database could not import {where}: {exc.message}", run_id=self.run_id,
                               next_step="check that the database can reach S3 (network, IAM role)") from None
        rows = int(str(message).split(" ", 1)[0])
        self.rows += rows
        return rows

    def _mark_part(self, where: str) -> None:
        """In reject mode, every row remembers the part it came from, and the part its first line
        number (``loader_line`` counts across parts), so a rejected row's line in its part is one
        subtraction: no window over every row. A part loaded again after a refused import starts anew."""
        if self.reject is not None:
            literal = "'" + where.replace("'", "''") + "'"
            self.cur.execute(f"ALTER TABLE {self.dest} ALTER COLUMN loader_part SET DEFAULT {literal}")
            self.cur.execute(f"SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {self.line_seq}")
            self.part_lines[literal] = int(self.cur.fetchone()[0])

    def finish(self) -> int:
        """Make the rows visible (for upsert: merge) and write the ledger row; caller commits."""
        if self.reject is not None:
            firsts = " ".join(f"WHEN {part} THEN {first}" for part, first in self.part_lines.items())
            origin = f"loader_part || ' line ' || (loader_line - CASE loader_part {firsts} END + 1)" if firsts else None
            moved, self.rows_rejected = publish_rejecting(
                self.cur, source=self.dest, target=self.target, columns=self.plan.names,
                casts=self.plan.pg_types, write=self.write, run_id=self.run_id, policy=self.reject,
                origin_sql=origin, row_column="loader_line")
            return moved
        if self.write.merges:
            self.written = publish_counted(self.cur, source=self.dest, target=self.target, columns=self.plan.names,
                                           casts=None, write=self.write, run_id=self.run_id)
            return self.rows  # what the source had; self.written says which were new keys, which updates
        if self.deferred is not None:
            self.deferred.rebuild(self.cur)  # a duplicate key surfaces here, as a data error
        pg.ledger_record(self.cur, self.target, self.run_id, self.rows)
        return self.rows


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
