"""The reaper's PostgreSQL edge: find and drop the staging tables killed JDBC runs left, and the
shadow tables of killed overwrites (destination/shadow_swap.py).

(Its S3 listing and deletes are ``loader.adapters.s3``'s, counted per request.) Failures leave
as :class:`~loader.errors.TargetConnectionError`.

Nothing here decides anything; :mod:`loader.reaper.apply` does.
"""

from __future__ import annotations

from typing import Any

from ..adapters import pg_errors
from ..destination.shadow_swap import PARTS_TABLE, drop_referencing
from ..errors import LoaderError, TargetConnectionError
from ..jdbc.codec import inlet_of
from ..naming import (
    SHADOW_TABLE_MARK,
    STAGING_TABLE_PREFIX,
    TableRef,
    parse_shadow_table,
    parse_staging_table,
    shadow_created,
)

# --- PostgreSQL staging tables ------------------------------------------------------------

_LIST_STAGING_TABLES = """
SELECT n.nspname, c.relname, obj_description(c.oid, 'pg_class')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND c.relname LIKE %s ESCAPE '\\'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%%' ESCAPE '\\'
   AND n.nspname NOT LIKE 'pg\\_temp\\_%%' ESCAPE '\\'
 ORDER BY n.nspname, c.relname
"""


def list_staging_tables(conn: Any) -> list[TableRef]:
    """Tables named exactly like ``loader_stage_<8 hex>_<epoch>`` in every schema."""
    pattern = STAGING_TABLE_PREFIX.replace("_", "\\_") + "%"
    with conn.cursor() as cur:
        cur.execute(_LIST_STAGING_TABLES, (pattern,))
        rows = cur.fetchall()
    return [TableRef(schema, name) for schema, name, _ in rows if parse_staging_table(name) is not None]


def list_shadow_tables(conn: Any) -> list[tuple[TableRef, int | None]]:
    """Tables named exactly like ``<table>__loader_shadow_<8 hex>`` in every schema, each with the
    epoch its comment gives (None: no loader comment, its age is unknown)."""
    pattern = "%" + SHADOW_TABLE_MARK.replace("_", "\\_") + "%"
    with conn.cursor() as cur:
        cur.execute(_LIST_STAGING_TABLES, (pattern,))
        rows = cur.fetchall()
    return [(TableRef(schema, name), shadow_created(comment)) for schema, name, comment in rows
            if parse_shadow_table(name) is not None]


def drop_table(conn: Any, ref: TableRef, lock_timeout_ms: int = 5000, shadow: bool = False) -> bool:
    """``DROP TABLE IF EXISTS``; True when this call dropped it (False: already gone).

    A lock timeout keeps the reaper from queueing behind a session that still
    uses the table (and from blocking everyone queued behind the reaper).
    """
    conn.notices.clear()
    try:
        with pg_errors.translated(table=ref), conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (f"{int(lock_timeout_ms)}ms",))
            if not shadow:  # (a shadow's name + the suffix may be cut to the shadow's own name)
                # a JDBC run's inlet view (jdbc_codec) depends on its staging table: it goes first
                cur.execute(f"DROP VIEW IF EXISTS {inlet_of(ref).quoted}")
            else:  # the foreign keys a killed run rebuilt against it go first (their tables as they were)
                drop_referencing(cur, ref)
            conn.notices.clear()  # only the table's notice says whether this call dropped it
            cur.execute(f"DROP TABLE IF EXISTS {ref.quoted}")
            if shadow:
                _forget_shadow_parts(cur, ref)
        conn.commit()
    except LoaderError as exc:
        conn.rollback()
        raise TargetConnectionError(f"could not drop staging table {ref}: {exc.message}",
                                    next_step="check who holds a lock on it (pg_locks) and the "
                                              "reaper's DROP privilege", table=str(ref)) from None
    return not any("does not exist, skipping" in n for n in conn.notices)


def _forget_shadow_parts(cur: Any, ref: TableRef) -> None:
    """The shadow's rows in ``loader_shadow_parts`` (what a resume would skip) go with it."""
    parts = TableRef(ref.schema, PARTS_TABLE)
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (parts.quoted,))
    if cur.fetchone()[0]:
        cur.execute(f"DELETE FROM {parts.quoted} WHERE shadow = %s", (ref.table,))
