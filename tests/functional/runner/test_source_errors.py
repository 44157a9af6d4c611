"""Every error while reading a source is one SourceError naming the manifest, the path (the file and
column where it can) and what to do; and the failed run is in the state store like any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.state import StateStore
from loader.state.status import RunStatus
from tests.functional.runner.test_runner import pg_url, write_manifest


@pytest.fixture()
def env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    return {"data": tmp_path / "data", "manifests": tmp_path / "manifests"}


def _run_one(env: dict[str, Any], spark: Any, state_url: str, source: dict[str, Any]) -> Any:
    write_manifest(env["manifests"], "src", source=source, table="t")
    (out,) = commands.run([str(env["manifests"])], state_url=state_url, spark=spark)
    return out


def test_a_pandas_parquet_names_the_file_the_column_and_the_fix(spark: Any, env: dict[str, Any],
                                                                state_url: str) -> None:
    import pandas as pd

    env["data"].mkdir()
    path = env["data"] / "from_pandas.parquet"
    stamps = pd.to_datetime(["2024-01-01 10:00:00.123456789", "2024-01-02 00:00:00.000000000"], utc=True)
    pd.DataFrame({"id": [1, 2], "seen_at": stamps}).to_parquet(path)  # pandas' default: nanoseconds
    out = _run_one(env, spark, state_url, {"format": "parquet", "path": str(path)})
    assert out.status == "failed"
    assert str(path) in out.error and "'seen_at'" in out.error and "coerce_timestamps='us'" in out.error
    assert "\n" not in out.error and "at org.apache" not in out.error
    (run,) = StateStore(state_url).list_runs()
    assert (run.run_id, run.status, run.manifest_name) == (out.run_id, RunStatus.FAILED, "src")
    assert "seen_at" in (run.error or "")


def test_a_corrupt_file_is_a_source_error_not_an_unexpected_one(spark: Any, env: dict[str, Any],
                                                                state_url: str) -> None:
    env["data"].mkdir()
    (env["data"] / "broken.parquet").write_bytes(b"this is not parquet at all")
    out = _run_one(env, spark, state_url, {"format": "parquet", "path": str(env["data"] / "broken.parquet")})
    assert out.status == "failed" and "cannot read" in out.error and "broken.parquet" in out.error, out.error
    assert "unexpected error" not in out.error
    assert [r.status for r in StateStore(state_url).list_runs()] == [RunStatus.FAILED]


@pytest.mark.slow
def test_the_cli_prints_one_line_and_no_java_stack_without_v(env: dict[str, Any], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import pandas as pd

    from tests.functional.runner.test_cli import REPO

    env["data"].mkdir()
    path = env["data"] / "p.parquet"
    pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2024-01-01 00:00:00.000000001"], utc=True)}).to_parquet(path)
    write_manifest(env["manifests"], "src", source={"format": "parquet", "path": str(path)}, table="t")
    state = f"sqlite:///{tmp_path / 'cli-state.db'}"
    proc = subprocess.run([sys.executable, "-m", "loader.cli", "--state-url", state, "run", str(env["manifests"])],
                          env=dict(os.environ), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "'ts'" in proc.stderr and "coerce_timestamps" in proc.stderr
    assert "\tat org.apache" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_a_json_array_file_says_to_set_multiline(spark: Any, env: dict[str, Any], state_url: str) -> None:
    """One JSON array (what json.dump of a list writes) read as JSON Lines: Spark's message was cut mid-sentence."""
    import json

    env["data"].mkdir()
    path = env["data"] / "people.json"
    path.write_text(json.dumps([{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}], indent=2))
    out = _run_one(env, spark, state_url, {"format": "json", "path": str(path)})
    assert out.status == "failed"
    assert str(path) in out.error and "one JSON array" in out.error and 'multiLine: "true"' in out.error, out.error
    assert "unexpected error" not in out.error and "are disallowed when the" not in out.error


@pytest.mark.parametrize("method", ["optimized", "copy"])
def test_failfast_names_the_file_the_line_and_the_record(spark: Any, env: dict[str, Any], state_url: str,
                                                         method: str) -> None:
    """``mode: FAILFAST`` hands the malformed record to Spark, whose failure was 'Py4JJavaError: o99.jdbc'
    (the JDBC write) or 'the Spark staging job failed' (COPY): the read fails inside the method's job."""
    env["data"].mkdir()
    path = env["data"] / "people.csv"
    path.write_text("id,name\n1,ann\n2,bob,extra\n3,cid\n")
    write_manifest(env["manifests"], "src", table="t", method=method,
                   source={"format": "csv", "path": str(path), "schema": "id INT, name STRING",
                           "options": {"header": "true", "mode": "FAILFAST"}})
    (out,) = commands.run([str(env["manifests"])], state_url=state_url, spark=spark)
    assert out.status == "failed"
    assert "unexpected error" not in out.error and "Py4JJavaError" not in out.error, out.error
    assert str(path) in out.error and "line 3" in out.error and "2,bob,extra" in out.error, out.error
    assert "\n" not in out.error
