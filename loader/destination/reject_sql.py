"""The SQL of ``on_error: reject``'s detection passes, built without a server (unit-tested).

Each pass is one query over the numbered rows (see rejects.py) that yields ``(loader_rn, reason)``
for every row the target would refuse for one reason: a NULL into a NOT NULL column, a string
longer than its varchar(n), a CHECK that is false, a duplicate key, a missing foreign key. The
reasons are PostgreSQL's own words (the message it would raise, then its detail), prefixed with
the table as every ``DataError`` is.

The passes read ``typed``: the rows not rejected yet, with their values cast to the target's
types under the target's column names, so that a CHECK expression from ``pg_get_expr`` reads them
as the target would. ``OFFSET 0`` keeps the filter below the casts: without it the planner may push
a pass's condition down into the scan, and cast a row an earlier pass already set aside.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..naming import TableRef, quote_ident
from .publish import select_exprs

#: the column of the numbered table holding a row's reason once it is rejected (NULL: not rejected)
REASON = "loader_reject"
#: what ``typed`` and every pass call a row's number, whatever the numbered table calls it
ROW = "loader_rn"


def lit(text: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes are doubled)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Rows:
    """The numbered rows of one load: where they are, what they become in the target."""

    numbered: str  # quoted relation
    target: TableRef
    columns: tuple[str, ...]  # target column names
    src_cols: tuple[str, ...]  # their columns in ``numbered``
    casts: tuple[str, ...] | None  # target types (format_type), None: no casts
    row: str = ROW  # the column (bare SQL) that numbers the rows: unique, increasing, indexed
    origin: str = "NULL::text"  # where a row came from, an expression over one row of ``numbered``

    def exprs(self) -> list[str]:
        return select_exprs(self.src_cols, self.casts)

    def pending(self, extra: str = "") -> str:
        """Rows not rejected yet (``extra``: one more condition, e.g. a range)."""
        return f"{REASON} IS NULL" + (f" AND {extra}" if extra else "")

    def typed(self) -> str:
        cols = ", ".join(f"{e} AS {quote_ident(c)}" for e, c in zip(self.exprs(), self.columns, strict=True))
        return f"(SELECT {self.row} AS {ROW}, {cols} FROM {self.numbered} WHERE {self.pending()} OFFSET 0) AS typed"

    def between(self, lo: int, hi: int) -> str:
        return f"{self.row} BETWEEN {int(lo)} AND {int(hi)}"

    def reason(self, message_sql: str) -> str:
        """``message_sql`` (a text expression) as a reject reason, prefixed like a DataError."""
        return f"{lit(f'{self.target}: ')} || {message_sql}"


def values(columns: Sequence[str], qualifier: str = "") -> str:
    """``a, b`` as PostgreSQL prints a key in a detail: each value as text, NULL as null."""
    return " || ', ' || ".join(f"coalesce({qualifier}{quote_ident(c)}::text, 'null')" for c in columns)


def key_detail(columns: Sequence[str], tail: str, qualifier: str = "") -> str:
    """PostgreSQL's ``Key (a, b)=(1, 2) <tail>`` detail as a text expression."""
    names = ", ".join(columns)  # PostgreSQL prints the names unquoted too
    return f"{lit(f'Key ({names})=(')} || {values(columns, qualifier)} || {lit(f') {tail}')}"


#: one condition a row may break and the reason (a text expression) when it does
Case = tuple[str, str]


def first_of(rows: Rows, cases: Sequence[Case]) -> str:
    """One pass over ``typed`` for several conditions: the reason of the first that holds, as
    PostgreSQL too stops at the first thing wrong with a row."""
    whens = " ".join(f"WHEN {cond} THEN {reason}" for cond, reason in cases)
    where = " OR ".join(f"({cond})" for cond, _ in cases)
    return f"SELECT {ROW}, CASE {whens} END FROM {rows.typed()} WHERE {where}"


def not_null(rows: Rows, columns: Sequence[str]) -> list[Case]:
    table = rows.target.table
    return [(f"{quote_ident(c)} IS NULL",
             rows.reason(lit(f'null value in column "{c}" of relation "{table}" violates not-null constraint'
                             f"; column {c}")))
            for c in columns]


_LENGTH = re.compile(r"^(character varying|character)\((\d+)\)$")


def length_limit(pg_type: str) -> int | None:
    """``character varying(3)`` -> 3: a type whose explicit cast would cut a longer value silently
    (PostgreSQL's rule for varchar(n)/char(n)), where storing it raises."""
    m = _LENGTH.match(pg_type)
    return int(m.group(2)) if m else None


def too_long(rows: Rows, limits: Sequence[tuple[str, str, int]]) -> list[Case]:
    """``limits``: (column, type, length). PostgreSQL cuts trailing spaces beyond the limit silently
    and refuses anything else there, so a value is too long when it is longer than the limit
    without its trailing spaces."""
    return [(f"char_length(rtrim({quote_ident(c)}::text, ' ')) > {n}",
             rows.reason(lit(f"value too long for type {t}; column {c}")))
            for c, t, n in limits]


def check(rows: Rows, name: str, expr: str, columns: Sequence[str]) -> Case:
    """A CHECK refuses a row when it is false (NULL passes). The reason adds the values it read."""
    msg = f'new row for relation "{rows.target.table}" violates check constraint "{name}"; '
    detail = f"{lit(msg)} || {lit('(' + ', '.join(columns) + ')=(')} || {values(columns)} || ')'"
    return f"({expr}) IS FALSE", rows.reason(detail)


def input_invalid(rows: Rows, columns: Sequence[tuple[str, str, str]]) -> str:
    """PostgreSQL 16+: the text values a type's input function refuses, with its message, found
    without raising (``pg_input_is_valid``). ``columns``: (column, source column, type); only for
    text sources, where CAST is that input function. NULLs pass (the functions are strict)."""
    cases = []
    for col, src, pg_type in columns:
        value, t = quote_ident(src), lit(pg_type)
        message = f"(pg_input_error_info({value}, {t})).message || {lit(f'; column {col}')}"
        cases.append((f"NOT pg_input_is_valid({value}, {t})", rows.reason(message)))
    whens = " ".join(f"WHEN {cond} THEN {reason}" for cond, reason in cases)
    where = " OR ".join(f"({cond})" for cond, _ in cases)
    return f"SELECT {rows.row}, CASE {whens} END FROM {rows.numbered} WHERE {rows.pending(f'({where})')}"


def _msg_unique(name: str) -> str:
    return lit(f'duplicate key value violates unique constraint "{name}"; ')


def duplicate_in_source(rows: Rows, name: str, key: Sequence[str]) -> str:
    """Rows whose key an earlier row of the load has: the first one of each key is inserted, the
    later ones would collide with it (NULLs never collide)."""
    cols = ", ".join(quote_ident(k) for k in key)
    not_null_key = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in key)
    detail = key_detail(key, "already exists.")
    return (f"SELECT {ROW}, {rows.reason(f'{_msg_unique(name)} || {detail}')} FROM ("
            f"SELECT {ROW}, {cols}, row_number() OVER (PARTITION BY {cols} ORDER BY {ROW}) AS loader_nth "
            f"FROM {rows.typed()} WHERE {not_null_key}) AS keyed WHERE loader_nth > 1")


def duplicate_of_existing(rows: Rows, name: str, key: Sequence[str]) -> str:
    """Rows whose key the target already holds."""
    match = " AND ".join(f"t.{quote_ident(k)} = typed.{quote_ident(k)}" for k in key)
    detail = key_detail(key, "already exists.", "typed.")
    return (f"SELECT {ROW}, {rows.reason(f'{_msg_unique(name)} || {detail}')} FROM {rows.typed()} "
            f"WHERE EXISTS (SELECT 1 FROM {rows.target.quoted} t WHERE {match})")


def missing_reference(rows: Rows, name: str, key: Sequence[str], ref_table: str, ref_name: str,
                      ref_key: Sequence[str]) -> str:
    """MATCH SIMPLE: a key with a NULL in it is not checked; any other must exist in ``ref_table``
    (a quoted relation; ``ref_name`` is how PostgreSQL names it in the detail)."""
    match = " AND ".join(f"r.{quote_ident(rk)} = typed.{quote_ident(k)}" for k, rk in zip(key, ref_key, strict=True))
    not_null_key = " AND ".join(f"typed.{quote_ident(k)} IS NOT NULL" for k in key)
    msg = lit(f'insert or update on table "{rows.target.table}" violates foreign key constraint "{name}"; ')
    detail = key_detail(key, f'is not present in table "{ref_name}".', "typed.")
    return (f"SELECT {ROW}, {rows.reason(f'{msg} || {detail}')} FROM {rows.typed()} "
            f"WHERE {not_null_key} AND NOT EXISTS (SELECT 1 FROM {ref_table} r WHERE {match})")


def flag(rows: Rows, found_sql: str) -> str:
    """Record the reasons a pass found (the first reason of a row wins: passes skip rejected rows)."""
    return (f"UPDATE {rows.numbered} n SET {REASON} = found.reason FROM ({found_sql}) AS found ({ROW}, reason) "
            f"WHERE n.{rows.row} = found.{ROW} AND n.{REASON} IS NULL")


def pending_select(rows: Rows, lo: int | None = None, hi: int | None = None) -> str:
    """The rows still to insert, cast (``lo``..``hi``: only those row numbers)."""
    where = rows.pending(rows.between(lo, hi) if lo is not None and hi is not None else "")
    return f"SELECT {', '.join(rows.exprs())} FROM {rows.numbered} WHERE {where}"


def casts_fail(rows: Rows, exprs: Sequence[str], lo: int, hi: int) -> str:
    """Evaluates ``exprs`` (casts) over rows ``lo``..``hi`` and returns nothing: it fails when a
    cast does. count() of a ROW makes every cast run (a plain count(*) would skip them)."""
    return (f"SELECT count(ROW({', '.join(exprs)})) FROM {rows.numbered} "
            f"WHERE {rows.pending(rows.between(lo, hi))}")
