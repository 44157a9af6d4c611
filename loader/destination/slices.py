"""Replacing one slice of a shared table: the SQL of ``replace_where`` and ``replace_by``.

In the load transaction, after the rows have landed in the load's own relation (COPY's TEMP
table, JDBC's staging table) and before they go into the target:

* ``replace_where``: every incoming row must satisfy the predicate (a row outside it fails
  the load naming it, as Delta Lake's ``replaceWhere`` does); then ``DELETE ... WHERE (pred)``;
* ``replace_by``: the distinct slice values of the incoming rows (one pass over the load's own
  relation, never a second read of the source) into a TEMP table, then one ``DELETE`` of the
  target rows whose columns are ``IN`` those values. NULL is a slice of its own: rows whose
  slice column is NULL are replaced only by a load that brings rows with NULL there (matched
  with ``IS NULL``, not ``=``, which never matches NULL).

DELETE and INSERT take row locks only (ROW EXCLUSIVE on the table), so readers of every
slice, the one being replaced included, read the old rows until COMMIT. Two loads of the same
slice exclude each other with a transaction advisory lock per (table, slice) (``lock_slices``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..adapters import pg_errors
from ..errors import ConfigError, DataError, LockHeldError, TargetError
from ..naming import TableRef, quote_ident

#: first key of the (table, slice) advisory locks, apart from the per-table ones
SLICE_LOCK_NAMESPACE = 0x10AE
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
#: what a subquery or another table needs (WITH and FROM are left alone: "timestamp with time zone",
#: "extract(year from d)"; a CTE needs SELECT anyway)
_SUBQUERY_WORDS = re.compile(r"\b(select|values|table)\b", re.IGNORECASE)


def predicate_problem(predicate: str) -> str | None:
    """Why ``predicate`` is not a plain boolean expression over the target's columns, or None.
    Checked without a server (manifest validation) and again by the server (``validate``)."""
    if not predicate.strip():
        return "replace_where is empty (a whole-table replace that readers do not wait for is 'true')"
    if "\\" in predicate:  # E'...' escapes would let a quote hide from the scan below
        return "replace_where may not contain a backslash"
    outside = _LITERAL.sub(" _ ", predicate)  # what is outside string literals and quoted names
    if "'" in outside or '"' in outside:
        return "replace_where has an unterminated quote"
    for bad, what in ((";", "';'"), ("--", "a comment"), ("/*", "a comment"),
                      ("$", "'$' (dollar quoting, parameters)")):
        if bad in outside:
            return f"replace_where may not contain {what}: it is one boolean expression over the table's columns"
    word = _SUBQUERY_WORDS.search(outside)
    if word:
        return (f"replace_where may not contain {word.group(1).upper()}: no subqueries or other tables, only "
                "the target's own columns")
    depth = 0
    for ch in outside:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        return "replace_where has unbalanced parentheses"
    return None


def incoming(source: str, target: TableRef, columns: Sequence[str], exprs: Sequence[str]) -> str:
    """The load's rows as a derived table with the target's name and column names, values cast to
    the target's types: a predicate written for the target reads them as it reads the target."""
    cols = ", ".join(f"{e} AS {quote_ident(c)}" for c, e in zip(columns, exprs, strict=True))
    return f"(SELECT {cols} FROM {source}) AS {quote_ident(target.table)}"


def validate(cur: Any, target: TableRef, predicate: str, *, count: bool = False) -> int | None:
    """Let the server check the predicate against the table before any data moves (a boolean,
    over columns that exist). ``count``: also say how many rows it matches (what it would delete;
    one scan, for ``--dry-run``). Runs under a savepoint: the caller's transaction stays usable."""
    problem = predicate_problem(predicate)
    if problem:
        raise ConfigError(problem, next_step="write replace_where as SQL over the table's columns, e.g. "
                                             "dataset = 'conservation-area'", table=str(target))
    sql = f"SELECT count(*) FROM {target.quoted} WHERE ({predicate})"
    try:
        with pg_errors.savepoint(cur, "loader_predicate", table=target):
            cur.execute(sql if count else f"EXPLAIN {sql}")
            rows = cur.fetchall()
    except TargetError as exc:
        raise ConfigError(f"replace_where ({predicate}) does not work on {target}: {exc.message}",
                          next_step="write it as a boolean expression over the table's columns",
                          table=str(target)) from None
    return int(rows[0][0]) if count else None


def check_inside(cur: Any, target: TableRef, predicate: str, rows: str, shown: Sequence[str]) -> None:
    """Refuse the load if an incoming row (``rows``, from ``incoming``) does not satisfy the
    predicate: it would land outside the slice it replaces. Names the first such row."""
    cols = ", ".join(quote_ident(c) for c in shown)
    with pg_errors.translated(table=target, during="the replace_where check"):
        cur.execute(f"SELECT {cols} FROM {rows} WHERE ({predicate}) IS NOT TRUE LIMIT 1")
        row = cur.fetchone()
    if row is not None:
        named = ", ".join(f"{c}={v!r}" for c, v in zip(shown, row, strict=True))
        raise DataError(f"{target}: a loaded row ({named}) does not satisfy replace_where ({predicate}); "
                        "every row must be inside the slice it replaces, nothing was changed",
                        next_step="filter the source to the slice, or widen replace_where", table=str(target))


def delete_where(cur: Any, target: TableRef, predicate: str) -> int:
    with pg_errors.translated(table=target, during="the replace_where DELETE"):
        cur.execute(f"DELETE FROM {target.quoted} WHERE ({predicate})")
    return max(int(cur.rowcount), 0)


def slices_of(cur: Any, rows: str, by: Sequence[str]) -> tuple[str, list[tuple[Any, ...]]]:
    """The distinct slice values of the incoming rows, in a TEMP table of this transaction
    (returned with its rows: a load brings few slices)."""
    table = "loader_slices"
    cols = ", ".join(quote_ident(c) for c in by)
    cur.execute(f"CREATE TEMP TABLE {table} ON COMMIT DROP AS SELECT DISTINCT {cols} FROM {rows}")
    cur.execute(f"SELECT {cols} FROM {table}")
    return table, list(cur.fetchall())


def delete_by(cur: Any, target: TableRef, by: Sequence[str], slices: str, values: list[tuple[Any, ...]]) -> int:
    """Delete the target's rows of every slice in ``slices``: one ``IN`` for the slices without a
    NULL (an index on the columns serves it), one join matching NULL as NULL for the others."""
    cols = ", ".join(quote_ident(c) for c in by)
    none_null = " AND ".join(f"{quote_ident(c)} IS NOT NULL" for c in by)
    deleted = 0
    with pg_errors.translated(table=target, during="the replace_by DELETE"):
        cur.execute(f"DELETE FROM {target.quoted} WHERE ({cols}) IN (SELECT {cols} FROM {slices} "
                    f"WHERE {none_null})")
        deleted += max(int(cur.rowcount), 0)
        if any(v is None for row in values for v in row):
            t, s = quote_ident("loader_t"), quote_ident("loader_s")
            same = " AND ".join(f"{t}.{quote_ident(c)} IS NOT DISTINCT FROM {s}.{quote_ident(c)}" for c in by)
            cur.execute(f"DELETE FROM {target.quoted} AS {t} USING {slices} AS {s} WHERE {same} "
                        f"AND NOT ({' AND '.join(f'{s}.{quote_ident(c)} IS NOT NULL' for c in by)})")
            deleted += max(int(cur.rowcount), 0)
    return deleted


def lock_slices(cur: Any, target: TableRef, slices: Sequence[str], *, wait: bool) -> None:
    """Take a transaction advisory lock per (table, slice): two loads of one slice exclude each
    other (``wait``: the second waits), loads of different slices do not. Released at COMMIT."""
    for text in sorted(set(slices)):
        key = (SLICE_LOCK_NAMESPACE, f"{target.schema}.{target.table}|{text}")
        if wait:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", key)
            continue
        cur.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", key)
        if not cur.fetchone()[0]:
            raise LockHeldError(f"slice {text} of {target} is being replaced by another load",
                                next_step="wait for it to finish, or run again with --wait", table=str(target))


def slice_text(values: tuple[Any, ...]) -> str:
    """A slice's identity for its lock: its values as text, NULL apart from the string 'NULL'."""
    return "|".join("\\N" if v is None else repr(str(v)) for v in values)


def normalized(predicate: str) -> str:
    """The predicate's identity for its lock: whitespace and case outside literals folded."""
    parts, last = [], 0
    for m in _LITERAL.finditer(predicate):
        parts.append(" ".join(predicate[last:m.start()].lower().split()))
        parts.append(m.group(0))
        last = m.end()
    parts.append(" ".join(predicate[last:].lower().split()))
    return "".join(parts).strip()
