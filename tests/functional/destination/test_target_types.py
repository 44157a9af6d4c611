"""Existing targets whose column types differ from the source in the usual ways: every method
behaves the same (text into jsonb, uuid, an enum and inet; int into numeric; timestamp into
timestamp and timestamptz), and a value the type rejects fails the same way, target unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import DataError

UTC = dt.timezone.utc
DDL = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE typed (id int PRIMARY KEY, doc jsonb, uid uuid, feeling mood, addr inet, amount numeric(12,2),
                    local_ts timestamp, zoned_ts timestamptz)
"""


@pytest.mark.parametrize("method", ["copy", "optimized", "standard"])
def test_text_and_numbers_into_richer_types(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                            state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
    u = uuid.uuid4()
    when = dt.datetime(2024, 3, 31, 1, 30, 0, 123456, tzinfo=UTC)
    df = spark.createDataFrame([(1, '{"a": [1, "x"]}', str(u), "happy", "10.0.0.1/32", 42, when, when),
                                (2, None, None, None, None, None, None, None)],
                               "id int, doc string, uid string, feeling string, addr string, amount int, "
                               "local_ts timestamp, zoned_ts timestamp")
    write_to_postgres(df, pg_db.as_params(), method=method, table="typed", temp_s3_bucket=bucket,
                      state_url=state_url)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT doc, uid, feeling::text, host(addr), amount, local_ts, zoned_ts FROM typed ORDER BY id")
        first, second = cur.fetchall()
    assert first == ({"a": [1, "x"]}, str(u), "happy", "10.0.0.1", Decimal("42.00"),
                     when.replace(tzinfo=None), when)  # timestamp stores the UTC wall clock
    assert second == (None,) * 7


@pytest.mark.parametrize("method", ["copy", "optimized", "standard"])
def test_a_value_the_type_rejects_fails_the_same_way(method: str, spark: Any, pg_db: Any, pg_conn: Any,
                                                    bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("INSERT INTO typed (id) VALUES (-1)")
    df = spark.createDataFrame([(1, "happy"), (2, "furious")], "id int, feeling string")
    with pytest.raises(DataError, match="mood"):
        write_to_postgres(df, pg_db.as_params(), method=method, table="typed", temp_s3_bucket=bucket,
                          state_url=state_url)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id FROM typed")
        assert cur.fetchall() == [(-1,)]
