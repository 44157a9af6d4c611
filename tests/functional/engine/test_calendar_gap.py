"""Dates and timestamps on the days the Julian-Gregorian switch skipped (issue 24, item 1), and
centuries before it, through every method. Spark 3+ and PostgreSQL count on the proleptic
Gregorian calendar, java.sql.Date/Timestamp (what Spark's JDBC writer hands pgjdbc) on the hybrid
one, where 1582-10-05 ... 1582-10-14 do not exist. Each value must land as PostgreSQL stores the
same literal. (1500-02-29 is a Julian leap day only: PostgreSQL refuses the literal and Spark
cannot hold the date, so it cannot reach a load.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loader import write_to_postgres

UTC = dt.timezone.utc
DAYS = [dt.date(1582, 10, d) for d in range(4, 16)] + [
    dt.date(1, 1, 1), dt.date(2, 12, 31), dt.date(1000, 3, 1), dt.date(1000, 2, 28), dt.date(1200, 2, 29),
    dt.date(1500, 2, 28), dt.date(1500, 3, 1), dt.date(1582, 1, 1), dt.date(1582, 12, 31), dt.date(1600, 2, 29),
    dt.date(1700, 3, 1), dt.date(1970, 1, 1), dt.date(2024, 3, 31), dt.date(9999, 12, 30), dt.date(9999, 12, 31)]
VARIANTS = [("copy", "binary"), ("copy", "csv"), ("optimized", None), ("standard", None)]
DDL = ("CREATE TABLE gap (id int PRIMARY KEY, day date, ts timestamptz, ntz timestamp, "
       "days date[], tss timestamptz[], ntzs timestamp[])")


def _rows() -> list[tuple[Any, ...]]:
    rows = []
    for i, day in enumerate(DAYS):
        # the last microsecond of a day too: a day computed by dividing doubles moved it to the next
        wall = dt.datetime.combine(day, dt.time(23, 59, 59, 999999) if i % 3 == 2 else
                                   dt.time(12, 0, 0, 500001 if i % 2 else 0))
        rows.append((i, day, wall.replace(tzinfo=UTC), wall, [day, None], [wall.replace(tzinfo=UTC)], [None, wall]))
    rows.append((len(DAYS), None, None, None, None, None, None))
    return rows


def _literal_rows(cur: Any) -> list[tuple[Any, ...]]:
    out = []
    for i, day, ts, ntz, _days, _tss, _ntzs in _rows()[:-1]:
        cur.execute("SELECT %s::date::text, %s::timestamptz::text, %s::timestamp::text, "
                    "ARRAY[%s::date, NULL]::text, ARRAY[%s::timestamptz]::text, ARRAY[NULL, %s::timestamp]::text",
                    (day.isoformat(), ts.isoformat(), ntz.isoformat(), day.isoformat(), ts.isoformat(),
                     ntz.isoformat()))
        out.append((i, *cur.fetchone()))
    out.append((len(DAYS),) + (None,) * 6)
    return out


@pytest.mark.parametrize(("method", "staging"), VARIANTS)
def test_gap_days_and_old_centuries_land_as_their_literals(method: str, staging: str | None, spark: Any,
                                                           pg_db: Any, pg_conn: Any, bucket: str,
                                                           state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(DDL)
    schema = ("id int, day date, ts timestamp, ntz timestamp_ntz, days array<date>, tss array<timestamp>, "
              "ntzs array<timestamp_ntz>")
    old_tz = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Europe/Amsterdam")  # LMT offsets with seconds before 1835
    try:
        df = spark.createDataFrame(_rows(), schema)
        result = write_to_postgres(df, pg_db.as_params(), method=method, table="gap", temp_s3_bucket=bucket,
                                   state_url=state_url, staging_format=staging, fallback="none")
    finally:
        spark.conf.set("spark.sql.session.timeZone", old_tz)
    if staging:
        assert result.staging_format == staging
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id, day::text, ts::text, ntz::text, days::text, tss::text, ntzs::text "
                    "FROM gap ORDER BY id")
        got = cur.fetchall()
        want = _literal_rows(cur)
    assert got == want
    assert want[6][1:4] == ("1582-10-10", "1582-10-10 12:00:00+00", "1582-10-10 12:00:00")


def test_a_julian_only_leap_day_is_no_value_anywhere(spark: Any, pg_conn: Any) -> None:
    import psycopg2

    with pg_conn.cursor() as cur, pytest.raises(psycopg2.Error, match="out of range"):
        cur.execute("SELECT '1500-02-29'::date")
    assert spark.sql("SELECT try_to_date('1500-02-29') AS d").first()["d"] is None
