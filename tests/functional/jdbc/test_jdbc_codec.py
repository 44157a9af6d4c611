"""The optimized method's compact wire forms (jdbc_codec): exact at every edge, real Spark and PostgreSQL.

Each value is compared with what Spark itself holds, as integers where it matters
(unix_micros, unix_date, unscaled decimals), so a rounding or calendar slip of one
microsecond, one day or one last digit fails.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from loader.connection import ConnectionSpec
from loader.destination.modes import write_mode
from loader.jdbc.frame import staging_frame
from loader.jdbc.method import jdbc_write
from loader.naming import TableRef
from loader.options import JdbcOptions, Method, WriteMode
from loader.plan.typemap import create_table_sql, plan_for_new_table

pytestmark = pytest.mark.slow
T = TableRef("public", "codec_target")

#: (precision, scale) of compact decimals, each with its largest, smallest and finest values
DECIMAL_TYPES = [(18, 0), (18, 2), (18, 18), (12, 2), (1, 0), (5, 5), (10, 3)]
TIMESTAMPS = ["0001-01-01 00:00:00", "0001-01-01 00:00:00.000001", "1582-10-04 23:59:59.999999",
              "1582-10-15 00:00:00", "1899-12-31 23:59:59.5", "1969-12-31 23:59:59.999999",
              "1970-01-01 00:00:00", "1970-01-01 00:00:00.000001", "2000-02-29 12:00:00.123456",
              "2038-01-19 03:14:08", "9999-12-31 23:59:59.999999"]
DATES = ["0001-01-01", "1582-10-04", "1582-10-15", "1600-02-29", "1969-12-31", "1970-01-01",
         "2000-02-29", "9999-12-31"]
STRINGS = ["", "plain", "ñandú 日本語", "4-byte 🎉🚀 \U0010ffff", 'quote " \' back\\slash', "\\N",
           "line\nbreak\r\n", "x" * 10_000]


def _decimal_values(p: int, s: int) -> list[Decimal | None]:
    q = Decimal(1).scaleb(-s)
    top = (Decimal(10) ** (p - s) - q).quantize(q)
    return [top, -top, q, -q, Decimal(0).quantize(q), None]


def _frame(spark: Any) -> Any:
    from pyspark.sql import types as T_

    n = max(len(TIMESTAMPS), len(DATES), len(STRINGS), 6)
    fields = [T_.StructField("id", T_.IntegerType()), T_.StructField("ts_text", T_.StringType()),
              T_.StructField("day_text", T_.StringType()), T_.StructField("s", T_.StringType())]
    fields += [T_.StructField(f"d_{p}_{s}", T_.DecimalType(p, s)) for p, s in DECIMAL_TYPES]
    rows = []
    for i in range(n):
        row: list[Any] = [i, TIMESTAMPS[i] if i < len(TIMESTAMPS) else None,
                          DATES[i] if i < len(DATES) else None, STRINGS[i] if i < len(STRINGS) else None]
        row += [(_decimal_values(p, s) + [None] * n)[i] for p, s in DECIMAL_TYPES]
        rows.append(tuple(row))
    df = spark.createDataFrame(rows, T_.StructType(fields))
    # timestamps and dates parsed by Spark itself (proleptic Gregorian), not by Python
    return (df.selectExpr("*", "to_timestamp(ts_text) AS ts", "to_date(day_text) AS day")
            .drop("ts_text", "day_text"))


def _spark_truth(df: Any) -> dict[int, tuple[Any, ...]]:
    cols = ["unix_micros(ts)", "unix_date(day)", "s"] + [f"cast(d_{p}_{s} AS string)" for p, s in DECIMAL_TYPES]
    return {r[0]: _exact(r[1:]) for r in df.selectExpr("id", *cols).collect()}


def _exact(row: Any) -> tuple[Any, ...]:
    """Decimals as Decimal: Spark 3.5 spells a small one '1E-18', Spark 4 and PostgreSQL '0.000000000000000001'."""
    return (*row[:3], *(None if v is None else Decimal(v) for v in row[3:]))


def _pg_truth(conn: Any) -> dict[int, tuple[Any, ...]]:
    cols = ["(extract(epoch FROM ts) * 1000000)::bigint", "day - date '1970-01-01'", "s"]
    cols += [f"d_{p}_{s}::text" for p, s in DECIMAL_TYPES]
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, {', '.join(cols)} FROM {T.quoted}")
        return {r[0]: _exact(r[1:]) for r in cur.fetchall()}


def test_compact_forms_are_chosen_for_optimized_only(spark: Any) -> None:
    df = _frame(spark)
    plan = plan_for_new_table(df.schema)
    _, plain = staging_frame(df, plan, compact=False)
    _, compact = staging_frame(df, plan, compact=True)
    by_name = dict(zip(plan.names, compact, strict=True))
    assert [c.pg_type for c in plain] == list(plan.pg_types)
    # standard: only dates and timestamps change, to text (java.sql.Date/Timestamp's hybrid calendar)
    plain_by_name = dict(zip(plan.names, plain, strict=True))
    assert {n for n, c in plain_by_name.items() if c.compact} == {"ts", "day"}
    assert {plain_by_name["ts"].wire_type, plain_by_name["day"].wire_type} == {"text"}
    # the staging table keeps the Spark-native types; only what Spark sends changes
    assert [c.pg_type for c in compact] == list(plan.pg_types)
    assert by_name["s"].wire_type == "bytea"
    assert by_name["ts"].wire_type == "bigint"
    assert by_name["day"].wire_type == "integer"
    assert {by_name[f"d_{p}_{s}"].wire_type for p, s in DECIMAL_TYPES} == {"bigint"}
    assert not by_name["id"].compact


def test_wide_decimals_keep_the_plain_form_and_ntz_goes_as_text(spark: Any) -> None:
    df = spark.sql("SELECT CAST(1 AS decimal(19,2)) AS wide, TIMESTAMP_NTZ'2024-01-01 00:00:00' AS ntz")
    _, cols = staging_frame(df, plan_for_new_table(df.schema), compact=True)
    assert [c.wire_type for c in cols] == ["numeric(19,2)", "text"]  # ntz: text, not java.sql.Timestamp
    assert cols[1].decode == 'CAST(NEW."c_2" AS timestamp without time zone)'


@pytest.mark.parametrize("method", [Method.OPTIMIZED, Method.STANDARD])
def test_edge_values_round_trip_exactly(spark: Any, pg_db: ConnectionSpec, pg_conn: Any, method: Method) -> None:
    df = _frame(spark)
    expected = _spark_truth(df)
    assert expected[0][0] == -62135596800000000  # Spark's own proleptic reading of 0001-01-01
    res = jdbc_write(df, pg_db, T, run_id=uuid.uuid4().hex, method=method, write=write_mode(WriteMode.APPEND),
                     plan=plan_for_new_table(df.schema), create_sql=create_table_sql(T, df.schema),
                     opts=JdbcOptions())
    assert res.rows == len(expected)
    assert _pg_truth(pg_conn) == expected


def test_decimal_into_integer_and_timestamp_into_text_targets(spark: Any, pg_db: ConnectionSpec,
                                                              pg_conn: Any) -> None:
    """A decoded value is cast to the target's type exactly as the plain staging value was."""
    from loader.adapters import pg
    from loader.plan.typemap import match_columns

    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {T.quoted} (n bigint, ts timestamp, t text, d date)")
    df = spark.sql("SELECT CAST(123456789012345678 AS decimal(18,0)) AS n, "
                   "TIMESTAMP'2024-03-10 02:30:00.000001' AS ts, 'x' AS t, DATE'2024-02-29' AS d")
    with pg_conn.cursor() as cur:
        plan = match_columns(T, df.schema, pg.table_columns(cur, T))
    jdbc_write(df, pg_db, T, run_id=uuid.uuid4().hex, method=Method.OPTIMIZED, write=write_mode(WriteMode.APPEND),
               plan=plan, create_sql=None, opts=JdbcOptions())
    with pg_conn.cursor() as cur:
        cur.execute(f"SELECT n, ts, t, d FROM {T.quoted}")
        assert cur.fetchone() == (123456789012345678, datetime(2024, 3, 10, 2, 30, 0, 1), "x", date(2024, 2, 29))


def test_inlet_view_is_used_and_dropped_with_the_stage(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    """Spark writes into the inlet view; after the run neither it nor the staging table is left."""
    seen: list[str] = []

    def on_stage(name: str) -> None:
        with pg_conn.cursor() as cur:
            cur.execute("SELECT c.relkind::text, r.rulename FROM pg_class c LEFT JOIN pg_rewrite r "
                        "ON r.ev_class = c.oid AND r.rulename <> '_RETURN' WHERE c.relname = %s", (name + "_in",))
            seen.extend(str(v) for v in cur.fetchone())

    df = spark.sql("SELECT 1 AS id, 'x' AS s")
    jdbc_write(df, pg_db, T, run_id=uuid.uuid4().hex, method=Method.OPTIMIZED, write=write_mode(WriteMode.APPEND),
               plan=plan_for_new_table(df.schema), create_sql=create_table_sql(T, df.schema),
               opts=JdbcOptions(), on_stage_created=on_stage)
    assert seen == ["v", "loader_decode"]
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'")
        assert cur.fetchone()[0] == 0
        cur.execute(f"SELECT id, s FROM {T.quoted}")
        assert cur.fetchall() == [(1, "x")]


def test_invalid_utf8_is_refused_naming_the_target(spark: Any, pg_db: ConnectionSpec, pg_conn: Any) -> None:
    """Bytes that are not UTF-8 (possible in a Spark string cast from binary) fail as text input would."""
    from loader.errors import DataError

    df = spark.sql("SELECT 1 AS id, cast(X'C328' AS string) AS s")
    with pytest.raises(DataError, match="codec_target"):
        jdbc_write(df, pg_db, T, run_id=uuid.uuid4().hex, method=Method.OPTIMIZED, write=write_mode(WriteMode.APPEND),
                   plan=plan_for_new_table(df.schema), create_sql=create_table_sql(T, df.schema),
                   opts=JdbcOptions())
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%%' OR relname = %s",
                    (T.table,))
        assert cur.fetchone()[0] == 0


def test_reaper_drops_a_stage_with_its_inlet(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    """A killed optimized run leaves the staging table and its inlet view; the reaper's drop takes both."""
    from loader.adapters import pg
    from loader.jdbc.codec import StagedColumn
    from loader.jdbc.method import _create_stage
    from loader.naming import staging_table_name
    from loader.reaper.tables import drop_table

    stage = TableRef("public", staging_table_name(uuid.uuid4().hex))
    cols = [StagedColumn("c_1", "text", "bytea", "convert_from(NEW.c_1, 'UTF8')")]
    written_into = _create_stage(pg_db, stage, cols, "r" * 32, T)
    assert written_into.table == stage.table + "_in"
    conn = pg.connect(pg_db, application_name="loader:test-reap")
    try:
        assert drop_table(conn, stage) is True
        assert drop_table(conn, stage) is False
    finally:
        conn.close()
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'")
        assert cur.fetchone()[0] == 0
