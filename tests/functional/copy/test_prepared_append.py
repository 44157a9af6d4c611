"""Append over N connections, all or nothing (destination/prepared_plan.py): each connection's
transaction prepared, the ledger row committed as the decision, then each COMMIT PREPARED. Real
Spark, PostgreSQL (max_prepared_transactions 8, tests/conftest.py) and S3 (moto); the crash tests
SIGKILL a real child process (tests/helpers/crash_child.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.adapters import s3
from loader.errors import DataError
from loader.state import StateStore
from tests.helpers.copy_setup import copy_manifest_folder
from tests.helpers.crash_child import run_killed

pytestmark = pytest.mark.slow
ROWS = 3_000


def _df(spark: Any, rows: int = ROWS, start: int = 100) -> Any:
    return spark.range(start, start + rows).selectExpr("id", "concat('new ', id) AS v").repartition(3)


def _table(pg_conn: Any, name: str, check: str = "true") -> None:
    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, v text NOT NULL CHECK ({check}))")
        cur.execute(f"INSERT INTO {name} SELECT g, 'old ' || g FROM generate_series(0, 9) g")


def _kw(bucket: str, state_url: str, **more: Any) -> dict[str, Any]:
    return {"temp_s3_bucket": bucket, "state_url": state_url, "rows_per_part": 300, "fallback": "none",
            "connections": 2, **more}


def _query(pg_conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with pg_conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _prepared(pg_conn: Any) -> list[tuple[Any, ...]]:
    return _query(pg_conn, "SELECT gid FROM pg_prepared_xacts ORDER BY gid")


def test_two_connections_append_every_row_once_and_leave_nothing_prepared(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    _table(pg_conn, "pa")
    res = write_to_postgres(_df(spark), pg_db.as_params(), table="pa", **_kw(bucket, state_url))
    assert "loaded over 2 connections, each prepared (PREPARE TRANSACTION)" in (res.path_reason or ""), res
    assert res.rows == ROWS
    assert _query(pg_conn, "SELECT count(*), count(DISTINCT id), sum(id) FROM pa") == [
        (ROWS + 10, ROWS + 10, sum(range(10)) + sum(range(100, 100 + ROWS)))]
    assert _prepared(pg_conn) == []
    assert _query(pg_conn, f"SELECT rows FROM loader_ledger WHERE run_id = '{res.run_id}'") == [(ROWS,)]
    assert 0 <= res.timings["commit_window"] < 5  # the two COMMIT PREPAREDs: what readers may see apart
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_a_refused_row_on_one_connection_leaves_the_table_as_it_was(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    _table(pg_conn, "pa_bad", check="v <> 'new 2500'")
    with pytest.raises(DataError) as info:
        write_to_postgres(_df(spark), pg_db.as_params(), table="pa_bad", **_kw(bucket, state_url))
    assert "pa_bad_v_check" in str(info.value) and "key (id=2500)" in str(info.value), str(info.value)
    assert _query(pg_conn, "SELECT count(*), max(v) FROM pa_bad") == [(10, "old 9")]
    assert _prepared(pg_conn) == []
    assert _query(pg_conn, "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'") == [(0,)]


def test_readers_see_no_row_until_the_commit(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                             state_url: str) -> None:
    """A reader polling the table during the load sees the 10 old rows, then all of them: never a
    count in between except within the commit window, which the run measures."""
    _table(pg_conn, "pa_read")
    seen: set[int] = set()
    done = threading.Event()

    def read() -> None:
        import psycopg2

        conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
        conn.autocommit = True
        with conn.cursor() as cur:
            while not done.is_set():
                cur.execute("SELECT count(*) FROM pa_read")
                seen.add(cur.fetchone()[0])
                time.sleep(0.005)
        conn.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        res = write_to_postgres(_df(spark, start=3000), pg_db.as_params(), table="pa_read",
                                **_kw(bucket, state_url))
    finally:
        done.set()
        reader.join()
    assert 10 in seen, seen
    assert _query(pg_conn, "SELECT count(*) FROM pa_read") == [(ROWS + 10,)]
    between = seen - {10, ROWS + 10}
    assert len(between) <= 1, f"only one connection's rows can be seen apart, in the commit window: {seen}"
    assert res.timings["commit_window"] < 1


MANIFEST = """\
version: 1
name: prep
source:
  format: parquet
  path: ${PREP_DATA}
target:
  connection: ${PREP_DB_URL}
  table: prep
  mode: append
method: copy
copy:
  bucket: ${PREP_BUCKET}
  rows_per_part: 2000
  connections: 2
  fallback: none
"""


@pytest.mark.parametrize("phase", ["prepared", "decided", "one_committed"])
def test_sigkill_with_transactions_prepared_then_resume_settles_them_and_loads_once(
        phase: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed with every connection prepared: before the ledger row, resume rolls them back and
    loads again; after it, resume commits them; killed between two COMMIT PREPAREDs, resume commits
    the one left. Either way each row once, nothing left prepared."""
    rows = 8_000
    folder = copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="prep", manifest=MANIFEST,
                                  rows=rows, env_prefix="PREP")
    _query_exec(pg_conn, "CREATE TABLE prep (id bigint PRIMARY KEY, v text)")
    run_killed(state_url, phase, folder)
    held = _prepared(pg_conn)
    assert len(held) == (1 if phase == "one_committed" else 2), held
    assert all(g.startswith("loader:") for (g,) in held), held
    visible = _query(pg_conn, "SELECT count(*) FROM prep")[0][0]
    if phase == "one_committed":  # one connection's share, committed: the window readers may see
        assert 0 < visible < rows, visible
    else:
        assert visible == 0, "nothing visible while prepared"
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    outcomes = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    assert outcomes[0].run_id == crashed.run_id
    assert _query(pg_conn, "SELECT count(*), count(DISTINCT id), sum(id) FROM prep") == [
        (rows, rows, sum(range(rows)))]
    assert _prepared(pg_conn) == []
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def _query_exec(pg_conn: Any, sql: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(sql)


def test_ctrl_c_while_the_connections_copy_leaves_the_table_and_nothing_prepared(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT while a worker's COPY reads a part: every connection's transaction is rolled back (none
    was prepared yet), the call raises Interrupted, the table holds its old rows only."""
    from loader.errors import Interrupted
    from tests.helpers.ctrl_c import sigint_on_third_part_read

    _table(pg_conn, "pa_intr")
    sigint_on_third_part_read(monkeypatch)
    with pytest.raises(Interrupted):
        write_to_postgres(_df(spark), pg_db.as_params(), table="pa_intr", **_kw(bucket, state_url))
    assert _query(pg_conn, "SELECT count(*), max(v) FROM pa_intr") == [(10, "old 9")]
    assert _prepared(pg_conn) == []
    assert _query(pg_conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'loader-copy:%'") \
        == [(0,)], "every worker's connection is closed"
