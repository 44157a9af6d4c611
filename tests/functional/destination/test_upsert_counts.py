"""Upsert says how many rows were new keys and how many updated existing ones, for COPY and JDBC:
in LoadResult, the state store, ``loader status`` (table and JSON) and the run summary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.runner.run import RunOutcome, format_summary
from loader.state import StateStore


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_upsert_counts_inserted_and_updated(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
                                            method: str) -> None:
    from pyspark.sql import Row

    conn = pg_db.as_params()
    kw: dict[str, Any] = {"table": "u", "temp_s3_bucket": bucket, "state_url": state_url, "key": ["id"],
                          "method": method}
    first = write_to_postgres(spark.createDataFrame([Row(id=i, v=f"v{i}") for i in range(10)]), conn, **kw)
    assert (first.rows_inserted, first.rows_updated) == (None, None)  # append: nothing to tell apart
    second = spark.createDataFrame([Row(id=i, v=f"new{i}") for i in range(6, 15)])  # 6..9 exist, 10..14 new
    result = write_to_postgres(second, conn, mode="upsert", **kw)
    assert (result.method, result.rows, result.rows_inserted, result.rows_updated) == (method, 9, 5, 4)
    run = StateStore(state_url).get(result.run_id)
    assert (run.rows, run.rows_inserted, run.rows_updated) == (9, 5, 4)

    table = commands.status(state_url, width=None)
    assert "9 (5 inserted, 4 updated)" in table
    as_json = json.loads(commands.status(state_url, as_json=True))
    assert [(r["rows"], r["rows_inserted"], r["rows_updated"]) for r in as_json] == [(9, 5, 4), (10, None, None)]


def test_the_run_summary_shows_upsert_counts_only_when_there_are_some() -> None:
    plain = RunOutcome("a", "public.a", "succeeded", method="copy", rows=10, seconds=1.0)
    assert format_summary([plain]).splitlines()[0].split() == [
        "manifest", "table", "method", "rows", "seconds", "rows/s", "status"]
    merged = RunOutcome("b", "public.b", "succeeded", method="copy", rows=9, seconds=1.0, rows_inserted=5,
                        rows_updated=4)
    header, _, a, b = format_summary([plain, merged]).splitlines()
    assert header.split() == ["manifest", "table", "method", "rows", "inserted", "updated", "seconds", "rows/s",
                              "status"]
    assert a.split()[3:6] == ["10", "-", "-"] and b.split()[3:6] == ["9", "5", "4"]
