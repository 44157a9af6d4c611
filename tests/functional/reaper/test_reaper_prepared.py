"""The reaper settles the prepared transactions of appends whose run is gone (reaper/settle.py):
committed where the run's ledger row says it decided to, rolled back where none does, a live run's
left alone. Real PostgreSQL (max_prepared_transactions 8) and state store; the transactions are
prepared with psycopg2's two-phase calls, as the load's workers prepare them (copy/landing/prepared.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg2
import pytest

from loader.connection import ConnectionSpec
from loader.destination.prepared_plan import gid
from loader.naming import prepared_marker
from loader.reaper.apply import ReapPolicy, format_report, reap_all_staging_tables
from loader.state import RunStatus, StateStore
from tests.functional.reaper.test_reaper import Clock

H = timedelta(hours=1)


def _prepare(pg_db: ConnectionSpec, run_id: str, row: int) -> None:
    conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
    conn.tpc_begin(gid(run_id, 0))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO rp VALUES (%s)", (row,))
    conn.tpc_prepare()
    conn.close()


def _state(pg_conn: Any) -> tuple[list[Any], list[Any]]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id FROM rp ORDER BY id")
        rows = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT gid FROM pg_prepared_xacts ORDER BY gid")
        return rows, [r[0] for r in cur.fetchall()]


def test_dead_runs_prepared_transactions_are_settled_by_their_ledger_row(
        pg_db: ConnectionSpec, pg_conn: Any, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the state store keeps no password: the reaper logs in as psql would (reaper/databases.py)
    monkeypatch.setenv("PGPASSWORD", pg_db.psycopg2_kwargs()["password"])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = Clock(now)
    store = StateStore(state_url, clock=clock)
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE rp (id int)")
        cur.execute("CREATE TABLE loader_ledger (run_id text PRIMARY KEY, target text NOT NULL, rows bigint NOT NULL, "
                    "committed_at timestamptz NOT NULL DEFAULT now())")

    def run(status: RunStatus, beat: timedelta) -> str:
        run_id = uuid.uuid4().hex
        clock.now = now - 2 * H
        store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.rp",
                         target_db=pg_db.safe_description(), method_requested="copy", write_mode="append")
        clock.now = now - beat
        store.start_loading(run_id, expected=RunStatus.PENDING)
        if status is RunStatus.FAILED:
            store.fail(run_id, "connection lost during COMMIT PREPARED")
        store.update(run_id, staging_table=prepared_marker(run_id))  # what the load records
        clock.now = now
        return run_id

    runs = {"live": run(RunStatus.LOADING, timedelta(minutes=1)), "stale": run(RunStatus.LOADING, 2 * H),
            "decided": run(RunStatus.FAILED, 2 * H)}
    unknown = uuid.uuid4().hex
    for n, run_id in enumerate([*runs.values(), unknown], start=1):
        _prepare(pg_db, run_id, n)
    with pg_conn.cursor() as cur:  # the decision: the run's ledger row, committed before the crash
        cur.execute("INSERT INTO loader_ledger (run_id, target, rows) VALUES (%s, 'public.rp', 1)",
                    (runs["decided"],))
    try:
        assert _state(pg_conn)[0] == []  # nothing visible while prepared
        dry = reap_all_staging_tables(store, ReapPolicy(dry_run=True))
        assert len(_state(pg_conn)[1]) == 4
        assert "WOULD SETTLE" in "\n".join(format_report(r) for r in dry)

        # the markers bring the reaper to this database; the unknown run's is within grace
        reports = reap_all_staging_tables(store, ReapPolicy())
        text = "\n".join(format_report(r) for r in reports)
        assert all(r.ok for r in reports), text
        rows, held = _state(pg_conn)
        assert rows == [3], text  # the decided run's row committed; the stale run's rolled back
        assert held == sorted([gid(runs["live"], 0), gid(unknown, 0)]), text
        assert "committed: its ledger row records the run" in text and "rolled back: no ledger row" in text
        assert store.get(runs["stale"]).status is RunStatus.ABANDONED
        assert store.get(runs["live"]).status is RunStatus.LOADING

        # no run of this store owns it: settled once older than grace
        reports = reap_all_staging_tables(store, ReapPolicy(grace=timedelta(0)), given=[pg_db])
        assert all(r.ok for r in reports)
        assert _state(pg_conn) == ([3], [gid(runs["live"], 0)])
    finally:
        with pg_conn.cursor() as cur:  # a prepared transaction would keep the scratch database alive
            for g in _state(pg_conn)[1]:
                cur.execute("ROLLBACK PREPARED %s", (g,))
        store.close()
