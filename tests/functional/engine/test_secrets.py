"""The target password never shows: not in logs (DEBUG), errors, the state store, dry-run or status output.

The test cluster's superuser authenticates with a password (scram), so every
connection here really sends it; the manifests take it from an environment variable.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.engine.execute import execute
from loader.errors import LoaderError, TargetConnectionError
from loader.manifest import load_manifests
from loader.naming import TableRef
from loader.options import Method
from loader.request import LoadRequest
from loader.runner.sources import read_source
from loader.state import StateStore
from loader.testing.pgcluster import SUPERUSER_PASSWORD
from tests.functional.runner.test_runner import base_rows, query, write_manifest, write_source

REPO = Path(__file__).resolve().parents[3]
WRONG_PASSWORD = "Wrong-Pw-Zq9x-not-it"
SECRETS = (SUPERUSER_PASSWORD, WRONG_PASSWORD)


def _conn(var: str) -> dict[str, str]:
    return {"host": "${T_PG_HOST}", "port": "${T_PG_PORT}", "database": "${T_PG_DB}", "user": "${T_PG_USER}",
            "password": "${" + var + "}"}


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password appears in {where}: ...{text[max(0, text.find(secret) - 200):][:400]}"


def dump_state(state_url: str) -> str:
    """Every column of every row of every table of the SQLite state store."""
    path = state_url.removeprefix("sqlite:///")
    out = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "loader_runs" in tables
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                out.append(f"{table}: " + " | ".join(repr(v) for v in row))
    return "\n".join(out)


@pytest.fixture()
def secret_env(spark: Any, pg_db: Any, bucket: str, tmp_path: Path, pg_conn: Any,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    assert pg_db.password == SUPERUSER_PASSWORD, "the test cluster must authenticate with its password"
    for key, value in {"T_PG_HOST": pg_db.host, "T_PG_PORT": str(pg_db.port), "T_PG_DB": pg_db.database,
                       "T_PG_USER": pg_db.user, "T_PG_PASSWORD": SUPERUSER_PASSWORD,
                       "T_PG_BADPW": WRONG_PASSWORD, "T_BUCKET": bucket, "T_DATA": str(tmp_path / "data")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    write_source(spark, tmp_path / "data" / "s.parquet", base_rows(range(30)))
    query(pg_conn, "CREATE TABLE mism (id bigint, v text)")
    good, bad = tmp_path / "good", tmp_path / "bad"
    src = {"format": "parquet", "path": "${T_DATA}/s.parquet"}
    write_manifest(good, "ok", source=src, table="ok", connection=_conn("T_PG_PASSWORD"), method="optimized")
    write_manifest(good, "okjdbc", source={"format": "jdbc", "connection": _conn("T_PG_PASSWORD"),
                                           "query": "SELECT 7::bigint AS id, 'x'::text AS v"},
                   table="okj", connection=_conn("T_PG_PASSWORD"), method="copy")
    write_manifest(good, "mism", source=src, table="mism", connection=_conn("T_PG_PASSWORD"), method="copy")
    write_manifest(bad, "badpw", source=src, table="ok", connection=_conn("T_PG_BADPW"), method="copy")
    write_manifest(bad, "badjdbc", source={"format": "jdbc", "connection": _conn("T_PG_BADPW"),
                                           "query": "SELECT 1 AS id"},
                   table="okj", connection=_conn("T_PG_PASSWORD"), method="optimized")
    return {"good": good, "bad": bad, "state": f"sqlite:///{tmp_path / 'state.db'}", "spec": pg_db,
            "env": dict(os.environ)}


def test_password_never_appears_in_process(spark: Any, secret_env: dict[str, Any], pg_conn: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="loader")
    state = secret_env["state"]
    good = commands.run([str(secret_env["good"])], state_url=state, spark=spark)
    assert {o.manifest: o.status for o in good} == {"ok": "succeeded", "okjdbc": "succeeded", "mism": "failed"}
    assert query(pg_conn, "SELECT count(*) FROM ok") == [(30,)]
    assert query(pg_conn, "SELECT id, v FROM okj") == [(7, "x")]
    bad = commands.run([str(secret_env["bad"])], state_url=state, spark=spark)
    by_name = {o.manifest: o for o in bad}
    assert by_name["badpw"].status == "failed" and "refused the password" in by_name["badpw"].error
    assert by_name["badjdbc"].status == "failed"
    assert "source: PostgreSQL" in by_name["badjdbc"].error and "refused the password" in by_name["badjdbc"].error
    assert caplog.records, "nothing was logged: the check below would prove nothing"

    logged = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records) + caplog.text
    assert_no_secret(logged, "the log")
    for o in good + bad:
        assert_no_secret(repr(o), f"the outcome of {o.manifest}")
    assert_no_secret(commands.summary_table(good + bad), "the summary table")
    assert_no_secret(dump_state(state), "the state store")
    assert_no_secret(commands.status(state), "status")
    assert_no_secret(commands.status(state, as_json=True), "status --json")
    assert_no_secret(commands.status(state, summary=True, as_json=True), "status --summary --json")


def test_password_never_appears_in_exceptions(spark: Any, secret_env: dict[str, Any], tmp_path: Path) -> None:
    """The raw exceptions (before any runner-level redaction), with their whole chain."""
    manifests = {m.name: m for m in load_manifests([str(secret_env["good"]), str(secret_env["bad"])])}
    store = StateStore(f"sqlite:///{tmp_path / 'exc.db'}")
    df = spark.createDataFrame([(1, "a", True)], "id long, v string, flag boolean")
    texts = []

    wrong = manifests["badpw"].target.connection
    assert wrong.password == WRONG_PASSWORD
    with pytest.raises(TargetConnectionError) as info:
        execute(LoadRequest(df=df, spec=wrong, target=TableRef("public", "x"), method=Method.OPTIMIZED), store)
    texts.append("".join(traceback.format_exception(info.value)))

    right = manifests["mism"].target.connection
    with pytest.raises(LoaderError) as info2:
        execute(LoadRequest(df=df, spec=right, target=TableRef("public", "mism"), method=Method.COPY), store)
    texts.append("".join(traceback.format_exception(info2.value)))

    with pytest.raises(Exception) as info3:  # noqa: PT011 - whatever Spark raises
        read_source(spark, manifests["badjdbc"].source).collect()
    texts.append("".join(traceback.format_exception(info3.value)))
    texts.append(repr(wrong) + str(wrong) + repr(manifests["badpw"]) + str(manifests["badpw"]))

    for i, text in enumerate(texts):
        assert_no_secret(text, f"exception #{i}")
    assert_no_secret(dump_state(f"sqlite:///{tmp_path / 'exc.db'}"), "the state store")


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loader.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_password_never_appears_in_cli_output(secret_env: dict[str, Any], pg_conn: Any) -> None:
    env, state = secret_env["env"], secret_env["state"]
    # a failing run (schema mismatch and a wrong password) with debug logging: one Spark start
    run = _cli("-v", "--state-url", state, "run", str(secret_env["good"] / "ok.yaml"),
               str(secret_env["good"] / "mism.yaml"), str(secret_env["bad"]), env=env)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "INFO: public.ok: method optimized" in run.stderr  # debug logging was on and the check is real
    assert "refused the password" in run.stdout and "does not match the table" in run.stdout
    assert "badjdbc.yaml: source: PostgreSQL" in run.stdout, "a JDBC source with a wrong password says so"
    assert query(pg_conn, "SELECT count(*) FROM ok") == [(30,)]
    assert_no_secret(run.stdout + run.stderr, "loader -v run")

    for folder in ("good", "bad"):
        dry = _cli("-v", "--state-url", state, "run", "--dry-run", str(secret_env[folder]), env=env, timeout=120)
        assert dry.returncode == 1, dry.stderr  # good/ holds mism.yaml, a problem the dry run finds
        assert ("mism.yaml: target.table" in dry.stdout) == (folder == "good"), dry.stdout
        assert_no_secret(dry.stdout + dry.stderr, f"loader run --dry-run ({folder})")
    assert "jdbc query on postgres@" in _cli("run", "--dry-run", str(secret_env["good"]), env=env).stdout

    status = _cli("--state-url", state, "status", "--json", env=env, timeout=60)
    assert status.returncode == 0
    # every run that started, the JDBC source that refused the password included
    assert sorted((r["manifest_name"], r["status"]) for r in json.loads(status.stdout)) == [
        ("badjdbc", "failed"), ("badpw", "failed"), ("mism", "failed"), ("ok", "succeeded")]
    assert_no_secret(status.stdout + status.stderr, "loader status --json")
    summary = _cli("--state-url", state, "status", "--summary", "--json", env=env, timeout=60)
    assert_no_secret(summary.stdout + summary.stderr, "loader status --summary --json")
    doctor = _cli("doctor", str(secret_env["bad"]), env=env, timeout=60)
    assert_no_secret(doctor.stdout + doctor.stderr, "loader doctor")
    assert_no_secret(dump_state(state), "the state store")
