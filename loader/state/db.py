"""The state store's database edge: engine, transactions, error translation (the tables are
created by ``schema.py``).

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
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError

from ..errors import LoaderError, RunNotFoundError, StateError

#: environment variable naming the store's SQLAlchemy URL
ENV_URL = "LOADER_STATE_URL"



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
    """Engine, transactions and error translation of the state store; shared by its parts (runs,
    transitions, parts, reaps), which :class:`~loader.state.store.StateStore` composes."""

    def __init__(self, url: str | URL | None = None, *, clock: Callable[[], datetime] | None = None,
                 prepare: Callable[[StateDatabase], None] | None = None) -> None:
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
        self._prepare = prepare
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def ensure_schema(self) -> None:
        """Run ``prepare`` (``schema.ensure``: create or migrate the tables) once, before the first
        statement."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                with self.errors("opening the state store"):
                    if self._prepare is not None:
                        self._prepare(self)
                self._schema_ready = True

    def now(self) -> datetime:
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

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite

    def close(self) -> None:
        self._engine.dispose()

    def not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id} in the state store {self.url_for_display}",
                                next_step="list runs with `loader status`", run_id=run_id)

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
    def errors(self, what: str) -> Iterator[None]:
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
    def read(self, what: str) -> Iterator[Connection]:
        self.ensure_schema()
        with self.errors(what), self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self, what: str) -> Iterator[Connection]:
        """A transaction that writes (on SQLite: ``BEGIN IMMEDIATE``)."""
        self.ensure_schema()
        with self.errors(what), self._engine.connect() as conn:
            conn.execution_options(loader_write=True)
            with conn.begin():
                yield conn

    def insert(self, table: Any) -> Any:
        """Dialect-specific INSERT (it has ``on_conflict_do_*``)."""
        return sqlite_dialect.insert(table) if self._is_sqlite else pg_dialect.insert(table)
