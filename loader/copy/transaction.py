"""COPYing staged parts into the load transaction (destination/load_transaction.py).

Why straight into the target (measured, see ARCHITECTURE.md): COPY into the target inside
the load transaction writes every row once, while a staging table writes it twice (COPY,
then INSERT ... SELECT).

* append: ``COPY target`` directly;
* overwrite: the strategy's DELETE of the old rows (under MVCC: readers read them until the
  COMMIT), then ``COPY`` into the table; with ``target.overwrite: truncate``, TRUNCATE, then
  ``COPY ... FREEZE`` (allowed because the table was truncated in this transaction; rows are
  written frozen, so no later vacuum rewrites them);
* upsert and ``on_error: reject``: COPY into a ``TEMP`` table (dropped on commit; nothing to
  clean after a crash), then the load transaction's ``publish``.

Each part is either streamed from S3 into ``COPY ... FROM STDIN`` (client-side, any
PostgreSQL) or imported by the server itself with ``aws_s3.table_import_from_s3`` (RDS/Aurora).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..destination.load_transaction import LoadTransaction
from ..destination.write_modes import Written
from ..errors import ServerSideUnavailable, StagingError, TargetConnectionError, TargetError
from ..naming import quote_ident
from ..options import RejectPolicy
from .formats import CsvFormat, StagingFormat
from .part_reader import PartStream

COPY_BUFFER = 1 << 20


@dataclass
class CopyTransaction:
    """The destination of one run's COPYs inside its load transaction."""

    load: LoadTransaction
    reject: RejectPolicy | None = None
    #: binary or CSV parts (formats.py)
    fmt: StagingFormat = field(default_factory=CsvFormat)
    #: the types the parts are COPYed into (formats.landing_types); None: the target's
    landing: tuple[str, ...] | None = None
    rows: int = 0
    rows_rejected: int = 0
    #: upsert: which rows were new keys and which updated existing ones (set by ``finish``)
    written: Written | None = None
    #: reject mode: each part (as a SQL literal) and the loader_line of its first row
    part_lines: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.target, self.plan, self.run_id = self.load.target, self.load.plan, self.load.run_id

    def begin(self) -> None:
        self.cur = self.load.begin()
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
            self.freeze = False
        elif self.load.write.merges:
            self.dest = quote_ident(f"loader_upsert_{self.run_id[:8]}")
            types = self.landing or self.plan.pg_types
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(self.plan.names, types, strict=True))
            self.cur.execute(f"CREATE TEMP TABLE {self.dest} ({cols}) ON COMMIT DROP")
            self.freeze = True
        else:
            self.dest = self.target.quoted
            self.freeze = self.load.open_target()
        self.columns = pg.qualified_columns(list(self.plan.names))

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
        """Make the rows visible (upsert: merge; reject: set the bad rows aside) and write the
        ledger row; the load transaction commits."""
        if self.reject is not None:
            firsts = " ".join(f"WHEN {part} THEN {first}" for part, first in self.part_lines.items())
            origin = f"loader_part || ' line ' || (loader_line - CASE loader_part {firsts} END + 1)" if firsts else None
            written, self.rows_rejected = self.load.publish_rejecting(
                self.dest, casts=self.plan.pg_types, policy=self.reject, origin_sql=origin,
                row_column="loader_line")
            self.load.finish(written)
            return written.rows
        if self.load.write.merges:
            casts = self.plan.pg_types if self.landing else None  # landed in the source's types: cast now
            self.written = self.load.finish(self.load.publish(self.dest, casts=casts))
            return self.rows  # what the source had; self.written says which were new keys, which updates
        self.load.finish(Written(self.rows))
        return self.rows


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def use_server_side(conn: Any, server_side: str, spec: ConnectionSpec, run_id: str) -> bool:
    """Whether the parts are imported by the server (``aws_s3``): ``never``, ``always`` (refused
    before anything moves when the extension is missing) or ``auto`` (where it is installed)."""
    if server_side == "never":
        return False
    with conn.cursor() as cur:
        present = pg.has_aws_s3(cur)
    conn.rollback()
    if server_side == "always" and not present:
        raise ServerSideUnavailable(
            f"server_side: always, but {spec.safe_description()} has no aws_s3 extension",
            next_step="CREATE EXTENSION aws_s3 CASCADE (RDS/Aurora), or set copy.server_side: auto", run_id=run_id)
    return present
