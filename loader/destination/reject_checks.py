"""``on_error: reject``'s detection passes: the rows the target would refuse, found by a few
queries over all the rows instead of by inserting ranges of them (reject_sql.py has the SQL).

In the order PostgreSQL meets them while inserting a row: the casts (``pg_input_is_valid`` on
PostgreSQL 16+ for text values; otherwise, and for other source types, a scan that is bisected
only when it fails), varchar(n)/char(n) lengths, NOT NULL, the CHECK constraints (by name, as
PostgreSQL orders them), unique keys (within the load, then against the rows the target holds),
foreign keys. Each pass skips the rows an earlier one set aside.

What a pass cannot read exactly is left to the one INSERT that follows (and its bisection when it
fails): CHECKs on columns the load does not fill, unique indexes on expressions, partial or
deferrable ones or with NULLS NOT DISTINCT, self-referencing, MATCH FULL or deferrable foreign
keys, triggers, exclusion constraints. A pass that fails itself (a CHECK that raises for some
row) is skipped for the same reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..adapters import pg_errors
from ..errors import DataError, LoaderError
from ..naming import TableRef
from . import reject_sql as sql
from .bisect import Bisection
from .publish import cast_type, check_duplicate_keys
from .write_modes import WriteStrategy

log = logging.getLogger("loader")


@dataclass(frozen=True)
class ForeignKey:
    name: str
    key: tuple[str, ...]
    ref_table: str  # regclass text: quoted as needed, schema-qualified unless on the search path
    ref_name: str  # how PostgreSQL names it in its detail: the bare table name
    ref_key: tuple[str, ...]


@dataclass(frozen=True)
class Constraints:
    """What the target checks, limited to what the passes can evaluate exactly for this load."""

    not_null: tuple[str, ...] = ()
    checks: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # name, expression, columns it reads
    uniques: tuple[tuple[str, tuple[str, ...]], ...] = ()  # index name, key columns
    foreign_keys: tuple[ForeignKey, ...] = field(default=())


_NAMES = ("SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest({arr}) WITH ORDINALITY k(num, ord) "
          "JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num")


def read_constraints(cur: Any, target: TableRef, loaded: Sequence[str], version: int) -> Constraints:
    oid = target.quoted
    cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attnotnull ORDER BY attnum", (oid,))
    not_null = tuple(r[0] for r in cur.fetchall() if r[0] in loaded)
    cur.execute("SELECT conname, pg_get_expr(conbin, conrelid), (" + _NAMES.format(arr="conkey", rel="conrelid")
                + ") FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' ORDER BY conname", (oid,))
    checks = tuple((n, e, tuple(cols)) for n, e, cols in cur.fetchall() if cols and set(cols) <= set(loaded))
    nulls_distinct = "AND NOT i.indnullsnotdistinct" if version >= 150000 else ""
    cur.execute("SELECT c.relname, (" + _NAMES.format(arr="i.indkey[0:i.indnkeyatts - 1]", rel="i.indrelid")
                + ") FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass "
                "AND i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL "
                f"{nulls_distinct} ORDER BY c.relname", (oid,))
    uniques = tuple((n, tuple(cols)) for n, cols in cur.fetchall() if cols and set(cols) <= set(loaded))
    cur.execute("SELECT conname, confrelid::regclass::text, r.relname, ("
                + _NAMES.format(arr="conkey", rel="conrelid") + "), ("
                + _NAMES.format(arr="confkey", rel="confrelid") + ") FROM pg_constraint "
                "JOIN pg_class r ON r.oid = confrelid WHERE conrelid = %s::regclass AND contype = 'f' "
                "AND NOT condeferrable AND confmatchtype <> 'f' AND confrelid <> conrelid ORDER BY conname", (oid,))
    fks = tuple(ForeignKey(n, tuple(k), t, rn, tuple(rk)) for n, t, rn, k, rk in cur.fetchall()
                if set(k) <= set(loaded))
    return Constraints(not_null, checks, uniques, fks)


def server_version(cur: Any) -> int:
    cur.execute("SELECT current_setting('server_version_num')::int")
    return int(cur.fetchone()[0])


def run_passes(cur: Any, rows: sql.Rows, flag: Callable[[str], bool], flag_row: Callable[[int, str], None],
               write: WriteStrategy) -> dict[str, Callable[[], None]]:
    """Mark the rows the target would refuse: the passes that cost one scan each, now. Returns the
    passes that cost a join or a sort (unique keys, foreign keys) by the SQLSTATE that calls for
    them, for the caller to run only when the INSERT fails with it. ``flag(found_sql)`` records a
    pass's findings (False: the pass failed and was skipped), ``flag_row`` one row's; either
    raises when max_errors is passed."""
    version = server_version(cur)
    _cast_pass(cur, rows, flag, flag_row, version)
    cons = read_constraints(cur, rows.target, rows.columns, version)
    # the order PostgreSQL checks a row in: its values (lengths), NOT NULL, the CHECKs by name
    cases = sql.too_long(rows, _limits(rows)) + sql.not_null(rows, cons.not_null) + [
        sql.check(rows, name, expr, cols) for name, expr, cols in cons.checks]
    # one scan for them all; when that fails (a CHECK that raises for some row), one scan each,
    # so that only the one that raises is left to the INSERT
    if cases and not flag(sql.first_of(rows, cases)):
        for case in cases:
            flag(sql.first_of(rows, [case]))
    if write.needs_unique_key:
        # upsert: a key twice in the source is the run's error (ON CONFLICT cannot take it), and
        # keys the target holds are updates, not conflicts
        pending = f"(SELECT * FROM {rows.numbered} WHERE {rows.pending()} OFFSET 0) AS pending"
        check_duplicate_keys(cur, pending, rows.target, rows.columns, rows.src_cols, rows.casts, rows.exprs(),
                             write.key)

    def uniques() -> None:
        for name, key in cons.uniques:
            flag(sql.duplicate_in_source(rows, name, key))
            flag(sql.duplicate_of_existing(rows, name, key))

    def foreign_keys() -> None:
        for fk in cons.foreign_keys:
            flag(sql.missing_reference(rows, fk.name, fk.key, fk.ref_table, fk.ref_name, fk.ref_key))

    lazy = {pg_errors.FOREIGN_KEY_VIOLATION: foreign_keys}
    if not write.needs_unique_key:
        lazy[pg_errors.UNIQUE_VIOLATION] = uniques
    return lazy


def _limits(rows: sql.Rows) -> list[tuple[str, str, int]]:
    if rows.casts is None:
        return []
    return [(c, t, n) for c, t in zip(rows.columns, rows.casts, strict=True) if (n := sql.length_limit(t)) is not None]


def _cast_pass(cur: Any, rows: sql.Rows, flag: Callable[[str], bool], flag_row: Callable[[int, str], None],
               version: int) -> None:
    if rows.casts is None:
        return
    cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0", (rows.numbered,))
    src_types = dict(cur.fetchall())
    todo = []  # (column, source column, cast type) whose cast may fail
    for col, src, target_type in zip(rows.columns, rows.src_cols, rows.casts, strict=True):
        to = cast_type(target_type)
        if src_types.get(src) != to:
            todo.append((col, src, to))
    if version >= 160000:
        text = [t for t in todo if src_types.get(t[1]) == "text"]
        if text:
            flag(sql.input_invalid(rows, text))
        todo = [t for t in todo if t not in text]
    if not todo:
        return
    exprs = [f"CAST({sql.quote_ident(src)} AS {to})" for _, src, to in todo]

    def bad(rn: int, exc: DataError) -> None:
        flag_row(rn, _with_column(cur, rows, todo, rn, exc.message))

    lo, hi = row_range(cur, rows)
    Bisection(cur, rows.target, lambda a, b: sql.casts_fail(rows, exprs, a, b), bad).run(lo, hi)


def row_range(cur: Any, rows: sql.Rows) -> tuple[int, int]:
    cur.execute(f"SELECT coalesce(min({rows.row}), 1), coalesce(max({rows.row}), 0) FROM {rows.numbered}")
    lo, hi = cur.fetchone()
    return int(lo), int(hi)


def _with_column(cur: Any, rows: sql.Rows, todo: Sequence[tuple[str, str, str]], rn: int, message: str) -> str:
    """A cast error does not say which column it came from: try this row's casts one by one."""
    for col, src, to in todo:
        try:
            with pg_errors.savepoint(cur, "loader_reject_column", table=rows.target):
                cur.execute(sql.casts_fail(rows, [f"CAST({sql.quote_ident(src)} AS {to})"], rn, rn))
        except LoaderError:
            return f"{message}; column {col}"
    return message
