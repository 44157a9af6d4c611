"""``on_error: reject``: load the good rows, set the rejected ones aside with the reason.

pgloader's idea, done inside the same one transaction as every other load:

1. fast path: the normal ``publish``; when nothing is rejected this is all that runs;
2. when PostgreSQL rejects a value, roll back to a savepoint and number the source rows once
   (a TEMP table with a primary key on the row number);
3. find the bad rows in passes over all of them (reject_checks.py: casts, NOT NULL, varchar
   length, CHECK, unique keys, foreign keys), each one query, and mark them with their reason;
4. insert every other row with one statement. Should that still fail (a trigger, an exclusion
   constraint: what no pass predicts), insert in chunks under savepoints and halve a failing
   chunk down to the row (bisection; each range an index scan on the row number);
5. each rejected row goes to ``<ledger schema>.loader_rejects`` (``target.ledger_schema``, else the
   target's schema) (run id, row number, where it came
   from, PostgreSQL's reason, the row as JSON text values);
6. more than ``max_errors`` rejections fail the run and roll everything back, the reject rows
   included: the error lists the first reasons.

Why the passes before any bisection: bisection alone is some 35x slower than a clean publish
(bench/README.md, 300,000 rows with 40 that break a CHECK).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..adapters import pg_errors
from ..errors import DataError, TargetError
from ..naming import TableRef, loader_schema, quote_ident
from ..options import RejectPolicy
from . import reject_sql as sql
from .bisect import Bisection
from .publish import publish, select_exprs
from .reject_checks import row_range, run_passes
from .slices import incoming
from .write_modes import WriteStrategy

log = logging.getLogger("loader")

REJECT_TABLE = "loader_rejects"
_MAX_REASONS = 5


def reject_table(schema: str) -> TableRef:
    """The rejects table of the ledger schema ``schema`` (naming.loader_schema)."""
    return TableRef(schema, REJECT_TABLE)


def ensure_reject_table(cur: Any, schema: str) -> None:
    # looked at first: CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the table
    # exists, and a role with INSERT on an existing loader_rejects must not need it
    cur.execute("SELECT to_regclass(%s) IS NULL", (reject_table(schema).quoted,))
    if cur.fetchone()[0]:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {reject_table(schema).quoted} ("
                    "run_id text NOT NULL, target text NOT NULL, row_number bigint NOT NULL, origin text, "
                    "error text NOT NULL, row_data jsonb, rejected_at timestamptz NOT NULL DEFAULT now())")


def record_source_rejects(cur: Any, schema: str, target: TableRef, run_id: str,
                          rejects: Sequence[tuple[int | None, str, str, str]]) -> None:
    """Records the source's reader could not read (runner/guards.py): (line, origin, reason, raw
    text) each, ``row_data`` holding the raw text as ``{"raw_line": ...}``; a line not known is 0."""
    ensure_reject_table(cur, schema)
    cur.executemany(f"INSERT INTO {reject_table(schema).quoted} (run_id, target, row_number, origin, error, row_data) "
                    "VALUES (%s, %s, %s, %s, %s, jsonb_build_object('raw_line', %s::text))",
                    [(run_id, str(target), line or 0, origin, reason, raw) for line, origin, reason, raw in rejects])


def publish_rejecting(cur: Any, *, source: str, target: TableRef, columns: Sequence[str],
                      casts: Sequence[str] | None, write: WriteStrategy, run_id: str,
                      policy: RejectPolicy, created: bool = False,
                      before_insert: Callable[[str], None] | None = None, source_columns: Sequence[str] | None = None,
                      origin_sql: str | None = None, row_column: str | None = None,
                      ledger_schema: str | None = None) -> tuple[int, int]:
    """Like ``publish`` but rows PostgreSQL rejects are recorded instead of failing the run.
    Returns (rows moved, rows rejected). ``origin_sql`` (over the source) says where a row came from.

    ``row_column``: the source is this load's own TEMP table and that column numbers its rows
    (unique, increasing): the rows are marked where they are, and ``origin_sql`` is evaluated for
    the rejected rows only. Without it they are numbered into a TEMP copy (``origin_sql`` may then
    read the source's ``ctid``). ``before_insert`` runs right before the rows go in, with the rows
    that will (as ``slices.incoming``): a slice replace deletes its slice there. The rejected rows go
    to ``loader_rejects`` in ``ledger_schema`` (None: the target's schema)."""
    src_cols = tuple(source_columns) if source_columns is not None else tuple(columns)
    cur.execute("SAVEPOINT loader_reject_fast")
    try:
        if before_insert is not None:
            before_insert(incoming(source, target, columns, select_exprs(src_cols, casts)))
        moved = publish(cur, source=source, target=target, columns=columns, casts=casts, write=write,
                        created=created, source_columns=source_columns, explain=False)
        cur.execute("RELEASE SAVEPOINT loader_reject_fast")
        return moved, 0
    except DataError:
        cur.execute("ROLLBACK TO SAVEPOINT loader_reject_fast")
    rows = _number(cur, source, target, columns, src_cols, casts, run_id, origin_sql, row_column)
    write.prepare(cur, target, created=created)
    rejections = Rejections(cur, rows, run_id, policy, loader_schema(target, ledger_schema))
    lazy = run_passes(cur, rows, rejections.flag_found, rejections.flag_row, write)

    if before_insert is not None:
        before_insert(incoming(f"{rows.numbered} WHERE {rows.pending()}", target, columns, rows.exprs()))

    def insert(lo: int | None = None, hi: int | None = None) -> str:
        return write.insert_sql(target, columns, sql.pending_select(rows, lo, hi))

    while True:
        try:
            with pg_errors.savepoint(cur, "loader_reject_all", table=target):
                cur.execute(insert())
                moved = max(int(cur.rowcount), 0)
            break
        except DataError as exc:
            more = lazy.pop(str(exc.ids.get("sqlstate")), None)
            if more is not None:  # a duplicate or a missing reference: look for all of them, then again
                more()
                continue
            # something no pass predicts (a trigger, an exclusion constraint): row by row, in chunks
            lo, hi = row_range(cur, rows)
            moved = Bisection(cur, target, insert, lambda rn, e: rejections.flag_row(rn, e.message)).run(
                lo, hi, failed=True)
            break
    rejections.record()
    return moved, rejections.count


def _number(cur: Any, source: str, target: TableRef, columns: Sequence[str], src_cols: tuple[str, ...],
            casts: Sequence[str] | None, run_id: str, origin_sql: str | None, row_column: str | None) -> sql.Rows:
    """The rows with a number each, indexed (the passes update rows by number, the bisection reads
    ranges of them) and a column for their reason."""
    kept = tuple(casts) if casts is not None else None
    if row_column is not None:
        # adding a NULL column rewrites nothing; the index is the only cost (ARCHITECTURE.md,
        # "on_error: reject": numbering a copy by a sort costs several times the index)
        cur.execute(f"ALTER TABLE {source} ADD COLUMN {sql.REASON} text")
        cur.execute(f"CREATE UNIQUE INDEX ON {source} ({quote_ident(row_column)})")
        return sql.Rows(source, target, tuple(columns), src_cols, kept, row=quote_ident(row_column),
                        origin=origin_sql or "NULL::text")
    numbered = quote_ident(f"loader_numbered_{run_id[:8]}")
    cur.execute(f"CREATE TEMP TABLE {numbered} ON COMMIT DROP AS SELECT row_number() OVER () AS {sql.ROW}, "
                f"{origin_sql or 'NULL::text'} AS loader_origin, NULL::text AS {sql.REASON}, * FROM {source}")
    cur.execute(f"ALTER TABLE {numbered} ADD PRIMARY KEY ({sql.ROW})")
    return sql.Rows(numbered, target, tuple(columns), src_cols, kept, origin="loader_origin")


class Rejections:
    """The rows set aside so far (their reason is in the numbered table) and the max_errors rule."""

    def __init__(self, cur: Any, rows: sql.Rows, run_id: str, policy: RejectPolicy, schema: str) -> None:
        self.cur, self.rows, self.run_id, self.policy = cur, rows, run_id, policy
        #: where loader_rejects is (the ledger schema)
        self.schema = schema
        self.count = 0

    def flag_found(self, found_sql: str) -> bool:
        """Mark the rows a pass found. A pass that fails itself (a CHECK that raises for a row, an
        operator missing between a key and its reference) is skipped: what it would have found,
        the INSERT meets and the bisection isolates."""
        try:
            with pg_errors.savepoint(self.cur, "loader_reject_pass", table=self.rows.target):
                self.cur.execute(sql.flag(self.rows, found_sql))
                found = max(int(self.cur.rowcount), 0)
        except (DataError, TargetError) as exc:
            log.debug("%s: a reject pass was skipped: %s", self.rows.target, exc.message)
            return False
        self.count += found
        self._check_limit()
        return True

    def flag_row(self, rn: int, reason: str) -> None:
        # only data errors get here: anything else (connection, permissions) fails the run as usual
        self.cur.execute(f"UPDATE {self.rows.numbered} SET {sql.REASON} = {sql.lit(reason)} "
                         f"WHERE {self.rows.row} = {int(rn)} AND {sql.REASON} IS NULL")
        self.count += max(int(self.cur.rowcount), 0)
        self._check_limit()

    def _check_limit(self) -> None:
        limit = self.policy.max_errors
        if limit is None or self.count <= limit:
            return
        rows = self.rows
        self.cur.execute(f"SELECT {rows.row}, {rows.origin}, {sql.REASON} FROM {rows.numbered} "
                         f"WHERE {sql.REASON} IS NOT NULL ORDER BY {rows.row} LIMIT {_MAX_REASONS}")
        reasons = [f"row {rn}{f' ({origin})' if origin else ''}: {reason}" for rn, origin, reason in self.cur.fetchall()]
        target = self.rows.target
        raise DataError(f"{target}: more than max_errors={limit} rows rejected; first: " + " | ".join(reasons),
                        next_step="fix the source or raise max_errors; nothing was loaded",
                        table=str(target), run_id=self.run_id)

    def record(self) -> None:
        rows = self.rows
        ensure_reject_table(self.cur, self.schema)
        pairs = [f"{sql.lit(c)}, {quote_ident(s)}::text" for c, s in zip(rows.columns, rows.src_cols, strict=True)]
        # a function takes at most 100 arguments: 50 columns per jsonb_build_object
        row_json = " || ".join(f"jsonb_build_object({', '.join(pairs[i:i + 50])})" for i in range(0, len(pairs), 50))
        self.cur.execute(
            f"INSERT INTO {reject_table(self.schema).quoted} (run_id, target, row_number, origin, error, row_data) "
            f"SELECT {sql.lit(self.run_id)}, {sql.lit(str(rows.target))}, {rows.row}, {rows.origin}, {sql.REASON}, "
            f"{row_json} FROM {rows.numbered} WHERE {sql.REASON} IS NOT NULL ORDER BY {rows.row}")
