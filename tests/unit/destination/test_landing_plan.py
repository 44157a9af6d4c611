"""plan_landing: when an upsert or a slice replace lands over N connections, and what it says."""

from __future__ import annotations

import pytest

from loader.destination.landing_rules import plan_landing


def test_n_connections_land_in_a_staging_table_of_the_ledger_schema() -> None:
    path = plan_landing(3, merges=True, reject=False, may_create=True, schema="loader")
    assert path.connections == 3
    assert path.reason == ("over 3 connections into an UNLOGGED staging table in schema loader, then merged in "
                           "one transaction")


def test_unknown_privilege_is_said_as_not_checked() -> None:
    path = plan_landing(2, merges=True, reject=False, may_create=None, schema="public")
    assert path.connections == 2 and path.reason.endswith("if the role may create it (not checked), then merged "
                                                          "in one transaction")


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"connections": 1}, " (copy.connections: 1)"),
    ({"merges": False}, ": only an upsert or a slice replace lands in a staging table"),
    ({"reject": True}, ": on_error: reject sets rows aside in the load transaction"),
    ({"may_create": False}, ": the role may not create the staging table in schema \"Odd\" (GRANT CREATE ON "
                            "SCHEMA \"Odd\", or set target.ledger_schema, to land over copy.connections)"),
])
def test_one_connection_and_why(kwargs: dict[str, object], why: str) -> None:
    args: dict[str, object] = {"connections": 2, "merges": True, "reject": False, "may_create": True, "schema": "Odd"}
    args.update(kwargs)
    path = plan_landing(**args)  # type: ignore[arg-type]
    assert (path.connections, path.reason) == (1, "over 1 connection" + why)
