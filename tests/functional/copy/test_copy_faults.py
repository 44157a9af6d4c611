"""Failure injection at each phase of COPY: the target is unchanged or fully loaded, never partial;
the prefix is deleted or recorded for the reaper; fallback only for infrastructure failures."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg2
import pytest

from loader import write_to_postgres
from loader.adapters import s3
from loader.errors import DataError, LoaderError
from loader.state import StateStore
from loader.testing.s3server import start_moto
from tests.tricky import fetch_table


def _objects(bucket: str) -> list[str]:
    return [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, "")]


def _wide_df(spark: Any, rows: int, partitions: int = 4) -> Any:
    from pyspark.sql import functions as F

    return spark.range(rows, numPartitions=partitions).select(
        F.col("id"), F.concat(F.lit("value "), F.col("id").cast("string"), F.lit(" " + "x" * 200)).alias("v"))


def test_s3_endpoint_stopped_mid_staging_falls_back_exactly_once(spark: Any, pg_db: Any, pg_conn: Any,
                                                                state_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_moto()
    try:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        bucket = server.create_bucket("faulty-bucket")
        client = server.client()

        def stop_after_first_object() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) > 0:
                        break
                except Exception:
                    return
                time.sleep(0.05)
            server.stop()

        killer = threading.Thread(target=stop_after_first_object, daemon=True)
        killer.start()
        result = write_to_postgres(_wide_df(spark, 60_000), pg_db.as_params(), table="faulty",
                                   temp_s3_bucket=bucket, state_url=state_url, rows_per_part=2_000)
        killer.join(timeout=10)
    finally:
        server.stop()
    assert result.method == "optimized" and result.fallback_reason
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM faulty")
        assert cur.fetchone() == (60_000, 60_000, sum(range(60_000)))
    run = StateStore(state_url).get(result.run_id)
    assert run.status == "succeeded" and run.fallback_reason == result.fallback_reason
    # S3 is gone, so the prefix could not be deleted: recorded for the reaper
    assert run.cleanup_status == "failed" and run.temp_path


def test_copy_error_in_a_late_part_leaves_target_unchanged(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                          state_url: str) -> None:
    from pyspark.sql import functions as F

    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE checked (id bigint PRIMARY KEY, v text CHECK (v <> 'bad'))")
        cur.execute("INSERT INTO checked VALUES (-1, 'before')")
    df = _wide_df(spark, 20_000).withColumn("v", F.when(F.col("id") == 19_999, "bad").otherwise(F.col("v")))
    with pytest.raises(DataError, match="checked.*violates check constraint") as info:
        write_to_postgres(df, pg_db.as_params(), table="checked", temp_s3_bucket=bucket, state_url=state_url,
                          rows_per_part=1_000)
    assert "s3://" in str(info.value) and "line" in str(info.value)
    assert str(info.value).split(" -> ")[0].endswith("key (id=19999)")  # the table has a key: it is named
    assert fetch_table(pg_conn, "checked") == [(-1, "before")]
    assert _objects(bucket) == []
    run = StateStore(state_url).list_runs(limit=1)[0]
    assert run.status == "failed" and run.fallback_reason is None and run.method_used == "copy"


def test_a_bad_value_in_a_table_without_key_is_named_by_its_row(spark: Any, pg_db: Any, pg_conn: Any,
                                                                bucket: str, state_url: str) -> None:
    """The staged part an error names is deleted with the failed run: the row is named by the values
    the user's data holds (its first columns, long ones shortened)."""
    from pyspark.sql import functions as F

    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE nokey (id bigint, v text CHECK (v NOT LIKE 'value 777 %'), n int, m int)")
    with pytest.raises(DataError, match="nokey.*violates check constraint") as info:
        write_to_postgres(_wide_df(spark, 2_000).withColumn("n", F.lit(1)).withColumn("m", F.lit(2)),
                          pg_db.as_params(), table="nokey",
                          temp_s3_bucket=bucket, state_url=state_url, rows_per_part=500)
    assert str(info.value).split(" -> ")[0].endswith("; row (id=777, v=value 777 xxxxxxxxxxxxxxxxxxxxxxxxxxx..., n=1)")


def test_connection_killed_mid_load_rolls_back(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                              state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE killed (id bigint PRIMARY KEY, v text)")
        cur.execute("INSERT INTO killed VALUES (-1, 'before')")
    killed: list[int] = []

    def kill_copy_backend() -> None:
        admin = psycopg2.connect(**pg_db.psycopg2_kwargs())
        admin.autocommit = True
        deadline = time.monotonic() + 120
        try:
            with admin.cursor() as cur:
                while time.monotonic() < deadline and not killed:
                    cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'loader-copy:%%' "
                                "AND query ILIKE 'COPY%%'")
                    row = cur.fetchone()
                    if row:
                        cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                        killed.append(row[0])
                    time.sleep(0.02)
        finally:
            admin.close()

    killer = threading.Thread(target=kill_copy_backend, daemon=True)
    killer.start()
    with pytest.raises(LoaderError, match="rolled back|terminat|connection"):
        write_to_postgres(_wide_df(spark, 100_000), pg_db.as_params(), table="killed", temp_s3_bucket=bucket,
                          state_url=state_url, rows_per_part=2_000, fallback="none")
    killer.join(timeout=10)
    assert killed, "the COPY backend was never seen"
    assert fetch_table(pg_conn, "killed") == [(-1, "before")]
    assert _objects(bucket) == []
    assert StateStore(state_url).list_runs(limit=1)[0].status == "failed"


@pytest.mark.seaweed
def test_copy_against_real_s3_server(spark: Any, pg_db: Any, pg_conn: Any, seaweed_server: Any,
                                     state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SeaweedFS catches what moto lets through (multipart, Content-Encoding, listing)."""
    from tests.tricky import assert_rows_equal, tricky_df, tricky_rows

    for key, value in seaweed_server.env().items():
        monkeypatch.setenv(key, value)
    bucket = seaweed_server.create_bucket("loader-seaweed")
    result = write_to_postgres(tricky_df(spark, copies=50), pg_db.as_params(), table="sw", temp_s3_bucket=bucket,
                               state_url=state_url)
    assert result.method == "copy" and result.fallback_reason is None
    expected = [(r[0] + k * 1000,) + r[1:] for k in range(50) for r in tricky_rows()]
    assert_rows_equal(expected, fetch_table(pg_conn, "sw"))
    big = write_to_postgres(_wide_df(spark, 120_000, partitions=1), pg_db.as_params(), table="sw_big",
                            temp_s3_bucket=bucket, state_url=state_url, compression="none")
    assert big.rows == 120_000 and big.bytes_staged > 16 * 1024 * 1024  # parts big enough for multipart
    assert _objects(bucket) == []


def test_a_missing_bucket_falls_back_without_a_cleanup_to_do(spark: Any, pg_db: Any, state_url: str,
                                                              caplog: Any) -> None:
    # nothing was ever written: no "could not be deleted" warning, no cleanup status to chase
    import logging

    caplog.set_level(logging.INFO, logger="loader")
    result = write_to_postgres(spark.range(5), pg_db.as_params(), table="nobucket", state_url=state_url,
                               temp_s3_bucket="no-such-bucket-anywhere")
    assert result.method == "optimized" and "no-such-bucket-anywhere" in (result.fallback_reason or "")
    run = StateStore(state_url).get(result.run_id)
    assert run.cleanup_status is None and run.temp_path is None
    assert not any("could not be deleted" in r.getMessage() for r in caplog.records)
