"""The exactly-once ledger: one row per committed run, in ``<ledger schema>.loader_ledger``.

The ledger schema is the load's ``target.ledger_schema``, else the target's own schema
(``naming.loader_schema`` decides; callers pass its answer as ``schema``). One ledger may serve
many targets: each row names its target, and the run id alone is the key.

The row is written in the load transaction itself (``LoadTransaction.finish``), so "the run's
rows are in the table" and "the run is in the ledger" become true at the same COMMIT or not at
all. Whoever must know whether a run committed (a resume after a crash, a connection lost
during COMMIT, an incremental run's mark) asks ``committed_rows``. This module is the only one
that reads or writes the table.

The table is created once per schema, outside any load transaction and under one advisory
lock (``ensure``): two loads committing into a fresh schema at the same time would otherwise
both run CREATE TABLE and the second fail on pg_type's unique index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError, StateError, TargetConnectionError
from ..naming import TableRef

log = logging.getLogger("loader")

LEDGER_TABLE = "loader_ledger"
#: the advisory lock (two ints) that serialises creating a ledger table
_CREATE_LOCK = (pg.LOCK_NAMESPACE, LEDGER_TABLE)


def ledger_ref(schema: str) -> TableRef:
    """The ledger table of the ledger schema ``schema``."""
    return TableRef(schema, LEDGER_TABLE)


def exists(cur: Any, schema: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (ledger_ref(schema).quoted,))
    return bool(cur.fetchone()[0])


def ensure(conn: Any, schema: str) -> None:
    """Create the ledger in ``schema`` if it is missing, in a transaction of its own. An existing
    ledger is only looked at: a role without CREATE on the schema can load (INSERT and SELECT on
    the ledger are enough). CREATE TABLE IF NOT EXISTS would not do: PostgreSQL checks CREATE on
    the schema before it looks whether the table is there."""
    ref = ledger_ref(schema)
    with pg_errors.translated(table=ref), conn.cursor() as cur:
        if not exists(cur, schema):
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", _CREATE_LOCK)
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {ref.quoted} ("
                "run_id text PRIMARY KEY, target text NOT NULL, rows bigint NOT NULL, "
                "committed_at timestamptz NOT NULL DEFAULT now())")
        conn.commit()


def record(cur: Any, schema: str, target: TableRef, run_id: str, rows: int) -> None:
    """Record the run in the transaction that makes its rows visible. A run id that is there
    already committed before: refused, so that a run never publishes twice."""
    try:
        with pg_errors.translated(table=ledger_ref(schema)):
            cur.execute(f"INSERT INTO {ledger_ref(schema).quoted} (run_id, target, rows) VALUES (%s, %s, %s)",
                        (run_id, str(target), rows))
    except DataError as exc:
        if exc.ids.get("constraint") != f"{LEDGER_TABLE}_pkey":
            raise
        raise StateError(f"run {run_id} has already committed into {target}",
                         next_step="a run publishes once; start a new run to load again",
                         table=str(target), run_id=run_id) from None


def committed_rows(cur: Any, schema: str, run_id: str) -> int | None:
    """Rows committed by ``run_id`` (ledger in ``schema``), or None when it never committed."""
    if not exists(cur, schema):
        return None
    cur.execute(f"SELECT rows FROM {ledger_ref(schema).quoted} WHERE run_id = %s", (run_id,))
    row = cur.fetchone()
    return int(row[0]) if row else None


def committed_rows_at(spec: ConnectionSpec, schema: str, run_id: str, connect: pg.Connect = pg.connect) -> int | None:
    """``committed_rows`` on a connection of its own (the load's may be the one that died)."""
    conn = connect(spec, application_name="loader:ledger")
    try:
        with conn.cursor() as cur:
            return committed_rows(cur, schema, run_id)
    finally:
        conn.close()


def commit(conn: Any, spec: ConnectionSpec, schema: str, run_id: str, *, table: TableRef, during: str = "COMMIT",
           connect: pg.Connect = pg.connect, failed: Callable[[LoaderError], LoaderError] | None = None) -> None:
    """COMMIT the transaction on ``conn`` that holds run ``run_id``'s ledger row: the one place a
    load's outcome is committed. When the connection dies during the COMMIT, the ledger (asked over a
    connection of its own) says whether it happened: if it did, the run committed. A COMMIT that
    failed is raised, or what ``failed`` makes of it (the caller's words for what is left)."""
    try:
        with pg_errors.translated(table=table, run_id=run_id, during=during):
            conn.commit()
    except TargetConnectionError as exc:
        if committed_rows_at(spec, schema, run_id, connect) is not None:
            log.warning("connection lost during %s, but the ledger shows run %s committed", during, run_id)
            return
        raise (failed(exc) if failed else exc) from None
    except LoaderError as exc:
        if failed is None:
            raise
        raise failed(exc) from None


def committed_in_database(cur: Any, run_id: str) -> int | None:
    """The rows run ``run_id`` committed per any ledger of this database (None: no ledger has it),
    for the reaper, which knows a prepared transaction's run but not its target."""
    cur.execute("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = %s AND c.relkind IN ('r', 'p')", (LEDGER_TABLE,))
    for (schema,) in cur.fetchall():
        cur.execute(f"SELECT rows FROM {TableRef(schema, LEDGER_TABLE).quoted} WHERE run_id = %s", (run_id,))
        row = cur.fetchone()
        if row is not None:
            return int(row[0])
    return None
