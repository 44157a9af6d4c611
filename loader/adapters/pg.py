"""The PostgreSQL edge: connections, introspection and the advisory lock (the ledger: destination/ledger.py).

Everything here talks to the target database through psycopg2; its exceptions
become loader's in ``pg_errors``, with messages that name what to check and never
the password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg2
import psycopg2.errors

from .. import interrupt
from ..connection import ConnectionSpec
from ..errors import LockHeldError
from ..naming import TableRef, quote_ident
from . import pg_errors

#: first key of the two-int advisory locks: the loader's own namespace
LOCK_NAMESPACE = 0x10AD


class Connect(Protocol):
    """How the COPY method and the destination open connections (``connect``; unit tests pass fakes)."""

    def __call__(self, spec: ConnectionSpec, application_name: str = "loader", autocommit: bool = False) -> Any: ...


def connect(spec: ConnectionSpec, application_name: str = "loader", autocommit: bool = False) -> Any:
    """A psycopg2 connection in UTC, or a TargetConnectionError saying what to check."""
    kwargs = spec.psycopg2_kwargs()
    kwargs["application_name"] = application_name[:63]
    # UTF8 whatever the server's default: binary COPY reads text fields in the client encoding
    kwargs["options"] = "-c timezone=UTC -c client_encoding=UTF8"
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        raise pg_errors.connection_error(spec, exc) from None
    conn.autocommit = autocommit
    return conn


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # format_type(): e.g. "numeric(12,2)", "timestamp with time zone", "text[]"
    not_null: bool
    has_default: bool = False
    #: a domain's (or an array of a domain's) base type as format_type spells it, domains of
    #: domains followed: what the type check compares; None for a column of no domain
    base_type: str | None = None

    @property
    def checked_type(self) -> str:
        return self.base_type or self.data_type


def table_columns(cur: Any, ref: TableRef) -> list[Column] | None:
    """Columns of an existing table in order, or None when the table does not exist."""
    cur.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                  CASE WHEN t.typtype = 'd' THEN t.oid WHEN e.typtype = 'd' THEN e.oid END,
                  e.typtype = 'd'
             FROM pg_attribute a
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum""",
        (ref.schema, ref.table),
    )
    rows = cur.fetchall()
    if not rows:
        cur.execute("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s", (ref.schema, ref.table))
        if cur.fetchone() is None:
            return None
    return [Column(r[0], r[1], bool(r[2]), bool(r[3]),
                   None if r[4] is None else _domain_base(cur, r[4]) + ("[]" if r[5] else "")) for r in rows]


def _domain_base(cur: Any, domain: int) -> str:
    """format_type of the type under a domain, through domains of domains (each holds its base's typmod)."""
    oid, typmod, typtype = domain, -1, "d"
    while typtype == "d":
        cur.execute("SELECT d.typbasetype, d.typtypmod, b.typtype FROM pg_type d "
                    "JOIN pg_type b ON b.oid = d.typbasetype WHERE d.oid = %s", (oid,))
        oid, typmod, typtype = cur.fetchone()
    cur.execute("SELECT format_type(%s, %s)", (oid, typmod))
    return str(cur.fetchone()[0])


def has_aws_s3(cur: Any) -> bool:
    """True when ``aws_s3.table_import_from_s3`` is callable (RDS extension or a stand-in)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'aws_s3' AND p.proname = 'table_import_from_s3' "
                "AND has_schema_privilege(n.oid, 'USAGE') AND has_function_privilege(p.oid, 'EXECUTE'))")
    row = cur.fetchone()
    return bool(row and row[0])


# --- the advisory lock --------------------------------------------------------
def _lock_key(ref: TableRef) -> tuple[int, str]:
    return LOCK_NAMESPACE, f"{ref.schema}.{ref.table}"


@contextlib.contextmanager
def table_lock(spec: ConnectionSpec, ref: TableRef, run_id: str, wait: bool = False,
               shared: bool = False) -> Iterator[None]:
    """Hold a session advisory lock keyed by the target table for the whole run.

    The lock lives on a connection of its own, named after the run, so a second
    run can say which run holds it. PostgreSQL frees it when the process dies. ``shared``: a
    slice replace, which other slice replaces of the table may run beside (each slice has a
    lock of its own, destination/slices.py) but no whole-table load."""
    conn = connect(spec, application_name=f"loader:{run_id}", autocommit=True)
    ns, name = _lock_key(ref)
    how = "_shared" if shared else ""
    try:
        with conn.cursor() as cur:
            if wait:
                with interrupt.on_interrupt(conn.cancel):  # a wait Ctrl-C can end
                    cur.execute(f"SELECT pg_advisory_lock{how}(%s, hashtext(%s))", (ns, name))
            else:
                cur.execute(f"SELECT pg_try_advisory_lock{how}(%s, hashtext(%s))", (ns, name))
                if not cur.fetchone()[0]:
                    holder = _lock_holder(cur, ns, name)
                    raise LockHeldError(
                        f"table {ref} is being loaded by {holder}",
                        next_step="wait for it to finish, or run again with --wait", table=str(ref),
                        run_id=run_id,
                    )
        try:
            yield
        finally:
            # Unlock before closing: a closed connection's backend releases its locks only once it
            # has exited, a moment later, so the caller's next run of the table could find it held.
            with contextlib.suppress(Exception), conn.cursor() as cur:
                cur.execute(f"SELECT pg_advisory_unlock{how}(%s, hashtext(%s))", (ns, name))
    finally:
        conn.close()


def _lock_holder(cur: Any, ns: int, name: str) -> str:
    cur.execute(
        """SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s
              AND l.objid = hashtext(%s)::oid""",
        (ns, name),
    )
    row = cur.fetchone()
    if not row:
        return "another session"
    app, pid = row
    if app and app.startswith("loader:"):
        return f"run {app.split(':', 1)[1]} (backend pid {pid})"
    return f"backend pid {pid} ({app or 'unnamed'})"


def has_unique_index(cur: Any, ref: TableRef, key: tuple[str, ...] | list[str]) -> bool:
    """Is there a primary key or unique index on exactly these columns (what ON CONFLICT needs)?"""
    cur.execute(
        """SELECT array_agg(a.attname::text ORDER BY a.attname)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
            WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL
            GROUP BY i.indexrelid""",
        (ref.schema, ref.table),
    )
    wanted = sorted(key)
    return any(sorted(row[0]) == wanted for row in cur.fetchall())


def primary_key_columns(cur: Any, ref: TableRef) -> tuple[str, ...]:
    cur.execute(
        """SELECT a.attname FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
            WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
            ORDER BY array_position(i.indkey, a.attnum)""",
        (ref.schema, ref.table),
    )
    return tuple(r[0] for r in cur.fetchall())


def unique_index_columns(cur: Any, ref: TableRef, index: str) -> tuple[str, ...]:
    """The columns of the unique index (or the constraint it backs) named ``index`` on ``ref``."""
    cur.execute(
        """SELECT a.attname FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_class x ON x.oid = i.indexrelid
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
            WHERE n.nspname = %s AND c.relname = %s AND x.relname = %s
            ORDER BY array_position(i.indkey::int2[], a.attnum)""",
        (ref.schema, ref.table, index),
    )
    return tuple(r[0] for r in cur.fetchall())


def qualified_columns(columns: list[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def schema_exists(cur: Any, schema: str) -> bool:
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,))
    return bool(cur.fetchone()[0])


def type_exists(cur: Any, name: str) -> bool:
    """Whether ``name`` is a type on the session's search path (PostGIS's ``geometry``)."""
    cur.execute("SELECT to_regtype(%s) IS NOT NULL", (name,))
    return bool(cur.fetchone()[0])


#: pg_constraint.confdeltype, as a CREATE TABLE would spell it
_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def referencing_foreign_keys(cur: Any, ref: TableRef) -> tuple[str, ...]:
    """The foreign keys of other tables that reference ``ref``, as ``table.constraint (ON DELETE x)``:
    PostgreSQL refuses to TRUNCATE such a table, whatever the referencing rows are."""
    cur.execute("SELECT n.nspname || '.' || c.relname || '.' || k.conname, k.confdeltype, k.condeferrable "
                "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE k.confrelid = to_regclass(%s) AND k.contype = 'f' AND k.conrelid <> k.confrelid ORDER BY 1",
                (ref.quoted,))
    return tuple(f"{name} (ON DELETE {_ON_DELETE.get(action, action)}{', DEFERRABLE' if deferrable else ''})"
                 for name, action, deferrable in cur.fetchall())
