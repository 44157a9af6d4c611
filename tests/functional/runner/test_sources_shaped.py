"""Sources as users have them, through the runner: a table of Spark's catalog, any Spark data source
by name, select/where in Spark before loading; a missing connector, table, column or a bad expression
is one SourceError naming the manifest, the field and the fix. And schema_evolution from a manifest,
with the dry run showing the columns it would add."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.errors import SourceError
from loader.manifest import SourceSpec
from loader.runner.sources import read_source
from tests.functional.runner.test_runner import base_rows, pg_url, query, write_manifest, write_source


@pytest.fixture()
def env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    return {"data": tmp_path / "data", "manifests": tmp_path / "manifests"}


def _run(env: dict[str, Any], spark: Any, state_url: str, source: dict[str, Any], table: str = "t",
         **kw: Any) -> Any:
    for old in env["manifests"].glob("*.yaml"):
        old.unlink()
    write_manifest(env["manifests"], "src", source=source, table=table, **kw)
    (out,) = commands.run([str(env["manifests"])], state_url=state_url, spark=spark)
    return out


def test_a_catalog_table_with_where_and_select(spark: Any, env: dict[str, Any], state_url: str,
                                              pg_conn: Any) -> None:
    spark.createDataFrame(base_rows(range(1, 41)), "id long, v string, amount decimal(12,2), flag boolean, "
                          "ts timestamp").createOrReplaceGlobalTempView("trips")
    out = _run(env, spark, state_url, {"format": "table", "table": "global_temp.trips", "where": "id % 10 = 0",
                                       "select": ["id", "upper(v) AS `V up`", "amount * 2 AS twice"]})
    assert out.status == "succeeded" and out.rows == 4, out.error
    got = query(pg_conn, 'SELECT id, "V up", twice FROM t ORDER BY id')
    rows = {r[0]: r for r in base_rows(range(1, 41))}
    assert got == [(i, rows[i][1].upper(), rows[i][2] * 2 if rows[i][2] is not None else None)
                   for i in (10, 20, 30, 40)]


def test_any_spark_data_source_by_name_passes_through(spark: Any, env: dict[str, Any], state_url: str,
                                                     pg_conn: Any) -> None:
    env["data"].mkdir()
    (env["data"] / "lines.txt").write_text("1,a\n2,b\n3,c\n")
    # text: built into Spark, not one of the loader's own formats; its one column is `value`
    out = _run(env, spark, state_url, {"format": "text", "path": str(env["data"] / "lines.txt"),
                                       "where": "value NOT LIKE '2,%'",
                                       "select": ["CAST(split(value, ',')[0] AS BIGINT) AS id",
                                                  "split(value, ',')[1] AS v"]})
    assert out.status == "succeeded", out.error
    assert query(pg_conn, "SELECT id, v FROM t ORDER BY id") == [(1, "a"), (3, "c")]
    write_source(spark, env["data"] / "o.orc", base_rows(range(5)), fmt="orc")  # orc keeps working
    out = _run(env, spark, state_url, {"format": "orc", "path": str(env["data"] / "o.orc")}, table="o")
    assert out.status == "succeeded" and out.rows == 5, out.error


def test_a_data_source_without_its_connector_says_which_package(spark: Any, env: dict[str, Any],
                                                                state_url: str) -> None:
    out = _run(env, spark, state_url, {"format": "avro", "path": "/tmp/nothing.avro"})
    assert out.status == "failed"
    assert "src.yaml: source.format: Spark has no data source 'avro'" in out.error, out.error
    import pyspark

    scala = "2.12" if pyspark.__version__.startswith("3.") else "2.13"  # the Scala of PySpark's own jars
    assert f"spark.jars.packages=org.apache.spark:spark-avro_{scala}:{pyspark.__version__}" in out.error
    with pytest.raises(SourceError) as info:
        read_source(spark, SourceSpec("com.example.nosuch"), where="m.yaml: source")
    assert str(info.value).startswith("m.yaml: source.format: Spark has no data source 'com.example.nosuch'")
    assert "spark.jars.packages=<group>:<artifact>:<version>" in (info.value.next_step or "")


def test_a_missing_catalog_table_names_the_field(spark: Any) -> None:
    with pytest.raises(SourceError, match=r"^m.yaml: source.table: Spark's catalog has no table or view "
                                          r"'nowhere.trips'"):
        read_source(spark, SourceSpec("table", table="nowhere.trips"), where="m.yaml: source")


def test_an_unknown_column_or_bad_expression_names_the_field(spark: Any, env: dict[str, Any], state_url: str,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    env["data"].mkdir()
    path = write_source(spark, env["data"] / "s.parquet", base_rows(range(3)))
    out = _run(env, spark, state_url, {"format": "parquet", "path": path, "select": ["id", "v", "nope AS x"]})
    assert out.status == "failed"
    assert "src.yaml: source.select[2]: 'nope AS x' names a column the source does not have" in out.error, out.error
    assert "UNRESOLVED_COLUMN" in out.error and "the source's columns: id, v, amount, flag, ts" in out.error
    capfd.readouterr()

    def refused(**shape: Any) -> str:
        with pytest.raises(SourceError) as info:
            read_source(spark, SourceSpec("parquet", path, **shape), where="m.yaml: source")
        return str(info.value)

    assert refused(where="nope > 1").startswith("m.yaml: source.where: 'nope > 1' names a column")
    assert refused(where="id +").startswith("m.yaml: source.where: 'id +' is not a Spark SQL expression "
                                            "Spark can apply here (PARSE_SYNTAX_ERROR)")
    assert refused(select=("id +* 2",)).startswith("m.yaml: source.select[0]: 'id +* 2' is not a Spark SQL")
    assert refused(where="id + 1").startswith("m.yaml: source.where: 'id + 1' is not a Spark SQL expression "
                                              "Spark can apply here (DATATYPE_MISMATCH.FILTER_NOT_BOOLEAN)")
    # where is applied first, on the source's columns: select may drop what where used
    assert read_source(spark, SourceSpec("parquet", path, where="v = 'v1'", select=("id",))).collect()[0].id == 1
    assert "at org.apache" not in capfd.readouterr().err  # PySpark's own stack dump stays quiet


def test_schema_evolution_from_a_manifest_with_its_dry_run(spark: Any, env: dict[str, Any], state_url: str,
                                                           pg_conn: Any) -> None:
    query(pg_conn, "CREATE TABLE t (id bigint, v text)")
    pg_conn.commit()
    env["data"].mkdir()
    path = write_source(spark, env["data"] / "s.parquet", base_rows(range(3)))
    out = _run(env, spark, state_url, {"format": "parquet", "path": path})  # schema_evolution: none
    assert out.status == "failed" and "source column 'amount' is not in the table" in out.error
    manifest = write_manifest(env["manifests"], "src", source={"format": "parquet", "path": path}, table="t")
    text = manifest.read_text().replace("mode: append", "mode: append\n  schema_evolution: add_columns")
    manifest.write_text(text)
    plan, ok = commands.dry_run([str(env["manifests"])], spark=spark)
    assert ok, plan  # the new columns are no problem with add_columns
    assert 'add columns: "amount" numeric(12,2), "flag" boolean, "ts" timestamp with time zone' in plan, plan
    assert [r[0] for r in query(pg_conn, "SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass "
                                         "AND attnum > 0")] == ["id", "v"]  # the dry run changed nothing
    (out,) = commands.run([str(env["manifests"])], state_url=state_url, spark=spark)
    assert out.status == "succeeded" and out.rows == 3, out.error
    assert query(pg_conn, "SELECT count(*), count(ts), count(amount) FROM t") == [(3, 2, 2)]  # row 0: NULLs
