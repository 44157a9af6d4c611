"""Strict sources (issue #24, item 2): a CSV row with a field too many or too few, a value that does
not parse as its declared type, a JSON line that is not JSON, fail the load naming the file and the
line; with ``on_error: reject`` they are set aside in ``loader_rejects`` with the raw line and the
reason, and the other rows load. Real Spark, real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader import commands
from tests.functional.runner.test_runner import pg_url, query

pytestmark = pytest.mark.slow

CSV = "id,name,amount\n1,alice,10\n2,bob,20\n3,carol, smith,30\n4,dave\n5,erin,50\n"


@pytest.fixture()
def env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    (tmp_path / "data").mkdir()
    return {"data": tmp_path / "data", "manifests": tmp_path / "manifests"}


def run(env: dict[str, Any], spark: Any, state_url: str, source: dict[str, Any], **top: Any) -> Any:
    doc = {"version": 1, "name": "src", "source": source, "method": "optimized",
           "target": {"connection": "${T_PG_URL}", "table": "t"}, "copy": {"bucket": "${T_BUCKET}"}, **top}
    env["manifests"].mkdir(exist_ok=True)
    (env["manifests"] / "src.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (out,) = commands.run([str(env["manifests"])], state_url=state_url, spark=spark)
    return out


def _csv(env: dict[str, Any], text: str = CSV, name: str = "people.csv") -> Path:
    path = env["data"] / name
    path.write_text(text)
    return path


def test_a_row_with_a_field_too_many_or_too_few_fails_naming_the_file_and_line(
        spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    path = _csv(env)
    out = run(env, spark, state_url, {"format": "csv", "path": str(path), "options": {"header": "true"}})
    assert out.status == "failed", out
    assert f"{path} line 4: 4 fields, expected 3 (id, name, amount)" in out.error, out.error
    assert f"{path} line 5: 2 fields, expected 3" in out.error and "'4,dave'" in out.error
    assert "on_error: reject" in out.error
    assert query(pg_conn, "SELECT to_regclass('t')") == [(None,)]  # nothing was written


def test_on_error_reject_sets_the_rows_aside_with_the_raw_line_and_the_reason(
        spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    path = _csv(env)
    out = run(env, spark, state_url, {"format": "csv", "path": str(path), "options": {"header": "true"}},
              on_error="reject")
    assert out.status == "succeeded", out.error
    assert (out.rows, out.rows_rejected) == (3, 2)
    assert query(pg_conn, "SELECT id, name, amount FROM t ORDER BY id") == [
        ("1", "alice", "10"), ("2", "bob", "20"), ("5", "erin", "50")]
    got = query(pg_conn, "SELECT run_id, row_number, origin, error, row_data->>'raw_line' FROM loader_rejects "
                         "ORDER BY row_number")
    assert got == [(out.run_id, 4, f"{path} line 4", "4 fields, expected 3 (id, name, amount)", "3,carol, smith,30"),
                   (out.run_id, 5, f"{path} line 5", "2 fields, expected 3 (id, name, amount)", "4,dave")]


def test_max_errors_counts_the_malformed_rows(spark: Any, env: dict[str, Any], pg_conn: Any,
                                              state_url: str) -> None:
    path = _csv(env)
    out = run(env, spark, state_url, {"format": "csv", "path": str(path), "options": {"header": "true"}},
              on_error="reject", max_errors=1)
    assert out.status == "failed" and "more than max_errors=1" in out.error, out
    assert query(pg_conn, "SELECT to_regclass('t'), to_regclass('loader_rejects')") == [(None, None)]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_value_that_does_not_parse_as_its_declared_type(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                           state_url: str, fmt: str) -> None:
    if fmt == "csv":
        path = _csv(env, "id,name,amount\n1,alice,10\n2,bob,twenty\n3,carol,\n")
        source = {"format": "csv", "path": str(path), "options": {"header": "true"},
                  "schema": "id INT, name STRING, amount INT"}
        raw, line = "2,bob,twenty", 3  # the header is line 1
    else:
        lines = [{"id": 1, "name": "alice", "amount": 10}, {"id": 2, "name": "bob", "amount": "twenty"},
                 {"id": 3, "name": "carol"}]
        path = env["data"] / "people.json"
        path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
        source = {"format": "json", "path": str(path), "schema": "id INT, name STRING, amount INT"}
        raw, line = json.dumps(lines[1]), 2
    out = run(env, spark, state_url, source)
    assert out.status == "failed", out
    assert f"{path} line {line}: column 'amount': 'twenty' is not a valid int" in out.error, out.error
    if fmt == "json":
        assert f"{path} line 4: not valid JSON" in out.error
    out = run(env, spark, state_url, source, on_error="reject")
    assert out.status == "succeeded", out.error
    assert query(pg_conn, "SELECT id, name, amount FROM t ORDER BY id") == [(1, "alice", 10), (3, "carol", None)]
    assert (raw, line) in query(pg_conn, "SELECT row_data->>'raw_line', row_number FROM loader_rejects")


def test_a_json_line_that_is_not_json_fails_without_a_declared_schema(spark: Any, env: dict[str, Any],
                                                                      state_url: str) -> None:
    path = env["data"] / "events.json"
    path.write_text('{"id": 1}\n{"id": 2,\n{"id": 3}\n')
    out = run(env, spark, state_url, {"format": "json", "path": str(path)})
    assert out.status == "failed" and f"{path} line 2: not valid JSON" in out.error, out.error
