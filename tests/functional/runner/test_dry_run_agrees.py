"""The dry run says what the run will do (issue 25): a missing target schema, an overwrite of a table
other tables' foreign keys reference, a COPY bucket that does not exist. Each: the dry run's line and
the run's outcome, on a real PostgreSQL, moto S3 and Spark; the refused runs stage nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader import commands
from tests.functional.runner.test_runner import (
    base_rows,
    bucket_history,
    pg_url,
    query,
    version_bucket,
    write_manifest,
    write_source,
)

pytestmark = pytest.mark.slow
SOURCE = {"format": "parquet", "path": "${T_DATA}/base.parquet"}


@pytest.fixture(scope="module")
def data(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agree")
    write_source(spark, root / "base.parquet", base_rows(range(20)))
    return root


@pytest.fixture()
def env(pg_db: Any, bucket: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.setenv("T_DATA", str(data))
    version_bucket(bucket)
    return {"bucket": bucket, "manifests": tmp_path / "manifests"}


def _both(env: dict[str, Any], spark: Any, state_url: str, name: str, **kw: Any) -> tuple[str, bool, Any]:
    path = write_manifest(env["manifests"], name, source=SOURCE, **kw)
    text, ok = commands.dry_run([str(path)], spark=spark)
    (out,) = commands.run([str(path)], state_url=state_url, spark=spark)
    return text, ok, out


def test_a_missing_schema_is_missing_in_both(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    text, ok, out = _both(env, spark, state_url, "nosch", table="app.nation", method="copy")
    assert not ok and "will be created" not in text, text
    assert "target.table: schema 'app' of app.nation does not exist -> CREATE SCHEMA \"app\"" in text, text
    assert out.status == "failed" and "schema 'app' of app.nation does not exist" in out.error, out.error
    assert "unexpected error" not in out.error and "CREATE SCHEMA" in out.error
    assert bucket_history(env["bucket"]) == [], "nothing may be staged for a schema that does not exist"
    assert query(pg_conn, "SELECT to_regnamespace('app')") == [(None,)], "the loader creates tables, never schemas"


def _referenced(pg_conn: Any) -> None:
    query(pg_conn, "CREATE TABLE parent (id bigint PRIMARY KEY, v text, amount numeric(12,2), flag boolean, "
                   "ts timestamptz)")
    query(pg_conn, "INSERT INTO parent (id, v) VALUES (1, 'old'), (2, 'old')")
    query(pg_conn, "CREATE TABLE child (id int, parent_id bigint CONSTRAINT child_parent_fk REFERENCES parent "
                   "ON DELETE CASCADE)")
    query(pg_conn, "INSERT INTO child VALUES (10, 1)")


@pytest.mark.parametrize(("method", "extra"), [("optimized", {}), ("copy", {"overwrite": "truncate"}),
                                               ("copy", {"copy": {"connections": 1}})])
def test_an_overwrite_in_place_of_a_referenced_table_is_refused_before_staging(
        spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str, method: str, extra: dict[str, Any]) -> None:
    """In place, PostgreSQL refuses to TRUNCATE a referenced table, and a DELETE of its rows would be
    refused by a NO ACTION key or cascade into the referencing rows: both the dry run and the run
    refuse it, by the same rule (landing_choice.in_place_refusal), before anything is staged."""
    _referenced(pg_conn)
    kw: dict[str, Any] = {"copy": extra["copy"]} if "copy" in extra else {}
    if "overwrite" in extra:
        kw["target_extra"] = {"overwrite": extra["overwrite"]}
    text, ok, out = _both(env, spark, state_url, "refd", table="parent", mode="overwrite", method=method, **kw)
    assert not ok, text
    line = next(x for x in text.splitlines() if "target.mode:" in x)
    how = "TRUNCATE (target.overwrite: truncate), which PostgreSQL refuses" if "overwrite" in extra else \
        "replaces the rows in place with DELETE, which the foreign keys that reference the table would refuse"
    assert how in line and "public.child.child_parent_fk (ON DELETE CASCADE)" in line, line
    assert "mode: upsert" in line and "copy.connections: auto or 2" in line, line
    assert out.status == "failed" and "public.child.child_parent_fk (ON DELETE CASCADE)" in out.error, out.error
    assert "check the server" not in out.error and "--resume" not in out.error
    assert bucket_history(env["bucket"]) == [], "refused before anything is staged"
    assert query(pg_conn, "SELECT id, v FROM parent ORDER BY id") == [(1, "old"), (2, "old")]
    assert query(pg_conn, "SELECT * FROM child") == [(10, 1)]


def test_an_overwrite_of_a_referenced_table_by_copy_rebuilds_its_foreign_keys_through_the_swap(
        spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    """By default (copy.connections auto) a referenced table goes through the shadow swap, whatever
    its size: the foreign key is rebuilt against the new rows, exactly, and still checks."""
    _referenced(pg_conn)
    fk = query(pg_conn, "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE conname = %s",
               ("child_parent_fk",))
    text, ok, out = _both(env, spark, state_url, "refd", table="parent", mode="overwrite", method="copy")
    assert ok, text
    path = next(x for x in text.splitlines() if x.startswith("  path:"))
    assert "copy.connections auto: 2 (foreign keys reference the table" in path, path
    assert "foreign key public.child.child_parent_fk to it (rebuilt NOT VALID, then validated" in path, path
    assert out.status == "succeeded", out.error
    assert query(pg_conn, "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE conname = %s",
                 ("child_parent_fk",)) == fk
    assert query(pg_conn, "SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'child_parent_fk'") == \
        [("parent",)]
    assert query(pg_conn, "SELECT * FROM child") == [(10, 1)]


def test_a_slice_replace_of_a_referenced_table_is_not_refused(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                              state_url: str) -> None:
    """replace_where deletes row by row: no TRUNCATE, so the foreign key is no reason to refuse."""
    query(pg_conn, "CREATE TABLE p2 (id bigint PRIMARY KEY, v text, amount numeric(12,2), flag boolean, "
                   "ts timestamptz)")
    query(pg_conn, "CREATE TABLE c2 (parent_id bigint REFERENCES p2)")
    text, ok, out = _both(env, spark, state_url, "refs", table="p2", mode="overwrite", method="optimized",
                          target_extra={"replace_where": "true"})
    assert ok, text
    assert out.status == "succeeded", out.error
    assert query(pg_conn, "SELECT count(*) FROM p2") == [(20,)]


def test_a_missing_bucket_the_dry_run_says_the_run_falls_back(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                              state_url: str) -> None:
    text, ok, out = _both(env, spark, state_url, "nob", table="nob", method="copy",
                          copy={"bucket": "no-such-bucket-here"})
    assert ok, text  # the run succeeds, so the dry run does not fail
    assert "  method:     optimized (copy requested, but bucket no-such-bucket-here (copy.bucket) is not usable" \
        in text and "the run falls back to optimized JDBC)" in text, text
    assert "  WARNING     " in text and "temp root:  -" in text
    assert out.status == "succeeded" and out.method == "optimized", out
    assert query(pg_conn, "SELECT count(*) FROM nob") == [(20,)]
    path = write_manifest(env["manifests"], "nofb", source=SOURCE, table="nofb", method="copy",
                          copy={"bucket": "no-such-bucket-here", "fallback": "none"})
    text, ok = commands.dry_run([str(path)], spark=spark)
    assert not ok and "copy.fallback is none: the run would fail" in text, text
