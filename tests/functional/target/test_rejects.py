"""on_error: reject: the good rows load, the rejected ones land in loader_rejects with the exact reason;
more than max_errors fails the whole load and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import DataError
from loader.state import StateStore

DDL = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE moods (id int PRIMARY KEY, feeling mood, score int CHECK (score >= 0))
"""


def _df(spark: Any) -> Any:
    rows = [(i, "happy" if i % 2 else "sad", i) for i in range(40)]
    rows[7] = (7, "furious", 7)  # not in the enum
    rows[23] = (23, "sad", -5)  # violates the check
    return spark.createDataFrame(rows, "id int, feeling string, score int").repartition(3)


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_rejected_rows_are_set_aside_exactly(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                            state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
    result = write_to_postgres(_df(spark), pg_db.as_params(), method=method, table="moods", temp_s3_bucket=bucket,
                               state_url=state_url, on_error="reject", max_errors=5, rows_per_part=10)
    assert result.rows == 38 and result.rows_rejected == 2
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(id) FROM moods")
        assert cur.fetchone() == (38, sum(range(40)) - 7 - 23)
        cur.execute("SELECT row_data->>'id', error, origin FROM loader_rejects WHERE run_id = %s ORDER BY 1",
                    (result.run_id,))
        rejects = cur.fetchall()
    assert [r[0] for r in rejects] == ["23", "7"]
    assert "check constraint" in rejects[0][1] and "mood" in rejects[1][1]
    if method == "copy":
        assert all(r[2] and r[2].startswith("s3://") and " line " in r[2] for r in rejects)
    assert StateStore(state_url).get(result.run_id).rows_rejected == 2


def test_rejects_are_shown_where_a_person_looks(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from loader import commands
    from loader.runner.run import RunOutcome, format_summary

    with pg_conn.cursor() as cur:
        cur.execute(DDL)
    caplog.set_level(logging.WARNING, logger="loader")
    result = write_to_postgres(_df(spark), pg_db.as_params(), method="copy", table="moods", temp_s3_bucket=bucket,
                               state_url=state_url, on_error="reject")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 row(s) rejected and set aside in public.loader_rejects" in w for w in warned), warned
    assert "38 (+2 rejected)" in commands.status(state_url)
    summary = format_summary([RunOutcome("m", "public.moods", "succeeded", "copy", result.rows, 1.0,
                                         rows_rejected=result.rows_rejected)])
    assert summary.splitlines()[0].split()[:5] == ["manifest", "table", "method", "rows", "rejected"]
    assert "38" in summary.splitlines()[2] and " 2 " in summary.splitlines()[2]
    assert "rejected" not in format_summary([RunOutcome("m", "t", "succeeded", "copy", 5, 1.0)])


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_more_than_max_errors_changes_nothing(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                             state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("INSERT INTO moods VALUES (-1, 'sad', 0)")
    with pytest.raises(DataError, match="more than max_errors=1"):
        write_to_postgres(_df(spark), pg_db.as_params(), method=method, table="moods", temp_s3_bucket=bucket,
                          state_url=state_url, on_error="reject", max_errors=1)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id FROM moods")
        assert cur.fetchall() == [(-1,)]
        cur.execute("SELECT to_regclass('loader_rejects')")
        assert cur.fetchone()[0] is None  # rolled back with everything else
