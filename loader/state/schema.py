"""The store's tables on disk: created on first use, migrated from an older version, refused when
written by a newer loader (the version is in ``loader_schema_version``, see ``models``).

On PostgreSQL the creation or migration runs under an advisory lock, so processes opening a new
store at once create it once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, inspect, select, text, update
from sqlalchemy.schema import CreateIndex, CreateTable

from ..errors import StateError
from . import models as m
from .db import ENV_URL, StateDatabase

#: key of the PostgreSQL advisory lock taken while creating/migrating the tables
SCHEMA_LOCK_KEY = 0x6C6F616465720001


def ensure(db: StateDatabase) -> None:
    """Create the tables if needed, migrate an older version; refuse a store written by a newer
    loader. Database errors are the caller's to translate (``StateDatabase.errors``)."""
    with db.engine.connect() as conn:
        version = _version(conn)
    _refuse_newer(db, version)
    if version == m.SCHEMA_VERSION:
        return
    with db.engine.connect() as conn:
        conn.execution_options(loader_write=True)
        with conn.begin():
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            _create_or_migrate(db, conn)


def _create_or_migrate(db: StateDatabase, conn: Connection) -> None:
    version = _version(conn)  # again, under the lock: another process may have done it
    _refuse_newer(db, version)
    if version is None:
        for table in m.ALL_TABLES:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))
        conn.execute(
            db.insert(m.schema_version)
            .values(id=1, version=m.SCHEMA_VERSION, updated_at=db.now())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        return
    if version < 2:
        _add_columns(conn, m.runs, m.V2_RUN_COLUMNS)
    if version < 3:
        _add_columns(conn, m.runs, m.V3_RUN_COLUMNS)
    if version < 4:
        _add_columns(conn, m.runs, m.V4_RUN_COLUMNS)
    conn.execute(update(m.schema_version).where(m.schema_version.c.id == 1)
                 .values(version=m.SCHEMA_VERSION, updated_at=db.now()))


def _add_columns(conn: Connection, table: Any, names: tuple[str, ...]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each column the store lacks (idempotent: a migration
    interrupted on SQLite, which commits DDL per statement, is finished by the next open)."""
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    preparer = conn.dialect.identifier_preparer
    for name in names:
        if name in present:
            continue
        col = table.c[name]
        ddl = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(name)} " \
              f"{col.type.compile(dialect=conn.dialect)}"
        if not col.nullable:
            ddl += f" NOT NULL DEFAULT {col.default.arg!r}"
        conn.execute(text(ddl))


def _refuse_newer(db: StateDatabase, version: int | None) -> None:
    if version is not None and version > m.SCHEMA_VERSION:
        raise StateError(
            f"state store {db.url_for_display} has schema version {version}, "
            f"this loader knows only up to {m.SCHEMA_VERSION}",
            next_step=f"upgrade loader, or point {ENV_URL} at another store",
        )


def _version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(m.schema_version.name):
        return None
    version = conn.execute(select(func.max(m.schema_version.c.version))).scalar()
    return int(version) if version is not None else None
