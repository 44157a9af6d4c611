"""Staging relation -> target: the INSERT ... SELECT that a load transaction runs.

COPY (upsert, reject) and JDBC land rows first in a relation of their own (a TEMP table
or the per-run staging table); ``LoadTransaction.publish`` moves them into the target with
``publish_counted`` inside the load transaction, which writes the ledger row and commits.

Values reach the target through ``CAST(col AS <target type>)`` in the SELECT, so
text becomes jsonb/uuid/inet/enum values the same way whichever method staged
it, and PostgreSQL (not us) decides what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..adapters import pg_errors
from ..errors import ConfigError, DataError, LoaderError, SchemaMismatchError, TargetError
from ..naming import TableRef, quote_ident
from .write_modes import WriteStrategy, Written

_SAVEPOINT = "loader_publish"


def publish(cur: Any, *, source: str, target: TableRef, columns: Sequence[str],
            casts: Sequence[str] | None, write: WriteStrategy, created: bool = False,
            source_columns: Sequence[str] | None = None, defer_indexes: bool = False,
            explain: bool = True) -> int:
    """``publish_counted``, returning the rows moved only."""
    return publish_counted(cur, source=source, target=target, columns=columns, casts=casts, write=write,
                           created=created, source_columns=source_columns, defer_indexes=defer_indexes,
                           explain=explain).rows


def publish_counted(cur: Any, *, source: str, target: TableRef, columns: Sequence[str],
                    casts: Sequence[str] | None, write: WriteStrategy, created: bool = False,
                    source_columns: Sequence[str] | None = None, defer_indexes: bool = False,
                    explain: bool = True) -> Written:
    """Move every row of ``source`` into ``target``. Returns what was written (for upsert:
    inserted and updated apart). ``created``: the target was created in this transaction.

    ``source`` is an already-quoted relation name. ``source_columns`` names the
    source's columns when they differ from the target's (JDBC staging uses
    positional names, see jdbc/method.py); by default they are ``columns``. Runs in
    the caller's transaction (a ``LoadTransaction``, which records the ledger and commits). ``defer_indexes``: when the
    target is overwritten or found empty, build its indexes after the INSERT (index_defer).
    ``explain``: on a failed cast, scan the columns to name it (not for a caller that recovers: one
    scan per column).
    """
    src_cols = list(source_columns) if source_columns is not None else list(columns)
    _validate(target, columns, src_cols, casts, write.key)
    exprs = select_exprs(src_cols, casts)
    if write.needs_unique_key:
        check_duplicate_keys(cur, source, target, columns, src_cols, casts, exprs, write.key)
    sql = write.insert_sql(target, columns, f"SELECT {', '.join(exprs)} FROM {source}")

    # A savepoint so that, when a value is rejected, we can still ask the
    # database which column it was before the caller rolls everything back.
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT, table=target):
            opened = write.prepare(cur, target, created=created)
            deferred = write.defer_indexes(cur, target, opened)[0] if defer_indexes else None
            written = write.run_insert(cur, sql)
            if opened.deleted is not None:
                written = replace(written, deleted=opened.deleted)
            if deferred is not None:
                deferred.rebuild(cur)  # a duplicate key in the new rows surfaces here
    except LoaderError as exc:
        raise _explain(cur, exc, source, target, columns, src_cols, casts if explain else None,
                       write.key) from None

    return written


def _validate(target: TableRef, columns: Sequence[str], src_cols: Sequence[str],
              casts: Sequence[str] | None, key: Sequence[str]) -> None:
    if not columns:
        raise ConfigError(f"{target}: nothing to publish, no columns given")
    if len(src_cols) != len(columns) or (casts is not None and len(casts) != len(columns)):
        raise ConfigError(f"{target}: columns, source columns and casts differ in length")
    missing = [k for k in key if k not in columns]
    if missing:
        raise ConfigError(f"{target}: upsert key column(s) {', '.join(missing)} are not loaded",
                          next_step="the key must be columns of the DataFrame")


def select_exprs(src_cols: Sequence[str], casts: Sequence[str] | None) -> list[str]:
    # Types come from format_type() or typemap.pg_type, never from user text, so
    # they are safe to splice in (format_type quotes names that need it).
    if casts is None:
        return [quote_ident(c) for c in src_cols]
    return [f"CAST({quote_ident(c)} AS {cast_type(t)})" for c, t in zip(src_cols, casts, strict=True)]


_CUT_BY_CAST = re.compile(r"^(character varying|character)\(\d+\)((?:\[\])*)$")


def cast_type(pg_type: str) -> str:
    """The type to CAST a value to on its way into a column of ``pg_type``. An explicit cast to
    varchar(n) or char(n) cuts a longer value silently (PostgreSQL's rule for explicit casts), so
    those are cast without their length and the INSERT's own assignment checks it and raises
    "value too long". Every other type is cast to as it is."""
    m = _CUT_BY_CAST.match(pg_type)
    if not m:
        return pg_type
    return ("character varying" if m.group(1) == "character varying" else "bpchar") + m.group(2)


def check_duplicate_keys(cur: Any, source: str, target: TableRef, columns: Sequence[str],
                          src_cols: Sequence[str], casts: Sequence[str] | None, exprs: Sequence[str],
                          key: Sequence[str]) -> None:
    """ON CONFLICT cannot touch a row twice in one statement; say which key instead of
    PostgreSQL's "command cannot affect row a second time". Keys are compared after the
    cast, as the target will compare them. NULL keys never conflict, so they are skipped."""
    key_exprs = [exprs[list(columns).index(k)] for k in key]
    not_null = " AND ".join(f"{e} IS NOT NULL" for e in key_exprs)
    group = ", ".join(str(i + 1) for i in range(len(key_exprs)))
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT, table=target):
            cur.execute(f"SELECT {', '.join(key_exprs)} FROM {source} WHERE {not_null} "
                        f"GROUP BY {group} HAVING count(*) > 1 LIMIT 1")
            dup = cur.fetchone()
    except LoaderError as exc:
        raise _explain(cur, exc, source, target, columns, src_cols, casts, key) from None
    if dup is not None:
        shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                          for k, v in zip(key, dup, strict=True))
        raise DataError(f"{target}: the source has more than one row with key ({shown}); "
                        f"upsert on ({', '.join(key)}) needs each key once",
                        next_step="deduplicate the DataFrame on the key (e.g. dropDuplicates) or fix the key",
                        table=str(target))


def explain_failure(cur: Any, exc: LoaderError, source: str, target: TableRef, columns: Sequence[str],
                    src_cols: Sequence[str], casts: Sequence[str] | None) -> LoaderError:
    """A failed cast of ``source``'s rows, with the column it came from when PostgreSQL did not say."""
    return _explain(cur, exc, source, target, columns, src_cols, casts, ())


def _explain(cur: Any, exc: LoaderError, source: str, target: TableRef, columns: Sequence[str],
             src_cols: Sequence[str], casts: Sequence[str] | None, key: Sequence[str]) -> LoaderError:
    """Say more than PostgreSQL did: which column a failed cast came from, what ON CONFLICT needs."""
    if isinstance(exc, TargetError) and exc.sqlstate == pg_errors.NO_UNIQUE_INDEX_FOR_ON_CONFLICT:
        return SchemaMismatchError(
            f"{target}: upsert needs a unique index or primary key on ({', '.join(key)})",
            next_step=f"ALTER TABLE {target.quoted} ADD PRIMARY KEY ({', '.join(quote_ident(k) for k in key)})",
            table=str(target))
    if isinstance(exc, DataError) and exc.ids.get("sqlstate") == pg_errors.CHECK_VIOLATION and exc.ids.get("constraint"):
        # a row the table's CHECK refused is no cast failure: trying the casts would name a column
        # that has nothing to do with it; say what the constraint reads instead
        definition = _check_definition(cur, target, exc.ids["constraint"])
        if definition:
            exc.message += f"; {exc.ids['constraint']} is {definition}"
        return exc
    if isinstance(exc, DataError) and not exc.ids.get("column") and casts is not None:
        column = _failing_cast(cur, source, columns, src_cols, casts)
        if column:
            exc.message += f"; in column {column!r}"
    return exc


def _check_definition(cur: Any, target: TableRef, name: str) -> str | None:
    """The CHECK constraint ``name`` of ``target`` as PostgreSQL prints it (None for a domain's)."""
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT):
            cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
                        "AND conname = %s", (target.quoted, name))
            row = cur.fetchone()
    except LoaderError:
        return None
    return row[0] if row else None


def _failing_cast(cur: Any, source: str, columns: Sequence[str], src_cols: Sequence[str],
                  casts: Sequence[str]) -> str | None:
    """A cast error does not say which column it came from; try them one by one.

    Only runs on the failure path, one scan per column, each in a savepoint so
    the transaction stays usable until we have our answer."""
    for name, src, cast in zip(columns, src_cols, casts, strict=True):
        try:
            with pg_errors.savepoint(cur, _SAVEPOINT):
                cur.execute(f"SELECT count(CAST({quote_ident(src)} AS {cast})) FROM {source}")
                cur.fetchone()
        except DataError:
            return name
        except LoaderError:
            continue
    return None
