"""A JDBC load reports progress while Spark writes: its job runs in the run's job group, whose tasks
Spark's statusTracker counts, and the rows once written (real Spark and PostgreSQL)."""

from __future__ import annotations

import logging
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
