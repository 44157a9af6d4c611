"""Prepared: an append over N connections, all or nothing (ARCHITECTURE.md says why it holds).

Each worker opens one two-phase transaction (psycopg2's ``tpc_begin`` with the gid
prepared_plan.gid names) and COPYs every part it is handed into the target; nothing is committed
part by part. When every part is in, each is PREPAREd; the driver's connection commits the run's
ledger row (the decision); then each is COMMIT PREPAREd. A failure before the decision rolls every
one back here; a crash is settled by ``--resume`` or the reaper (destination/prepared.py). Readers
see none of the rows until the first COMMIT PREPARED and all of them after the last.

A prepared transaction outlives the session that prepared it, and COMMIT or ROLLBACK PREPARED may
come from any session of the database: a worker whose backend died after its PREPARE has its
transaction settled over a connection of its own (``_settle``), committed after the decision,
rolled back before it, so that no run that ends leaves one prepared.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ... import interrupt
from ...adapters import pg_errors
from ...destination import ledger
from ...destination import prepared as settled
from ...destination.prepared_plan import gid
from ...errors import LoaderError, TargetConnectionError
from ...naming import prepared_marker
from .protocol import CopyRun, Published
from .workers import CopyWorkers, OverConnections

log = logging.getLogger("loader")


class PreparedCopy(CopyWorkers):
    """``connections`` workers COPYing parts of ``bucket`` into ``target``, each in a transaction that
    is prepared and committed together with the others."""

    def __init__(self, run: CopyRun, connections: int) -> None:
        super().__init__(run, run.target, connections)
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
            conn = self.connect(self.spec, application_name=f"{self.app}:settle", autocommit=True)
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


class Prepared(OverConnections):
    def __init__(self, run: CopyRun, connections: int) -> None:
        # the leftover: where the reaper must look should this process die with transactions
        # prepared (reaper/settle.py)
        self.prepared = PreparedCopy(run, connections)
        super().__init__(run, self.prepared, prepared_marker(run.run_id), "")
        self.connections = connections

    def open(self, staged_before: set[str]) -> dict[str, int]:
        ledger.ensure(self.run.conn, self.run.home)
        return {}

    def publish(self, rows: int) -> None:
        self.prepared.drain()
        self.prepared.prepare()
        self.rows = rows

    def commit(self, before_commit: Callable[[], None]) -> Published:
        interrupt.check()  # a stop asked for until here leaves the target unchanged
        before_commit()
        run = self.run
        settled.decide(run.conn, run.spec, run.home, run.target, run.run_id, self.rows, connect=run.connect)
        self.done = True  # decided: the rows are the run's, whoever commits what is left prepared
        self.prepared.commit()
        self.label = f"{self.connections} prepared connections, committed in {self.prepared.commit_window:.3f} s"
        return Published(self.rows, timings={"commit_window": self.prepared.commit_window})

    def abort(self) -> None:
        if self.done:
            return
        # the COPYs stopped first: a worker still COPYing would hold its connection (and take
        # the next part); the driver's transaction (the ledger row) ended before any settling
        self.prepared.stop()
        with contextlib.suppress(Exception):
            self.run.conn.rollback()
        self.prepared.rollback()
