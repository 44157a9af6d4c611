"""The write modes, one strategy each, chosen once from ``WriteMode`` and carried as an object.

As dlt's ``sql_jobs.py`` has one class per write disposition, every method (COPY,
JDBC, rejects) asks the strategy instead of branching on the mode itself:

* ``prepare``: what happens to the target before the rows (overwrite: DELETE, under MVCC; with
  ``target.overwrite: truncate``, TRUNCATE), and what it did (``Opened``);
* ``insert_sql``: how rows are inserted (upsert: ``ON CONFLICT ... DO UPDATE``);
* ``run_insert``: runs that statement and says what it wrote (upsert: how many rows were new
  keys and how many updated existing ones);
* ``merges``: whether rows go through a relation of the load's own first (upsert, slices);
* ``replace_slice``: what goes before the INSERT from that relation (slice_modes.py: the
  slice's rows deleted);
* ``defer_indexes``: whether the target's indexes may be dropped and built after the rows;
* ``parallel``: how its rows land over copy.connections > 1 (landing_choice.py); ``replaces_table``:
  every row of the table goes, so an empty source is refused unless ``allow_empty``.

"Upsert needs key columns" is checked once, in ``modes.write_mode`` (``key_problem`` gives the same
rule to manifest validation, which reports it with the manifest's field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..naming import TableRef, quote_ident
from ..options import WriteMode
from .index_defer import DeferredIndexes, claim_empty_target, drop_indexes
from .landing_choice import Landing


@dataclass(frozen=True)
class Opened:
    """What ``prepare`` did to the target."""

    #: created or emptied (TRUNCATE) in this transaction: COPY FREEZE and index deferral allowed
    fresh: bool
    #: the old rows it deleted (an overwrite under MVCC); None: it deleted nothing
    deleted: int | None = None


@dataclass(frozen=True)
class Written:
    """What one INSERT wrote: ``rows`` in all; for upsert, of which new keys and updated keys
    (None for the modes that only insert)."""

    rows: int
    inserted: int | None = None
    updated: int | None = None
    #: a slice replace: the target's rows it deleted (None for the other modes)
    deleted: int | None = None


class WriteStrategy:
    mode: ClassVar[WriteMode]
    #: rows are collected in a relation of the load's own and moved into the target with one statement
    merges: ClassVar[bool] = False
    #: ON CONFLICT needs a unique index on the key, and each key once in the source (upsert)
    needs_unique_key: ClassVar[bool] = False
    #: takes row locks only: loads of other slices may run at the same time (slice_modes.py)
    shares_table: ClassVar[bool] = False
    #: empties the existing table with TRUNCATE (refused by PostgreSQL where a foreign key references it)
    truncates: ClassVar[bool] = False
    #: replaces every row of the table (an empty source may not empty it unless allow_empty)
    replaces_table: ClassVar[bool] = False
    #: how its rows land over copy.connections > 1 (destination/landing_choice.py)
    parallel: ClassVar[Landing] = Landing.STAGING

    def __init__(self, key: Sequence[str] = ()) -> None:
        self.key = tuple(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WriteStrategy) and type(other) is type(self) and other.key == self.key

    def __hash__(self) -> int:
        return hash((type(self), self.key))

    def prepare(self, cur: Any, target: TableRef, *, created: bool) -> Opened:
        """Run before the rows, in the load transaction; what it did to the target."""
        return Opened(created)

    def replace_slice(self, cur: Any, target: TableRef, rows: str, shown: Sequence[str]) -> int | None:
        """Before the INSERT from the load's relation (``rows``: its rows as the target's columns,
        slices.incoming): what the mode removes first. Returns the rows deleted, None: nothing."""
        return None

    def insert_sql(self, target: TableRef, columns: Sequence[str], select_sql: str) -> str:
        cols = ", ".join(quote_ident(c) for c in columns)
        return f"INSERT INTO {target.quoted} ({cols}) {select_sql}"

    def run_insert(self, cur: Any, sql: str, params: Sequence[Any] | None = None) -> Written:
        """Run ``sql`` (from ``insert_sql``) and say what it wrote."""
        cur.execute(sql, params)
        return Written(max(int(cur.rowcount), 0))

    def unique_violation_step(self, key: Sequence[str]) -> str:
        """What to do when the unique key ``key`` of the target refused a row (SQLSTATE 23505)."""
        shown = ", ".join(key)
        return (f"a row with this ({shown}) is in the table already or twice in the source: to update the "
                f"rows that exist, load with mode: upsert and key: [{shown}] (write_to_postgres(..., "
                f"mode='upsert', key={list(key)!r})); else remove those rows from the source")

    def defer_indexes(self, cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
        """Drop the target's indexes for the load when nobody can tell (index_defer). Returns the
        dropped indexes (None: kept) and whether the target is fresh now."""
        return (drop_indexes(cur, target), True) if opened.fresh else (None, False)


def _claim_if_empty(cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
    """An empty target nobody is using is as good as a new one (index_defer.claim_empty_target)."""
    if opened.fresh:
        return drop_indexes(cur, target), True
    claimed, fresh = claim_empty_target(cur, target)
    return (drop_indexes(cur, target), fresh) if claimed else (None, False)


class Append(WriteStrategy):
    mode = WriteMode.APPEND
    parallel = Landing.PREPARED

    def defer_indexes(self, cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
        return _claim_if_empty(cur, target, opened)


class Overwrite(WriteStrategy):
    """The whole table replaced under MVCC in place (``target.overwrite: auto``, the default, where
    the shadow swap is not taken): its rows deleted and the new ones loaded in the one load
    transaction, with row locks only, so readers read the old rows until the COMMIT. The price, next
    to TRUNCATE: every old row stays dead until autovacuum takes it, every new row is written with
    its index entries (no COPY FREEZE, no index built after the rows), and row triggers fire for
    the rows deleted and inserted (README, "Overwrite: three paths")."""

    mode = WriteMode.OVERWRITE
    replaces_table = True
    parallel = Landing.SHADOW

    def unique_violation_step(self, key: Sequence[str]) -> str:
        # the old rows are gone: the source itself holds the key twice
        return (f"the source has more than one row with the same ({', '.join(key)}): deduplicate it on that "
                "key (e.g. dropDuplicates)")

    def prepare(self, cur: Any, target: TableRef, *, created: bool) -> Opened:
        if created:
            return Opened(True)
        cur.execute(f"DELETE FROM {target.quoted}")
        return Opened(False, max(int(cur.rowcount), 0))

    def defer_indexes(self, cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
        # a table whose rows were deleted keeps its indexes for its readers; an empty one is an append's
        return (None, False) if opened.deleted else _claim_if_empty(cur, target, opened)


class TruncateOverwrite(Overwrite):
    """``target.overwrite: truncate``: the table emptied with TRUNCATE and loaded in place. TRUNCATE is
    transactional: until the COMMIT other sessions keep the old rows, but it holds an ACCESS
    EXCLUSIVE lock until then, so readers wait for the whole load instead of reading on; in
    exchange the rows are written frozen (COPY FREEZE), the indexes built once after them, and no
    old row is left dead. A table that other tables' foreign keys reference cannot be truncated:
    refused before any data moves (in_place_refusal)."""

    truncates = True
    parallel = Landing.IN_PLACE

    def prepare(self, cur: Any, target: TableRef, *, created: bool) -> Opened:
        if not created:
            cur.execute(f"TRUNCATE TABLE {target.quoted}")
        return Opened(True)

    def defer_indexes(self, cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
        return (drop_indexes(cur, target), True) if opened.fresh else (None, False)


class Upsert(WriteStrategy):
    mode = WriteMode.UPSERT
    merges = True
    needs_unique_key = True

    def __init__(self, key: Sequence[str] = ()) -> None:
        problem = key_problem(WriteMode.UPSERT, key)
        if problem:
            raise ConfigError(problem, next_step="pass key=['id', ...] (manifest: target.key)")
        super().__init__(key)

    def insert_sql(self, target: TableRef, columns: Sequence[str], select_sql: str) -> str:
        conflict = ", ".join(quote_ident(k) for k in self.key)
        others = [c for c in columns if c not in self.key]
        if not others:
            action = "DO NOTHING"
        else:
            action = "DO UPDATE SET " + ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in others)
        return f"{super().insert_sql(target, columns, select_sql)} ON CONFLICT ({conflict}) {action}"

    def run_insert(self, cur: Any, sql: str, params: Sequence[Any] | None = None) -> Written:
        # A row ON CONFLICT updated carries our transaction's id in xmax (the lock it took); a row
        # it inserted has none. Counted in the server, so only two numbers come back (its cost:
        # ARCHITECTURE.md, "Status tells the truth"). Rows DO NOTHING skipped are in neither count.
        cur.execute(f"WITH merged AS ({sql} RETURNING (xmax = 0) AS inserted) "
                    "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged",
                    params)
        inserted, updated = (int(v) for v in cur.fetchone())
        return Written(inserted + updated, inserted, updated)

    def unique_violation_step(self, key: Sequence[str]) -> str:
        # ON CONFLICT handles the upsert key; another unique key refused the row
        return (f"the target's unique key ({', '.join(key)}) is not the upsert key ({', '.join(self.key)}): a "
                "row with a new upsert key repeats a value of it; fix the source, or upsert on that key")

    def defer_indexes(self, cur: Any, target: TableRef, opened: Opened) -> tuple[DeferredIndexes | None, bool]:
        return None, opened.fresh  # ON CONFLICT needs the key's index


def key_problem(mode: WriteMode | str, key: Sequence[str]) -> str | None:
    """The one rule about keys and modes, for the request and for manifest validation."""
    if WriteMode(mode) is WriteMode.UPSERT and not key:
        return "mode upsert needs key columns (rows are matched on them)"
    return None
