"""The COPY method end to end: real Spark, real PostgreSQL, real S3 endpoint (moto's server)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from loader import write_to_postgres
from loader.adapters import s3
from loader.errors import ConfigError, DataError, StagingError
from loader.state import StateStore
from tests.tricky import assert_rows_equal, fetch_table, tricky_df, tricky_rows


def _keys(bucket: str) -> list[str]:
    return [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, "")]


def test_copy_round_trips_tricky_data_exactly(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                             state_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loader")
    result = write_to_postgres(tricky_df(spark), pg_db.as_params() | {"table": "tricky"},
                               method="copy", temp_s3_bucket=bucket, state_url=state_url)
    assert result.method == "copy" and result.fallback_reason is None
    assert result.rows == len(tricky_rows())
    assert result.temp_path and result.temp_path.startswith(f"s3://{bucket}/tmp/postgres-copy/tricky-")
    assert_rows_equal(tricky_rows(), fetch_table(pg_conn, "tricky"))
    assert _keys(bucket) == [], "temp prefix must be deleted after success"
    messages = [r.getMessage() for r in caplog.records]
    assert f"Using project S3 bucket for temporary staging: {bucket}" in messages
    # the design document's line; binary parts say "binary" where CSV parts say "CSV"
    assert result.staging_format == "binary"
    assert any(m.startswith(f"Writing temporary binary to s3://{bucket}/tmp/postgres-copy/tricky-") for m in messages)
    assert "COPY protocol completed successfully" in messages
    assert "Temporary files cleaned up successfully" in messages
    run = StateStore(state_url).get(result.run_id)
    assert run.status == "succeeded" and run.method_used == "copy" and run.rows == result.rows
    assert run.temp_path == result.temp_path and run.cleanup_status == "done"


def test_copy_server_side_through_aws_s3_extension(spark: Any, pg_db: Any, aws_s3_extension: Any,
                                                  bucket: str, state_url: str) -> None:
    result = write_to_postgres(tricky_df(spark), pg_db.sqlalchemy_url().replace("+psycopg2", ""),
                               table="public.tricky_ss", temp_s3_bucket=bucket, state_url=state_url,
                               server_side="always")
    assert result.server_side and result.method == "copy"
    assert_rows_equal(tricky_rows(), fetch_table(aws_s3_extension, "tricky_ss"))


def test_server_side_always_without_extension_falls_back(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                        state_url: str) -> None:
    result = write_to_postgres(tricky_df(spark), pg_db.as_params(), table="t_fb", temp_s3_bucket=bucket,
                               state_url=state_url, server_side="always")
    assert result.method == "optimized" and "aws_s3" in (result.fallback_reason or "")
    assert_rows_equal(tricky_rows(), fetch_table(pg_conn, "t_fb"))
    assert _keys(bucket) == []


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_modes_append_overwrite_upsert(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
                                       compression: str) -> None:
    from pyspark.sql import Row

    conn = pg_db.as_params()
    first = spark.createDataFrame([Row(id=i, v=f"v{i}") for i in range(10)])
    kw: dict[str, Any] = {"table": "m", "temp_s3_bucket": bucket, "state_url": state_url,
                          "compression": compression, "key": ["id"]}
    write_to_postgres(first, conn, **kw)
    with pytest.raises(DataError, match="duplicate key") as info:  # the key became the primary key
        write_to_postgres(first, conn, mode="append", **kw)
    # the hint fits the error: the key exists already, so upsert on it (not "the column type")
    assert "load with mode: upsert and key: [id]" in str(info.value) and "column type" not in str(info.value)
    assert len(fetch_table(pg_conn, "m")) == 10
    second = spark.createDataFrame([Row(id=i, v=f"new{i}") for i in range(5, 15)])
    write_to_postgres(second, conn, mode="upsert", **kw)
    assert fetch_table(pg_conn, "m") == [(i, f"v{i}") for i in range(5)] + [(i, f"new{i}") for i in range(5, 15)]
    write_to_postgres(second.limit(3), conn, mode="overwrite", **kw)
    assert len(fetch_table(pg_conn, "m")) == 3


def test_unknown_option_is_a_clear_error(spark: Any, pg_db: Any, state_url: str) -> None:
    with pytest.raises(ConfigError, match="did you mean 'compression'"):
        write_to_postgres(spark.range(1), pg_db.as_params(), table="x", compresion="none",
                          state_url=state_url)


def test_missing_bucket_falls_back_and_records_reason(spark: Any, pg_db: Any, pg_conn: Any, s3_server: Any,
                                                      state_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loader")
    result = write_to_postgres(tricky_df(spark), pg_db.as_params(), table="fb", state_url=state_url,
                               temp_s3_bucket="no-such-bucket-here")
    assert result.method == "optimized" and "no-such-bucket-here" in (result.fallback_reason or "")
    messages = [r.getMessage() for r in caplog.records]
    assert any("falling back to optimized JDBC" in m and r.levelname == "WARNING"
               for m, r in zip(messages, caplog.records, strict=True))
    assert "Falling back to optimized JDBC writer" in messages
    assert_rows_equal(tricky_rows(), fetch_table(pg_conn, "fb"))
    run = StateStore(state_url).get(result.run_id)
    assert run.method_used == "optimized" and run.fallback_reason == result.fallback_reason


def test_missing_bucket_with_fallback_none_fails(spark: Any, pg_db: Any, pg_conn: Any, s3_server: Any,
                                                 state_url: str) -> None:
    with pytest.raises(StagingError, match="no-such-bucket-here"):
        write_to_postgres(spark.range(3), pg_db.as_params(), table="nofb", state_url=state_url,
                          temp_s3_bucket="no-such-bucket-here", fallback="none")
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('nofb')")
        assert cur.fetchone()[0] is None


def test_data_error_fails_fast_without_fallback_and_leaves_target(spark: Any, pg_db: Any, pg_conn: Any,
                                                                   bucket: str, state_url: str) -> None:
    from pyspark.sql import Row

    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE strict (id int PRIMARY KEY, v text NOT NULL)")
        cur.execute("INSERT INTO strict VALUES (-1, 'before')")
    df = spark.createDataFrame([Row(id=i, v=None if i == 7 else "ok") for i in range(10)])
    with pytest.raises(DataError, match=r"strict.*column v") as info:
        write_to_postgres(df, pg_db.as_params(), table="strict", temp_s3_bucket=bucket, state_url=state_url)
    assert "s3://" in str(info.value)  # names the part it came from
    assert fetch_table(pg_conn, "strict") == [(-1, "before")]
    assert _keys(bucket) == []
    run = StateStore(state_url).list_runs(limit=1)[0]
    assert run.status == "failed" and run.fallback_reason is None and "column v" in (run.error or "")


@pytest.mark.parametrize("method", ["copy", "optimized", "standard"])
def test_nul_byte_is_an_error_naming_the_column_unless_stripped(method: str, spark: Any, pg_db: Any,
                                                               pg_conn: Any, bucket: str, state_url: str) -> None:
    from pyspark.sql import Row

    df = spark.createDataFrame([Row(id=1, clean="x", dirty="a\x00b"), Row(id=2, clean="y", dirty="ok")])
    with pytest.raises(DataError, match="'dirty'.*NUL byte") as info:
        write_to_postgres(df, pg_db.as_params(), table="nul", temp_s3_bucket=bucket, state_url=state_url,
                          method=method)
    if method == "copy":
        assert "row " in str(info.value)  # partition and row of the offending value
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('nul')")
        assert cur.fetchone()[0] is None  # nothing half-written
    write_to_postgres(df, pg_db.as_params(), table="nul", temp_s3_bucket=bucket, state_url=state_url,
                      strip_nul=True, method=method)
    assert fetch_table(pg_conn, "nul") == [(1, "x", "ab"), (2, "y", "ok")]


def test_cleanup_disabled_keeps_files(spark: Any, pg_db: Any, bucket: str, state_url: str) -> None:
    result = write_to_postgres(spark.range(5), pg_db.as_params(), table="keep", temp_s3_bucket=bucket,
                               cleanup_temp_files=False, state_url=state_url)
    keys = _keys(bucket)
    assert keys and all(k.startswith(result.temp_path.split("/", 3)[3]) for k in keys)  # type: ignore[union-attr]
    assert StateStore(state_url).get(result.run_id).cleanup_status == "kept"
