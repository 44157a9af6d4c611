"""Append over N connections, all or nothing (destination/prepared_plan.py says why it holds).

Each worker opens one two-phase transaction (psycopg2's ``tpc_begin`` with the gid the plan
names) and COPYs every part it is handed into the target; nothing is committed part by part.
``prepare`` PREPAREs each; ``commit`` COMMIT PREPAREs each, after the driver has committed the
ledger row (the decision). A failure before the decision rolls every one back here; a crash is
settled by ``--resume`` or the reaper (destination/prepared.py).

A prepared transaction outlives the session that prepared it, and COMMIT or ROLLBACK PREPARED may
come from any session of the database: a worker whose backend died after its PREPARE has its
transaction settled over a connection of its own (``_settle``), committed after the decision,
rolled back before it, so that no run that ends leaves one prepared.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..destination import prepared as settled
from ..destination.prepared_plan import gid
from ..errors import LoaderError, TargetConnectionError
from ..naming import TableRef
from .copy_workers import CopyWorkers
from .formats import StagingFormat

log = logging.getLogger("loader")


class PreparedCopy(CopyWorkers):
    """``connections`` workers COPYing parts of ``bucket`` into ``target``, each in a transaction that
    is prepared and committed together with the others."""

    def __init__(self, spec: ConnectionSpec, run_id: str, target: TableRef, fmt: StagingFormat,
                 columns: list[str], connections: int, client: Any, bucket: str) -> None:
        super().__init__(spec, run_id, target, target, fmt, columns, connections, client, bucket)
        #: (connection, gid) of each transaction PREPAREd
        self.prepared: list[tuple[Any, str]] = []
        #: ``prepare`` began: from here a transaction of the run may be prepared on the server even
        #: where its connection said nothing (lost during PREPARE)
        self.preparing = False
        self._gids: dict[int, str] = {}
        #: seconds between the first and the last COMMIT PREPARED: when readers may see part of the rows
        self.commit_window = 0.0

    def _connected(self, conn: Any, n: int) -> None:
        self._gids[id(conn)] = gid(self.run_id, n)
        conn.tpc_begin(self._gids[id(conn)])

    def prepare(self) -> None:
        """PREPARE TRANSACTION on every worker's connection (the parts are all in)."""
        self.preparing = True
        for conn in self.connections():
            with pg_errors.translated(table=self.target, run_id=self.run_id,
                                      during=f"PREPARE TRANSACTION {self._gids[id(conn)]} of the load of {self.target}"):
                conn.tpc_prepare()
            self.prepared.append((conn, self._gids[id(conn)]))

    def commit(self) -> None:
        """COMMIT PREPARED on each, once the ledger row (the decision) is committed. One whose
        connection was lost (its backend killed, the network cut) is committed over a connection
        of its own; if that fails too, it stays prepared for ``--resume`` or the reaper, which
        commit it, since the ledger says the run decided to."""
        t0 = time.monotonic()
        lost: list[str] = []
        for conn, g in self.prepared:
            try:
                with pg_errors.translated(table=self.target, run_id=self.run_id,
                                          during=f"COMMIT PREPARED {g} of the load of {self.target}"):
                    conn.tpc_commit()
            except TargetConnectionError as exc:
                log.warning("%s: the connection of prepared transaction %s was lost (%s); committing it over "
                            "another connection", self.target, g, exc.message)
                lost.append(g)
        if lost:
            self._settle(lost, commit=True)
        self.commit_window = time.monotonic() - t0
        self.prepared = []

    def stop(self) -> None:
        """Before a rollback: cancel the running COPYs, drop the parts not begun, wait for the threads."""
        self.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def rollback(self) -> None:
        """Before the decision: roll every transaction back, prepared or not, each on its own
        connection; then, once PREPARE began, any of the run's still prepared (its connection lost,
        or lost during PREPARE) over a connection of its own. Best effort: one this cannot reach is
        rolled back by the next ``--resume`` or reap, the ledger being silent about the run."""
        for conn in self.connections():
            with contextlib.suppress(Exception):
                conn.tpc_rollback()
        self.prepared = []
        if self.preparing:
            try:
                self._settle(None, commit=False)
            except LoaderError as exc:
                log.warning("%s: %s", self.target, exc)

    def _settle(self, gids: list[str] | None, commit: bool) -> None:
        """COMMIT or ROLLBACK PREPARED ``gids`` (None: every one of the run's still prepared) over a
        connection of its own; a LoaderError says what is left prepared and who settles it."""
        verb = "COMMIT PREPARED" if commit else "ROLLBACK PREPARED"
        try:
            conn = pg.connect(self.spec, application_name=f"{self.app}:settle", autocommit=True)
            try:
                with conn.cursor() as cur:
                    if gids is None:
                        gids = [g for g, _, _ in settled.pending(cur, self.run_id)]
                    if gids:
                        settled.finish(cur, gids, commit=commit, whose="whose connection was lost")
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
        except LoaderError as exc:
            what = ", ".join(gids) if gids else f"those of run {self.run_id} (loader:{self.run_id}:<n>)"
            if commit:
                raise LoaderError(
                    f"{self.target}: run {self.run_id} decided to commit (its ledger row is committed), but {verb} "
                    f"of {what} failed: {exc.message}; readers may see part of the rows until they are committed",
                    next_step="once the server is reachable, run `loader run --resume` or `loader reap`: either "
                              "commits them, as the ledger says", table=str(self.target), run_id=self.run_id,
                    retryable=True) from None
            raise LoaderError(
                f"{verb} of {what} failed: {exc.message}; they stay prepared, holding their locks, the target "
                "unchanged", next_step="run `loader run --resume` or `loader reap`: either rolls them back, as no "
                                       "ledger row records the run", table=str(self.target), run_id=self.run_id,
                retryable=True) from None
