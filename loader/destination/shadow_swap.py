"""An overwrite through a shadow table: create it, build its indexes after the rows, swap it in.

    create   ``<table>__loader_shadow_<run8>`` LIKE the target (columns, defaults, NOT NULL,
             CHECKs, generated columns, column comments; no indexes), committed: the method
             COPYs into it over N connections, each part in a transaction of its own that also
             records the part in ``<schema>.loader_shadow_parts`` (a resume skips it)
    build    indexes, primary key, unique and exclusion constraints under names of their own
             (PostgreSQL sorts a btree with parallel workers where max_parallel_maintenance_workers
             allows); foreign keys from the table NOT VALID, then validated, each committed apart, so
             a referenced table's writers wait only for one validation; ANALYZE
    swap     one short transaction under ``lock_timeout``, retried: LOCK the target, read its
             catalog again (a dependent that appeared stops the swap: shadow dropped, target
             untouched), the ledger row, then the exchange (shadow_sql.py: renames, owner, owned
             sequences, the old table dropped, indexes and constraints renamed, grants, comment,
             replica identity, RLS)
    commit   the swap's COMMIT (ledger.commit)

A crash before the swap's COMMIT leaves the target as it was; the shadow is ``--resume``'s, or the
reaper's once its run is dead (it is the run's ``staging_table``; its comment says when it was
created, for a shadow whose run the state store does not know: reaper/table_rules.py). Readers of
the target wait only during the swap. The statements are built apart (shadow_sql.py); this module
runs them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import interrupt
from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError, TargetConnectionError, TargetError
from ..naming import TableRef, loader_schema, quote_ident, shadow_table_name
from . import ledger, shadow_sql
from .index_defer import BUILD_MEMORY
from .shadow_catalog import read_facts
from .shadow_plan import TargetFacts, swap_blockers

log = logging.getLogger("loader")
PARTS_TABLE = "loader_shadow_parts"
_PARTS_LOCK = (pg.LOCK_NAMESPACE, PARTS_TABLE)
#: the swap waits at most this long for its locks each time: readers queue behind a waiting swap, and
#: it gives up before PostgreSQL's deadlock_timeout (1 s) would pick a reader as the victim
SWAP_LOCK_TIMEOUT_MS = 500
SWAP_ATTEMPTS = 10
#: lock not available within lock_timeout, and a deadlock (the swap also locks the tables whose
#: foreign keys it exchanges, and the views it replaces): both only mean "try again"
_TRY_AGAIN = frozenset({"55P03", "40P01"})


class ShadowTable:
    """Run ``run_id``'s shadow of ``target``, planned from ``facts`` (shadow_plan.plan_shadow)."""

    def __init__(self, spec: ConnectionSpec, target: TableRef, run_id: str, facts: TargetFacts,
                 lock_timeout_ms: int | None = None, attempts: int | None = None,
                 ledger_schema: str | None = None, connect: pg.Connect = pg.connect,
                 read: Callable[[Any, TableRef], TargetFacts | None] = read_facts) -> None:
        self.spec, self.target, self.run_id, self.facts = spec, target, run_id, facts
        #: the edges: a connection of its own (to drop the shadow when the run's died), the catalog reader
        self.connect, self.read = connect, read
        #: an earlier attempt built the shadow before it was killed: ``build`` has nothing to do
        self.already_built = False
        # the ledger may live elsewhere (target.ledger_schema); the shadow must be the target's
        # neighbour: the swap renames it in place
        self.home = loader_schema(target, ledger_schema)
        self.ref = TableRef(target.schema, shadow_table_name(target.table, run_id))
        self.parts = TableRef(target.schema, PARTS_TABLE)
        self.lock_timeout_ms = SWAP_LOCK_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
        self.attempts = SWAP_ATTEMPTS if attempts is None else attempts

    # --- create ---------------------------------------------------------------------------
    def create(self, conn: Any, reuse: Callable[[dict[str, int]], bool]) -> dict[str, int]:
        """Create the shadow, or keep the one an earlier attempt of the run left when ``reuse``
        accepts its loaded parts (part key -> rows); returns the parts it holds."""
        with pg_errors.translated(table=self.ref, run_id=self.run_id), conn.cursor() as cur:
            self._ensure_parts_table(cur)
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.ref.quoted,))
            if cur.fetchone()[0]:
                loaded = self.loaded_parts(cur)
                built = self._built(cur)
                # a build cut short (its indexes or keys half made) cannot be finished by name: made again
                if reuse(loaded) and (built or not self._partly_built(cur)):
                    conn.commit()
                    self.already_built = built
                    log.info("%s: resuming into shadow %s (%d part(s) already in it%s)", self.target, self.ref,
                             len(loaded), ", indexes built" if built else "")
                    return loaded
                drop_referencing(cur, self.ref)
                cur.execute(f"DROP TABLE {self.ref.quoted}")
            cur.execute(f"DELETE FROM {self.parts.quoted} WHERE shadow = %s", (self.ref.table,))
            for sql, params in shadow_sql.create_statements(self.facts, self.ref, self.run_id):
                cur.execute(sql, params or None)  # no parameters: a % in a definition is its own
            # default privileges may have granted the new table to others: it gets the target's only
            cur.execute("SELECT DISTINCT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) "
                        "END FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = to_regclass(%s) "
                        "AND x.grantee <> c.relowner", (self.ref.quoted,))
            for (grantee,) in cur.fetchall():
                cur.execute(f"REVOKE ALL ON {self.ref.quoted} FROM {grantee}")
        conn.commit()
        return {}

    def _ensure_parts_table(self, cur: Any) -> None:
        cur.execute("SELECT to_regclass(%s)", (self.parts.quoted,))
        if cur.fetchone()[0] is None:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", _PARTS_LOCK)
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.parts.quoted} (shadow text NOT NULL, part text NOT NULL, "
                        "rows bigint NOT NULL, PRIMARY KEY (shadow, part))")

    def loaded_parts(self, cur: Any) -> dict[str, int]:
        cur.execute(f"SELECT part, rows FROM {self.parts.quoted} WHERE shadow = %s AND part <> ''", (self.ref.table,))
        return {str(k): int(n) for k, n in cur.fetchall()}

    def record_part(self, cur: Any, key: str, rows: int) -> None:
        """In the transaction of the part's COPY: the part is in the shadow exactly when this row is."""
        cur.execute(f"INSERT INTO {self.parts.quoted} (shadow, part, rows) VALUES (%s, %s, %s)",
                    (self.ref.table, key, rows))

    def _partly_built(self, cur: Any) -> bool:
        """Has ``build`` begun on the shadow? ``create`` makes it with no index, key or exclusion."""
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s)) OR EXISTS (SELECT 1 "
                    "FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'x', 'f'))",
                    (self.ref.quoted, self.ref.quoted))
        return bool(cur.fetchone()[0])

    def _built(self, cur: Any) -> bool:
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {self.parts.quoted} WHERE shadow = %s AND part = '')",
                    (self.ref.table,))
        return bool(cur.fetchone()[0])

    # --- build ----------------------------------------------------------------------------
    def build(self, conn: Any) -> None:
        """The target's indexes and constraints on the shadow, after its rows (once: a resumed run
        whose shadow was built before the crash goes straight to the swap)."""
        if self.already_built:
            return
        steps = shadow_sql.build_transactions(self.facts, self.ref, self.run_id)
        for n, statements in enumerate(steps):
            with self._building(), conn.cursor() as cur:
                if n == 0:
                    cur.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes(%s)",
                                (BUILD_MEMORY,))
                    if cur.fetchone()[0]:
                        cur.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
                for sql, params in statements:
                    cur.execute(sql, params or None)  # no parameters: a % in a definition is its own
            conn.commit()
        with self._building(), conn.cursor() as cur:
            cur.execute(f"ANALYZE {self.ref.quoted}")
            cur.execute(f"INSERT INTO {self.parts.quoted} (shadow, part, rows) VALUES (%s, '', 0)", (self.ref.table,))
        conn.commit()

    def _building(self) -> Any:
        # ``during``: whatever is not the data's (a duplicate key is) ends the build's transaction
        return pg_errors.translated(table=self.target, run_id=self.run_id,
                                    during=f"the build of shadow table {self.ref.table}")

    # --- swap -----------------------------------------------------------------------------
    def swap(self, conn: Any, rows: int, *, allow_empty: bool) -> None:
        """Swap the shadow in, retried while the target's lock is not had within the timeout; the
        swap's transaction is left open for ``commit``. Whatever stops it leaves the target as it was."""
        for attempt in range(1, self.attempts + 1):
            try:
                self._swap_once(conn, rows, allow_empty=allow_empty)
            except TargetError as exc:
                _rollback(conn)
                if exc.sqlstate not in _TRY_AGAIN:
                    raise self._swap_failed(exc) from None
                if attempt == self.attempts:
                    raise LoaderError(
                        f"{self.target}: the swap of the shadow table did not get its lock within "
                        f"{self.lock_timeout_ms} ms, {self.attempts} times; the target is unchanged",
                        next_step="see who holds locks on the table (pg_locks, pg_stat_activity) and run again",
                        table=str(self.target), run_id=self.run_id, retryable=True) from None
                log.info("%s: swap lock not granted (attempt %d of %d), retrying", self.target, attempt, self.attempts)
                time.sleep(min(0.2 * attempt, 1.0))
                continue
            except TargetConnectionError as exc:
                _rollback(conn)
                raise self._swap_failed(exc) from None
            except BaseException:
                _rollback(conn)  # a lost connection's own error, not the rollback's, is what failed
                raise
            break

    def commit(self, conn: Any, before: Callable[[], None] | None = None) -> None:
        """COMMIT the swap (its ledger row with it); ``before`` runs first."""
        interrupt.check()  # the last point where a stop leaves the target as it was
        if before is not None:
            before()
        ledger.commit(conn, self.spec, self.home, self.run_id, table=self.target, connect=self.connect,
                      during=f"the COMMIT of the swap of shadow table {self.ref.table}")

    def _swap_failed(self, exc: LoaderError) -> LoaderError:
        """A statement of the swap refused (an event trigger, a privilege, a statement timeout): the
        swap's transaction is rolled back, so the error says that, what refused and what to do."""
        return type(exc)(
            f"{self.target}: the swap of shadow table {self.ref.table} failed: {exc.message}; the swap was rolled "
            "back, the target is unchanged",
            next_step=exc.next_step or "fix what refused the swap (an event trigger on ALTER TABLE, a privilege, a "
                                       "timeout) and run again with --resume (the staged parts are reused)",
            table=str(self.target), run_id=self.run_id, sqlstate=exc.ids.get("sqlstate"),
            constraint=exc.ids.get("constraint"))

    def _swap_once(self, conn: Any, rows: int, *, allow_empty: bool) -> None:
        target = self.target
        with pg_errors.translated(table=target, run_id=self.run_id), conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (f"{int(self.lock_timeout_ms)}ms",))
            # in the order readers take them: a view before the table under it (a reader through a view
            # holds the view while it waits for the table), the referencing tables, then the target
            cur.execute(f"LOCK TABLE {', '.join(shadow_sql.lock_order(self.facts))} IN ACCESS EXCLUSIVE MODE")
            fresh = self.read(cur, target)
            blockers = ["the target was dropped"] if fresh is None else swap_blockers(self.facts, fresh)
            if blockers or fresh is None:
                raise ShadowSwapRefused(
                    f"{target}: the shadow table cannot replace it any more: {'; '.join(blockers)}; the target is "
                    "unchanged", next_step="load again: the new dependents make the load go in place "
                    "(or remove them)", table=str(target), run_id=self.run_id)
            if rows == 0 and not allow_empty:
                cur.execute(f"SELECT EXISTS (SELECT 1 FROM {target.quoted})")
                if cur.fetchone()[0]:
                    raise DataError(f"{target}: the source is empty, so this load would delete every row of the "
                                    "table and load nothing; nothing was changed",
                                    next_step="check the source; to empty it on purpose, set target.allow_empty: "
                                              "true (allow_empty=True)", table=str(target), run_id=self.run_id)
            ledger.record(cur, self.home, target, self.run_id, rows)
            self._exchange(cur, fresh)

    def _exchange(self, cur: Any, f: TargetFacts) -> None:
        """Under the lock: the shadow becomes the target, with what the plan said it recreates
        (``f``: the catalog as it is now; the foreign keys to it are the ones the build rebuilt)."""
        sequences = {}
        for identity in f.identities:
            cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (self.ref.quoted, identity.column))
            sequences[identity.column] = str(cur.fetchone()[0])
        for sql, params in shadow_sql.exchange_statements(f, self.ref, self.run_id, referencing=self.facts.referencing,
                                                          identity_sequences=sequences):
            cur.execute(sql, params or None)  # no parameters: a % in a definition is its own
        cur.execute(f"DELETE FROM {self.parts.quoted} WHERE shadow = %s", (self.ref.table,))

    # --- drop -----------------------------------------------------------------------------
    def drop(self, conn: Any) -> None:
        """After a failure the process survived: the shadow and its part rows go (best effort), over
        ``conn`` or, when its connection was lost (its backend killed during the build or the swap),
        over a connection of its own."""
        try:
            if not conn.closed:
                with contextlib.suppress(Exception):
                    conn.rollback()
            if not conn.closed:
                self._drop_on(conn)
                return
            own = self.connect(self.spec, application_name=f"loader-copy:{self.run_id[:8]}:drop")
            try:
                self._drop_on(own)
            finally:
                with contextlib.suppress(Exception):
                    own.close()
        except (LoaderError, Exception) as exc:  # the reaper drops it later
            log.warning("%s: shadow table not dropped (%s); the reaper will", self.ref, exc)

    def _drop_on(self, conn: Any) -> None:
        with pg_errors.translated(table=self.ref), conn.cursor() as cur:
            drop_referencing(cur, self.ref)
            cur.execute(f"DROP TABLE IF EXISTS {self.ref.quoted}")
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.parts.quoted,))
            if cur.fetchone()[0]:
                cur.execute(f"DELETE FROM {self.parts.quoted} WHERE shadow = %s", (self.ref.table,))
        conn.commit()


def drop_referencing(cur: Any, shadow: TableRef) -> None:
    """The foreign keys other tables got to ``shadow`` (rebuilt against it before a swap that never
    came) go first: the referencing tables are as they were, and the shadow can be dropped."""
    cur.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = to_regclass(%s) "
                "AND conrelid <> confrelid AND contype = 'f'", (shadow.quoted,))
    for table, name in cur.fetchall():
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote_ident(name)}")


def _rollback(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.rollback()


class ShadowSwapRefused(LoaderError):
    """A dependent appeared on the target between the plan and the swap: the target is unchanged."""
