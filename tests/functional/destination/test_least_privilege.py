"""Issue #25: an ETL role with INSERT, UPDATE, DELETE and TRUNCATE on app.nation and no CREATE on
schema app. ``doctor`` and ``--dry-run`` name the missing privilege and its GRANT; a run fails with
that message before any data moves; with ``target.ledger_schema: loader`` (a schema the role may
create in) COPY and optimized JDBC load, and the ledger and the staging tables live in ``loader``.
Real PostgreSQL, moto S3 and the shared local Spark; two rows per load."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.errors import PrivilegeError
from loader.naming import TableRef
from loader.reaper.tables import list_staging_tables
from tests.functional.runner.test_runner import pg_url, query, table_exists, write_manifest


@pytest.fixture()
def etl(pg_db: Any, pg_conn: Any) -> Iterator[Any]:
    """The role of the issue, and its connection spec; a ``loader`` schema it may create in."""
    role = "etl_" + uuid.uuid4().hex[:8]
    query(pg_conn, f"""
        CREATE SCHEMA app;
        CREATE TABLE app.nation (id bigint PRIMARY KEY, name text);
        CREATE ROLE {role} LOGIN PASSWORD 'etl-pw';
        GRANT USAGE ON SCHEMA app TO {role};
        GRANT INSERT, UPDATE, DELETE, TRUNCATE ON app.nation TO {role};
        CREATE SCHEMA loader;
        GRANT USAGE, CREATE ON SCHEMA loader TO {role};""")
    try:
        yield dataclasses.replace(pg_db, user=role, password="etl-pw")
    finally:
        query(pg_conn, f"DROP OWNED BY {role}; DROP ROLE {role}")


@pytest.fixture()
def env(etl: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(etl))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.delenv("PYSPARK_TEMP_S3_BUCKET", raising=False)
    data = tmp_path / "nation.csv"
    data.write_text("id,name\n1,ALGERIA\n2,ARGENTINA\n")
    return {"role": etl.user, "data": str(data), "manifests": tmp_path / "manifests"}


def _manifest(env: dict[str, Any], name: str, method: str, **target: Any) -> str:
    source = {"format": "csv", "path": env["data"], "options": {"header": True},
              "select": ["cast(id as bigint) as id", "name"]}
    return str(write_manifest(env["manifests"] / name, name, source=source, table="app.nation", method=method,
                              target_extra=target))


def _frame(spark: Any) -> Any:
    return spark.createDataFrame([(1, "ALGERIA"), (2, "ARGENTINA")], "id long, name string")


def test_doctor_and_dry_run_name_the_missing_grant(env: dict[str, Any]) -> None:
    role = env["role"]
    grant = (f"missing: CREATE on schema app (the ledger app.loader_ledger does not exist) — GRANT CREATE ON "
             f"SCHEMA app TO {role}; or set target.ledger_schema to a schema the role may create in")
    path = _manifest(env, "bare_copy", "copy")
    text, ready = commands.doctor([path])
    assert not ready and "FAIL privileges:" in text and grant in text, text
    text, ok = commands.dry_run([path])
    assert not ok and f"{path}: privileges: {grant}" in text, text
    # optimized needs the same CREATE for its staging table too: both reasons, one GRANT
    staged = (f"missing: CREATE on schema app (the ledger app.loader_ledger does not exist; optimized writes through "
              f"a per-run staging table app.loader_stage_*) — GRANT CREATE ON SCHEMA app TO {role}")
    path = _manifest(env, "bare_optimized", "optimized")
    text, ready = commands.doctor([path])
    assert not ready and staged in text, text
    text, ok = commands.dry_run([path])
    assert not ok and f"{path}: privileges: {staged}" in text, text

    for method in ("copy", "optimized"):
        path = _manifest(env, f"home_{method}", method, ledger_schema="loader")
        text, ready = commands.doctor([path])
        assert ready, text
        assert f"OK   privileges: role {role} holds every privilege a load by {method} into app.nation needs " \
               "(ledger, staging and rejects in schema loader)" in text, text
        text, ok = commands.dry_run([path])
        assert ok, text
        assert f"privileges: role {role} holds every privilege a load by {method} needs; ledger in schema loader " \
               "(target.ledger_schema)" in text, text


def test_an_overwrite_also_needs_select_unless_it_may_empty(env: dict[str, Any]) -> None:
    path = _manifest(env, "over", "copy", mode="overwrite", ledger_schema="loader")
    text, ok = commands.dry_run([path])
    assert not ok and f"missing: SELECT on table app.nation (overwrite checks whether the table held rows, so " \
                      f"that an empty source cannot empty it) — GRANT SELECT ON TABLE app.nation TO {env['role']}; " \
                      "or set target.allow_empty: true" in text, text
    text, ok = commands.dry_run([_manifest(env, "over_empty", "copy", mode="overwrite", ledger_schema="loader",
                                           allow_empty=True)])
    assert ok, text


def test_a_run_without_the_privilege_fails_before_any_data_moves(etl: Any, bucket: str, spark: Any,
                                                                   pg_conn: Any, state_url: str) -> None:
    for method in ("copy", "optimized"):
        with pytest.raises(PrivilegeError) as info:
            write_to_postgres(_frame(spark), etl, method=method, table="app.nation", temp_s3_bucket=bucket,
                              state_url=state_url)
        err = info.value
        assert "missing: CREATE on schema app (the ledger app.loader_ledger does not exist" in err.message
        assert "nothing was loaded" in err.message and "unexpected" not in str(err)
        assert err.next_step is not None and f"GRANT CREATE ON SCHEMA app TO {etl.user}" in err.next_step
        assert "or set target.ledger_schema" in err.next_step
    assert query(pg_conn, "SELECT count(*) FROM app.nation") == [(0,)]
    assert not table_exists(pg_conn, "app.loader_ledger")


def test_copy_and_optimized_load_with_the_ledger_in_its_own_schema(env: dict[str, Any], etl: Any, bucket: str,
                                                                    spark: Any, pg_conn: Any,
                                                                    state_url: str) -> None:
    # COPY through a manifest (the runner carries target.ledger_schema) ...
    (out,) = commands.run([_manifest(env, "nation_copy", "copy", ledger_schema="loader")], state_url=state_url,
                          spark=spark)
    assert (out.status, out.method, out.rows) == ("succeeded", "copy", 2), out.error
    # ... and optimized JDBC through the library call, whose staging table is made in loader too
    seen: list[list[TableRef]] = []
    res = write_to_postgres(_frame(spark).selectExpr("id + 2 AS id", "name"), etl, method="optimized",
                            table="app.nation", ledger_schema="loader", state_url=state_url)
    assert (res.method, res.rows) == ("optimized", 2)
    assert query(pg_conn, "SELECT count(*) FROM app.nation") == [(4,)]
    ledger = query(pg_conn, "SELECT run_id, target, rows FROM loader.loader_ledger ORDER BY committed_at")
    assert ledger == [(out.run_id, "app.nation", 2), (res.run_id, "app.nation", 2)]
    assert not table_exists(pg_conn, "app.loader_ledger")
    # the staging table is gone with its rows; one a killed run would leave is found by the reaper there
    query(pg_conn, "CREATE TABLE loader.loader_stage_0123abcd_1700000000 (c_1 int)")
    seen.append(list_staging_tables(pg_conn))
    assert seen == [[TableRef("loader", "loader_stage_0123abcd_1700000000")]]


def test_an_append_by_a_role_that_cannot_read_the_table_keeps_its_indexes(etl: Any, spark: Any, pg_conn: Any,
                                                                          state_url: str) -> None:
    """An empty target is claimed for index deferral only after reading it: a role without SELECT
    skips that (and loads) instead of failing on the read."""
    res = write_to_postgres(_frame(spark), etl, method="optimized", table="app.nation", ledger_schema="loader",
                            state_url=state_url)
    assert res.rows == 2
    assert query(pg_conn, "SELECT indexname FROM pg_indexes WHERE schemaname = 'app'") == [("nation_pkey",)]
