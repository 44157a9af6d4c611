"""psycopg2's exceptions become loader's here, and only here, by SQLSTATE (httpx's
``map_httpcore_exceptions``, dlt's ``_make_database_exception``).

* class 22 (data exception) and 23 (integrity constraint): ``DataError`` naming the table,
  the column, PostgreSQL's detail and where the row came from; never worth a fallback. So is
  PostGIS refusing a geometry it cannot parse or build: it reports that as an internal error
  (XX000) raised from its parser's error hook (``lwgeom_pg.c``), which the diagnostics name;
* class 28 (invalid authorization): ``TargetConnectionError`` that says the login was refused;
* class 08 and errors without a SQLSTATE (the connection died), 53 (out of disk or memory) and
  57 (the server cancelled or shut down): ``TargetConnectionError``;
* 42501 (insufficient privilege): ``PrivilegeError`` naming the object PostgreSQL named, even
  ``during`` a load: no retry or reconnect gives a role a privilege;
* anything else: ``TargetError`` carrying the SQLSTATE, so a caller decides by code
  (``3F000`` no such schema, ``42501`` no privilege, ``42P10`` no unique index for ON CONFLICT).

Every translated error keeps ``sqlstate`` (and ``constraint``/``column`` when PostgreSQL named
them) in its ids, for callers that branch on them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg2

from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError, PrivilegeError, TargetConnectionError, TargetError
from ..naming import TableRef

NO_SUCH_SCHEMA = "3F000"
INSUFFICIENT_PRIVILEGE = "42501"
NO_UNIQUE_INDEX_FOR_ON_CONFLICT = "42P10"
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"

#: what to do about a value or constraint the target refused, by SQLSTATE (the write mode refines
#: a unique violation's, knowing the key: destination/hints.py)
_DATA_NEXT_STEPS = {
    UNIQUE_VIOLATION: "a unique key of the target refused the row (it is in the table already, or twice in "
                      "the source): to update the rows that exist, load with mode: upsert and key: the key's "
                      "columns; else remove those rows from the source",
    "23502": "the column is NOT NULL: fill the value in the source, or allow NULL in the target",
    "23503": "the referenced row does not exist: load the referenced table first, or fix the value",
    CHECK_VIOLATION: "a CHECK constraint of the target refused the row: fix the value in the source",
}
_DEFAULT_DATA_NEXT_STEP = "fix the value in the source or the column type in the target"
_PRIVILEGE_NEXT_STEP = ("have the object's owner GRANT that privilege to the loading role (`loader doctor` and "
                        "`loader run --dry-run` list each privilege a load needs, with its GRANT); for a schema the "
                        "role may not create in, set target.ledger_schema to one it may")
#: where PostGIS raises what its parser refuses (SQLSTATE XX000): the value's fault, not the server's
_POSTGIS_INPUT_FILES = frozenset({"lwgeom_pg.c"})
_POSTGIS_NEXT_STEP = ("PostGIS cannot read or build this geometry: fix the value in the source (WKT, EWKT, hex "
                      "EWKB or WKB bytes; a ring must be closed and have 4 points)")


def sqlstate(exc: BaseException) -> str:
    return getattr(exc, "pgcode", None) or ""


def is_data_error(exc: BaseException) -> bool:
    """Errors caused by the data itself (never worth a fallback): SQLSTATE classes 22 and 23, and
    a geometry PostGIS's parser refuses."""
    return isinstance(exc, psycopg2.DataError | psycopg2.IntegrityError) or sqlstate(exc)[:2] in ("22", "23") \
        or _postgis_refused(exc)


def _postgis_refused(exc: BaseException) -> bool:
    return sqlstate(exc) == "XX000" and getattr(getattr(exc, "diag", None), "source_file", None) in \
        _POSTGIS_INPUT_FILES


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def data_error(exc: BaseException, *, table: TableRef | str, where: str | None = None,
               run_id: str | None = None) -> DataError:
    """A DataError naming column, value and place, from PostgreSQL's diagnostics."""
    diag = getattr(exc, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip()
    context = (getattr(diag, "context", None) or "").strip()
    column = getattr(diag, "column_name", None)
    detail = (getattr(diag, "message_detail", None) or "").strip()
    parts = [f"{table}: {primary}"]
    if column:
        parts.append(f"column {column}")
    if detail:
        parts.append(_truncate(detail))
    if context:
        parts.append(_truncate(context.splitlines()[0]))
    if where:
        parts.append(f"in {where}")
    step = _POSTGIS_NEXT_STEP if _postgis_refused(exc) else _DATA_NEXT_STEPS.get(sqlstate(exc), _DEFAULT_DATA_NEXT_STEP)
    return DataError("; ".join(parts), next_step=step,
                     table=str(table), run_id=run_id, sqlstate=sqlstate(exc) or None,
                     constraint=getattr(diag, "constraint_name", None), column=column)


def _truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def translate(exc: BaseException, *, table: TableRef | str | None = None, where: str | None = None,
              run_id: str | None = None, during: str | None = None) -> LoaderError:
    """The LoaderError for a psycopg2 exception. ``during`` ("the load of t on host:5432") makes
    every failure that is not the data's a ``TargetConnectionError``: the transaction is gone."""
    if isinstance(exc, LoaderError):
        return exc
    code = sqlstate(exc)
    if is_data_error(exc):
        return data_error(exc, table=table or "?", where=where, run_id=run_id)
    if code == INSUFFICIENT_PRIVILEGE:
        where_ = f" (during {during})" if during else ""
        return PrivilegeError(f"{f'{table}: ' if table else ''}{first_line(exc)}{where_}", next_step=_PRIVILEGE_NEXT_STEP,
                              table=str(table) if table else None, run_id=run_id, sqlstate=code)
    if code.startswith("28"):
        return TargetConnectionError(f"PostgreSQL refused the login: {first_line(exc)}",
                                     next_step="check the user, the password and pg_hba.conf",
                                     retryable=False, run_id=run_id, sqlstate=code)
    if during is not None or code[:2] in ("08", "53", "57") or not code:
        return TargetConnectionError(
            f"PostgreSQL failed during {during or 'a statement'}: {first_line(exc)}",
            next_step="the transaction was rolled back; check the server and run again (or --resume)",
            run_id=run_id, sqlstate=code or None)
    diag = getattr(exc, "diag", None)
    prefix = f"{table}: " if table else ""
    return TargetError(f"{prefix}{first_line(exc)}", table=str(table) if table else None, run_id=run_id,
                       sqlstate=code, constraint=getattr(diag, "constraint_name", None))


@contextlib.contextmanager
def translated(**context: Any) -> Iterator[None]:
    """Run a block of psycopg2 calls; whatever it raises leaves as a LoaderError (``translate``)."""
    try:
        yield
    except psycopg2.Error as exc:
        raise translate(exc, **context) from None


@contextlib.contextmanager
def savepoint(cur: Any, name: str, **context: Any) -> Iterator[None]:
    """A block under a savepoint: on any failure the transaction is rolled back to it (and stays
    usable); a database error leaves translated. On success the savepoint is released."""
    cur.execute(f"SAVEPOINT {name}")
    try:
        yield
    except psycopg2.Error as exc:
        _undo(cur, name)
        raise translate(exc, **context) from None
    except BaseException:
        _undo(cur, name)
        raise
    cur.execute(f"RELEASE SAVEPOINT {name}")


def _undo(cur: Any, name: str) -> None:
    # ROLLBACK TO keeps the savepoint (and its subtransaction) open; RELEASE goes back to the
    # enclosing level, where COPY FREEZE sees the TRUNCATE of this transaction again
    cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
    cur.execute(f"RELEASE SAVEPOINT {name}")


def connection_error(spec: ConnectionSpec, exc: Exception) -> TargetConnectionError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if spec.password:
        text = text.replace(spec.password, "***")
    where = spec.safe_description()
    lowered = text.lower()
    # libpq reports a refused login before any session exists, so psycopg2 has no SQLSTATE for it
    # (28P01, 28000): its message, stable across versions, is all there is to go by
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        # PostgreSQL says the same for a user that does not exist, on purpose: we cannot tell either
        return TargetConnectionError(f"PostgreSQL {where} refused the password for user {spec.user} "
                                     "(a wrong password, or no such user)",
                                     next_step="check the user and the password variable (e.g. PGPASSWORD or "
                                               "the ${VAR} in the manifest), and pg_hba.conf", retryable=False)
    if ("role" in lowered and "does not exist" in lowered) or "no pg_hba.conf entry" in lowered \
            or "authentication failed" in lowered:
        return TargetConnectionError(f"PostgreSQL {where} refused the login of user {spec.user}: {text}",
                                     next_step="check the user, the password and pg_hba.conf (the server's "
                                               "list of who may connect from where)", retryable=False)
    if "does not exist" in lowered and "database" in lowered:
        return TargetConnectionError(f"PostgreSQL {where}: database {spec.database!r} does not exist",
                                     next_step="create it or fix target.connection.database",
                                     retryable=False)
    return TargetConnectionError(f"cannot reach PostgreSQL {where}: {text}",
                                 next_step="check host, port, network/security group and that the server runs")
