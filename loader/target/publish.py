"""The one step that makes loaded rows visible: staging relation -> target, atomically.

COPY and JDBC both land rows first in a relation of their own (a TEMP table or
the per-run staging table) and then call ``publish`` inside one transaction that
the caller commits. Everything a reader can observe - the new rows, the rows an
overwrite removed, the ledger entry of the run - changes at that commit or not at
all.

Values reach the target through ``CAST(col AS <target type>)`` in the SELECT, so
text becomes jsonb/uuid/inet/enum values the same way whichever method staged
it, and PostgreSQL (not us) decides what is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg2
import psycopg2.errors

from ..adapters import pg
from ..errors import ConfigError, DataError, SchemaMismatchError, StateError
from ..naming import TableRef, quote_ident
from ..options import WriteMode
from .index_defer import defer_for_load

_SAVEPOINT = "loader_publish"


def publish(cur: Any, *, source: str, target: TableRef, columns: Sequence[str],
            casts: Sequence[str] | None, mode: WriteMode, key: Sequence[str], run_id: str,
            source_columns: Sequence[str] | None = None, defer_indexes: bool = False) -> int:
    """Move every row of ``source`` into ``target``; record the run in the ledger. Returns rows moved.

    ``source`` is an already-quoted relation name. ``source_columns`` names the
    source's columns when they differ from the target's (JDBC staging uses
    positional names, see jdbc_load); by default they are ``columns``. Runs in
    the caller's transaction; the caller commits or rolls back. ``defer_indexes``: when the
    target is overwritten or found empty, build its indexes after the INSERT (index_defer).
    """
    mode = WriteMode(mode)
    src_cols = list(source_columns) if source_columns is not None else list(columns)
    _validate(target, columns, src_cols, casts, mode, key)
    exprs = _select_exprs(src_cols, casts)
    if mode is WriteMode.UPSERT:
        _check_duplicate_keys(cur, source, target, columns, src_cols, casts, exprs, key)

    target_cols = ", ".join(quote_ident(c) for c in columns)
    sql = f"INSERT INTO {target.quoted} ({target_cols}) SELECT {', '.join(exprs)} FROM {source}"
    if mode is WriteMode.UPSERT:
        sql += _on_conflict(columns, key)

    # A savepoint so that, when a value is rejected, we can still ask the
    # database which column it was before the caller rolls everything back.
    cur.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        if mode is WriteMode.OVERWRITE:
            # TRUNCATE is transactional in PostgreSQL: until our commit, other
            # sessions keep the old rows (or wait). Trade-off: it holds an ACCESS
            # EXCLUSIVE lock until commit, so readers of the target block for the
            # duration of the INSERT below instead of seeing the old rows.
            # DELETE would let them read on, but leaves every old row as a dead
            # tuple (bloat, a VACUUM to pay) and is far slower on big tables. A
            # table referenced by foreign keys cannot be truncated: that error
            # surfaces as is.
            cur.execute(f"TRUNCATE TABLE {target.quoted}")
        deferred = (defer_for_load(cur, target, mode, fresh=mode is WriteMode.OVERWRITE)[0]
                    if defer_indexes else None)
        cur.execute(sql)
        rows = max(int(cur.rowcount), 0)
        if deferred is not None:
            deferred.rebuild(cur)  # a duplicate key in the new rows surfaces here
    except psycopg2.Error as exc:
        raise _translate(cur, exc, source, target, columns, src_cols, casts, key) from None
    cur.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")

    try:
        pg.ledger_record(cur, target, run_id, rows)
    except psycopg2.errors.UniqueViolation as exc:
        if getattr(exc.diag, "constraint_name", None) != f"{pg.LEDGER_TABLE}_pkey":
            raise
        raise StateError(f"run {run_id} has already committed into {target}",
                         next_step="a run publishes once; start a new run to load again",
                         table=str(target), run_id=run_id) from None
    return rows


def _validate(target: TableRef, columns: Sequence[str], src_cols: Sequence[str],
              casts: Sequence[str] | None, mode: WriteMode, key: Sequence[str]) -> None:
    if not columns:
        raise ConfigError(f"{target}: nothing to publish, no columns given")
    if len(src_cols) != len(columns) or (casts is not None and len(casts) != len(columns)):
        raise ConfigError(f"{target}: columns, source columns and casts differ in length")
    if mode is WriteMode.UPSERT:
        if not key:
            raise ConfigError(f"{target}: mode upsert needs key columns", next_step="pass key=[...]")
        missing = [k for k in key if k not in columns]
        if missing:
            raise ConfigError(f"{target}: upsert key column(s) {', '.join(missing)} are not loaded",
                              next_step="the key must be columns of the DataFrame")


def _select_exprs(src_cols: Sequence[str], casts: Sequence[str] | None) -> list[str]:
    # Types come from format_type() or typemap.pg_type, never from user text, so
    # they are safe to splice in (format_type quotes names that need it).
    if casts is None:
        return [quote_ident(c) for c in src_cols]
    return [f"CAST({quote_ident(c)} AS {t})" for c, t in zip(src_cols, casts, strict=True)]


def _on_conflict(columns: Sequence[str], key: Sequence[str]) -> str:
    conflict = ", ".join(quote_ident(k) for k in key)
    others = [c for c in columns if c not in key]
    if not others:
        return f" ON CONFLICT ({conflict}) DO NOTHING"
    sets = ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in others)
    return f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"


def _check_duplicate_keys(cur: Any, source: str, target: TableRef, columns: Sequence[str],
                          src_cols: Sequence[str], casts: Sequence[str] | None, exprs: Sequence[str],
                          key: Sequence[str]) -> None:
    """ON CONFLICT cannot touch a row twice in one statement; say which key instead of
    PostgreSQL's "command cannot affect row a second time". Keys are compared after the
    cast, as the target will compare them. NULL keys never conflict, so they are skipped."""
    key_exprs = [exprs[list(columns).index(k)] for k in key]
    not_null = " AND ".join(f"{e} IS NOT NULL" for e in key_exprs)
    group = ", ".join(str(i + 1) for i in range(len(key_exprs)))
    cur.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        cur.execute(f"SELECT {', '.join(key_exprs)} FROM {source} WHERE {not_null} "
                    f"GROUP BY {group} HAVING count(*) > 1 LIMIT 1")
        dup = cur.fetchone()
    except psycopg2.Error as exc:
        raise _translate(cur, exc, source, target, columns, src_cols, casts, key) from None
    cur.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    if dup is not None:
        shown = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                          for k, v in zip(key, dup, strict=True))
        raise DataError(f"{target}: the source has more than one row with key ({shown}); "
                        f"upsert on ({', '.join(key)}) needs each key once",
                        next_step="deduplicate the DataFrame on the key (e.g. dropDuplicates) or fix the key",
                        table=str(target))


def _translate(cur: Any, exc: psycopg2.Error, source: str, target: TableRef, columns: Sequence[str],
               src_cols: Sequence[str], casts: Sequence[str] | None, key: Sequence[str]) -> Exception:
    if isinstance(exc, psycopg2.errors.InvalidColumnReference) and "ON CONFLICT" in str(exc):
        return SchemaMismatchError(
            f"{target}: upsert needs a unique index or primary key on ({', '.join(key)})",
            next_step=f"ALTER TABLE {target.quoted} ADD PRIMARY KEY ({', '.join(quote_ident(k) for k in key)})",
            table=str(target))
    if not pg.is_data_error(exc):
        return exc
    column = getattr(getattr(exc, "diag", None), "column_name", None)
    if not column and casts is not None:
        column = _failing_cast(cur, source, columns, src_cols, casts)
    return pg.data_error(exc, table=target, where=f"column {column!r}" if column else None)


def _failing_cast(cur: Any, source: str, columns: Sequence[str], src_cols: Sequence[str],
                  casts: Sequence[str]) -> str | None:
    """A cast error does not say which column it came from; try them one by one.

    Only runs on the failure path, one scan per column, each in the savepoint so
    the transaction stays usable until we have our answer."""
    try:
        cur.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
    except psycopg2.Error:
        return None
    for name, src, cast in zip(columns, src_cols, casts, strict=True):
        try:
            cur.execute(f"SELECT count(CAST({quote_ident(src)} AS {cast})) FROM {source}")
            cur.fetchone()
        except (psycopg2.DataError, psycopg2.IntegrityError):
            cur.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            return name
        except psycopg2.Error:
            cur.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
    return None
