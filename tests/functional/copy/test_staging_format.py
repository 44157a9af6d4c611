"""The staging format as a user meets it: binary where every column can take it, CSV otherwise (with
the column named in the reason), exact widenings, refused narrowings, NUL bytes, server side."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from loader import write_to_postgres
from loader.adapters import s3
from loader.errors import ConfigError, DataError
from loader.state import StateStore


def _keys(bucket: str) -> list[str]:
    return [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, "")]


def _load(df: Any, pg_db: Any, table: str, bucket: str, state_url: str, **kw: Any) -> Any:
    return write_to_postgres(df, pg_db.as_params(), method="copy", table=table, temp_s3_bucket=bucket,
                             state_url=state_url, fallback="none", server_side="never", **kw)


def test_wider_target_columns_load_exactly_in_binary(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                     state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE wide (i bigint, f double precision, d numeric(12,2), j jsonb, "
                    "t varchar(10), a bigint[])")
    df = spark.sql("SELECT CAST(2147483647 AS int) AS i, CAST(0.5 AS float) AS f, "
                   "CAST(12345678.91 AS decimal(10,2)) AS d, '{\"k\": [1, null]}' AS j, 'ten chars!' AS t, "
                   "array(CAST(1 AS int), NULL) AS a")
    result = _load(df, pg_db, "wide", bucket, state_url)
    assert result.staging_format == "binary", result.format_reason
    with pg_conn.cursor() as cur:
        cur.execute("SELECT i, f, d, j, t, a FROM wide")
        assert cur.fetchone() == (2147483647, 0.5, Decimal("12345678.91"), {"k": [1, None]}, "ten chars!",
                                  [1, None])
    assert "staged as binary" in (StateStore(state_url).get(result.run_id).reason or "")


def test_a_column_binary_cannot_produce_falls_to_csv_and_says_which(spark: Any, pg_db: Any, pg_conn: Any,
                                                                      bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE withuuid (id bigint, u uuid)")
    df = spark.sql("SELECT 1L AS id, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS u")
    result = _load(df, pg_db, "withuuid", bucket, state_url)
    assert result.staging_format == "csv"
    assert "'u'" in result.format_reason and "uuid" in result.format_reason
    assert "'u'" in (StateStore(state_url).get(result.run_id).reason or "")
    with pg_conn.cursor() as cur:
        cur.execute("SELECT u::text FROM withuuid")
        assert cur.fetchone() == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",)


def test_binary_requested_for_an_impossible_column_is_refused_before_staging(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE inetcol (id bigint, addr inet)")
    df = spark.sql("SELECT 1L AS id, '10.0.0.1' AS addr")
    with pytest.raises(ConfigError, match="'addr'.*inet"):
        _load(df, pg_db, "inetcol", bucket, state_url, staging_format="binary")
    assert _keys(bucket) == []


def test_a_value_too_wide_for_the_target_fails_naming_the_column(spark: Any, pg_db: Any, pg_conn: Any,
                                                                  bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE narrow (id bigint, n integer)")
        cur.execute("INSERT INTO narrow VALUES (0, 0)")
    df = spark.sql("SELECT id, IF(id = 2500, 1099511627776L, id) AS n FROM range(3000)")
    with pytest.raises(DataError, match="'n'") as info:
        _load(df, pg_db, "narrow", bucket, state_url, rows_per_part=500)
    assert "integer" in str(info.value)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM narrow")
        assert cur.fetchone() == (1,)  # the parts loaded before the bad one were rolled back
    assert _keys(bucket) == []


def test_nul_bytes_in_binary_name_the_column_or_are_stripped(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                             state_url: str) -> None:
    df = spark.sql("SELECT 1 AS id, concat('a', char(0), 'b') AS note, array('x', concat('y', char(0))) AS tags")
    with pytest.raises(DataError, match="'note'.*NUL"):
        _load(df, pg_db, "nul_bin", bucket, state_url)
    result = _load(df, pg_db, "nul_bin", bucket, state_url, strip_nul=True)
    assert result.staging_format == "binary"
    with pg_conn.cursor() as cur:
        cur.execute("SELECT note, tags FROM nul_bin")
        assert cur.fetchone() == ("ab", ["x", "y"])


def test_struct_and_map_reach_jsonb_in_binary(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                              state_url: str) -> None:
    df = spark.sql("SELECT 1 AS id, named_struct('a', 1, 'b', 'x\"y') AS st, map('k', 2) AS mp, "
                   "array(named_struct('z', 1.5)) AS arr")
    result = _load(df, pg_db, "js", bucket, state_url)
    assert result.staging_format == "binary"
    with pg_conn.cursor() as cur:
        cur.execute("SELECT st, mp, arr, pg_typeof(arr)::text FROM js")
        st, mp, arr, typ = cur.fetchone()
    assert (st, mp, typ) == ({"a": 1, "b": 'x"y'}, {"k": 2}, "jsonb")
    assert json.loads(json.dumps(arr)) == [{"z": 1.5}]


def test_server_side_imports_binary_parts(spark: Any, pg_db: Any, aws_s3_extension: Any, bucket: str,
                                          state_url: str) -> None:
    df = spark.sql("SELECT id, CAST(id AS decimal(20,4)) / 3 AS d, concat('r', id) AS t FROM range(2000)")
    result = write_to_postgres(df, pg_db.as_params(), method="copy", table="ss_bin", temp_s3_bucket=bucket,
                               state_url=state_url, fallback="none", server_side="always", rows_per_part=700)
    assert result.server_side and result.staging_format == "binary" and result.rows == 2000
    with aws_s3_extension.cursor() as cur:
        cur.execute("SELECT count(*), sum(id), sum(d), min(t) FROM ss_bin")
        count, total, dsum, first = cur.fetchone()
    assert (count, total, first) == (2000, sum(range(2000)), "r0")
    assert dsum == df.agg({"d": "sum"}).collect()[0][0]  # every decimal arrived exactly as Spark had it


def test_a_server_that_refuses_binary_imports_gets_the_parts_streamed(spark: Any, pg_db: Any, aws_s3_extension: Any,
                                                                     bucket: str, state_url: str) -> None:
    # an aws_s3 that does not pass (format binary) to COPY: the wrapper RDS users call, refusing it
    with aws_s3_extension.cursor() as cur:
        cur.execute("""
            CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
              table_name text, column_list text, options text, s3_info aws_commons._s3_uri_1,
              credentials aws_commons._aws_credentials_1 DEFAULT NULL)
            RETURNS text LANGUAGE plpgsql AS $$
            BEGIN
              IF options ILIKE '%binary%' THEN
                RAISE EXCEPTION 'unsupported format' USING ERRCODE = 'feature_not_supported';
              END IF;
              RETURN aws_s3.table_import_from_s3(table_name, column_list, options, (s3_info).bucket,
                (s3_info).file_path, (s3_info).region);
            END $$""")
    aws_s3_extension.commit()
    df = spark.sql("SELECT id, concat('r', id) AS t FROM range(1500)")
    result = write_to_postgres(df, pg_db.as_params(), method="copy", table="ss_refused", temp_s3_bucket=bucket,
                               state_url=state_url, fallback="none", server_side="always", rows_per_part=400)
    assert result.method == "copy" and result.staging_format == "binary" and not result.server_side
    assert "server-side import refused" in result.path_reason
    with aws_s3_extension.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM ss_refused")
        assert cur.fetchone() == (1500, 1500, sum(range(1500)))  # the refused part was not loaded twice


def test_invalid_utf8_is_refused_naming_the_column(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                   state_url: str) -> None:
    # Spark hands over any bytes a cast from binary makes; PostgreSQL validates text in binary too
    df = spark.sql("SELECT 1 AS id, cast(X'C328' AS string) AS s")
    with pytest.raises(DataError, match="UTF8") as info:
        _load(df, pg_db, "bad_utf8", bucket, state_url)
    assert "column s" in str(info.value)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('bad_utf8')")
        assert cur.fetchone() == (None,)  # the table the run would have created is not there either
