"""One connection's backend killed (pg_terminate_backend) during an append over prepared transactions
(copy/landing/prepared.py): while it COPYs, the run fails and every connection is rolled back; once it
has PREPAREd, its transaction survives it, so the run commits it over another connection, before or
after the decision; with the coordinator's backend killed too before the decision, the run fails and
rolls the dead connection's prepared transaction back from another. Each time the target is exactly
old or exactly new, nothing is left in pg_prepared_xacts, and a resume loads each row once. Real
Spark, PostgreSQL (max_prepared_transactions 8) and S3 (moto); the backends are found by their
application_name (tests/helpers/backend_kill.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.destination import prepared
from loader.state import RunStatus, StateStore
from tests.helpers import backend_kill
from tests.helpers.copy_setup import copy_manifest_folder

pytestmark = pytest.mark.slow
ROWS, OLD = 6_000, 10
MANIFEST = """\
version: 1
name: pbk
source:
  format: parquet
  path: ${PBK_DATA}
target:
  connection: ${PBK_DB_URL}
  table: pbk
  mode: append
method: copy
copy:
  bucket: ${PBK_BUCKET}
  rows_per_part: 1000
  connections: 2
  fallback: none
"""
OLD_CONTENT = (OLD, OLD, -sum(range(1, OLD + 1)))
NEW_CONTENT = (OLD + ROWS, OLD + ROWS, -sum(range(1, OLD + 1)) + sum(range(ROWS)))


@pytest.fixture()
def folder(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE pbk (id bigint PRIMARY KEY, v text NOT NULL)")
        cur.execute(f"INSERT INTO pbk SELECT -g, 'old ' || g FROM generate_series(1, {OLD}) g")
    return copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="pbk", manifest=MANIFEST,
                                rows=ROWS, env_prefix="PBK")


def _one(pg_conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with pg_conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _content(pg_conn: Any) -> tuple[int, int, int]:
    return tuple(_one(pg_conn, "SELECT count(*), count(DISTINCT id), sum(id) FROM pbk"))  # type: ignore[return-value]


def _prepared(pg_conn: Any) -> list[str]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT gid FROM pg_prepared_xacts ORDER BY gid")
        return [r[0] for r in cur.fetchall()]


def _loader_backends(pg_conn: Any) -> int:
    return int(_one(pg_conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'loader-copy:%%'")[0])


def _resume_loads_once(folder: Path, spark: Any, pg_conn: Any, bucket: str, state_url: str, run_id: str) -> None:
    outcomes = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    assert outcomes[0].run_id == run_id
    assert _content(pg_conn) == NEW_CONTENT  # each row exactly once
    assert _prepared(pg_conn) == []
    assert _one(pg_conn, "SELECT rows FROM loader_ledger WHERE run_id = %s", (run_id,)) == (ROWS,)
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_a_worker_backend_killed_while_it_copies_fails_the_run_and_the_resume_loads_once(
        folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    """The first read of a staged part (a worker's COPY is running, its backend waiting for data)
    kills one worker's backend: its transaction is gone, so the run fails and rolls the other back."""
    with backend_kill.copying_worker_killed_on_first_read(pg_db) as killed:
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert len(killed) == 1 and killed[0][1].startswith("loader-copy:") and killed[0][1].count(":") == 2, killed
    assert [o.status for o in outcomes] == ["failed"], outcomes
    error = outcomes[0].error
    assert "failed during the COPY of s3://" in error and "connection" in error and "--resume" in error, error
    assert _content(pg_conn) == OLD_CONTENT
    assert _prepared(pg_conn) == []
    assert _loader_backends(pg_conn) == 0, "every connection is closed"
    run = StateStore(state_url).get(outcomes[0].run_id)
    assert run.status is RunStatus.FAILED
    _resume_loads_once(folder, spark, pg_conn, bucket, state_url, outcomes[0].run_id)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_worker_backend_killed_once_prepared_is_committed_over_another_connection(
        when: str, folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Worker 0's backend killed with its transaction prepared, before or after the decision (the
    ledger row): a prepared transaction outlives its backend and COMMIT PREPARED may come from any
    session, so the run completes with every row, and nothing stays prepared."""
    original, seen = prepared.decide, []

    def kill_then_decide(conn: Any, spec: Any, schema: str, target: Any, run_id: str, rows: int, **kw: Any) -> None:
        seen.append(_prepared(pg_conn))
        if when == "after":
            original(conn, spec, schema, target, run_id, rows, **kw)
        seen.append(backend_kill.terminate(pg_db, *backend_kill.worker(run_id, 0)))
        if when == "before":
            original(conn, spec, schema, target, run_id, rows, **kw)

    monkeypatch.setattr(prepared, "decide", kill_then_decide)
    caplog.set_level(logging.INFO, logger="loader")
    with backend_kill.every_worker_connected(2):
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    run_id = outcomes[0].run_id
    assert seen[0] == [f"loader:{run_id}:0", f"loader:{run_id}:1"], seen  # both prepared when it was killed
    assert [app for _, app in seen[1]] == [f"loader-copy:{run_id[:8]}:0"], seen
    assert _content(pg_conn) == NEW_CONTENT
    assert _prepared(pg_conn) == []
    assert _one(pg_conn, "SELECT rows FROM loader_ledger WHERE run_id = %s", (run_id,)) == (ROWS,)
    assert any(f"loader:{run_id}:0" in r.getMessage() and "another connection" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert _loader_backends(pg_conn) == 0
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_the_coordinator_and_a_worker_killed_before_the_decision_roll_back_and_resume_loads_once(
        folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both prepared, then worker 0's backend and the coordinator's (which commits the decision)
    killed: no decision can be made, so the run fails, and the dead worker's prepared transaction,
    which its own connection can no longer roll back, is rolled back over another."""
    original, killed = prepared.decide, []

    def kill_then_decide(conn: Any, spec: Any, schema: str, target: Any, run_id: str, rows: int, **kw: Any) -> None:
        killed.extend(backend_kill.terminate(pg_db, *backend_kill.worker(run_id, 0)))
        killed.extend(backend_kill.terminate(pg_db, *backend_kill.driver(run_id)))
        original(conn, spec, schema, target, run_id, rows, **kw)

    monkeypatch.setattr(prepared, "decide", kill_then_decide)
    with backend_kill.every_worker_connected(2):
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert len(killed) == 2, killed
    assert [o.status for o in outcomes] == ["failed"], outcomes
    assert "ledger" in outcomes[0].error and "--resume" in outcomes[0].error, outcomes[0].error
    assert _content(pg_conn) == OLD_CONTENT
    assert _prepared(pg_conn) == [], "the dead worker's prepared transaction was rolled back"
    assert _loader_backends(pg_conn) == 0
    monkeypatch.setattr(prepared, "decide", original)
    _resume_loads_once(folder, spark, pg_conn, bucket, state_url, outcomes[0].run_id)
