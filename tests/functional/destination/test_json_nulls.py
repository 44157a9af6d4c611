"""Structs into jsonb (issue 24, item 4): a field whose value is NULL stays in the document as
``null`` (a NULL field and a missing key are different JSON), nested in arrays too, as a map
keeps its NULLs; timestamps inside keep their microseconds. Every method."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loader import write_to_postgres

VARIANTS = [("copy", "binary"), ("copy", "csv"), ("optimized", None), ("standard", None)]
SQL = """SELECT 1 AS id, named_struct('x', 1, 'y', 'v1', 'z', CAST(NULL AS int)) AS st,
                array(named_struct('a', CAST(NULL AS string), 'b', 2)) AS arr,
                map('k', CAST(NULL AS int)) AS mp,
                named_struct('t', timestamp'2024-03-31 01:30:00.123456', 'n', timestamp_ntz'1999-12-31 23:59:59.000001',
                             'none', CAST(NULL AS struct<q: int>)) AS times
         UNION ALL SELECT 2, NULL, NULL, NULL, NULL"""


@pytest.mark.parametrize(("method", "staging"), VARIANTS)
@pytest.mark.parametrize("single", [False, True], ids=["columns", "one-column"])
def test_struct_null_fields_are_kept(method: str, staging: str | None, single: bool, spark: Any, pg_db: Any,
                                     pg_conn: Any, bucket: str, state_url: str) -> None:
    if single and method != "copy":
        pytest.skip("the one-column CSV line is COPY's own path")
    df = spark.sql(SQL)
    if single:
        df = df.select("st")
    result = write_to_postgres(df, pg_db.as_params(), method=method, table="docs", temp_s3_bucket=bucket,
                               state_url=state_url, staging_format=staging)
    if staging:
        assert result.staging_format == staging
    with pg_conn.cursor() as cur:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'docs'::regclass AND attname = 'st'")
        assert cur.fetchone() == ("jsonb",)
        cur.execute("SELECT st FROM docs ORDER BY st IS NULL" if single else
                    "SELECT st, arr, mp, times FROM docs ORDER BY id")
        rows = cur.fetchall()
    assert rows[0][0] == {"x": 1, "y": "v1", "z": None}
    assert rows[1][0] is None
    if not single:
        assert rows[0][1:] == ([{"a": None, "b": 2}], {"k": None},
                               {"t": "2024-03-31T01:30:00.123456Z", "n": "1999-12-31T23:59:59.000001", "none": None})
        assert dt.datetime.fromisoformat(rows[0][3]["t"]).microsecond == 123456
        assert rows[1][1:] == (None, None, None)
