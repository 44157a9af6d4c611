"""A JDBC load reports progress while Spark writes: its job runs in the run's job group, whose tasks
Spark's statusTracker counts, and the rows once written (real Spark and PostgreSQL)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from loader import write_to_postgres
from loader.adapters.spark import group_tasks


def test_a_jdbc_load_reports_tasks_and_rows(spark: Any, pg_db: Any, state_url: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    df = spark.range(0, 3000, numPartitions=3).selectExpr("id", "cast(id AS string) AS v")
    with caplog.at_level(logging.INFO, logger="loader"):
        result = write_to_postgres(df, pg_db.as_params(), method="optimized", table="prog", state_url=state_url)
    assert result.rows == 3000
    # the write job ran in the run's group: its 3 tasks are counted, all done
    assert group_tasks(spark.sparkContext, f"loader-jdbc-{result.run_id}") == (3, 3)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress: public.prog ")]
    assert any("publishing: " in line and "3,000 " in line for line in lines), lines
    # the thread's job group is not left behind for the caller's next jobs
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None


def _progress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loader-progress"]


def test_no_progress_thread_outlives_its_load(spark: Any, pg_db: Any, state_url: str) -> None:
    """Seen in the test log: a direct jdbc_write's progress kept logging 'publishing: 3,000 rows'
    minutes after it returned, since nobody stopped its ticker."""
    import uuid

    from loader.destination.modes import write_mode
    from loader.jdbc.method import jdbc_write
    from loader.naming import TableRef
    from loader.options import JdbcOptions, Method, WriteMode
    from loader.plan.typemap import create_table_sql, plan_for_new_table

    before = set(_progress_threads())  # other tests' (those that drive a method without the engine)
    df = spark.range(0, 300, numPartitions=2).selectExpr("id", "cast(id AS string) AS v")
    target = TableRef("public", "direct")
    jdbc_write(df, pg_db, target, run_id=uuid.uuid4().hex, method=Method.OPTIMIZED, write=write_mode(WriteMode.APPEND),
               plan=plan_for_new_table(df.schema), create_sql=create_table_sql(target, df.schema, ()),
               opts=JdbcOptions())
    assert set(_progress_threads()) <= before  # the caller owns no ticker: none was started
    write_to_postgres(df, pg_db.as_params(), method="optimized", table="via_engine", state_url=state_url)
    for t in set(_progress_threads()) - before:
        t.join(timeout=3)
        assert not t.is_alive()  # the engine stopped its own
