"""--dry-run says which path a manifest with copy.connections > 1 will take: a shadow table over N
connections, or in place over one and why (a view on the table, a foreign key to it, the mode, a new
table), by the rules the run uses (destination/shadow_plan.py). Real PostgreSQL and S3 (moto)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from tests.functional.runner.test_dry_run import _plan, env  # noqa: F401 - the fixture
from tests.functional.runner.test_runner import pg_url, query


def _path(text: str) -> str | None:
    return next((line.split("path:", 1)[1].strip() for line in text.splitlines() if line.startswith("  path:")), None)


def _table(pg_conn: Any, name: str) -> None:
    query(pg_conn, f"CREATE TABLE {name} (id bigint PRIMARY KEY, v text, ts timestamptz)")
    query(pg_conn, f"CREATE INDEX {name}_v ON {name} (v)")


def test_a_plain_table_goes_through_a_shadow_over_n_connections(env: dict[str, Any], pg_conn: Any) -> None:  # noqa: F811
    _table(pg_conn, "dp_plain")
    text, ok, _ = _plan(env, "dp_plain", mode="overwrite", method="copy", copy={"connections": 3})
    assert ok, text
    path = _path(text)
    assert path is not None and path.startswith("through a shadow table over 3 connections, one short swap"), text
    assert "indexes dp_plain_pkey, dp_plain_v" in path
    # method auto: the path holds only if COPY is chosen
    text, _, _ = _plan(env, "dp_plain", mode="overwrite", method="auto", copy={"connections": 3})
    assert str(_path(text)).startswith("if COPY is chosen: through a shadow table"), text


@pytest.mark.parametrize(("setup", "carried"), [
    ("CREATE VIEW dp_dep_rows AS SELECT id FROM dp_dep", "views public.dp_dep_rows (replaced, the same views)"),
    ("CREATE TABLE dp_dep_child (pid bigint REFERENCES dp_dep (id))",
     "foreign key public.dp_dep_child.dp_dep_child_pid_fkey to it (rebuilt NOT VALID, then validated before the swap)"),
])
def test_a_view_or_a_foreign_key_to_it_is_carried_through_the_swap(env: dict[str, Any], pg_conn: Any, setup: str,  # noqa: F811
                                                                   carried: str) -> None:
    _table(pg_conn, "dp_dep")
    query(pg_conn, setup)
    text, ok, _ = _plan(env, "dp_dep", mode="overwrite", method="copy", copy={"connections": 2})
    assert ok, text
    path = _path(text)
    assert path is not None and path.startswith("through a shadow table over 2 connections") and carried in path, text
    assert "dependents:" in text and carried.split(" (")[0].split(" ", 1)[1].split(" to it")[0] in text, text


def test_what_the_swap_cannot_carry_sends_it_in_place_under_mvcc_by_name(env: dict[str, Any], pg_conn: Any) -> None:  # noqa: F811
    _table(pg_conn, "dp_mat")
    query(pg_conn, "CREATE MATERIALIZED VIEW dp_mat_m AS SELECT count(*) FROM dp_mat")
    text, ok, _ = _plan(env, "dp_mat", mode="overwrite", method="copy", copy={"connections": 2})
    assert ok, text
    assert _path(text) == ("in place over 1 connection, its rows replaced under MVCC (DELETE, then COPY, in one "
                           "transaction: readers read the old rows until the COMMIT): the shadow path is refused "
                           "(materialized views on it (no CREATE OR REPLACE): public.dp_mat_m)"), text
    text, ok, _ = _plan(env, "dp_mat", mode="overwrite", method="copy", target_extra={"overwrite": "truncate"})
    assert _path(text) == ("in place over 1 connection with TRUNCATE (target.overwrite: truncate): readers wait "
                           "from the TRUNCATE to the COMMIT"), text


def test_the_mode_a_new_table_and_one_connection(env: dict[str, Any], pg_conn: Any) -> None:  # noqa: F811
    _table(pg_conn, "dp_mode")
    text, _, _ = _plan(env, "dp_mode", mode="append", method="copy", copy={"connections": 2})
    assert _path(text) == ("over 2 connections, each prepared (PREPARE TRANSACTION), committed together once "
                           "the ledger records the run"), text  # the test server allows 8 (tests/conftest.py)
    text, _, _ = _plan(env, "dp_new_append", mode="append", method="copy", copy={"connections": 2})
    assert _path(text) == "over 1 connection: the table is created in the load transaction", text
    text, _, _ = _plan(env, "dp_mode", mode="upsert", key=["id"], method="copy", copy={"connections": 2})
    assert _path(text) == ("over 2 connections into an UNLOGGED staging table in schema public, then merged in "
                           "one transaction"), text
    text, _, _ = _plan(env, "dp_new", mode="overwrite", method="copy", copy={"connections": 2})
    assert _path(text) == "in place: the table is created by the load", text
    text, _, _ = _plan(env, "dp_mode", mode="overwrite", method="copy")
    assert _path(text) == ("in place over 1 connection, its rows replaced under MVCC (DELETE, then COPY, in one "
                           "transaction: readers read the old rows until the COMMIT) (copy.connections auto: 1 (the "
                           "table holds 0 MiB, under 64 MiB))"), text  # an overwrite always says which path
    text, _, _ = _plan(env, "dp_mode", mode="append", method="copy")
    assert _path(text) is None, text  # one connection: nothing to choose


def test_a_slice_replace_lands_over_n_connections_where_the_role_may_create_the_staging_table(
        env: dict[str, Any], pg_db: Any, pg_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    _table(pg_conn, "dp_slice")
    where = {"replace_where": "v = 'b'"}
    text, ok, _ = _plan(env, "dp_slice", mode="overwrite", method="copy", copy={"connections": 2},
                        target_extra=where)
    assert ok, text
    assert _path(text) == ("over 2 connections into an UNLOGGED staging table in schema public, then merged in "
                           "one transaction"), text
    # the staging table goes in target.ledger_schema: one the role may not create in keeps one connection
    role = "dp_" + uuid.uuid4().hex[:10]
    query(pg_conn, "CREATE SCHEMA dp_ledger")
    query(pg_conn, f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    query(pg_conn, f"GRANT USAGE ON SCHEMA dp_ledger TO {role}")
    query(pg_conn, f"GRANT SELECT, INSERT, DELETE ON dp_slice TO {role}")
    try:
        monkeypatch.setenv("T_PG_URL", pg_url(dataclasses.replace(pg_db, user=role, password="pw")))
        text, _, _ = _plan(env, "dp_slice", mode="overwrite", method="copy", copy={"connections": 2},
                           target_extra=where | {"ledger_schema": "dp_ledger"})
        assert _path(text) == ("over 1 connection: the role may not create the staging table in schema dp_ledger "
                               "(GRANT CREATE ON SCHEMA dp_ledger, or set target.ledger_schema, to land over "
                               "copy.connections)"), text
    finally:
        query(pg_conn, f"DROP OWNED BY {role}")
        query(pg_conn, f"DROP ROLE {role}")


def test_dry_run_and_doctor_list_each_dependent_with_what_happens_to_it(env: dict[str, Any], pg_conn: Any) -> None:  # noqa: F811
    from loader import commands

    _table(pg_conn, "dp_deps")
    query(pg_conn, "CREATE VIEW dp_deps_view AS SELECT id, v FROM dp_deps")
    query(pg_conn, "CREATE MATERIALIZED VIEW dp_deps_m AS SELECT count(*) FROM dp_deps")
    query(pg_conn, "CREATE TABLE dp_deps_child (pid bigint REFERENCES dp_deps (id))")
    text, ok, path = _plan(env, "dp_deps", mode="overwrite", method="copy", copy={"connections": 2})
    # the materialized view refuses the swap, and in place the referenced rows cannot be replaced
    assert not ok and "replaces the rows in place with DELETE, which the foreign keys" in text, text
    block = text[text.index("  dependents: "):]
    for line in ("view public.dp_deps_view: kept as it is (the rows are replaced in place)",
                 "materialized view public.dp_deps_m: refuses the swap (no CREATE OR REPLACE)",
                 "foreign key public.dp_deps_child.dp_deps_child_pid_fkey to it: its rows cannot be replaced in "
                 "place: the overwrite is refused unless it goes through the swap"):
        assert line in block, (line, block)
    query(pg_conn, "DROP MATERIALIZED VIEW dp_deps_m")
    text, ok, path = _plan(env, "dp_deps", mode="overwrite", method="copy", copy={"connections": 2})
    assert ok, text
    assert "view public.dp_deps_view: replaced in the swap (CREATE OR REPLACE VIEW: the same view" in text, text
    doctor, _ = commands.doctor([str(path)])
    assert "INFO dependent view public.dp_deps_view: replaced in the swap" in doctor, doctor
    assert ("INFO dependent foreign key public.dp_deps_child.dp_deps_child_pid_fkey to it: rebuilt against the new "
            "table NOT VALID, validated before the swap, exchanged in it") in doctor, doctor
