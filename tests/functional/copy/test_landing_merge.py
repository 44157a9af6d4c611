"""Upsert and slice replace over N connections (copy/landing/staging_merge.py): the parts land over two
connections in the run's UNLOGGED staging table, then one transaction merges them, writes the
ledger row and drops the staging table. Readers see the old rows or the new ones, never a mix;
a failure or a SIGKILL leaves the target as it was, and ``--resume`` or ``loader reap`` leaves
no staging table behind. Real Spark, PostgreSQL and S3 (moto); the crash tests SIGKILL a real
child process (tests/helpers/crash_child.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.adapters import s3
from loader.errors import DataError
from loader.state import RunStatus, StateStore
from tests.helpers import backend_kill
from tests.helpers.copy_setup import reap
from tests.helpers.crash_child import run_killed
from tests.helpers.table_reader import Reader

pytestmark = pytest.mark.slow
ROWS = 6_000
OLD_B = 20  # dataset b's rows before; its new rows reuse their keys (100, 101, ...)
MANIFEST = """\
version: 1
name: lmcrash
source:
  format: parquet
  path: ${LM_DATA}
target:
  connection: ${LM_DB_URL}
  table: lm
  mode: overwrite
  replace_where: "dataset = 'b'"
method: copy
copy:
  bucket: ${LM_BUCKET}
  rows_per_part: 500
  connections: 2
  fallback: none
"""


def _query(pg_conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with pg_conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


@pytest.fixture()
def lm(pg_conn: Any) -> Any:
    _query(pg_conn, "CREATE TABLE lm (id bigint PRIMARY KEY, dataset text NOT NULL, v text NOT NULL "
                    "CHECK (v <> 'row bad'))")
    _query(pg_conn, "CREATE INDEX lm_dataset ON lm (dataset)")
    _query(pg_conn, "INSERT INTO lm SELECT g, 'a', 'a ' || g FROM generate_series(0, 9) g")
    _query(pg_conn, f"INSERT INTO lm SELECT 100 + g, 'b', 'old ' || g FROM generate_series(0, {OLD_B - 1}) g")
    return pg_conn


def _df(spark: Any, rows: int = ROWS, bad: int | None = None) -> Any:
    """Dataset b: ``rows`` rows from id 100 (the old rows' keys and more), v 'row <n>'; row ``bad``'s
    v is 'row bad', which the table's CHECK refuses."""
    v = "concat('row ', id)" if bad is None else f"IF(id = {bad}, 'row bad', concat('row ', id))"
    return spark.range(rows, numPartitions=4).selectExpr("id + 100 AS id", "'b' AS dataset", f"{v} AS v")


def _content(pg_conn: Any) -> list[tuple[Any, ...]]:
    return _query(pg_conn, "SELECT dataset, count(*), count(DISTINCT id), sum(id), "
                           "md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM lm GROUP BY 1 ORDER BY 1")


def _staging_tables(pg_conn: Any) -> list[str]:
    return [r[0] for r in _query(pg_conn, "SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%' "
                                          "ORDER BY 1")]


OLD_SEEN, NEW_SEEN = (10 + OLD_B, 10 + OLD_B, "a 0"), (10 + ROWS, 10 + ROWS, "a 0")


def _kw(bucket: str, state_url: str, **more: Any) -> dict[str, Any]:
    return {"temp_s3_bucket": bucket, "state_url": state_url, "rows_per_part": 500, "fallback": "none",
            "connections": 2, **more}


@pytest.mark.parametrize("slice_args", [{"replace_where": "dataset = 'b'"}, {"replace_by": ["dataset"]}],
                         ids=["replace_where", "replace_by"])
def test_a_slice_replaced_over_two_connections_is_the_one_connection_result_and_readers_see_old_or_new(
        spark: Any, pg_db: Any, lm: Any, bucket: str, state_url: str, slice_args: dict[str, Any]) -> None:
    params = pg_db.as_params() | {"table": "lm"}
    with Reader(pg_db, "lm", interval=0.01) as reader:
        res = write_to_postgres(_df(spark), params, mode="overwrite", **slice_args,
                                **_kw(bucket, state_url))
    assert "loaded over 2 connections into an UNLOGGED staging table in schema public, then merged in one " \
           "transaction" in (res.path_reason or ""), res.path_reason
    assert (res.rows, res.rows_deleted) == (ROWS, OLD_B)
    assert reader.seen <= {OLD_SEEN, NEW_SEEN} and OLD_SEEN in reader.seen, reader.seen
    landed = _content(lm)
    # the same load over one connection (its TEMP table) into a copy of the table as it was
    _query(lm, "ALTER TABLE lm RENAME TO lm_two")
    _query(lm, "CREATE TABLE lm (LIKE lm_two INCLUDING ALL)")
    _query(lm, "INSERT INTO lm SELECT g, 'a', 'a ' || g FROM generate_series(0, 9) g")
    _query(lm, f"INSERT INTO lm SELECT 100 + g, 'b', 'old ' || g FROM generate_series(0, {OLD_B - 1}) g")
    one = write_to_postgres(_df(spark), params, mode="overwrite", **slice_args,
                            **_kw(bucket, state_url, connections=1))
    assert "UNLOGGED staging table" not in (one.path_reason or "")
    assert _content(lm) == landed and (one.rows, one.rows_deleted) == (res.rows, res.rows_deleted)
    assert landed[0][:4] == ("a", 10, 10, sum(range(10)))  # the other dataset untouched
    assert _staging_tables(lm) == []
    assert _query(lm, f"SELECT rows FROM loader_ledger WHERE run_id = '{res.run_id}'") == [(ROWS,)]
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_an_upsert_over_two_connections_counts_new_and_updated_keys(
        spark: Any, pg_db: Any, lm: Any, bucket: str, state_url: str) -> None:
    params = pg_db.as_params() | {"table": "lm"}
    res = write_to_postgres(_df(spark), params, mode="upsert", key=["id"], **_kw(bucket, state_url))
    assert "into an UNLOGGED staging table" in (res.path_reason or ""), res.path_reason
    assert (res.rows, res.rows_inserted, res.rows_updated) == (ROWS, ROWS - OLD_B, OLD_B)
    assert _content(lm)[1][:4] == ("b", ROWS, ROWS, sum(range(100, 100 + ROWS)))
    assert _query(lm, "SELECT count(*) FROM lm WHERE v LIKE 'old %'") == [(0,)]
    assert _staging_tables(lm) == []


def test_a_row_the_table_refuses_fails_the_merge_and_changes_nothing(
        spark: Any, pg_db: Any, lm: Any, bucket: str, state_url: str) -> None:
    before = _content(lm)
    with pytest.raises(DataError) as info:
        write_to_postgres(_df(spark, bad=4221), pg_db.as_params() | {"table": "lm"}, mode="overwrite",
                          replace_where="dataset = 'b'", **_kw(bucket, state_url))
    assert "lm_v_check" in info.value.message, info.value.message
    assert _content(lm) == before
    assert _staging_tables(lm) == []


@pytest.fixture()
def folder(spark: Any, pg_db: Any, lm: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data.parquet"
    _df(spark).write.parquet(str(data))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "lmcrash.yaml").write_text(MANIFEST)
    monkeypatch.setenv("LM_DATA", str(data))
    monkeypatch.setenv("LM_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("LM_BUCKET", bucket)
    return folder


def _crash(state_url: str, phase: str, folder: Path, pg_db: Any) -> set[tuple[Any, ...]]:
    with Reader(pg_db, "lm", interval=0.02) as reader:
        run_killed(state_url, phase, folder)
    return reader.seen


@pytest.mark.parametrize("phase", ["landing_copying", "landing_landed", "committed"])
def test_a_killed_merge_over_two_connections_leaves_the_target_and_resumes_once(
        phase: str, folder: Path, spark: Any, pg_db: Any, lm: Any, bucket: str, state_url: str) -> None:
    before = _content(lm)
    seen = _crash(state_url, phase, folder, pg_db)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    assert crashed.status.is_active
    if phase == "committed":  # the merge committed, the state store not told: the staging table went with it
        assert seen <= {OLD_SEEN, NEW_SEEN}, seen
        assert _content(lm)[1][:4] == ("b", ROWS, ROWS, sum(range(100, 100 + ROWS)))
        assert _staging_tables(lm) == []
    else:
        assert seen == {OLD_SEEN}, seen
        assert _content(lm) == before
        assert _staging_tables(lm) == [crashed.staging_table]
    with Reader(pg_db, "lm", interval=0.02) as reader:
        outcomes = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    assert outcomes[0].run_id == crashed.run_id
    assert reader.seen <= {OLD_SEEN, NEW_SEEN}, reader.seen
    after = _content(lm)
    assert after[0] == before[0] and after[1][:4] == ("b", ROWS, ROWS, sum(range(100, 100 + ROWS)))
    assert _staging_tables(lm) == []  # the killed attempt's too
    assert StateStore(state_url).get(crashed.run_id).attempt == 2
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_the_reaper_drops_a_killed_merges_staging_table(
        folder: Path, pg_db: Any, lm: Any, bucket: str, state_url: str) -> None:
    before = _content(lm)
    _crash(state_url, "landing_landed", folder, pg_db)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    assert _staging_tables(lm) == [crashed.staging_table]
    time.sleep(1.1)
    text = reap(state_url, bucket, folder, stale_after="1s")
    assert f"public.{crashed.staging_table}" in text, text
    assert _staging_tables(lm) == [] and _content(lm) == before
    assert StateStore(state_url).get(crashed.run_id).status is RunStatus.ABANDONED


def test_a_worker_backend_killed_while_it_copies_fails_the_run_drops_the_staging_table_and_resume_loads_once(
        folder: Path, spark: Any, pg_db: Any, lm: Any, bucket: str, state_url: str) -> None:
    """The first read of a staged part (a worker's COPY running, its backend waiting for data) kills
    that worker's backend: the run fails, the target is as it was, no staging table is left."""
    before = _content(lm)
    with backend_kill.copying_worker_killed_on_first_read(pg_db) as killed:
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert len(killed) == 1 and killed[0][1].startswith("loader-copy:") and killed[0][1].count(":") == 2, killed
    assert [o.status for o in outcomes] == ["failed"], outcomes
    assert "the staging table of public.lm" in outcomes[0].error and "--resume" in outcomes[0].error, \
        outcomes[0].error
    assert _content(lm) == before
    assert _staging_tables(lm) == []
    resumed = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in resumed] == ["succeeded"] and resumed[0].run_id == outcomes[0].run_id, resumed
    assert _content(lm)[1][:4] == ("b", ROWS, ROWS, sum(range(100, 100 + ROWS)))
    assert _staging_tables(lm) == []
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []
