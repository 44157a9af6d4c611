"""Append over N prepared transactions: when, why not, and the gids (destination/prepared_plan.py)."""

from __future__ import annotations

import pytest

from loader.destination.landing_rules import plan_prepared
from loader.destination.prepared_plan import gid, parse_gid, prepared_readiness

OK = {"append": True, "creates": False, "adds_columns": False, "reject": False, "max_prepared": 8}


def test_an_append_into_an_existing_table_goes_over_n_prepared_transactions() -> None:
    path = plan_prepared(3, **OK)
    assert path.connections == 3 and path.reason.startswith("over 3 connections, each prepared")


@pytest.mark.parametrize(("change", "why"), [
    ({"append": False}, "only mode append loads over prepared transactions"),
    ({"creates": True}, "the table is created in the load transaction"),
    ({"adds_columns": True}, "schema_evolution adds columns in the load transaction"),
    ({"reject": True}, "on_error: reject sets rows aside in the load transaction"),
])
def test_what_only_one_transaction_can_do_keeps_one_connection(change: dict[str, bool], why: str) -> None:
    path = plan_prepared(4, **(OK | change))
    assert path.connections == 1 and path.reason == f"over 1 connection: {why}"


def test_the_servers_default_of_no_prepared_transactions_keeps_one_and_says_how_to_change_it() -> None:
    for max_prepared in (0, 1):
        path = plan_prepared(4, **(OK | {"max_prepared": max_prepared}))
        assert path.connections == 1
        assert f"max_prepared_transactions is {max_prepared} (set it to 4 or more" in path.reason
        assert "RDS parameter group" in path.reason


def test_fewer_prepared_transactions_than_connections_use_what_the_server_allows() -> None:
    assert plan_prepared(8, **(OK | {"max_prepared": 3})).connections == 3
    assert plan_prepared(2, **(OK | {"max_prepared": None})).reason.endswith("allows (not checked)")
    assert plan_prepared(1, **OK).connections == 1


def test_gids_name_the_run_and_the_connection_and_nothing_else_parses() -> None:
    run = "0123456789abcdef0123456789abcdef"
    assert parse_gid(gid(run, 0)) == (run, 0) and parse_gid(gid(run, 11)) == (run, 11)
    for other in ("loader:xyz:1", "pgbench_1", f"loader:{run}", f"loader:{run}:1:2", f"x{gid(run, 1)}"):
        assert parse_gid(other) is None, other


def test_doctor_says_what_max_prepared_transactions_allows() -> None:
    ok, detail = prepared_readiness(8)
    assert ok and detail.startswith("max_prepared_transactions 8: an append with copy.connections > 1 loads over up to 8")
    ok, detail = prepared_readiness(0)
    assert not ok and "loads over 1 connection" in detail and "RDS parameter group" in detail
