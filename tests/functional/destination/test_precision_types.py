"""Columns with a precision (issue 24, item 5): Spark timestamps into ``timestamp(p)`` and
``timestamptz(p)`` (Rails 7's ``timestamp(6) without time zone``, Prisma's ``timestamp(3)``), and
strings into ``time(3)``, through every method. Each value lands as PostgreSQL stores the same
literal cast to the column's type: rounded to the column's precision, in binary COPY as in text
(timestamp_recv applies the typmod as timestamp_in does), half away from PostgreSQL's epoch
(2000-01-01), which is why 1999-12-31 23:59:59.0005 rounds down."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loader import write_to_postgres

UTC = dt.timezone.utc
DDL = """CREATE TABLE prec (id int PRIMARY KEY, tz3 timestamp(3) with time zone, tz0 timestamptz(0),
    ntz6 timestamp(6) without time zone, ntz3 timestamp(3), arr3 timestamptz(3)[], t3 time(3))"""
WALLS = ["2024-03-31 01:30:00.123456", "2024-03-31 01:30:00.123500", "2024-03-31 01:30:00.999500",
         "1999-12-31 23:59:59.000500", "1999-12-31 23:59:59.999500", "1969-07-20 20:17:40.000499",
         "0001-01-01 00:00:00.000500", "9999-12-31 23:59:59.999499", "2000-01-01 00:00:00.000000"]
TIMES = ["01:30:00.123456", "01:30:00.123500", "23:59:59.999500", "00:00:00.000499"]
VARIANTS = [("copy", "binary"), ("copy", "csv"), ("optimized", None), ("standard", None)]


def _source(spark: Any, with_time: bool) -> Any:
    rows = []
    for i, wall in enumerate(WALLS):
        naive = dt.datetime.fromisoformat(wall)
        when = naive.replace(tzinfo=UTC)
        rows.append((i, when, when, naive, naive, [when, None], TIMES[i % len(TIMES)]))
    rows.append((len(WALLS), None, None, None, None, None, None))
    df = spark.createDataFrame(rows, "id int, tz3 timestamp, tz0 timestamp, ntz6 timestamp_ntz, "
                                     "ntz3 timestamp_ntz, arr3 array<timestamp>, t3 string")
    return df if with_time else df.drop("t3")  # binary has no exact encoding of text into time


def _expected(cur: Any, with_time: bool) -> list[tuple[Any, ...]]:
    """What PostgreSQL stores for the same literals, cast to the columns' types."""
    out = []
    for i, wall in enumerate(WALLS):
        z = wall + "+00"
        cur.execute("SELECT %s::timestamptz(3)::text, %s::timestamptz(0)::text, %s::timestamp(6)::text, "
                    "%s::timestamp(3)::text, ARRAY[%s::timestamptz(3), NULL]::text, %s::time(3)::text",
                    (z, z, wall, wall, z, TIMES[i % len(TIMES)]))
        row = cur.fetchone()
        out.append((i, *row[:5], row[5] if with_time else None))
    out.append((len(WALLS),) + (None,) * 6)
    return out


@pytest.mark.parametrize(("method", "staging"), VARIANTS)
def test_timestamps_round_to_the_columns_precision(method: str, staging: str | None, spark: Any, pg_db: Any,
                                                   pg_conn: Any, bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(DDL)
    with_time = staging != "binary"
    result = write_to_postgres(_source(spark, with_time), pg_db.as_params(), method=method, table="prec",
                               temp_s3_bucket=bucket, state_url=state_url, staging_format=staging)
    if staging:
        assert result.staging_format == staging
    with pg_conn.cursor() as cur:
        # as text (session time zone UTC): 9999-12-31 23:59:59.9995 rounds into year 10000
        cur.execute("SELECT id, tz3::text, tz0::text, ntz6::text, ntz3::text, arr3::text, t3::text "
                    "FROM prec ORDER BY id")
        got = cur.fetchall()
        want = _expected(cur, with_time)
    assert got == want
    assert want[0][1] == "2024-03-31 01:30:00.123+00"  # the rounding is real
    assert want[3][1] == "1999-12-31 23:59:59+00"  # half away from 2000-01-01
    assert want[7][2] == "10000-01-01 00:00:00+00"
