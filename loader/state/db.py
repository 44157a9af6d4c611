"""The state store's database edge: engine, transactions, error translation, schema creation.

SQLite by default (``$XDG_STATE_HOME/loader/state.db``), PostgreSQL when
``LOADER_STATE_URL`` (or the ``url`` argument) says so. Tables are created on
first use and carry a schema version.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (WAL mode,
30 s busy timeout), so concurrent writers queue instead of failing with
"database is locked" halfway through a transaction.

Database failures (unreachable server, full disk, read-only file) surface as
:class:`~loader.errors.StateError` with a one-line message naming what to
check; the password of the store's URL never appears in them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from ..errors import LoaderError, StateError
from . import models as m

_DB = TypeVar("_DB", bound="StateDatabase")

#: environment variable naming the store's SQLAlchemy URL
ENV_URL = "LOADER_STATE_URL"

#: key of the PostgreSQL advisory lock taken while creating/migrating the tables
_SCHEMA_LOCK_KEY = 0x6C6F616465720001

#: run columns ``update`` (and the transitions' keyword arguments) may set
UPDATABLE_FIELDS = frozenset({
    "method_used", "temp_path", "bucket", "reason", "fallback_reason", "rows", "bytes_staged",
    "rows_rejected", "parts_staged", "parts_loaded", "cleanup_status", "source_fingerprint",
    "staging_table", "timings", "error", "rows_inserted", "rows_updated", "window_from", "high_water_mark",
})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/loader/state.db``, ``~/.local/state/loader/state.db`` by default."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base).expanduser() if base and Path(base).expanduser().is_absolute() else (
        Path.home() / ".local" / "state")
    return root / "loader" / "state.db"


def default_url() -> str:
    """``$LOADER_STATE_URL`` if set, else the SQLite file of :func:`default_state_path`."""
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    return f"sqlite:///{default_state_path()}"


def _enable_wal(cur: Any) -> None:
    """Switch a SQLite file to WAL. The switch needs an exclusive lock and SQLite does not always
    wait for it (busy_timeout is not consulted), so several processes opening a new file at once
    retry briefly instead of failing."""
    import sqlite3
    import time

    for attempt in range(100):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.02)


def _first_line(text_: str, limit: int = 240) -> str:
    line = next((ln.strip() for ln in text_.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class StateDatabase:
    """Engine, transactions and schema of the state store (the API is StateStore's)."""

    def __init__(self, url: str | URL | None = None, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        raw = url if url is not None else default_url()
        try:
            self._url: URL = make_url(raw)
        except (ArgumentError, ValueError):
            scheme = str(raw).split(":", 1)[0] if ":" in str(raw) else "?"
            raise StateError(
                f"state store URL (scheme {scheme!r}) is not a valid SQLAlchemy URL",
                next_step=f"set {ENV_URL} to sqlite:////path/state.db or postgresql://user:pass@host/db",
            ) from None
        if self._url.drivername in ("postgresql", "postgres"):
            # SQLAlchemy 2.1 defaults to psycopg 3; loader depends on psycopg2
            self._url = self._url.set(drivername="postgresql+psycopg2")
        self._secrets = [s for s in (self._url.password,) if s]
        self._clock = clock or utcnow
        backend = self._url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StateError(
                f"state store {self.url_for_display}: backend {backend!r} is not supported",
                next_step=f"set {ENV_URL} to a sqlite:/// or postgresql:// URL",
            )
        self._is_sqlite = backend == "sqlite"
        self._sqlite_path: Path | None = None
        if self._is_sqlite:
            db = self._url.database or ""
            if db and db != ":memory:" and not db.startswith("file:"):
                self._sqlite_path = Path(db).expanduser()
                try:
                    self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StateError(
                        f"state store: cannot create directory {self._sqlite_path.parent}: "
                        f"{exc.strerror or exc}",
                        next_step=f"make it writable, or set XDG_STATE_HOME or {ENV_URL} elsewhere",
                    ) from None
        self._engine = self._make_engine()
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @classmethod
    def from_env(cls: type[_DB]) -> _DB:
        """``LOADER_STATE_URL`` or the default SQLite file."""
        return cls(None)

    # --- plumbing -------------------------------------------------------------
    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the state store clock must return timezone-aware datetimes")
        return now.astimezone(timezone.utc)

    @property
    def url_for_display(self) -> str:
        """The URL with the password masked: safe for logs and errors."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self: _DB) -> _DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.url_for_display!r})"

    def _make_engine(self) -> Engine:
        try:
            if self._is_sqlite:
                engine = create_engine(self._url, connect_args={"check_same_thread": False, "timeout": 30})
                db = self._url.database or ""
                memory = db in ("", ":memory:") or "mode=memory" in db

                @event.listens_for(engine, "connect")
                def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
                    # we emit BEGIN ourselves (see _sqlite_begin)
                    dbapi_conn.isolation_level = None
                    cur = dbapi_conn.cursor()
                    try:
                        cur.execute("PRAGMA busy_timeout = 30000")
                        cur.execute("PRAGMA foreign_keys = ON")
                        if not memory:
                            _enable_wal(cur)
                            cur.execute("PRAGMA synchronous = NORMAL")
                    finally:
                        cur.close()

                @event.listens_for(engine, "begin")
                def _sqlite_begin(conn: Connection) -> None:
                    write = conn.get_execution_options().get("loader_write", False)
                    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

                return engine
            return create_engine(self._url, pool_pre_ping=True, pool_size=5, max_overflow=20,
                                 connect_args={"connect_timeout": 10, "application_name": "loader-state"})
        except (ArgumentError, ImportError) as exc:
            raise StateError(
                f"state store {self.url_for_display}: cannot create the engine: {_first_line(str(exc))}",
                next_step="install the database driver or fix the URL",
            ) from None

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message

    def _check_hint(self) -> str:
        if self._is_sqlite:
            where = self._sqlite_path or "the SQLite file"
            return (f"check that {where} and its directory are writable and the disk is not full, "
                    f"or point {ENV_URL} elsewhere")
        return (f"check that the state database {self._url.host}:{self._url.port or 5432}/"
                f"{self._url.database} is reachable and the credentials in {ENV_URL} are right")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn database and OS errors into StateError (LoaderErrors pass through)."""
        try:
            yield
        except LoaderError:
            raise
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            reason = _first_line(self._scrub(str(orig if orig is not None else exc)))
            raise StateError(
                f"state store {self.url_for_display}: {what} failed: {reason}",
                next_step=self._check_hint(),
                retryable=not self._is_sqlite and isinstance(exc, (OperationalError, InterfaceError)),
            ) from exc
        except OSError as exc:
            raise StateError(
                f"state store {self.url_for_display}: {what} failed: "
                f"{_first_line(self._scrub(exc.strerror or str(exc)))}",
                next_step=self._check_hint(),
            ) from exc

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        self._ensure_schema()
        with self._errors(what), self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        self._ensure_schema()
        with self._errors(what), self._engine.connect() as conn:
            conn.execution_options(loader_write=True)
            with conn.begin():
                yield conn

    def _insert(self, table: Any) -> Any:
        """Dialect-specific INSERT (it has ``on_conflict_do_*``)."""
        return sqlite_dialect.insert(table) if self._is_sqlite else pg_dialect.insert(table)

    # --- schema -----------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the tables if needed; refuse a store written by a newer loader."""
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._errors("opening the state store"):
                with self._engine.connect() as conn:
                    version = self._schema_version(conn)
                self._refuse_newer(version)
                if version != m.SCHEMA_VERSION:
                    with self._engine.connect() as conn:
                        conn.execution_options(loader_write=True)
                        with conn.begin():
                            if not self._is_sqlite:
                                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                             {"k": _SCHEMA_LOCK_KEY})
                            self._create_or_migrate(conn)
            self._schema_ready = True

    def _create_or_migrate(self, conn: Connection) -> None:
        version = self._schema_version(conn)
        self._refuse_newer(version)
        if version is None:
            for table in m.ALL_TABLES:
                conn.execute(CreateTable(table, if_not_exists=True))
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    conn.execute(CreateIndex(index, if_not_exists=True))
            conn.execute(
                self._insert(m.schema_version)
                .values(id=1, version=m.SCHEMA_VERSION, updated_at=self._now())
                .on_conflict_do_nothing(index_elements=["id"])
            )
            return
        if version < 2:
            self._add_columns(conn, m.runs, m.V2_RUN_COLUMNS)
        conn.execute(update(m.schema_version).where(m.schema_version.c.id == 1)
                     .values(version=m.SCHEMA_VERSION, updated_at=self._now()))

    def _add_columns(self, conn: Connection, table: Any, names: tuple[str, ...]) -> None:
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

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > m.SCHEMA_VERSION:
            raise StateError(
                f"state store {self.url_for_display} has schema version {version}, "
                f"this loader knows only up to {m.SCHEMA_VERSION}",
                next_step=f"upgrade loader, or point {ENV_URL} at another store",
            )

    def _schema_version(self, conn: Connection) -> int | None:
        if not inspect(conn).has_table(m.schema_version.name):
            return None
        version = conn.execute(select(func.max(m.schema_version.c.version))).scalar()
        return int(version) if version is not None else None

