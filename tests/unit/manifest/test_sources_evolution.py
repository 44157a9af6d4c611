"""Manifest rules for sources as users have them (catalog tables, any Spark data source, select and
where) and for target.schema_evolution; and the source fingerprint a resume compares (pure)."""

from __future__ import annotations

import copy as copylib
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader.manifest import SourceSpec, validate_paths
from loader.runner.sources import fingerprint
from tests.unit.manifest.test_manifest import BASE, _in_tmp  # noqa: F401 - the autouse fixture too


def check(source: dict[str, Any] | None = None, **target: Any) -> tuple[Any, list[str]]:
    doc = copylib.deepcopy(BASE)
    if source is not None:
        doc["source"] = source
    doc["target"].update(target)
    Path("orders.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    manifests, problems = validate_paths(["orders.yaml"])
    return (manifests[0] if manifests else None), problems


def test_schema_evolution_defaults_to_none_and_takes_add_columns() -> None:
    assert check()[0].target.schema_evolution == "none"
    assert check(schema_evolution="add_columns")[0].target.schema_evolution == "add_columns"
    assert check(schema_evolution="drop")[1] == [
        "orders.yaml: target.schema_evolution: 'drop' is not one of none, add_columns"]


def test_a_catalog_table_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB", "lake")
    m, problems = check({"format": "table", "table": "${DB}.trips", "where": "fare > 0",
                         "select": ["id", "upper(city) AS city"]})
    assert problems == []
    assert m.source == SourceSpec(format="table", table="lake.trips", select=("id", "upper(city) AS city"),
                                  where="fare > 0")
    assert check({"format": "table"})[1] == [
        "orders.yaml: source: missing required field 'table' (format table reads a table or view of Spark's "
        "catalog, e.g. table: db.name)"]
    assert check({"format": "table", "table": "t", "path": "/x", "query": "q"})[1] == [
        "orders.yaml: source.path: not used with format table (the catalog knows where the table is)",
        "orders.yaml: source.query: not used with format table (the catalog knows where the table is)"]
    assert check({"format": "parquet", "path": "/x", "table": "t"})[1] == [
        "orders.yaml: source.table: only used with format table, not parquet"]


def test_any_other_spark_data_source_passes_through() -> None:
    m, problems = check({"format": "delta", "path": "s3://lake/trips", "options": {"versionAsOf": 3}})
    assert problems == [] and (m.source.format, m.source.path, m.source.options) == (
        "delta", "s3://lake/trips", (("versionAsOf", "3"),))
    m, problems = check({"format": "iceberg", "options": {"path": "cat.db.trips"}})  # no path: Spark decides
    assert problems == [] and m.source.path is None
    m, problems = check({"format": "org.apache.spark.sql.avro.AvroFileFormat", "path": "/x"})
    assert problems == []
    # Spark's short names are case-insensitive: our rules too (a built-in file format needs its path)
    assert check({"format": "Parquet"})[1] == [
        "orders.yaml: source: missing required field 'path' (format parquet reads files)"]
    assert check({"format": "delta", "path": "/x", "query": "q"})[1] == [
        "orders.yaml: source.query: only used with format jdbc, not delta"]


@pytest.mark.parametrize(("fmt", "problem"), [
    ("parqet", "unknown format 'parqet' (did you mean 'parquet'?)"),
    ("jsn", "unknown format 'jsn' (did you mean 'json'?)"),
    ("my format", "'my format' is not a Spark data source name (a letter, then letters, digits, '_', '.' or '-')"),
    ("", "'' is not a Spark data source name (a letter, then letters, digits, '_', '.' or '-')"),
])
def test_a_format_that_is_no_data_source_name(fmt: str, problem: str) -> None:
    problems = check({"format": fmt, "path": "/x"})[1]
    assert f"orders.yaml: source.format: {problem}" in problems


def test_select_and_where_shapes() -> None:
    m, problems = check({"format": "csv", "path": "/x", "select": ["a", 'b AS "c"'], "where": "a IS NOT NULL"})
    assert problems == [] and m.source.select == ("a", 'b AS "c"') and m.source.where == "a IS NOT NULL"
    assert check({"format": "csv", "path": "/x", "select": []})[1] == ["orders.yaml: source.select: must not be empty"]
    assert check({"format": "csv", "path": "/x", "select": ["a", 3, ""]})[1] == [
        "orders.yaml: source.select[1]: expected a string, got 3", "orders.yaml: source.select[2]: must not be empty"]
    assert check({"format": "csv", "path": "/x", "where": ["a > 1"]})[1] == [
        "orders.yaml: source.where: expected a string, got a list"]


def test_the_fingerprint_covers_table_where_and_select(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.parquet").write_bytes(b"x")
    plain = SourceSpec("parquet", str(tmp_path / "d"))
    base = fingerprint(plain)
    assert base is not None and base == fingerprint(plain)
    shaped = {fingerprint(SourceSpec("parquet", plain.path, where="a > 1")),
              fingerprint(SourceSpec("parquet", plain.path, where="a > 2")),
              fingerprint(SourceSpec("parquet", plain.path, select=("a",))),
              fingerprint(SourceSpec("parquet", plain.path, select=("a AS b",)))}
    assert len(shaped) == 4 and base not in shaped
    tables = {fingerprint(SourceSpec("table", table="db.a")), fingerprint(SourceSpec("table", table="db.b"))}
    assert len(tables) == 2 and None not in tables
    assert fingerprint(SourceSpec("jdbc", query="select 1")) is None  # a query's rows: nothing to compare
