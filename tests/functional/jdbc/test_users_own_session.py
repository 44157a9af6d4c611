"""The library call in the SparkSession a user makes (``SparkSession.builder.getOrCreate()``, no JDBC
jar): the driver is found and added where it can be; otherwise one clear error, before anything is
written. Each case runs in a process of its own, since a JVM's class path is per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CHILD = textwrap.dedent("""
    import json, os, sys
    from pyspark.sql import SparkSession
    from loader import write_to_postgres, ConfigError
    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    assert not spark.sparkContext.getConf().get("spark.jars", ""), "this session must start without the jar"
    df = spark.sql("SELECT id, concat('v', id) AS v FROM range(10)")
    try:
        r = write_to_postgres(df, json.loads(os.environ["T_CONN"]), method="optimized", table="own_session",
                              state_url=os.environ["T_STATE"])
        print("RESULT", r.method, r.rows)
    except ConfigError as exc:
        print("CONFIGERROR", exc)
""")


def _child(pg_db: Any, state_url: str, **env: str) -> str:
    environ = {**os.environ, "T_CONN": json.dumps(pg_db.as_params()), "T_STATE": state_url,
               "PYTHONPATH": str(REPO), "SPARK_LOCAL_IP": "127.0.0.1", **env}
    proc = subprocess.run([sys.executable, "-c", CHILD], env=environ, cwd=REPO, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_the_driver_is_found_for_a_session_without_it(pg_db: Any, pg_conn: Any, state_url: str) -> None:
    out = _child(pg_db, state_url)
    assert "RESULT optimized 10" in out, out
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM own_session")
        assert cur.fetchone() == (10,)


@pytest.mark.slow
def test_no_driver_anywhere_is_one_clear_error_before_anything_is_written(pg_db: Any, pg_conn: Any,
                                                                          state_url: str) -> None:
    out = _child(pg_db, state_url, LOADER_JDBC_JAR="/nonexistent/postgresql.jar")
    assert "CONFIGERROR" in out and "org.postgresql.Driver" in out and "spark.jars" in out, out
    assert "Traceback" not in out
    with pg_conn.cursor() as cur:  # no target, no staging table
        cur.execute("SELECT count(*) FROM pg_class WHERE relname = 'own_session' OR relname LIKE 'loader_stage_%'")
        assert cur.fetchone() == (0,)
