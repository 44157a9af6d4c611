"""``on_error: reject``: load the good rows, set the rejected ones aside with the reason.

pgloader's idea, done inside the same one transaction as every other load:

1. fast path: the normal ``publish``; when nothing is rejected this is all that runs;
2. when PostgreSQL rejects a value, roll back to a savepoint, number the
   source rows once, and insert them in ranges that are split in halves
   whenever a range fails (bisection): with k bad rows among n, about
   k * log2(n) statements instead of n, and each bad row is isolated exactly;
3. each rejected row goes to ``<schema>.loader_rejects`` (run id, row number,
   where it came from, PostgreSQL's reason, the row as JSON text values);
4. more than ``max_errors`` rejections fail the run and roll everything back,
   the reject rows included: the error lists the first reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..adapters import pg, pg_errors
from ..errors import DataError
from ..naming import TableRef, quote_ident
from ..options import RejectPolicy
from .publish import check_duplicate_keys, publish, select_exprs
from .write_modes import WriteStrategy

REJECT_TABLE = "loader_rejects"
_MAX_REASONS = 5


def reject_table(target: TableRef) -> TableRef:
    return TableRef(target.schema, REJECT_TABLE)


def ensure_reject_table(cur: Any, target: TableRef) -> None:
    cur.execute(f"CREATE TABLE IF NOT EXISTS {reject_table(target).quoted} ("
                "run_id text NOT NULL, target text NOT NULL, row_number bigint NOT NULL, origin text, "
                "error text NOT NULL, row_data jsonb, rejected_at timestamptz NOT NULL DEFAULT now())")


def publish_rejecting(cur: Any, *, source: str, target: TableRef, columns: Sequence[str],
                      casts: Sequence[str] | None, write: WriteStrategy, run_id: str,
                      policy: RejectPolicy, source_columns: Sequence[str] | None = None,
                      origin_sql: str | None = None, order_sql: str | None = None) -> tuple[int, int]:
    """Like ``publish`` but rows PostgreSQL rejects are recorded instead of failing the run.
    Returns (rows moved, rows rejected). ``origin_sql`` (over the source) says where a row came from."""
    src_cols = list(source_columns) if source_columns is not None else list(columns)
    cur.execute("SAVEPOINT loader_reject_fast")
    try:
        moved = publish(cur, source=source, target=target, columns=columns, casts=casts, write=write,
                        run_id=run_id, source_columns=source_columns)
        cur.execute("RELEASE SAVEPOINT loader_reject_fast")
        return moved, 0
    except DataError:
        cur.execute("ROLLBACK TO SAVEPOINT loader_reject_fast")
    exprs = select_exprs(src_cols, casts)
    if write.merges:  # duplicates in the source are the run's error, not a row's
        check_duplicate_keys(cur, source, target, columns, src_cols, casts, exprs, write.key)
    numbered = quote_ident(f"loader_numbered_{run_id[:8]}")
    cur.execute(f"CREATE TEMP TABLE {numbered} ON COMMIT DROP AS SELECT "
                f"row_number() OVER (ORDER BY {order_sql or '(SELECT NULL)'}) AS loader_rn, "
                f"{origin_sql or 'NULL::text'} AS loader_origin, * FROM {source}")
    cur.execute(f"SELECT count(*) FROM {numbered}")
    total = int(cur.fetchone()[0])
    write.prepare(cur, target, created=False)
    ensure_reject_table(cur, target)
    insert = write.insert_sql(target, columns,
                              f"SELECT {', '.join(exprs)} FROM {numbered} WHERE loader_rn BETWEEN %s AND %s")
    row_json = "jsonb_build_object(" + ", ".join(
        f"{_lit(c)}, {quote_ident(s)}::text" for c, s in zip(columns, src_cols, strict=True)) + ")"
    bisect = _Bisect(cur, insert, numbered, row_json, target, run_id, policy)
    bisect.run(1, total)
    pg.ledger_record(cur, target, run_id, bisect.moved)
    return bisect.moved, bisect.rejected


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Bisect:
    def __init__(self, cur: Any, insert: str, numbered: str, row_json: str, target: TableRef, run_id: str,
                 policy: RejectPolicy) -> None:
        self.cur, self.insert, self.numbered, self.row_json = cur, insert, numbered, row_json
        self.target, self.run_id, self.policy = target, run_id, policy
        self.moved = 0
        self.rejected = 0
        self.reasons: list[str] = []

    def run(self, lo: int, hi: int) -> None:
        stack = [(lo, hi)]
        while stack:
            a, b = stack.pop()
            if a > b:
                continue
            try:
                with pg_errors.savepoint(self.cur, "loader_reject_range", table=self.target):
                    self.cur.execute(self.insert, (a, b))
                    self.moved += max(int(self.cur.rowcount), 0)
            except DataError as exc:
                if a == b:
                    self._reject(a, exc)
                else:
                    mid = (a + b) // 2
                    stack.extend([(mid + 1, b), (a, mid)])  # lower half first: rows keep their order

    def _reject(self, rn: int, exc: DataError) -> None:
        # only data errors get here: anything else (connection, permissions) fails the run as usual
        reason = exc.message
        self.rejected += 1
        self.cur.execute(
            f"INSERT INTO {reject_table(self.target).quoted} (run_id, target, row_number, origin, error, row_data) "
            f"SELECT %s, %s, loader_rn, loader_origin, %s, {self.row_json} FROM {self.numbered} "
            "WHERE loader_rn = %s", (self.run_id, str(self.target), reason, rn))
        if len(self.reasons) < _MAX_REASONS:
            self.cur.execute(f"SELECT loader_origin FROM {self.numbered} WHERE loader_rn = %s", (rn,))
            origin = self.cur.fetchone()[0]
            self.reasons.append(f"row {rn}{f' ({origin})' if origin else ''}: {reason}")
        limit = self.policy.max_errors
        if limit is not None and self.rejected > limit:
            raise DataError(f"{self.target}: more than max_errors={limit} rows rejected; first: "
                            + " | ".join(self.reasons),
                            next_step="fix the source or raise max_errors; nothing was loaded",
                            table=str(self.target), run_id=self.run_id)
