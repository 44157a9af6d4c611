"""The ``loader`` command as users run it: subprocesses, exit codes and output.

Only two tests here start Spark (``loader run`` without ``--dry-run``); every other
command must work without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader.state.display import error_note
from tests.functional.runner.test_runner import (
    COLUMNS,
    base_rows,
    bucket_history,
    pg_url,
    query,
    state_rows,
    table_exists,
    version_bucket,
    write_manifest,
    write_source,
)

REPO = Path(__file__).resolve().parents[3]
BAD = REPO / "tests" / "data" / "manifests_bad"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loader.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture()
def cli_env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.setenv("T_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LOADER_STATE_URL", f"sqlite:///{tmp_path / 'default-state.db'}")
    monkeypatch.delenv("PYSPARK_TEMP_S3_BUCKET", raising=False)
    env = dict(os.environ)  # the s3_server fixture exported the endpoint and credentials
    return {"env": env, "bucket": bucket, "data": tmp_path / "data", "manifests": tmp_path / "manifests",
            "state": f"sqlite:///{tmp_path / 'state.db'}"}


PROBLEM_LINE = re.compile(r"^(?P<file>[^:\s]+\.yaml)(?::\d+:\d+)?: (?P<rest>.+)$")


def test_validate_good_manifests_exits_0(cli_env: dict[str, Any]) -> None:
    for name in ("a", "b"):
        write_manifest(cli_env["manifests"], name, source={"format": "parquet", "path": "/nowhere/x.parquet"},
                       table=name)
    res = cli("validate", str(cli_env["manifests"]), env=cli_env["env"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines == [f"ok  {cli_env['manifests'] / n}.yaml: {n} -> public.{n}" for n in ("a", "b")]
    assert "Traceback" not in res.stderr


def test_validate_bad_manifests_exits_1_listing_every_problem(cli_env: dict[str, Any]) -> None:
    res = cli("validate", str(BAD), env=cli_env["env"])
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr
    for line in lines:
        assert PROBLEM_LINE.match(line), line
    files = {Path(PROBLEM_LINE.match(line).group("file")).name for line in lines}  # type: ignore[union-attr]
    assert files == {"list.yaml", "orders.yaml", "secret.yaml", "syntax.yaml"}
    # file: field: message
    assert f"{BAD}/orders.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert" in lines
    assert f"{BAD}/orders.yaml: method: 'fast' is not one of auto, copy, optimized, standard" in lines
    assert any(line.startswith(f"{BAD}/orders.yaml: target.tabel: ") for line in lines)
    assert any(line.startswith(f"{BAD}/secret.yaml: target.connection.password: ") for line in lines)
    assert "hunter2-literal" not in res.stderr
    assert any(line.startswith(f"{BAD}/syntax.yaml:5:7: YAML syntax error") for line in lines)


def test_run_with_an_invalid_manifest_exits_2_and_does_nothing(cli_env: dict[str, Any], pg_conn: Any) -> None:
    folder = cli_env["manifests"]
    write_manifest(folder, "good", source={"format": "parquet", "path": "/nowhere/x.parquet"}, table="good")
    write_manifest(folder, "bad", source={"format": "parquet", "path": "/nowhere/x.parquet"}, table="bad",
                   mode="upsert")  # upsert without key
    res = cli("--state-url", cli_env["state"], "run", str(folder), env=cli_env["env"], timeout=60)
    assert res.returncode == 2, res.stderr
    assert f"{folder}/bad.yaml: target: missing required field 'key'" in res.stderr
    assert "Traceback" not in res.stderr
    assert state_rows(cli_env["state"]) == []
    assert not table_exists(pg_conn, "good") and not table_exists(pg_conn, "bad")


def test_dry_run_touches_nothing(spark: Any, cli_env: dict[str, Any], pg_conn: Any) -> None:
    write_source(spark, cli_env["data"] / "s.parquet", base_rows(range(20)))
    folder = cli_env["manifests"]
    version_bucket(cli_env["bucket"])
    write_manifest(folder, "fresh", source={"format": "parquet", "path": "${T_DATA}/s.parquet"}, table="fresh",
                   method="auto", mode="overwrite")
    query(pg_conn, f"CREATE TABLE existing ({COLUMNS})")
    write_manifest(folder, "old", source={"format": "parquet", "path": "${T_DATA}/s.parquet"}, table="existing",
                   method="optimized", mode="append")
    write_manifest(folder, "cp", source={"format": "parquet", "path": "${T_DATA}/s.parquet"}, table="cp",
                   method="copy", create="never", copy={"prefix": "stage/area"})
    state_file = Path(cli_env["state"].removeprefix("sqlite:///"))
    res = cli("--state-url", cli_env["state"], "run", "--dry-run", str(folder), env=cli_env["env"], timeout=120)
    assert res.returncode == 1, res.stderr  # cp's table does not exist and create is 'never'
    out = res.stdout
    blocks: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("manifest "):
            current = line.split()[1]
            blocks[current] = ""
        if current:
            blocks[current] += line + "\n"
    assert set(blocks) == {"fresh", "old", "cp"}, out
    fresh = blocks["fresh"]
    assert f"source:     parquet {cli_env['data']}/s.parquet" in fresh
    assert "target:     public.fresh (will be created)" in fresh
    assert "mode:       overwrite" in fresh
    # auto with a reachable bucket: decided from the source's size when it is read, and said so
    assert "method:     copy or optimized (auto: COPY via S3 is ready; chosen when the source is read" in fresh
    assert f"temp root:  s3://{cli_env['bucket']}/tmp/postgres-copy/" in fresh
    assert "staging:    binary (the table is created from the source's types)" in fresh
    old = blocks["old"]
    assert "target:     public.existing (exists)" in old
    assert "method:     optimized (requested in the manifest)" in old
    assert "mode:       append" in old and "temp root:  -" in old and "staging:    -" in old
    cp = blocks["cp"]
    assert "method:     copy (requested in the manifest)" in cp
    assert f"temp root:  s3://{cli_env['bucket']}/stage/area/" in cp
    assert "target:     public.cp (does not exist and create is 'never': the run would fail)" in cp
    assert f"PROBLEM     {folder}/cp.yaml: target.create: table public.cp does not exist" in cp
    assert "PROBLEM" not in fresh and "PROBLEM" not in old
    assert "creates:    CREATE TABLE" in fresh and '"amount" numeric(12,2)' in fresh
    assert out.rstrip().endswith("1 problem(s) found (dry run: nothing was written)")
    # nothing anywhere: no runs recorded, no table, no S3 object, no ledger
    assert not state_file.exists() or state_rows(cli_env["state"]) == []
    assert not table_exists(pg_conn, "fresh") and not table_exists(pg_conn, "cp")
    assert not table_exists(pg_conn, "loader_ledger")
    assert query(pg_conn, "SELECT count(*) FROM existing") == [(0,)]
    assert bucket_history(cli_env["bucket"]) == []


def test_run_exit_codes_summary_and_status(spark: Any, cli_env: dict[str, Any], pg_conn: Any) -> None:
    write_source(spark, cli_env["data"] / "s.parquet", base_rows(range(50)))
    folder = cli_env["manifests"]
    write_manifest(folder, "good", source={"format": "parquet", "path": "${T_DATA}/s.parquet"}, table="good",
                   method="optimized")
    query(pg_conn, "CREATE TABLE mism (id bigint, v text)")
    write_manifest(folder, "mism", source={"format": "parquet", "path": "${T_DATA}/s.parquet"}, table="mism",
                   method="copy")
    state = cli_env["state"]

    ok = cli("--state-url", state, "run", "--only", "good", str(folder), env=cli_env["env"])
    assert ok.returncode == 0, ok.stderr
    # quiet by default: none of the JVM's banner or Spark's startup lines
    for banner in ("Using incubator modules", "Setting default log level", "NativeCodeLoader", "log4j"):
        assert banner not in ok.stderr, ok.stderr
    # progress off a terminal: log lines, the JDBC load's with its rows
    progress = [line for line in ok.stderr.splitlines() if line.startswith("INFO: progress: public.good ")]
    assert any(re.search(r"publishing: .*\b50 of ~\d[\d,]* rows|publishing: .*\b50 rows", line)
               for line in progress), ok.stderr
    header, rule, *rows = ok.stdout.strip().splitlines()
    assert header.split() == ["manifest", "table", "method", "rows", "seconds", "rows/s", "status"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 1 and rows[0].split()[:4] == ["good", "public.good", "optimized", "50"]
    assert rows[0].split()[-1] == "succeeded"
    assert query(pg_conn, "SELECT count(*) FROM good") == [(50,)]

    failed = cli("--state-url", state, "-v", "run", str(folder), env=cli_env["env"])
    assert failed.returncode == 1, failed.stderr
    assert "Setting default log level" in failed.stderr  # -v: Spark's own lines are shown
    table = failed.stdout
    assert re.search(r"^good\s+public\.good\s+optimized\s+50\s+\S+\s+\S+\s+succeeded\s*$", table, re.M), table
    assert re.search(r"^mism\s+public\.mism\s+-\s+0\s+\S+\s+0\s+failed\s*$", table, re.M), table
    assert "failures:\nmism: public.mism: the source does not match the table" in table
    assert "'amount'" in table
    assert "Traceback" not in failed.stderr
    assert query(pg_conn, "SELECT count(*) FROM mism") == [(0,)]
    assert bucket_history(cli_env["bucket"]) == []

    as_json = cli("--state-url", state, "status", "--json", env=cli_env["env"], timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    runs = json.loads(as_json.stdout)
    assert sorted((r["manifest_name"], r["status"]) for r in runs) == [
        ("good", "succeeded"), ("good", "succeeded"), ("mism", "failed")]
    assert all(r["target_db"].endswith(pg_conn.info.dbname) for r in runs)
    (error,) = [r["error"] for r in runs if r["status"] == "failed"]
    assert " -> " in error  # the next step is stored with the error

    status = cli("--state-url", state, "status", "--wide", env=cli_env["env"], timeout=60)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.strip().splitlines()
    assert lines[0].split()[:6] == ["run", "manifest", "table", "method", "status", "rows"]
    body = lines[2:]
    assert len(body) == 3  # one line per run, whatever the error
    assert sum(" failed " in line for line in body) == 1 and sum(" succeeded " in line for line in body) == 2
    (failed_line,) = [line for line in body if " failed " in line]
    assert failed_line.endswith(error_note(error)) and failed_line.split()[5] == "-"  # nothing committed

    narrow = cli("--state-url", state, "status", env=cli_env["env"] | {"COLUMNS": "150"}, timeout=60)
    lines = narrow.stdout.strip().splitlines()
    assert all(len(line) <= 150 for line in lines)
    start = next(i for i, line in enumerate(lines) if " failed " in line)
    words = " ".join(line.strip() for line in lines[start:start + 1 + sum(
        1 for line in lines[start + 1:] if line.startswith("    "))])
    assert words.endswith(" ".join(error_note(error).split()))  # wrapped, nothing cut

    summary = cli("--state-url", state, "status", "--summary", env=cli_env["env"], timeout=60)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("runs: 3 (succeeded 2, failed 1, abandoned 0, active 0)")
    assert "optimized: 100 rows" in summary.stdout
    summary_json = json.loads(cli("--state-url", state, "status", "--summary", "--json",
                                  env=cli_env["env"], timeout=60).stdout)
    assert summary_json["runs"] == 3 and summary_json["failed"] == 1


def test_status_of_an_empty_store(cli_env: dict[str, Any]) -> None:
    res = cli("--state-url", cli_env["state"], "status", env=cli_env["env"], timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("no runs recorded in "), (res.stdout, res.stderr)


@pytest.mark.parametrize(("rows", "method"), [(2_000_000, "copy"), (10, "optimized")])
def test_recommend(rows: int, method: str) -> None:
    res = cli("recommend", "--rows", str(rows), timeout=60)
    assert res.returncode == 0, res.stderr
    fragment = yaml.safe_load(res.stdout)  # a manifest fragment, the reasons as comments
    assert fragment["method"] == method and fragment["jdbc"]["num_partitions"] >= 1
    assert ("rows_per_part" in fragment.get("copy", {})) is (method == "copy")
    assert "jdbc.batchsize is not set: the load chooses it from the row width" in res.stdout
    as_json = json.loads(cli("recommend", "--rows", str(rows), "--json", timeout=60).stdout)
    assert as_json["manifest"] == fragment


def test_doctor_ready_and_missing_bucket(cli_env: dict[str, Any]) -> None:
    ready_dir = cli_env["manifests"] / "ready"
    write_manifest(ready_dir, "ready", source={"format": "parquet", "path": "/x.parquet"}, table="t", method="copy")
    res = cli("doctor", str(ready_dir), env=cli_env["env"], timeout=60)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert res.stdout.startswith(f"ready: copy (COPY is ready: staging in s3://{cli_env['bucket']}")
    assert "OK   credentials:" in res.stdout
    assert f"OK   bucket: bucket {cli_env['bucket']} (manifest copy.bucket) is reachable" in res.stdout
    assert "OK   database: connected to" in res.stdout
    assert "FAIL" not in res.stdout

    missing_dir = cli_env["manifests"] / "missing"
    write_manifest(missing_dir, "missing", source={"format": "parquet", "path": "/x.parquet"}, table="t",
                   copy={"bucket": "no-such-bucket-here"}, method="copy")
    res = cli("doctor", str(missing_dir), env=cli_env["env"], timeout=60)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert res.stdout.startswith("missing: optimized (COPY is not ready (bucket failed)")
    fail = [line for line in res.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert len(fail) == 1 and "bucket no-such-bucket-here" in fail[0]
    assert "-> create it or set PYSPARK_TEMP_S3_BUCKET / copy.bucket" in fail[0]


def test_doctor_checks_only_what_each_manifest_uses(cli_env: dict[str, Any]) -> None:
    # a cron-style setup: no default bucket anywhere, JDBC manifests and an auto one without a bucket
    folder = cli_env["manifests"] / "jdbc"
    for name, method in (("std", "standard"), ("opt", "optimized"), ("au", "auto")):
        path = write_manifest(folder, name, source={"format": "parquet", "path": "/x.parquet"}, table=name,
                              method=method)
        path.write_text(path.read_text().replace("bucket: ${T_BUCKET}", "compression: gzip"))
    res = cli("doctor", str(folder), env=cli_env["env"], timeout=60)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "std: standard (JDBC: the database is reachable; COPY is not used, not checked)" in res.stdout
    assert "opt: optimized (JDBC" in res.stdout and "FAIL" not in res.stdout
    assert "au: auto -> optimized JDBC (COPY is not ready (bucket failed)" in res.stdout
    assert "INFO bucket: bucket development-pyspark-jobs-codepackage (project default) not accessible" in res.stdout
    assert res.stdout.count("OK   database: connected to") == 3


def test_unknown_only_is_a_usage_error(cli_env: dict[str, Any]) -> None:
    write_manifest(cli_env["manifests"], "a", source={"format": "parquet", "path": "/x.parquet"}, table="a")
    res = cli("--state-url", cli_env["state"], "run", "--only", "zzz", str(cli_env["manifests"]),
              env=cli_env["env"], timeout=60)
    assert res.returncode == 2
    assert "error: --only: no manifest named zzz -> names: a" in res.stderr
    assert state_rows(cli_env["state"]) == []
