"""--dry-run finds, without moving data, what the run would fail on: a source path that does not exist,
a key column not in the source, a target table that does not match it, a COPY bucket that does not
exist; it names the manifest file and field, exits non-zero, and shows the table it would create.
Real PostgreSQL and S3 (moto); the Parquet source is written with pyarrow (no Spark needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import commands
from tests.functional.runner.test_cli import cli
from tests.functional.runner.test_runner import bucket_history, pg_url, query, table_exists, write_manifest


@pytest.fixture()
def env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.setenv("T_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PYSPARK_TEMP_S3_BUCKET", raising=False)
    (tmp_path / "data").mkdir()
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "v": ["a", "b"],
                      "ts": pa.array([dt.datetime(2024, 1, 1)] * 2, pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, tmp_path / "data" / "s.parquet")
    (tmp_path / "data" / "h.csv").write_text('id,"the name"\n1,x\n')
    return {"manifests": tmp_path / "manifests", "bucket": bucket}


def _plan(env: dict[str, Any], name: str, **kw: Any) -> tuple[str, bool, Path]:
    kw.setdefault("source", {"format": "parquet", "path": "${T_DATA}/s.parquet"})
    path = write_manifest(env["manifests"] / name, name, table=name, **kw)
    text, ok = commands.dry_run([str(path)])
    return text, ok, path


def test_a_good_manifest_shows_the_table_it_creates(env: dict[str, Any], pg_conn: Any) -> None:
    text, ok, _ = _plan(env, "fresh", key=["id"], mode="upsert", method="copy")
    assert ok, text
    assert "(columns from the parquet footer of s.parquet)" in text
    assert 'creates:    CREATE TABLE "public"."fresh" (\n' in text, text
    for column in ('"id" bigint', '"v" text', '"ts" timestamp with time zone', 'PRIMARY KEY ("id")'):
        assert column in text, text
    assert not table_exists(pg_conn, "fresh")


def test_a_missing_source_path_names_file_and_field(env: dict[str, Any]) -> None:
    text, ok, path = _plan(env, "nosrc", source={"format": "parquet", "path": "${T_DATA}/nowhere/"})
    assert not ok
    assert f"PROBLEM     {path}: source.path: " in text and "nowhere/: no such file or folder" in text


def test_a_key_not_in_the_source(env: dict[str, Any]) -> None:
    text, ok, path = _plan(env, "nokey", key=["trip_id"], mode="upsert")
    assert not ok
    assert f"{path}: target.key: key column(s) 'trip_id' not in the source (its columns: id, ts, v)" in text


def test_a_table_that_does_not_match_the_source(env: dict[str, Any], pg_conn: Any) -> None:
    query(pg_conn, "CREATE TABLE mism (id boolean, v text, other text NOT NULL)")
    text, ok, path = _plan(env, "mism")
    assert not ok
    line = next(x for x in text.splitlines() if f"{path}: target.table: " in x)
    assert "column 'id': source type bigint cannot load into boolean" in line
    assert "source column 'ts' is not in the table" in line and "'other'" in line


def test_an_upsert_without_a_unique_index(env: dict[str, Any], pg_conn: Any) -> None:
    query(pg_conn, "CREATE TABLE nouniq (id bigint, v text, ts timestamptz)")
    text, ok, path = _plan(env, "nouniq", key=["id"], mode="upsert")
    assert not ok and f"{path}: target.key: upsert on (id) needs a primary key or unique index" in text


def test_a_copy_bucket_that_does_not_exist_is_a_fallback(env: dict[str, Any]) -> None:
    text, ok, path = _plan(env, "nobucket", method="copy", copy={"bucket": "no-such-bucket-here"})
    assert ok, text  # the run falls back to optimized JDBC and succeeds: the dry run says so (issue 25)
    assert f"WARNING     {path}: copy.bucket: bucket no-such-bucket-here (copy.bucket) is not usable" in text


def test_csv_header_columns_are_checked(env: dict[str, Any]) -> None:
    src = {"format": "csv", "path": "${T_DATA}/h.csv", "options": {"header": True}}
    text, ok, path = _plan(env, "csvkey", source=src, key=["name"], mode="upsert")
    assert not ok and "key column(s) 'name' not in the source (its columns: id, the name)" in text


def test_the_cli_exits_1_and_writes_nothing(env: dict[str, Any], pg_conn: Any) -> None:
    import os

    _plan(env, "fine")
    _plan(env, "never", create="never")
    res = cli("run", "--dry-run", str(env["manifests"] / "fine"), str(env["manifests"] / "never"),
              env=dict(os.environ), timeout=120)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "never.yaml: target.create: table public.never does not exist and create is 'never'" in res.stdout
    assert res.stdout.rstrip().endswith("1 problem(s) found (dry run: nothing was written)")
    assert not table_exists(pg_conn, "fine") and bucket_history(env["bucket"]) == []


def test_nanosecond_timestamps_are_named_int96_is_not(env: dict[str, Any], tmp_path: Path) -> None:
    table = pa.table({"id": [1], "at": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ns"))})
    pq.write_table(table, tmp_path / "data" / "ns.parquet", coerce_timestamps=None)
    pq.write_table(table, tmp_path / "data" / "i96.parquet", use_deprecated_int96_timestamps=True)
    text, ok, path = _plan(env, "ns", source={"format": "parquet", "path": "${T_DATA}/ns.parquet"})
    assert not ok and f"{path}: source.path: " in text and "column 'at' holds nanosecond timestamps" in text
    text, ok, _ = _plan(env, "i96", source={"format": "parquet", "path": "${T_DATA}/i96.parquet"})
    assert ok, text
    assert '"at" timestamp with time zone' in text  # Spark reads INT96 as a timestamp in UTC


def test_an_overwrite_says_what_an_empty_source_does(env: dict[str, Any]) -> None:
    """issue 25: an empty source may not empty a table unless allow_empty; the dry run says so."""
    text, ok, _ = _plan(env, "emptied", mode="overwrite")
    assert ok and "  if empty:   an empty source fails the run and leaves the table as it is" in text, text
    text, ok, _ = _plan(env, "emptied", mode="overwrite", target_extra={"allow_empty": True})
    assert ok and "  if empty:   an empty source empties the table (target.allow_empty: true)" in text, text
    text, ok, _ = _plan(env, "emptied", mode="append")
    assert ok and "if empty:" not in text, text


def test_a_slice_replace_shows_its_predicate_and_the_rows_it_would_delete(env: dict[str, Any],
                                                                        pg_conn: Any) -> None:
    query(pg_conn, "CREATE TABLE sliced (id bigint, v text, ts timestamptz)")
    query(pg_conn, "INSERT INTO sliced VALUES (1, 'a', now()), (2, 'a', now()), (3, 'b', now())")
    text, ok, _ = _plan(env, "sliced", mode="overwrite", target_extra={"replace_where": "v = 'a'"})
    assert ok, text
    assert "  if empty:   an empty source fails the run and leaves the slice as it is (set target.allow_empty" \
        in text, text
    assert "  replaces:   rows where v = 'a': 2 row(s) now, deleted and loaded again in one transaction" in text
    text, ok, path = _plan(env, "sliced", mode="overwrite", target_extra={"replace_where": "nope = 'a'"})
    assert not ok and f"{path}: target.replace_where: replace_where (nope = 'a') does not work on" in text, text
    text, ok, _ = _plan(env, "sliced", mode="overwrite", target_extra={"replace_by": ["v"]})
    assert ok and "  replaces:   the slices by (v) that the source holds" in text, text
    assert "  if empty:   an empty source names no slice, so it replaces nothing" in text, text
    assert query(pg_conn, "SELECT count(*) FROM sliced") == [(3,)]  # a dry run deletes nothing


def test_tpchgen_style_parquet_shows_the_create_and_checks_its_columns(env: dict[str, Any], tmp_path: Path) -> None:
    """string_view and uint16 columns (what tpchgen-cli writes): PySpark's Arrow conversion refused them
    (UNSUPPORTED_DATA_TYPE_FOR_ARROW_CONVERSION) and the preview and column checks were skipped."""
    table = pa.table({"n_nationkey": pa.array([0, 1], pa.int64()), "n_name": pa.array(["ALGERIA", "BRAZIL"],
                                                                                     pa.string_view()),
                      "n_regionkey": pa.array([0, 65535], pa.uint16())})
    pq.write_table(table, tmp_path / "data" / "nation.parquet")
    source = {"format": "parquet", "path": "${T_DATA}/nation.parquet"}
    text, ok, _ = _plan(env, "nation", source=source, key=["n_nationkey"], mode="upsert")
    assert ok, text
    assert "UNSUPPORTED_DATA_TYPE" not in text and "(columns from the parquet footer of nation.parquet)" in text
    for column in ('"n_nationkey" bigint', '"n_name" text', '"n_regionkey" integer'):  # as Spark reads them
        assert column in text, text
    text, ok, path = _plan(env, "nation2", source=source, key=["nation_id"], mode="upsert")
    assert not ok and f"{path}: target.key: key column(s) 'nation_id' not in the source" in text, text


def test_a_column_that_keeps_fewer_decimals_is_named(env: dict[str, Any], pg_conn: Any, tmp_path: Path) -> None:
    """issue 24 item 6: the dry run says which columns lose scale, source type -> target type."""
    table = pa.table({"id": pa.array([1], pa.int64()), "amount": pa.array([Decimal("1.0050")], pa.decimal128(12, 4)),
                      "exact": pa.array([Decimal("1.50")], pa.decimal128(10, 2))})
    pq.write_table(table, tmp_path / "data" / "n.parquet")
    query(pg_conn, "CREATE TABLE narrowed (id bigint, amount numeric(10,2), exact numeric(12,2))")
    text, ok, _ = _plan(env, "narrowed", source={"format": "parquet", "path": "${T_DATA}/n.parquet"},
                        target_extra={"on_narrowing": "error"})
    assert ok, text
    assert "  narrows:    'amount' decimal(12,4) -> numeric(10,2): rounded to 2 decimal places (on_narrowing: error)" \
        in text.splitlines(), text
    assert "'exact'" not in text
