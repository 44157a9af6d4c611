"""What each write mode and method needs (destination/privileges.py), and the GRANT for each."""

from __future__ import annotations

import pytest

from loader.destination.privileges import Catalog, LoadShape, Need, Report, needs, sql_name
from loader.errors import PrivilegeError
from loader.naming import TableRef, loader_schema
from loader.options import Method, WriteMode

T = TableRef("app", "nation")
EXISTING = Catalog(database="dw", table_exists=True, ledger_exists=True, rejects_exists=True)


def _keys(shape: LoadShape, catalog: Catalog = EXISTING) -> set[tuple[str, str, str]]:
    return {n.key for n in needs(shape, catalog)}


def _table(shape: LoadShape) -> set[str]:
    return {p for p, on, name in _keys(shape) if on == "table" and name == str(T)}


@pytest.mark.parametrize("mode, slice_, allow_empty, expected", [
    (WriteMode.APPEND, "", False, {"INSERT"}),
    (WriteMode.OVERWRITE, "", False, {"INSERT", "DELETE", "SELECT"}),
    (WriteMode.OVERWRITE, "", True, {"INSERT", "DELETE"}),  # no "did it hold rows" read
    (WriteMode.UPSERT, "", False, {"INSERT", "UPDATE", "SELECT"}),
    (WriteMode.OVERWRITE, "where", False, {"INSERT", "DELETE", "SELECT"}),
    (WriteMode.OVERWRITE, "by", False, {"INSERT", "DELETE", "SELECT"}),
])
def test_each_write_mode_needs_its_table_privileges(mode: WriteMode, slice_: str, allow_empty: bool,
                                                    expected: set[str]) -> None:
    for method in (Method.COPY, Method.OPTIMIZED, Method.STANDARD):
        assert _table(LoadShape(T, "app", mode, method, slice_, allow_empty=allow_empty)) == expected


def test_an_overwrite_asked_to_truncate_needs_truncate_instead_of_delete() -> None:
    for allow_empty, expected in ((False, {"INSERT", "TRUNCATE", "SELECT"}), (True, {"INSERT", "TRUNCATE"})):
        assert _table(LoadShape(T, "app", WriteMode.OVERWRITE, allow_empty=allow_empty, truncate=True)) == expected


def test_reject_reads_the_table_and_writes_the_rejects() -> None:
    keys = _keys(LoadShape(T, "loader", reject=True))
    assert ("SELECT", "table", "app.nation") in keys
    assert ("INSERT", "table", "loader.loader_rejects") in keys
    assert ("TEMPORARY", "database", "dw") in keys
    absent = _keys(LoadShape(T, "loader", reject=True), Catalog("dw", True, True, rejects_exists=False))
    assert ("CREATE", "schema", "loader") in absent and ("INSERT", "table", "loader.loader_rejects") not in absent


def test_an_existing_ledger_needs_insert_and_select_a_missing_one_create() -> None:
    there = _keys(LoadShape(T, "app"))
    assert {("INSERT", "table", "app.loader_ledger"), ("SELECT", "table", "app.loader_ledger")} <= there
    assert ("CREATE", "schema", "app") not in there  # COPY append into an existing table creates nothing
    missing = needs(LoadShape(T, "app"), Catalog("dw", table_exists=True, ledger_exists=False))
    create = next(n for n in missing if n.key == ("CREATE", "schema", "app"))
    assert create.why == "the ledger app.loader_ledger does not exist"
    assert create.describe("etl") == ("missing: CREATE on schema app (the ledger app.loader_ledger does not exist) "
                                      "— GRANT CREATE ON SCHEMA app TO etl; or set target.ledger_schema to a schema "
                                      "the role may create in")


def test_the_jdbc_methods_create_their_staging_table_in_the_ledger_schema() -> None:
    for method in (Method.OPTIMIZED, Method.STANDARD):
        keys = _keys(LoadShape(T, "loader", method=method))
        assert ("CREATE", "schema", "loader") in keys and ("CREATE", "schema", "app") not in keys
        assert ("USAGE", "schema", "loader") in keys and ("USAGE", "schema", "app") in keys
    assert ("CREATE", "schema", "loader") not in _keys(LoadShape(T, "loader", method=Method.COPY))


def test_auto_needs_what_copy_and_optimized_need() -> None:
    auto = needs(LoadShape(T, "app", WriteMode.UPSERT, Method.AUTO), EXISTING)
    keys = {n.key for n in auto}
    assert keys == _keys(LoadShape(T, "app", WriteMode.UPSERT, Method.COPY)) | \
        _keys(LoadShape(T, "app", WriteMode.UPSERT, Method.OPTIMIZED))
    assert len(keys) == len(auto)  # each once
    assert "auto's optimized JDBC" in next(n.why for n in auto if n.key == ("CREATE", "schema", "app"))


def test_a_new_table_needs_create_on_the_target_schema_and_nothing_on_the_table() -> None:
    new = Catalog("dw", table_exists=False, ledger_exists=True)
    keys = _keys(LoadShape(T, "loader", WriteMode.UPSERT), new)
    assert ("CREATE", "schema", "app") in keys
    assert not {k for k in keys if k[2] == "app.nation"}  # the role will own it
    assert ("CREATE", "schema", "app") not in _keys(LoadShape(T, "loader", create="never"), new)


def test_temp_tables_where_rows_land_first() -> None:
    def temp(**kw: object) -> bool:
        return ("TEMPORARY", "database", "dw") in _keys(LoadShape(T, "app", **kw))  # type: ignore[arg-type]
    assert temp(mode=WriteMode.UPSERT, method=Method.COPY)
    assert not temp(mode=WriteMode.UPSERT, method=Method.OPTIMIZED)  # the staging table is the landing
    assert temp(mode=WriteMode.OVERWRITE, slice="by", method=Method.OPTIMIZED)
    assert not temp(mode=WriteMode.APPEND) and not temp(mode=WriteMode.OVERWRITE)


def test_a_missing_schema_is_named_with_create_schema() -> None:
    catalog = Catalog("dw", True, False, absent_schemas=frozenset({"loader"}))
    missing = [n for n in needs(LoadShape(T, "loader"), catalog) if n.privilege == "EXISTS"]
    assert [n.describe("etl") for n in missing] == [
        "missing: schema loader does not exist (the load's tables go there) — CREATE SCHEMA loader AUTHORIZATION etl"]


def test_the_reasons_of_one_privilege_are_joined() -> None:
    upsert_reject = needs(LoadShape(T, "app", WriteMode.UPSERT, reject=True), EXISTING)
    select = [n for n in upsert_reject if n.key == ("SELECT", "table", "app.nation")]
    assert len(select) == 1 and "upsert" in select[0].why and "on_error: reject" in select[0].why


@pytest.mark.parametrize("name, written", [
    ("etl", "etl"), ("Etl", '"Etl"'), ("user", '"user"'), ("my-role", '"my-role"'), ('a"b', '"a""b"')])
def test_names_are_quoted_only_where_postgresql_needs_it(name: str, written: str) -> None:
    assert sql_name(name) == written


def test_grants_for_each_kind_of_object() -> None:
    assert Need("INSERT", "table", "App.nation", "").fix("etl") == 'GRANT INSERT ON TABLE "App".nation TO etl'
    assert Need("TEMPORARY", "database", "dw", "").fix("etl") == "GRANT TEMPORARY ON DATABASE dw TO etl"


def test_the_report_becomes_one_error_with_every_grant() -> None:
    missing = needs(LoadShape(T, "app", WriteMode.OVERWRITE), Catalog("dw", True, ledger_exists=False))
    report = Report("etl", tuple(n for n in missing if n.privilege in ("CREATE", "SELECT")))
    err = report.error(T)
    assert isinstance(err, PrivilegeError) and err.ids["sqlstate"] == "42501"
    assert "role etl lacks" in err.message and "nothing was loaded" in err.message
    assert err.next_step is not None
    assert "GRANT CREATE ON SCHEMA app TO etl" in err.next_step and "GRANT SELECT ON TABLE app.nation TO etl" in err.next_step
    assert "or set target.ledger_schema" in err.next_step and "or set target.allow_empty: true" in err.next_step
    assert Report("etl", ()).ok


def test_the_ledger_schema_is_decided_once() -> None:
    assert loader_schema(T) == "app" and loader_schema(T, None) == "app" and loader_schema(T, "") == "app"
    assert loader_schema(T, "loader") == "loader"
