"""The server's side of a prepared (two-phase) append: what is prepared, and settling it.

A run's prepared transactions are settled by the ledger (prepared_plan.py): the run's ledger row
committed means it decided to commit, so each is COMMIT PREPARED; no ledger row, ROLLBACK
PREPARED. ``committed_rows`` is the engine's ledger question for every resumed run: it settles
first, so a resumed run never sees its own rows held in a prepared transaction. The reaper
settles the prepared transactions of runs that are gone.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import LoaderError, TargetConnectionError
from ..naming import TableRef
from . import ledger
from .prepared_plan import parse_gid

log = logging.getLogger("loader")


def max_prepared(cur: Any) -> int:
    cur.execute("SELECT current_setting('max_prepared_transactions')::int")
    return int(cur.fetchone()[0])


def pending(cur: Any, run_id: str | None = None) -> list[tuple[str, str, float]]:
    """The loader's prepared transactions in this database: (gid, run id, age in seconds)."""
    cur.execute("SELECT gid, extract(epoch FROM now() - prepared)::float8 FROM pg_prepared_xacts "
                "WHERE database = current_database() AND gid LIKE 'loader:%%' ORDER BY gid")
    out = []
    for g, age in cur.fetchall():
        parsed = parse_gid(g)
        if parsed and (run_id is None or parsed[0] == run_id):
            out.append((g, parsed[0], float(age)))
    return out


def finish(cur: Any, gids: list[str], commit: bool, whose: str = "of an earlier attempt") -> int:
    """COMMIT or ROLLBACK PREPARED each of ``gids`` on an autocommit cursor; returns how many
    (``whose``: the log's word for them)."""
    verb = "COMMIT PREPARED" if commit else "ROLLBACK PREPARED"
    done = 0
    for g in gids:
        try:
            with pg_errors.translated(during=f"{verb} {g}"):
                cur.execute(f"{verb} %s", (g,))
            done += 1
        except LoaderError:
            if not _gone(cur, g):  # else another session settled it first: nothing left to do
                raise
    if done:
        log.warning("%s %d prepared transaction(s) %s: %s", verb, done, whose, ", ".join(gids))
    return done


def _gone(cur: Any, g: str) -> bool:
    cur.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = %s)", (g,))
    return bool(cur.fetchone()[0])


def committed_rows(spec: ConnectionSpec, schema: str, run_id: str, connect: pg.Connect = pg.connect) -> int | None:
    """The engine's ledger question (engine/edges.py): the rows run ``run_id`` committed per the
    ledger in ``schema`` (None: it did not), with its prepared transactions settled by that answer first."""
    rows = ledger.committed_rows_at(spec, schema, run_id, connect)
    conn = connect(spec, application_name="loader:settle", autocommit=True)
    try:
        with conn.cursor() as cur:
            gids = [g for g, _, _ in pending(cur, run_id)]
            if gids:
                finish(cur, gids, commit=rows is not None)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return rows


def decide(conn: Any, spec: ConnectionSpec, schema: str, target: TableRef, run_id: str, rows: int,
           connect: pg.Connect = pg.connect) -> None:
    """Commit the run's ledger row (in ``schema``'s ledger) on ``conn`` (not one of the prepared): from here on the run's
    prepared transactions are committed, by this run or, after a crash, by whoever settles them.
    A connection lost during this COMMIT is answered by the ledger, as a load transaction's is."""
    try:
        with conn.cursor() as cur:
            ledger.record(cur, schema, target, run_id, rows)
    except TargetConnectionError as exc:
        raise _undecided(target, run_id, exc) from None
    ledger.commit(conn, spec, schema, run_id, table=target, during="COMMIT of the ledger row", connect=connect,
                  failed=lambda exc: _undecided(target, run_id, exc))


def _undecided(target: TableRef, run_id: str, exc: LoaderError) -> LoaderError:
    cls = TargetConnectionError if isinstance(exc, TargetConnectionError) else LoaderError
    return cls(f"{target}: the decision of run {run_id} (its ledger row) was not committed: {exc.message}; "
                     "its prepared transactions are rolled back (else by --resume or `loader reap`) and the "
                     "target is unchanged",
                     next_step="check the server, then run again with --resume (the staged parts are loaded again)",
                     table=str(target), run_id=run_id, retryable=True)
