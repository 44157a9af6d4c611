"""The manifest runner in-process (commands.run): real Spark, real PostgreSQL, real S3 (moto).

Every test writes small source files and manifests into its tmp_path; the
manifests point at the per-test database and bucket through ${VAR}s.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader import commands
from loader.adapters import pg, s3
from loader.naming import TableRef
from loader.runner.run import RunOutcome

pytestmark = pytest.mark.slow

UTC = dt.timezone.utc
COLUMNS = "id bigint, v text, amount numeric(12,2), flag boolean, ts timestamptz"
MODES = ("append", "overwrite", "upsert")
BASE_SCHEMA = "id long, v string, amount decimal(12,2), flag boolean, ts timestamp"


# --- helpers (also used by test_cli.py and test_secrets.py) ---------------------------------------
def base_rows(ids: range) -> list[tuple[Any, ...]]:
    """Plain values that every file format round-trips (no empty strings, whole seconds)."""
    return [(i, None if i % 17 == 0 else f"v{i}, \"q\"" if i % 5 == 0 else f"v{i}",
             None if i % 13 == 0 else Decimal(i * 7 % 1000) / 4,
             None if i % 11 == 0 else i % 2 == 0,
             None if i % 19 == 0 else dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i * 3601))
            for i in ids]


def write_source(spark: Any, path: Path, rows: list[tuple[Any, ...]], schema: str = BASE_SCHEMA,
                 fmt: str = "parquet") -> str:
    df = spark.createDataFrame(rows, schema).coalesce(1)
    writer = df.write.mode("overwrite")
    if fmt == "csv":  # RFC 4180, as pandas and Excel write it (Spark's default escapes quotes with "\\")
        writer = writer.option("header", "true").option("escape", '"')
    writer.format(fmt).save(str(path))
    return str(path)


def write_manifest(folder: Path, name: str, *, source: dict[str, Any], table: str, mode: str = "append",
                   key: list[str] | None = None, create: str | None = None, method: str = "optimized",
                   connection: Any = "${T_PG_URL}", copy: dict[str, Any] | None = None,
                   target_extra: dict[str, Any] | None = None) -> Path:
    target: dict[str, Any] = {"connection": connection, "table": table, "mode": mode} | (target_extra or {})
    if key:
        target["key"] = key
    if create:
        target["create"] = create
    doc = {"version": 1, "name": name, "source": source, "target": target, "method": method,
           "copy": {"bucket": "${T_BUCKET}", "compression": "gzip"} | (copy or {})}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def pg_url(spec: Any) -> str:
    return str(spec.sqlalchemy_url()).replace("+psycopg2", "")


def query(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def table_exists(conn: Any, table: str) -> bool:
    return query(conn, "SELECT to_regclass(%s)", (table,))[0][0] is not None


def bucket_history(bucket: str) -> list[str]:
    """Every object version and delete marker ever in the (versioned) bucket: proves nothing was
    written even when the loader cleaned up after itself."""
    resp = s3.make_client().list_object_versions(Bucket=bucket)
    return [v["Key"] for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]


def version_bucket(bucket: str) -> None:
    s3.make_client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def state_rows(state_url: str) -> list[dict[str, Any]]:
    path = state_url.removeprefix("sqlite:///")
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "loader_runs" not in tables:
            return []
        return [dict(r) for r in db.execute("SELECT * FROM loader_runs")]


def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((x is None, str(x)) for x in row)


def _one(outcomes: list[RunOutcome]) -> RunOutcome:
    assert len(outcomes) == 1
    return outcomes[0]


# --- write modes x methods -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Source files shared by the module's tests (written once: each Spark write costs seconds)."""
    root = tmp_path_factory.mktemp("data")
    for fmt in ("parquet", "csv", "json", "orc"):
        write_source(spark, root / f"base.{fmt}", base_rows(range(200)), fmt=fmt)
    write_source(spark, root / "narrow.parquet", [(i, f"v{i}", i % 2 == 0) for i in range(50)],
                 schema="id long, v string, flag boolean")
    return root


@pytest.fixture()
def env(pg_db: Any, bucket: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.setenv("T_DATA", str(data))
    monkeypatch.setenv("T_OWN", str(tmp_path / "data"))
    return {"bucket": bucket, "data": tmp_path / "data", "manifests": tmp_path / "manifests"}


@pytest.mark.parametrize("method", ["standard", "optimized", "copy"])
def test_every_mode_on_every_method(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str,
                                    method: str) -> None:
    """append, overwrite and upsert (three tables, one run of three manifests) with one method."""
    old = [(i, "old", Decimal("1.00"), True, dt.datetime(2020, 1, 1, tzinfo=UTC)) for i in range(-50, 50)]
    new = base_rows(range(0, 200))
    for mode in MODES:
        pk = ", PRIMARY KEY (id)" if mode == "upsert" else ""
        query(pg_conn, f"CREATE TABLE t_{mode} ({COLUMNS}{pk})")
        with pg_conn.cursor() as cur:
            cur.executemany(f"INSERT INTO t_{mode} VALUES (%s, %s, %s, %s, %s)", old)
        write_manifest(env["manifests"], mode, source={"format": "parquet", "path": "${T_DATA}/base.parquet"},
                       table=f"t_{mode}", mode=mode, key=["id"] if mode == "upsert" else None, method=method)

    outcomes = commands.run([str(env["manifests"])], state_url=state_url, parallel=3, spark=spark)
    assert sorted(o.manifest for o in outcomes) == sorted(MODES)
    for out in outcomes:
        mode = out.manifest
        assert out.status == "succeeded", (mode, out.error)
        assert out.method == method and out.fallback_reason is None
        expected = {"append": old + new, "overwrite": new, "upsert": [r for r in old if r[0] < 0] + new}[mode]
        got = query(pg_conn, f"SELECT * FROM t_{mode}")
        assert sorted(got, key=sort_key) == sorted(expected, key=sort_key), mode
        assert out.rows == len(new)
    assert bucket_history(env["bucket"]) == []  # the temp prefixes are gone (copy) or never existed
    assert query(pg_conn, "SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'") == []


# --- source formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "orc", "jdbc"])
def test_each_source_format(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str, fmt: str) -> None:
    rows = base_rows(range(200))
    if fmt == "jdbc":
        query(pg_conn, f"CREATE TABLE src ({COLUMNS})")
        with pg_conn.cursor() as cur:
            cur.executemany("INSERT INTO src VALUES (%s, %s, %s, %s, %s)", rows)
        source: dict[str, Any] = {"format": "jdbc", "connection": "${T_PG_URL}",
                                  "query": "SELECT id, v, amount, flag, ts FROM src"}
    else:
        source = {"format": fmt, "path": f"${{T_DATA}}/base.{fmt}"}
        if fmt == "csv":
            source["options"] = {"header": True}
    query(pg_conn, f"CREATE TABLE t ({COLUMNS})")
    write_manifest(env["manifests"], f"from_{fmt}", source=source, table="t")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "succeeded", out.error
    assert out.rows == len(rows)
    assert sorted(query(pg_conn, "SELECT * FROM t"), key=sort_key) == sorted(rows, key=sort_key)


def test_csv_source_into_a_new_table_through_copy(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                  state_url: str) -> None:
    write_manifest(env["manifests"], "c", source={"format": "csv", "path": "${T_DATA}/base.csv",
                                                  "options": {"header": "true", "inferSchema": "true"}},
                   table="c_new", method="copy")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "succeeded", out.error
    assert query(pg_conn, "SELECT count(*), count(DISTINCT id) FROM c_new") == [(200, 200)]


# --- table creation and the type mapping ---------------------------------------------------------
ALL_TYPES_SCHEMA = (
    "id long, b byte, s short, i int, l long, f float, d double, dec decimal(38,18), str string, "
    "bool boolean, dt date, ts timestamp, ntz timestamp_ntz, bin binary, ai array<int>, astr array<string>, "
    "st struct<x:int,y:string>, mp map<string,int>"
)
EXPECTED_PG_TYPES = {
    "id": "bigint", "b": "smallint", "s": "smallint", "i": "integer", "l": "bigint", "f": "real",
    "d": "double precision", "dec": "numeric(38,18)", "str": "text", "bool": "boolean", "dt": "date",
    "ts": "timestamp with time zone", "ntz": "timestamp without time zone", "bin": "bytea",
    "ai": "integer[]", "astr": "text[]", "st": "jsonb", "mp": "jsonb",
}


def _all_types_rows() -> list[tuple[Any, ...]]:
    return [
        (1, 1, 2, 3, 4, 1.5, 2.25, Decimal("12345678901234567890.123456789012345678"), 'he said "hi", ok',
         True, dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
         dt.datetime(2024, 1, 2, 3, 4, 5, 678901), b"\x00\x01\xff", [1, None, 3],
         ["a", None, 'q"uote', "comma,x", "", "back\\slash", "NULL"], (1, "a"), {"k": 1}),
        (2, -128, -32768, -(2**31), -(2**63), -2.5, 1e-300, Decimal("-0.000000000000000001"), "",
         False, dt.date(1970, 1, 1), dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),
         dt.datetime(1999, 12, 31, 23, 59, 59, 999999), b"", [], [], (None, "é 中文 😀"), {}),
        (3, 127, 32767, 2**31 - 1, 2**63 - 1, None, None, None, None, None, None, None, None, None, None,
         None, None, None),
    ]


def _expected_db_value(col: str, value: Any) -> Any:
    if value is None:
        return None
    if col == "st":
        return {"x": value[0], "y": value[1]}  # a NULL field stays a key with null (issue 24 item 4)
    return value


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_created_table_types_and_values(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str,
                                        method: str) -> None:
    rows = _all_types_rows()
    write_source(spark, env["data"] / "types.parquet", rows, schema=ALL_TYPES_SCHEMA)
    write_manifest(env["manifests"], "types", source={"format": "parquet", "path": "${T_OWN}/types.parquet"},
                   table="all_types", method=method)
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "succeeded", out.error
    assert out.method == method

    got_types = dict(query(pg_conn, """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                                         FROM pg_attribute a WHERE a.attrelid = 'public.all_types'::regclass
                                          AND a.attnum > 0 AND NOT a.attisdropped"""))
    assert got_types == EXPECTED_PG_TYPES

    cols = list(EXPECTED_PG_TYPES)
    got = query(pg_conn, f"SELECT {', '.join(cols)} FROM all_types ORDER BY id")
    assert len(got) == len(rows)
    for want, have in zip(rows, got, strict=True):
        for col, a, b in zip(cols, want, have, strict=True):
            if col == "bin" and b is not None:
                b = bytes(b)
            assert b == _expected_db_value(col, a), f"id={want[0]} column {col}: expected {a!r}, got {b!r}"


# --- schema mismatch: refused before any data moves ----------------------------------------------
MISMATCHES = {
    "extra_source_column": ("id bigint, v text", "'flag'"),
    "missing_not_null_column": ("id bigint, v text, flag boolean, req text NOT NULL", "'req'"),
    "incompatible_type": ("id bigint, v text, flag integer", "'flag'"),
}


@pytest.mark.parametrize("method", ["copy", "optimized"])
@pytest.mark.parametrize("case", list(MISMATCHES))
def test_schema_mismatch_fails_before_any_data_moves(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                     state_url: str, case: str, method: str) -> None:
    ddl, column = MISMATCHES[case]
    query(pg_conn, f"CREATE TABLE t ({ddl})")
    query(pg_conn, "INSERT INTO t (id, v" + (", req" if "req" in ddl else "") + ") VALUES (-1, 'keep'"
          + (", 'r'" if "req" in ddl else "") + ")")
    version_bucket(env["bucket"])
    write_manifest(env["manifests"], "mm", source={"format": "parquet", "path": "${T_DATA}/narrow.parquet"},
                   table="t", method=method)
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "failed"
    assert "the source does not match the table" in out.error and column in out.error
    assert query(pg_conn, "SELECT id, v FROM t") == [(-1, "keep")]
    assert bucket_history(env["bucket"]) == [], "no S3 object may be written before the schema check"
    (run,) = state_rows(state_url)
    assert run["status"] == "failed" and column in (run["error"] or "")
    assert run["temp_path"] is None and run["parts_staged"] == 0
    assert query(pg_conn, "SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'") == []


def test_schema_mismatch_is_a_schema_mismatch_error(spark: Any, pg_db: Any, pg_conn: Any, state_url: str) -> None:
    from loader.engine.execute import execute
    from loader.errors import SchemaMismatchError
    from loader.options import Method
    from loader.request import LoadRequest
    from loader.state import StateStore

    query(pg_conn, "CREATE TABLE t (id bigint, flag integer)")
    df = spark.createDataFrame([(1, True)], "id long, flag boolean")
    with pytest.raises(SchemaMismatchError, match="column 'flag': source type boolean cannot load into integer"):
        execute(LoadRequest(df=df, spec=pg_db, target=TableRef("public", "t"), method=Method.OPTIMIZED),
                StateStore(state_url))


def test_create_never_with_a_missing_table(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    write_manifest(env["manifests"], "nv", source={"format": "parquet", "path": "${T_DATA}/base.parquet"},
                   table="absent", create="never", method="copy")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "failed"
    assert "table public.absent does not exist and create is 'never'" in out.error
    assert "target.create: if_missing" in out.error
    assert not table_exists(pg_conn, "absent")
    assert bucket_history(env["bucket"]) == []


def test_auto_picks_optimized_for_a_small_source(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                 state_url: str) -> None:
    write_manifest(env["manifests"], "auto", source={"format": "parquet", "path": "${T_DATA}/base.parquet"},
                   table="a", method="auto")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "succeeded" and out.method == "optimized", out
    (run,) = state_rows(state_url)
    assert run["method_requested"] == "auto" and "optimized JDBC avoids the S3 round trip" in run["reason"]


def test_upsert_key_missing_from_the_source_fails_before_staging(spark: Any, env: dict[str, Any], pg_conn: Any,
                                                                 state_url: str) -> None:
    query(pg_conn, "CREATE TABLE u (id bigint PRIMARY KEY, v text, flag boolean, k bigint UNIQUE)")
    version_bucket(env["bucket"])
    write_manifest(env["manifests"], "u", source={"format": "parquet", "path": "${T_DATA}/narrow.parquet"},
                   table="u", mode="upsert", key=["k"], method="copy")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "failed" and "key column(s) k are not in the source" in out.error, out.error
    assert bucket_history(env["bucket"]) == [], "nothing may be staged when the key is not in the source"


def test_missing_source_path_is_a_clear_error(spark: Any, env: dict[str, Any], state_url: str) -> None:
    write_manifest(env["manifests"], "gone", source={"format": "parquet", "path": "${T_DATA}/nope.parquet"},
                   table="t")
    out = _one(commands.run([str(env["manifests"])], state_url=state_url, spark=spark))
    assert out.status == "failed"
    assert "nope.parquet does not exist" in out.error


# --- the advisory lock ---------------------------------------------------------------------------
def test_advisory_lock_refuses_then_waits(spark: Any, env: dict[str, Any], pg_db: Any, pg_conn: Any,
                                          state_url: str) -> None:
    rows = base_rows(range(200))
    write_manifest(env["manifests"], "locked", source={"format": "parquet", "path": "${T_DATA}/base.parquet"},
                   table="lk")
    paths = [str(env["manifests"])]
    with pg.table_lock(pg_db, TableRef("public", "lk"), run_id="holder-run"):
        out = _one(commands.run(paths, state_url=state_url, spark=spark))
        assert out.status == "failed"
        assert "holder-run" in out.error and "--wait" in out.error
        assert not table_exists(pg_conn, "lk")

        results: list[RunOutcome] = []
        errors: list[BaseException] = []

        def waiting_run() -> None:
            try:
                results.extend(commands.run(paths, state_url=state_url, wait=True, spark=spark))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=waiting_run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not query(pg_conn, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
            assert thread.is_alive(), (results, errors)
            assert time.monotonic() < deadline, "the waiting run never queued for the lock"
            time.sleep(0.1)
        time.sleep(0.5)
        assert thread.is_alive() and not table_exists(pg_conn, "lk")
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors
    (waited,) = results
    assert waited.status == "succeeded", waited.error
    assert sorted(query(pg_conn, "SELECT * FROM lk"), key=sort_key) == sorted(rows, key=sort_key)

    # status shows both runs: the refused one (abandoned, never started) and the one that waited
    text = commands.status(state_url)
    assert "locked" in text and "abandoned" in text and "succeeded" in text and "public.lk" in text
    listed = json.loads(commands.status(state_url, as_json=True))
    assert sorted(r["status"] for r in listed) == ["abandoned", "succeeded"]
    assert {r["run_id"] for r in listed} == {out.run_id, waited.run_id}
    summary = commands.status(state_url, summary=True)
    assert summary.startswith("runs: 2 (succeeded 1, failed 0, abandoned 1, active 0)")
    data = json.loads(commands.status(state_url, summary=True, as_json=True))
    assert data["runs"] == 2 and data["succeeded"] == 1


# --- several manifests at once -------------------------------------------------------------------
def test_parallel_run_and_summary(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str) -> None:
    for name in ("p1", "p2"):
        write_manifest(env["manifests"], name, source={"format": "parquet", "path": "${T_DATA}/narrow.parquet"},
                       table=name)
    query(pg_conn, "CREATE TABLE p3 (id bigint)")
    write_manifest(env["manifests"], "p3", source={"format": "parquet", "path": "${T_DATA}/narrow.parquet"},
                   table="p3")
    outcomes = commands.run([str(env["manifests"])], state_url=state_url, parallel=3, spark=spark)
    assert [(o.manifest, o.status) for o in outcomes] == [("p1", "succeeded"), ("p2", "succeeded"),
                                                          ("p3", "failed")]
    table = commands.summary_table(outcomes)
    header = table.splitlines()[0].split()
    assert header == ["manifest", "table", "method", "rows", "seconds", "rows/s", "status"]
    assert "failures:" in table and "p3: public.p3: the source does not match the table" in table
    only = commands.run([str(env["manifests"])], state_url=state_url, only=("p1",), spark=spark)
    assert [o.manifest for o in only] == ["p1"]
    assert query(pg_conn, "SELECT count(*) FROM p1") == [(100,)]

