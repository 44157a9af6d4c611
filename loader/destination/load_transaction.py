"""The one transaction of every load, whatever the method: all or nothing.

    begin    (the ledger table, committed apart, if missing) create the table (a new target),
             add planned columns (schema_evolution)
    open     the write strategy's prepare (overwrite: DELETE under MVCC, or TRUNCATE) and index deferral, once
    rows     the method's own: COPY parts straight into the target, or into a TEMP table,
             or Spark JDBC into a staging table; then ``publish`` (INSERT ... SELECT) from it
    finish   build the deferred indexes, write the ledger row (ledger.py), once
    commit   ledger.commit: the ledger asked when the connection dies during COMMIT

COPY (``copy/transaction.py``) and JDBC (``jdbc/method.py``) both drive this object, so the
CREATE, the strategy, the ledger row and the lost-COMMIT check happen in one place for both.
Everything a reader can observe - the new rows, the rows an overwrite removed, the run's
ledger row - changes at the COMMIT or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import interrupt
from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import DataError
from ..naming import TableRef, loader_schema
from ..options import RejectPolicy
from ..plan.typemap import ColumnPlan
from . import ledger
from .evolve import add_planned_columns
from .index_defer import DeferredIndexes
from .publish import explain_failure, publish_counted, select_exprs
from .rejects import publish_rejecting
from .slices import incoming
from .write_modes import WriteStrategy, Written


@dataclass
class LoadTransaction:
    """One run's transaction on ``conn`` (not autocommit); the caller closes the connection."""

    conn: Any
    spec: ConnectionSpec
    target: TableRef
    plan: ColumnPlan
    write: WriteStrategy
    run_id: str
    #: CREATE TABLE for a target that does not exist yet
    create_sql: str | None = None
    #: build the target's indexes after the rows when it is new, overwritten or empty (index_defer)
    defer_indexes: bool = False
    #: the columns that name a row in errors (the upsert key, else the table's primary key)
    error_key: tuple[str, ...] = ()
    #: an overwrite or slice replace from an empty source may empty the table or the slice
    allow_empty: bool = False
    #: target.ledger_schema: where the ledger and loader_rejects are (None: the target's schema)
    ledger_schema: str | None = None
    #: how the ledger is asked over a connection of its own (the edge; unit tests pass a fake)
    connect: pg.Connect = pg.connect

    def __post_init__(self) -> None:
        self.home = loader_schema(self.target, self.ledger_schema)
        self.cur: Any = None
        self.created = bool(self.create_sql)
        self.opened = False
        self.deferred: DeferredIndexes | None = None
        self.written: Written | None = None
        #: a slice replace: the target's rows it deleted
        self.deleted: int | None = None
        #: a whole-table overwrite: the table held rows before it
        self.had_rows = False

    def begin(self) -> Any:
        """Create and evolve the target in this transaction (a failed load leaves no empty table
        and no new column behind); returns the transaction's cursor. The ledger is made sure of
        first, in a transaction of its own on the same connection (ledger.ensure)."""
        ledger.ensure(self.conn, self.home)
        self.cur = self.conn.cursor()
        if self.create_sql:
            self.cur.execute(self.create_sql)
        add_planned_columns(self.cur, self.target, self.plan)
        return self.cur

    def open_target(self) -> bool:
        """What happens to the target before rows go into it, once: the write strategy's prepare
        and index deferral. Returns whether the target is fresh (created or emptied in this
        transaction, and not partitioned: COPY FREEZE is allowed)."""
        if self.opened:
            raise RuntimeError("the target of a load transaction is opened once")
        self._opening()
        opened = self.write.prepare(self.cur, self.target, created=self.created)
        self.deleted = opened.deleted
        fresh = opened.fresh
        if self.defer_indexes:
            self.deferred, fresh = self.write.defer_indexes(self.cur, self.target, opened)
        return fresh and not self._partitioned()

    def publish(self, source: str, *, casts: Sequence[str] | None,
                source_columns: Sequence[str] | None = None) -> Written:
        """Every row of the staging relation ``source`` into the target (opens it); a slice
        replace deletes its slice first."""
        self._opening()
        src_cols = list(source_columns) if source_columns is not None else list(self.plan.names)
        try:
            with pg_errors.savepoint(self.cur, "loader_slice", table=self.target):  # explain_failure reads on
                self._replace_slice(incoming(source, self.target, self.plan.names, select_exprs(src_cols, casts)))
        except DataError as exc:
            raise explain_failure(self.cur, exc, source, self.target, self.plan.names, src_cols, casts) from None
        written = publish_counted(self.cur, source=source, target=self.target, columns=self.plan.names,
                                  casts=casts, write=self.write, created=self.created,
                                  source_columns=source_columns, defer_indexes=self.defer_indexes)
        if self.deleted is None:  # a whole table replaced under MVCC: the publish's DELETE counted them
            self.deleted = written.deleted
        return replace(written, deleted=self.deleted)

    def publish_rejecting(self, source: str, *, casts: Sequence[str] | None, policy: RejectPolicy,
                          source_columns: Sequence[str] | None = None, origin_sql: str | None = None,
                          row_column: str | None = None) -> tuple[Written, int]:
        """``publish``, with the rows PostgreSQL refuses set aside (rejects.py): (written, rejected)."""
        self._opening()
        moved, rejected = publish_rejecting(
            self.cur, source=source, target=self.target, columns=self.plan.names, casts=casts, write=self.write,
            run_id=self.run_id, policy=policy, created=self.created, source_columns=source_columns,
            origin_sql=origin_sql, row_column=row_column, ledger_schema=self.home,
            before_insert=self._replace_slice if self.write.shares_table else None)
        return Written(moved, deleted=self.deleted), rejected

    def _replace_slice(self, rows: str) -> None:
        """What the write strategy removes before the rows go in (slice_modes.py), on ``rows``: the
        load's rows as the target's columns. Run again (a reject retry after a savepoint), the
        count is that of the last run: the earlier one was rolled back."""
        shown = self.write.key or self.error_key or self.plan.names[:3]
        self.deleted = self.write.replace_slice(self.cur, self.target, rows, shown)

    def _opening(self) -> None:
        """Before the write strategy touches the target: a whole-table overwrite notes whether the
        table held rows (an empty source may not empty it unless ``allow_empty``)."""
        self.opened = True
        if self.write.replaces_table and not self.created and not self.allow_empty:
            self.cur.execute(f"SELECT EXISTS (SELECT 1 FROM {self.target.quoted})")
            self.had_rows = bool(self.cur.fetchone()[0])

    def finish(self, written: Written) -> Written:
        """The rows are all in: build what was deferred and write the ledger row. An overwrite or a
        slice replace from an empty source that would leave the table or the slice empty is refused
        (rolled back) unless ``allow_empty``: an empty extract is more often a broken job than news."""
        if written.rows == 0 and not self.allow_empty and (self.had_rows or (self.deleted or 0) > 0):
            what = "every row of the table" if self.write.replaces_table else f"the {self.deleted:,} rows of the slice"
            raise DataError(f"{self.target}: the source is empty, so this load would delete {what} and load "
                            "nothing; nothing was changed",
                            next_step="check the source; to empty it on purpose, set target.allow_empty: true "
                                      "(allow_empty=True)", table=str(self.target), run_id=self.run_id)
        if self.deferred is not None:
            self.deferred.rebuild(self.cur)  # a duplicate key surfaces here, as a data error
            self.deferred = None
        ledger.record(self.cur, self.home, self.target, self.run_id, written.rows)
        self.written = written
        return written

    def commit(self, before: Callable[[], None] | None = None) -> None:
        """Commit what ``finish`` recorded. ``before`` runs first (what must be in the state store
        before the COMMIT). A stop asked for until here leaves the target unchanged; COMMIT itself
        is not cancelled. If the connection dies during COMMIT, the ledger says whether it happened."""
        if self.written is None:
            raise RuntimeError("a load transaction commits after finish()")
        interrupt.check()
        if before is not None:
            before()
        ledger.commit(self.conn, self.spec, self.home, self.run_id, table=self.target, connect=self.connect)

    def _partitioned(self) -> bool:
        self.cur.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", (self.target.quoted,))
        row = self.cur.fetchone()
        return bool(row and row[0])
