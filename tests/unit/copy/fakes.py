"""In-memory edges of the COPY method, for unit tests of the landing protocols and their driver:
a PostgreSQL that records every call per connection (and keeps just enough state: committed
ledger rows, rows COPYed and committed per relation, prepared transactions), a part store, run
events, a staging job. The functional tests prove the real edges; these prove the step order and
the fault handling without a server (httpx's MockTransport idea)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from loader.connection import ConnectionSpec
from loader.naming import TempLocation

LEDGER_INSERT = re.compile(r'INSERT INTO .*loader_ledger.* VALUES', re.S)
LEDGER_SELECT = re.compile(r'SELECT rows FROM .*loader_ledger', re.S)


class ConnectionLost(psycopg2.OperationalError):
    """What psycopg2 raises when the server closed the connection (no SQLSTATE)."""


class Refused(psycopg2.ProgrammingError):
    pgcode = "55006"  # a statement the server refused, not the data's fault nor the connection's


@dataclass
class Fault:
    op: str
    #: which connection (application_name starts with it) and statement (a substring); None: any
    conn: str | None = None
    sql: str | None = None
    #: the call happens, then the connection dies (a COMMIT the server made, its answer lost)
    after: bool = False
    exc: type[BaseException] = ConnectionLost
    times: int = 1
    #: armed only once a statement holding this ran on the connection (e.g. the ledger's INSERT)
    armed_by: str | None = None

    def matches(self, op: str, conn: FakeConn, sql: str) -> bool:
        return self.times > 0 and op == self.op and (self.conn is None or conn.name.startswith(self.conn)) and \
            (self.sql is None or self.sql in sql) and \
            (self.armed_by is None or any(self.armed_by in s for s in conn.executed))


class FakeDb:
    """What the protocols may ask, answered; everything they do, in ``log`` as (connection, op, sql)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, str]] = []
        self.ledger: dict[str, int] = {}
        #: rows committed per relation COPYed into (its quoted name)
        self.rows: dict[str, int] = {}
        #: prepared transactions: gid -> rows per relation
        self.prepared: dict[str, dict[str, int]] = {}
        self.faults: list[Fault] = []
        #: extra answers: (statement substring, rows) checked before the built-in ones
        self.answers: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.connections: list[FakeConn] = []

    def connect(self, spec: ConnectionSpec, application_name: str = "loader", autocommit: bool = False) -> FakeConn:
        conn = FakeConn(self, application_name, autocommit)
        self.connections.append(conn)
        self.log.append((application_name, "connect", ""))
        return conn

    def settle(self, gid: str, commit: bool) -> None:
        """COMMIT or ROLLBACK PREPARED ``gid``."""
        rows = self.prepared.pop(gid, {})
        if commit:
            for rel, n in rows.items():
                self.rows[rel] = self.rows.get(rel, 0) + n

    def fail(self, op: str, **kwargs: Any) -> None:
        self.faults.append(Fault(op, **kwargs))

    def ops(self, *kinds: str) -> list[tuple[str, str, str]]:
        return [e for e in self.log if e[1] in kinds]

    def statements(self, conn: str | None = None) -> list[str]:
        return [sql for name, op, sql in self.log if op in ("execute", "copy") and (conn is None or name == conn)]

    def _call(self, conn: FakeConn, op: str, sql: str, apply: Callable[[], None] = lambda: None) -> None:
        if conn.closed:
            raise psycopg2.InterfaceError("connection already closed")
        self.log.append((conn.name, op, sql))
        if op == "execute":
            conn.executed.append(sql)
        fault = next((f for f in self.faults if f.matches(op, conn, sql)), None)
        if fault is None:
            apply()
            return
        fault.times -= 1
        if fault.after:
            apply()
        if fault.exc is ConnectionLost:
            conn.closed = True
        raise fault.exc("server closed the connection unexpectedly" if fault.exc is ConnectionLost else
                        f"refused: {sql[:40]}")

    def answer(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """The rows ``sql`` returns; None: no answer known (one NULL to ``fetchone``, none to ``fetchall``)."""
        for piece, rows in self.answers:
            if piece in sql:
                return rows
        if LEDGER_SELECT.search(sql):
            rows = self.ledger.get(str(params[0]))
            return [] if rows is None else [(rows,)]
        if "to_regclass" in sql and params and "loader_ledger" in str(params[0]):
            return [(True,)]
        if "FROM pg_prepared_xacts WHERE database" in sql:
            return [(g, 1.0) for g in sorted(self.prepared)]
        if "NOT EXISTS (SELECT 1 FROM pg_prepared_xacts" in sql:
            return [(params[0] not in self.prepared,)]
        if "HAVING count(*) > 1" in sql:  # an upsert's duplicate key check: none
            return []
        return None


class FakeConn:
    def __init__(self, db: FakeDb, name: str, autocommit: bool) -> None:
        self.db, self.name, self.autocommit = db, name, autocommit
        self.closed = False
        self.executed: list[str] = []
        self.gid: str | None = None
        #: this transaction's effects, applied at COMMIT: ledger rows, rows per relation
        self.ledger: dict[str, int] = {}
        self.copied: dict[str, int] = {}

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def _committed(self) -> None:
        self.db.ledger.update(self.ledger)
        for rel, n in self.copied.items():
            self.db.rows[rel] = self.db.rows.get(rel, 0) + n
        self._forget()

    def _forget(self) -> None:
        self.ledger, self.copied = {}, {}

    def commit(self) -> None:
        self.db._call(self, "commit", "", self._committed)

    def rollback(self) -> None:
        self.db._call(self, "rollback", "", self._forget)

    def cancel(self) -> None:
        self.db.log.append((self.name, "cancel", ""))

    def close(self) -> None:
        if not self.closed:
            self.db.log.append((self.name, "close", ""))
        self.closed = True

    def tpc_begin(self, gid: str) -> None:
        self.gid = gid
        self.db._call(self, "tpc_begin", gid)

    def tpc_prepare(self) -> None:
        def prepared() -> None:
            self.db.prepared[str(self.gid)] = dict(self.copied)
            self._forget()
        self.db._call(self, "tpc_prepare", str(self.gid), prepared)

    def tpc_commit(self) -> None:
        self.db._call(self, "tpc_commit", str(self.gid), lambda: self.db.settle(str(self.gid), commit=True))

    def tpc_rollback(self) -> None:
        self.db._call(self, "tpc_rollback", str(self.gid), lambda: self.db.settle(str(self.gid), commit=False)
                      if self.gid in self.db.prepared else self._forget())


class FakeCursor:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] | None = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def close(self) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> None:
        params = tuple(params or ())
        conn, db = self.conn, self.conn.db

        def apply() -> None:
            if LEDGER_INSERT.search(sql):
                conn.ledger[str(params[0])] = int(params[2])
            for verb in ("COMMIT PREPARED", "ROLLBACK PREPARED"):
                if sql.startswith(verb):
                    db.settle(str(params[0]), commit=verb == "COMMIT PREPARED")
        db._call(conn, "execute", sql, apply)
        self._rows = db.answer(sql, params)
        self.rowcount = len(self._rows or ())

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._rows is None:
            return (None,)
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows or [], []
        return rows

    def copy_expert(self, sql: str, stream: Any, size: int = 8192) -> None:
        data = b""
        while chunk := stream.read(size):
            data += chunk
        rel = sql.split(" ")[1]
        rows = data.count(b"\n")

        def apply() -> None:
            self.conn.copied[rel] = self.conn.copied.get(rel, 0) + rows
        self.conn.db._call(self.conn, "copy", sql, apply)
        self.rowcount = rows


class FakeParts:
    """A run's staged parts in memory (PartStore): a part is one line per row."""

    def __init__(self, location: TempLocation) -> None:
        self.location, self.bucket = location, location.bucket
        self.objects_: dict[str, bytes] = {}
        self.metadata_: dict[str, dict[str, str]] = {}

    def stage(self, partition: int, rows_per_part: list[int]) -> None:
        """What one executor task writes: its parts, then its marker."""
        parts = []
        for seq, rows in enumerate(rows_per_part):
            key = self.location.part_key(partition, seq, ".csv")
            self.objects_[key] = b"x\n" * rows
            parts.append({"partition": partition, "seq": seq, "key": key, "rows": rows, "bytes": rows * 2})
        self.objects_[self.location.marker_key(partition)] = json.dumps({"partition": partition,
                                                                          "parts": parts}).encode()

    def objects(self) -> list[dict[str, Any]]:
        return [{"Key": k, "Size": len(v)} for k, v in sorted(self.objects_.items())]

    def open(self, key: str) -> Any:
        return io.BytesIO(self.objects_[key])

    def read(self, key: str) -> bytes:
        return self.objects_[key]

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects_[key] = body

    def metadata(self, key: str) -> dict[str, str]:
        return self.metadata_.get(key, {})

    def delete(self, keys: list[str]) -> None:
        for k in keys:
            self.objects_.pop(k, None)


@dataclass
class FakeEvents:
    """RunEvents, recorded in order."""

    seen: list[str] = field(default_factory=list)

    def use_staging_area(self, area: Any) -> None:
        self.seen.append("use_staging_area")

    def staging_started(self) -> None:
        self.seen.append("staging_started")

    def part_staged(self, partition: int, seq: int, key: str, rows: int, nbytes: int) -> None:
        self.seen.append(f"part_staged {partition}/{seq}")

    def staged(self) -> None:
        self.seen.append("staged")

    def loading_started(self) -> None:
        self.seen.append("loading_started")

    def leftover_recorded(self, name: str) -> None:
        self.seen.append(f"leftover {name}")

    def committing(self) -> None:
        self.seen.append("committing")


class _Context:
    def setJobGroup(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - Spark's name
        return None


@dataclass
class _Job:
    spark_context: Any = field(default_factory=_Context)
    #: what each partition was read from (direct_read.ParquetJob says it; Spark's rows say nothing)
    sources: dict[int, str] = field(default_factory=dict)

    def source_of(self, partition: int) -> str | None:
        return self.sources.get(partition)


class FakeStager:
    """The staging job: on ``start`` it stages ``partitions`` (partition -> rows of each part) into the
    part store, as executors would, and ends; ``error`` makes it fail instead."""

    def __init__(self, parts: FakeParts, partitions: dict[int, list[int]], error: BaseException | None = None,
                 alive_polls: int = 0, sources: dict[int, str] | None = None) -> None:
        """``alive_polls``: how many looks see the job still running (its parts are all staged at once);
        ``sources``: what the job says each partition was read from."""
        self.parts, self.partitions, self.error, self.alive_polls = parts, partitions, error, alive_polls
        self.job, self.group, self.seconds = _Job(sources=sources or {}), "loader-test", 0.0
        self.ran: set[int] = set()
        self.cancelled = False

    def start(self) -> None:
        if self.error is None:
            for partition, rows in self.partitions.items():
                self.parts.stage(partition, rows)
            self.ran = set(self.partitions)

    def is_alive(self) -> bool:
        self.alive_polls -= 1
        return self.alive_polls >= 0

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        self.cancelled = True
