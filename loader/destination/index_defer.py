"""Build the target's indexes once, after the rows, instead of row by row during the load.

A B-tree built by one sort is cheaper than a million separate insertions, and the heap
is written without index WAL interleaved (measured: ARCHITECTURE.md, "Indexes are built after the rows").

This is done only where no other session can tell the difference:

* the target is overwritten (``TRUNCATE`` already holds ACCESS EXCLUSIVE) or was
  created in this transaction; or
* an append finds the target empty and can lock it ACCESS EXCLUSIVE at once
  (``NOWAIT``): readers then wait for the commit, as they do for an overwrite.
  A table with rows, or one somebody else is using, keeps the normal path.

Everything happens inside the load transaction, so a failure (including a
duplicate key found while building a unique index) rolls back to the old
indexes. Tables where dropping an index could lose something - referenced by
foreign keys, partitioned or inherited, exclusion constraints, a replica
identity index, an index in another tablespace or not valid - keep the normal
path, as does a user that does not own the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..adapters import pg_errors
from ..errors import LoaderError
from ..naming import TableRef, quote_ident

log = logging.getLogger("loader")
_SAVEPOINT = "loader_defer_indexes"


class _RowsArrived(Exception):
    """Rows were committed into the 'empty' target between our two looks."""
#: the one sort per index wants memory; PostgreSQL's default (64MB) spills to disk above a few million rows
BUILD_MEMORY = "256MB"

_UNSAFE_SQL = """
SELECT c.relkind IN ('p', 'I') OR c.relreplident = 'i'
       OR EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid)
       OR EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = c.oid AND contype = 'f')
       OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = c.oid AND contype = 'x')
       OR EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                  WHERE i.indrelid = c.oid AND (NOT i.indisvalid OR ic.reltablespace <> 0))
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""

_INDEXES_SQL = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname, con.contype,
       coalesce(con.condeferrable, false), coalesce(con.condeferred, false), i.indisclustered,
       obj_description(i.indexrelid, 'pg_class'), obj_description(con.oid, 'pg_constraint')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                             AND con.contype IN ('p', 'u')
WHERE i.indrelid = to_regclass(%s)
ORDER BY con.contype NULLS LAST, ic.relname
"""


@dataclass(frozen=True)
class SavedIndex:
    name: str
    definition: str  # pg_get_indexdef: CREATE [UNIQUE] INDEX name ON table USING ... (exact)
    constraint: str | None = None  # the primary key / unique constraint the index backs
    constraint_type: str | None = None  # 'p' | 'u'
    deferrable: bool = False
    deferred: bool = False
    clustered: bool = False
    index_comment: str | None = None
    constraint_comment: str | None = None


@dataclass(frozen=True)
class DeferredIndexes:
    """The indexes dropped from ``target`` inside the open transaction, to be built again."""

    target: TableRef
    indexes: tuple[SavedIndex, ...]

    def rebuild(self, cur: Any) -> None:
        """Build every index again (and re-attach its constraint) in the caller's transaction."""
        if not self.indexes:
            return
        cur.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%s)",
                    (BUILD_MEMORY,))
        if cur.fetchone()[0]:
            cur.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
        table = self.target.quoted
        for ix in self.indexes:
            cur.execute(ix.definition)
            name = ix.name
            if ix.constraint:
                kind = "PRIMARY KEY" if ix.constraint_type == "p" else "UNIQUE"
                timing = (" DEFERRABLE" + (" INITIALLY DEFERRED" if ix.deferred else "")) if ix.deferrable else ""
                cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(ix.constraint)} {kind} "
                            f"USING INDEX {quote_ident(ix.name)}{timing}")
                name = ix.constraint  # USING INDEX renames the index after its constraint
                if ix.constraint_comment is not None:
                    cur.execute(f"COMMENT ON CONSTRAINT {quote_ident(ix.constraint)} ON {table} IS %s",
                                (ix.constraint_comment,))
            qualified = f"{quote_ident(self.target.schema)}.{quote_ident(name)}"
            if ix.index_comment is not None:
                cur.execute(f"COMMENT ON INDEX {qualified} IS %s", (ix.index_comment,))
            if ix.clustered:
                cur.execute(f"ALTER TABLE {table} CLUSTER ON {quote_ident(name)}")


def drop_indexes(cur: Any, target: TableRef) -> DeferredIndexes | None:
    """Drop the target's indexes for the rest of the transaction; None (nothing changed) when
    that is not safe or not allowed. The caller already holds ACCESS EXCLUSIVE on the target."""
    cur.execute(_UNSAFE_SQL, (target.quoted,))
    row = cur.fetchone()
    if row is None or row[0]:
        log.debug("%s: indexes kept during the load (table shape does not allow dropping them)", target)
        return None
    cur.execute(_INDEXES_SQL, (target.quoted,))
    saved = tuple(SavedIndex(name=r[0], definition=r[1], constraint=r[2], constraint_type=r[3],
                             deferrable=r[4], deferred=r[5], clustered=r[6], index_comment=r[7],
                             constraint_comment=r[8]) for r in cur.fetchall())
    if not saved:
        return DeferredIndexes(target, ())
    # CREATE INDEX needs CREATE on the table's schema, which a table's owner may not have (a
    # least-privilege role given a table an admin made): dropping would leave nothing to build with
    cur.execute("SELECT has_schema_privilege(%s, 'CREATE')", (target.schema,))
    if not cur.fetchone()[0]:
        log.debug("%s: indexes kept during the load (no CREATE on schema %s to build them again)", target,
                  target.schema)
        return None
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT, table=target):
            for ix in saved:
                if ix.constraint:
                    cur.execute(f"ALTER TABLE {target.quoted} DROP CONSTRAINT {quote_ident(ix.constraint)}")
                else:
                    cur.execute(f"DROP INDEX {quote_ident(target.schema)}.{quote_ident(ix.name)}")
    except LoaderError as exc:  # not the owner, or a dependency we did not foresee
        log.debug("%s: indexes kept during the load (%s)", target, exc.message)
        return None
    log.debug("%s: %d index(es) dropped for the load, built again before commit", target, len(saved))
    return DeferredIndexes(target, saved)


def claim_empty_target(cur: Any, target: TableRef) -> tuple[bool, bool]:
    """For an append: lock the target ACCESS EXCLUSIVE if it is empty and nobody else holds a
    lock on it. Returns (claimed, truncated): truncated means COPY FREEZE is allowed now.
    When not claimed, no lock beyond the ordinary ones is kept. A role that may insert but not read
    the table (least privilege: README "Privileges") cannot tell, and keeps the normal path."""
    cur.execute("SELECT has_table_privilege(to_regclass(%s), 'SELECT')", (target.quoted,))
    if not cur.fetchone()[0]:
        return False, False
    empty = f"SELECT NOT EXISTS (SELECT 1 FROM {target.quoted})"
    cur.execute(empty)  # cheap first look, so a table with rows is never locked exclusively
    if not cur.fetchone()[0]:
        return False, False
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT, table=target):
            # NOWAIT: an empty table someone is reading or writing right now keeps the normal path
            cur.execute(f"LOCK TABLE {target.quoted} IN ACCESS EXCLUSIVE MODE NOWAIT")
            cur.execute(empty)
            if not cur.fetchone()[0]:  # rows committed between the two looks
                raise _RowsArrived
    except (LoaderError, _RowsArrived):  # rolled back to the savepoint: the lock is released
        return False, False
    return True, _truncate_if_quiet(cur, target)


def _truncate_if_quiet(cur: Any, target: TableRef) -> bool:
    """TRUNCATE the (empty) target so that COPY may use FREEZE, unless the TRUNCATE itself would
    be seen: ON TRUNCATE triggers, or a publication that replicates it to subscribers."""
    cur.execute("""
        SELECT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND (tgtype & 32) <> 0)
           AND NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE schemaname = %s AND tablename = %s)
    """, (target.quoted, target.schema, target.table))
    if not cur.fetchone()[0]:
        return False
    try:
        with pg_errors.savepoint(cur, _SAVEPOINT, table=target):
            cur.execute(f"TRUNCATE {target.quoted}")
    except LoaderError:  # no TRUNCATE privilege: load without FREEZE
        return False
    return True
