"""With the root logger at DEBUG (what a user turns on when something goes wrong), no logger in the
process shows the password: ours, py4j (it logs each command sent to the JVM, a JDBC password among
them), botocore, urllib3, psycopg2. Every path that holds the password is run: copy, server-side
copy, the fallback to JDBC, optimized, standard, doctor and the reaper."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from loader import get_copy_protocol_recommendation, write_to_postgres
from loader.reaper.apply import ReapPolicy, reap
from loader.state import StateStore
from loader.testing.pgcluster import SUPERUSER_PASSWORD


def _run_every_path(spark: Any, pg_db: Any, bucket: str, state_url: str) -> None:
    df = spark.sql("SELECT id, concat('v', id) AS v FROM range(50)")
    params = pg_db.as_params()
    assert params["password"] == SUPERUSER_PASSWORD  # the connections here really send it
    for i, kw in enumerate([dict(method="copy"), dict(method="optimized"), dict(method="standard"),
                            dict(method="copy", temp_s3_bucket="no-such-bucket-here")]):  # -> fallback
        kw.setdefault("temp_s3_bucket", bucket)
        result = write_to_postgres(df, params, table=f"dbg_{i}", state_url=state_url, **kw)
        assert result.rows == 50
    get_copy_protocol_recommendation(bucket, params)
    reap(StateStore(state_url), [bucket], ReapPolicy())


def test_no_logger_shows_the_password_at_debug(spark: Any, pg_db: Any, bucket: str, state_url: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, and so every library's
    _run_every_path(spark, pg_db, bucket, state_url)
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"py4j", "botocore", "loader"} <= names, names  # those loggers did talk, at DEBUG
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert SUPERUSER_PASSWORD not in text, f"{record.name}: {text[:300]}"


def test_server_side_copy_at_debug(spark: Any, pg_db: Any, aws_s3_extension: Any, bucket: str, state_url: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    df = spark.sql("SELECT id FROM range(20)")
    result = write_to_postgres(df, pg_db.as_params(), table="dbg_ss", temp_s3_bucket=bucket, state_url=state_url,
                               server_side="always")
    assert result.server_side
    assert SUPERUSER_PASSWORD not in caplog.text
