"""jdbc_write (standard and optimized) on a real Spark and PostgreSQL: exact values, atomicity."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loader.adapters import pg
from loader.connection import ConnectionSpec
from loader.destination import ledger
from loader.destination.modes import write_mode
from loader.errors import DataError
from loader.jdbc.frame import choose_batchsize
from loader.jdbc.method import jdbc_write
from loader.naming import TableRef, parse_staging_table, quote_ident
from loader.options import JdbcOptions, Method, WriteMode
from loader.plan.typemap import create_table_sql, match_columns, plan_for_new_table

pytestmark = pytest.mark.slow
METHODS = [Method.STANDARD, Method.OPTIMIZED]
T = TableRef("public", "target")

TRICKY = ['quote " double', "single ' quote", "comma, here", "cr\rlf\r\nlf\n", "tab\there", "back\\slash",
          "\\N", "NULL", "", None, "ñandú 日本語 🎉🚀", "trailing space ", '"quoted,csv"']
DECIMALS = [Decimal("12345678901234567890.123456789012345678"), Decimal("-0.000000000000000001"),
            Decimal("0E-18"), None, Decimal("99999999999999999999.999999999999999999")]
T0 = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone.utc)


def _source_rows(n: int) -> list[tuple[Any, ...]]:
    return [(i, TRICKY[i % len(TRICKY)], DECIMALS[i % len(DECIMALS)],
             None if i % 11 == 0 else T0 - timedelta(days=i, microseconds=i * 7919),
             None if i % 5 == 0 else i % 2 == 0, date(1970, 1, 1) + timedelta(days=i * 3))
            for i in range(n)]


SCHEMA = ("id long, s string, d decimal(38,18), ts timestamp, b boolean, dt date")


def _stage_tables(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'")
        return [r[0] for r in cur.fetchall()]


def _fetch(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _write(df: Any, spec: ConnectionSpec, conn: Any, *, method: Method, mode: WriteMode = WriteMode.APPEND,
           key: tuple[str, ...] = (), target: TableRef = T, create: bool = False,
           opts: JdbcOptions | None = None, on_stage_created: Any = None) -> Any:
    with conn.cursor() as cur:
        existing = pg.table_columns(cur, target)
    if existing is None or create:
        plan, create_sql = plan_for_new_table(df.schema), create_table_sql(target, df.schema, key)
    else:
        plan, create_sql = match_columns(target, df.schema, existing), None
    return jdbc_write(df, spec, target, run_id=uuid.uuid4().hex, method=method, write=write_mode(mode, key),
                      plan=plan, create_sql=create_sql, opts=opts or JdbcOptions(),
                      on_stage_created=on_stage_created)


@pytest.mark.parametrize("method", METHODS)
def test_tricky_values_round_trip_exactly(spark: Any, pg_db: ConnectionSpec, pg_conn: Any,
                                          method: Method) -> None:
    rows = _source_rows(3000)
    df = spark.createDataFrame(rows, SCHEMA).repartition(3)
    result = _write(df, pg_db, pg_conn, method=method)
    assert result.rows == 3000
    got = _fetch(pg_conn, "SELECT id, s, d, ts, b, dt FROM target ORDER BY id")
    assert got == rows
    assert _fetch(pg_conn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                           "'target'::regclass AND attname = 'ts'") == [("timestamp with time zone",)]
    assert _stage_tables(pg_conn) == []


@pytest.mark.parametrize("method", METHODS)
def test_nested_types_land_as_jsonb_and_arrays(spark: Any, pg_db: ConnectionSpec, pg_conn: Any,
                                               method: Method) -> None:
    rows = [(1, {"a": 1, "b": 'x"y'}, [1, 2, None], {"k": 1.5}, [{"a": 2, "b": None}])]
    df = spark.createDataFrame(rows, "id long, st struct<a:int,b:string>, arr array<long>, "
                                     "m map<string,double>, arrst array<struct<a:int,b:string>>")
    _write(df, pg_db, pg_conn, method=method)
    got = _fetch(pg_conn, "SELECT id, st, arr, m, arrst, pg_typeof(st)::text, pg_typeof(arr)::text FROM target")
    # the struct in the array keeps its NULL field (a missing key is another document)
    assert got == [(1, {"a": 1, "b": 'x"y'}, [1, 2, None], {"k": 1.5}, [{"a": 2, "b": None}], "jsonb", "bigint[]")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", list(WriteMode))
def test_modes(spark: Any, pg_db: ConnectionSpec, pg_conn: Any, method: Method, mode: WriteMode) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id bigint PRIMARY KEY, v text, n integer)")
        cur.execute("INSERT INTO target SELECT g, 'old', g FROM generate_series(1, 1000) g")
    df = spark.range(900, 2100, numPartitions=4).selectExpr("id", "concat('new', id) AS v")
    if mode is WriteMode.APPEND:
        df = df.where("id > 1000")
    result = _write(df, pg_db, pg_conn, method=method, mode=mode, key=("id",))
    counts = dict(_fetch(pg_conn, "SELECT v LIKE 'new%', count(*) FROM target GROUP BY 1"))
    expected = {WriteMode.APPEND: {False: 1000, True: 1099}, WriteMode.OVERWRITE: {True: 1200},
                WriteMode.UPSERT: {False: 899, True: 1200}}[mode]
    assert counts == expected
    assert result.rows == (1099 if mode is WriteMode.APPEND else 1200)
    # n is not in the DataFrame: upsert keeps it for updated rows, new rows get NULL
    assert _fetch(pg_conn, "SELECT n FROM target WHERE id = 950")[0][0] == (
        None if mode is WriteMode.OVERWRITE else 950)
    with pg_conn.cursor() as cur:
        assert ledger.committed_rows(cur, T.schema, "nope") is None


@pytest.mark.parametrize("method", METHODS)
def test_text_into_jsonb_uuid_inet_enum(spark: Any, pg_db: ConnectionSpec, pg_conn: Any,
                                        method: Method) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        cur.execute("CREATE TABLE target (id integer, j jsonb, u uuid, ip inet, m mood, w timestamp)")
    u = str(uuid.uuid4())
    df = spark.createDataFrame([(1, '{"a": [1, "x"], "b": null}', u, "192.168.0.1/24", "sad",
                                 datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc))],
                               "id long, j string, u string, ip string, m string, w timestamp")
    _write(df, pg_db, pg_conn, method=method)
    assert _fetch(pg_conn, "SELECT id, j, u::text, ip::text, m::text, w FROM target") == [
        (1, {"a": [1, "x"], "b": None}, u, "192.168.0.1/24", "sad", datetime(2020, 1, 2, 3, 4, 5, 6))]


@pytest.mark.parametrize("method", METHODS)
def test_rejected_value_is_a_data_error_and_target_unchanged(spark: Any, pg_db: ConnectionSpec,
                                                             pg_conn: Any, method: Method) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer, n integer)")
        cur.execute("INSERT INTO target VALUES (1, 1)")
    df = spark.createDataFrame([(2, "2"), (3, "abc")], "id long, n string")
    with pytest.raises(DataError) as info:
        _write(df, pg_db, pg_conn, method=method, mode=WriteMode.OVERWRITE)
    assert "abc" in str(info.value) and "'n'" in str(info.value)
    assert _fetch(pg_conn, "SELECT * FROM target") == [(1, 1)]
    assert _stage_tables(pg_conn) == []


def test_nul_byte_is_a_data_error(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    df = spark.createDataFrame([(1, "a\x00b")], "id long, s string")
    with pytest.raises(DataError, match="column 's' contains a NUL byte"):
        _write(df, pg_db, pg_conn, method=Method.OPTIMIZED)
    assert _fetch(pg_conn, "SELECT to_regclass('public.target')") == [(None,)]  # create rolled back
    assert _stage_tables(pg_conn) == []


def test_hostile_column_and_table_names(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    evil = 'a"; drop table x; --'
    target = TableRef("public", evil)
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE x (keep integer)")
    df = spark.createDataFrame([(1, "v")], f"`{evil}` long, `we.ird``col` string")
    for method in METHODS:
        _write(df, pg_db, pg_conn, method=method, target=target, key=(evil,), mode=WriteMode.UPSERT)
    assert _fetch(pg_conn, f"SELECT {quote_ident(evil)}, \"we.ird`col\" FROM {target.quoted}") == [(1, "v")]
    assert _fetch(pg_conn, "SELECT to_regclass('public.x') IS NOT NULL") == [(True,)]


def test_optimized_settings(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    df = spark.range(0, 2000, numPartitions=4)
    result = _write(df, pg_db, pg_conn, method=Method.OPTIMIZED,
                    opts=JdbcOptions(max_connections=3, batchsize=777))
    assert (result.rows, result.num_partitions, result.batchsize) == (2000, 3, 777)
    assert parse_staging_table(result.staging_table) is not None
    standard = _write(df, pg_db, pg_conn, method=Method.STANDARD, opts=JdbcOptions(num_partitions=1))
    assert (standard.num_partitions, standard.batchsize) == (4, 1000)  # the baseline ignores tuning
    assert choose_batchsize(10) == 50_000 and choose_batchsize(10_000) == 1_000  # the bounds
    assert choose_batchsize(80) == 13_107 and choose_batchsize(1000) == 1_048  # ~1 MiB of rows


def test_empty_dataframe(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    df = spark.createDataFrame([], "id long, s string")
    assert _write(df, pg_db, pg_conn, method=Method.OPTIMIZED).rows == 0
    assert _fetch(pg_conn, "SELECT count(*) FROM target") == [(0,)]


def test_row_count_mismatch_never_publishes(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    """What a retried task that already committed looks like: more rows in staging than Spark wrote."""
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id bigint)")

    def sneak_in_a_row(name: str) -> None:
        with pg_conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TableRef('public', name).quoted} VALUES (42)")

    with pytest.raises(DataError, match="staging holds 11 rows but Spark wrote 10"):
        _write(spark.range(10), pg_db, pg_conn, method=Method.OPTIMIZED, on_stage_created=sneak_in_a_row)
    assert _fetch(pg_conn, "SELECT count(*) FROM target") == [(0,)]
    assert _stage_tables(pg_conn) == []


def test_failing_partition_leaves_target_unchanged(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    from pyspark.sql import functions as F

    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id bigint, v bigint)")
        cur.execute("INSERT INTO target VALUES (-1, -1)")
    staged: list[str] = []
    kwargs = pg_db.psycopg2_kwargs()

    def boom(x):  # no type hints: they would make Spark guess a pandas UDF
        if x < 3500:  # only the last of 4 partitions fails; the first ones have committed by then
            return x
        import psycopg2

        with psycopg2.connect(**kwargs) as conn, conn.cursor() as cur:
            cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'")
            cur.execute(f'SELECT count(*) FROM "{cur.fetchone()[0]}"')
            raise ValueError(f"boom with {cur.fetchone()[0]} rows staged")

    df = spark.range(0, 4000, numPartitions=4).withColumn("v", F.udf(boom, "long")("id"))
    with pytest.raises(Exception, match="boom with") as info:
        _write(df, pg_db, pg_conn, method=Method.OPTIMIZED, mode=WriteMode.OVERWRITE,
               on_stage_created=staged.append)
    match = re.search(r"boom with (\d+) rows staged", str(info.value))
    assert match and int(match.group(1)) >= 1000  # partial data really was in staging
    assert len(staged) == 1
    assert _fetch(pg_conn, "SELECT * FROM target") == [(-1, -1)]
    assert _stage_tables(pg_conn) == []


_KILLED_SCRIPT = textwrap.dedent("""
    import json, os, sys, time, uuid
    from loader.adapters.spark import get_or_create_session
    from loader.connection import ConnectionSpec
    from loader.jdbc.method import jdbc_write
    from loader.naming import TableRef
    from loader.options import JdbcOptions, Method, WriteMode
    from loader.plan.typemap import plan_for_new_table
    from loader.destination.modes import write_mode
    from pyspark.sql import functions as F

    spec = ConnectionSpec.parse(json.loads(os.environ["KILL_TEST_CONN"]))
    spark = get_or_create_session("kill-test", master="local[1]")

    def slow(x):
        if x >= 1000:
            time.sleep(0.05)  # partition 2 crawls: the test kills us meanwhile
        return x

    df = spark.range(0, 2000, numPartitions=2).withColumn("v", F.udf(slow, "long")("id"))
    def staged(name):
        print("STAGED", name, flush=True)
    jdbc_write(df, spec, TableRef("public", "target"), run_id=uuid.uuid4().hex, method=Method.OPTIMIZED,
               write=write_mode(WriteMode.OVERWRITE), plan=plan_for_new_table(df.schema), create_sql=None,
               opts=JdbcOptions(batchsize=100), on_stage_created=staged)
    print("DONE", flush=True)
""")


def test_hard_kill_leaves_target_unchanged_and_a_reapable_stage(pg_db: ConnectionSpec, pg_conn: Any,
                                                                tmp_path: Path) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id bigint, v bigint)")
        cur.execute("INSERT INTO target VALUES (-1, -1)")
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_SCRIPT)
    conn = {"host": pg_db.host, "port": pg_db.port, "database": pg_db.database, "user": pg_db.user,
            "password": pg_db.password}
    env = dict(os.environ, KILL_TEST_CONN=json.dumps(conn),
               PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("STAGED "), line
        stage = TableRef("public", line.split()[1])
        deadline = time.monotonic() + 60
        while _fetch(pg_conn, f"SELECT count(*) FROM {stage.quoted}")[0][0] == 0:  # partition 1 committed
            assert time.monotonic() < deadline, "the first partition never reached staging"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, as a dead container would
        proc.wait(timeout=30)
    assert _fetch(pg_conn, "SELECT * FROM target") == [(-1, -1)]
    assert _stage_tables(pg_conn) == [stage.table]
    assert parse_staging_table(stage.table) is not None
