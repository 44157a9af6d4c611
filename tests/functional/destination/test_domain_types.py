"""Domains (issue 24, item 5): a column whose type is a domain is checked by the type the domain
stands on (domains of domains followed, arrays of domains too), read from the catalog, not from
its name; the value lands as PostgreSQL stores the literal (rounded to the base's precision) and
the domain's CHECK still refuses what it refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loader import write_to_postgres
from loader.adapters import pg
from loader.errors import DataError
from loader.naming import TableRef

UTC = dt.timezone.utc
DDL = """
CREATE DOMAIN "Stamp 3" AS timestamp(3) with time zone CHECK (VALUE > '1900-01-01');
CREATE DOMAIN stamp3_again AS "Stamp 3";
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE dom (id positive PRIMARY KEY, at "Stamp 3", again stamp3_again, ats "Stamp 3"[], n numeric(10,2))
"""


def test_table_columns_reads_a_domains_base(pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
        cols = {c.name: c for c in pg.table_columns(cur, TableRef("public", "dom")) or []}
    assert (cols["at"].data_type, cols["at"].base_type) == ('"Stamp 3"', "timestamp(3) with time zone")
    assert cols["again"].base_type == "timestamp(3) with time zone"
    assert cols["ats"].data_type == '"Stamp 3"[]'
    assert cols["ats"].base_type == "timestamp(3) with time zone[]"
    assert cols["id"].base_type == "integer"
    assert cols["n"].base_type is None and cols["n"].checked_type == "numeric(10,2)"


@pytest.mark.parametrize("method", ["copy", "optimized", "standard"])
def test_timestamps_and_integers_load_into_domains(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                   state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(DDL)
    when = dt.datetime(2024, 3, 31, 1, 30, 0, 123500, tzinfo=UTC)
    df = spark.createDataFrame([(1, when, when, [when])],
                               "id int, at timestamp, again timestamp, ats array<timestamp>")
    write_to_postgres(df, pg_db.as_params(), method=method, table="dom", temp_s3_bucket=bucket, state_url=state_url)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT at::text, again::text, ats::text FROM dom")
        got = cur.fetchone()
        cur.execute("SELECT %s::timestamptz(3)::text", (when.isoformat(),))
        want = cur.fetchone()[0]
    assert got == (want, want, "{\"" + want + "\"}")
    assert want == "2024-03-31 01:30:00.124+00"
    bad = spark.createDataFrame([(0, when)], "id int, at timestamp")
    with pytest.raises(DataError, match="positive"):
        write_to_postgres(bad, pg_db.as_params(), method=method, table="dom", temp_s3_bucket=bucket,
                          state_url=state_url)
