"""A bare Parquet source read by pyarrow on the executors (plan/direct_plan.py, direct_read.py) lands
cell for cell what Spark's reader lands; where it cannot be exact, Spark's reader stays and the run
says why; a resume whose first attempt read otherwise stages every part again."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.adapters import s3
from loader.manifest import SourceSpec
from loader.runner.parquet_scan import direct_candidate
from loader.state import StateStore
from tests.helpers.crash_child import run_killed

MANIFEST = """\
version: 1
name: {name}
source:
  format: parquet
  path: {path}{shape}
target:
  connection: ${{DIRECT_DB_URL}}
  table: {table}
  mode: append
method: copy
copy:
  bucket: ${{DIRECT_BUCKET}}
  rows_per_part: 700
  fallback: none
"""


def _folder(tmp_path: Path, pg_db: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, path: Path,
            table: str, shape: str = "") -> Path:
    """A folder with the manifest of ``table`` over ``path``; ``shape``: more source lines."""
    folder = tmp_path / f"manifests-{table}"
    folder.mkdir()
    (folder / f"{table}.yaml").write_text(MANIFEST.format(name=table, path=path, table=table, shape=shape))
    monkeypatch.setenv("DIRECT_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("DIRECT_BUCKET", bucket)
    return folder


def _run_reason(state_url: str, run_id: str) -> str:
    return str(StateStore(state_url).get(run_id).reason or "")


def _same_rows(pg_conn: Any, a: str, b: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM {b}), "
                    f"(SELECT count(*) FROM (TABLE {a} EXCEPT ALL TABLE {b}) x), "
                    f"(SELECT count(*) FROM (TABLE {b} EXCEPT ALL TABLE {a}) y)")
        n_a, n_b, only_a, only_b = cur.fetchone()
    assert (n_a, only_a, only_b) == (n_b, 0, 0), (n_a, n_b, only_a, only_b)


def _load_both(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    """The runner's direct read into ``direct_t``, the library call (Spark's reader) into ``spark_t``;
    equal cell for cell. Returns the direct run's reason."""
    folder = _folder(tmp_path, pg_db, bucket, monkeypatch, path, "direct_t")
    [outcome] = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert outcome.status == "succeeded", outcome.error
    write_to_postgres(spark.read.parquet(str(path)), pg_db.as_params(), method="copy", table="spark_t",
                      temp_s3_bucket=bucket, state_url=state_url, fallback="none")
    _same_rows(pg_conn, "direct_t", "spark_t")
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []
    return _run_reason(state_url, outcome.run_id)


def test_spark_written_parquet_lands_as_spark_reads_it(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                      state_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.sql import functions as F

    path = tmp_path / "spark.parquet"
    # INT96 timestamps (Spark's default), gap dates and old centuries, NaN and -0.0, unicode, NULLs
    spark.range(3000, numPartitions=3).select(
        F.col("id"), F.col("id").cast("int").alias("i"), (F.col("id") % 100).cast("smallint").alias("s"),
        (F.col("id") % 100).cast("tinyint").alias("b"),
        F.when(F.col("id") % 7 == 0, F.lit(float("nan"))).when(F.col("id") % 7 == 1, F.lit(-0.0))
         .otherwise(F.col("id") / 3).alias("d"), (F.col("id") / 7).cast("float").alias("f"),
        (F.col("id") * 1234567 / 1000).cast("decimal(18,3)").alias("amount"),
        F.when(F.col("id") % 5 == 0, None).otherwise(F.concat(F.lit("é\u4e2d\n\"x\","), F.col("id"))).alias("t"),
        F.when(F.col("id") % 4 == 0, F.lit("")).otherwise(F.lit(b"\x00\xff").cast("binary")).alias("raw"),
        (F.col("id") % 2 == 0).alias("flag"),
        F.date_add(F.lit("1582-10-01").cast("date"), (F.col("id") % 40 - 20).cast("int")).alias("gap"),
        F.date_add(F.lit("0001-01-01").cast("date"), F.col("id").cast("int")).alias("old"),
        F.timestamp_micros(F.lit(-62135596800000000) + F.col("id") * 86_400_000_001).alias("ts"),
        F.timestamp_micros(F.lit(1_700_000_000_000_000) + F.col("id")).cast("timestamp_ntz").alias("ntz"),
    ).write.parquet(str(path))
    reason = _load_both(spark, pg_db, pg_conn, bucket, state_url, tmp_path, monkeypatch, path)
    assert "read by pyarrow from 3 Parquet file(s)" in reason, reason


def test_pyarrow_written_types_spark_widens_land_as_spark_reads_them(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2500
    paris = [dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=17 * i) for i in range(n)]
    table = pa.table({
        "u8": pa.array([i % 256 for i in range(n)], pa.uint8()),
        "u16": pa.array([65535 - i for i in range(n)], pa.uint16()),
        "u32": pa.array([4294967295 - i for i in range(n)], pa.uint32()),
        "u64": pa.array([18446744073709551615 - i for i in range(n)], pa.uint64()),
        "big": pa.array([f"large {i}" for i in range(n)], pa.large_string()),
        "dict": pa.array([f"k{i % 3}" if i % 9 else None for i in range(n)]).dictionary_encode(),
        "ms": pa.array(paris, pa.timestamp("ms", tz="Europe/Paris")),
        "wall": pa.array([dt.datetime(1999, 12, 31, 23, 59, 59, i) for i in range(n)], pa.timestamp("us")),
        "day": pa.array([dt.date(1900, 1, 1) + dt.timedelta(days=i) for i in range(n)], pa.date32()),
        "money": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(9, 2)),
    })
    path = tmp_path / "arrow.parquet"
    path.mkdir()
    pq.write_table(table.slice(0, 1200), path / "a.parquet", row_group_size=500)
    pq.write_table(table.slice(1200), path / "b.parquet", row_group_size=500)
    reason = _load_both(spark, pg_db, pg_conn, bucket, state_url, tmp_path, monkeypatch, path)
    assert "read by pyarrow from 2 Parquet file(s)" in reason, reason


def test_what_spark_converts_keeps_spark_reader_and_says_why(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = tmp_path / "old.parquet"  # not Spark's: under EXCEPTION (Spark 3.5's default) Spark refuses 1500
    pq.write_table(pa.table({"d": pa.array([dt.date(1500, 1, 1), dt.date(2000, 1, 1)])}), old)
    src = SourceSpec(format="parquet", path=str(old))
    try:
        spark.conf.set("spark.sql.parquet.datetimeRebaseModeInRead", "EXCEPTION")
        why = direct_candidate(spark, src, spark.read.parquet(str(old)))
        assert isinstance(why, str) and "'d'" in why and "calendar switch" in why, why
        spark.conf.set("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")  # Spark 4's default
        assert not isinstance(direct_candidate(spark, src, spark.read.parquet(str(old))), str)
    finally:
        spark.conf.unset("spark.sql.parquet.datetimeRebaseModeInRead")

    hive = tmp_path / "hive"  # a partition column comes from the directory names, not the files
    for day in ("2024-01-01", "2024-01-02"):
        (hive / f"day={day}").mkdir(parents=True)
        pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64())}), hive / f"day={day}" / "x.parquet")
    why = direct_candidate(spark, SourceSpec(format="parquet", path=str(hive)), spark.read.parquet(str(hive)))
    assert isinstance(why, str) and "'day' is not in the file" in why, why

    shaped = SourceSpec(format="parquet", path=str(old), where="d > DATE'1600-01-01'")
    assert direct_candidate(spark, shaped, spark.read.parquet(str(old))) == \
        "source.where is Spark's to evaluate (column 'd' is date32[day], which is not pushed down)"
    computed = SourceSpec(format="parquet", path=str(old), select=["d", "year(d) AS y"])
    why = direct_candidate(spark, computed, spark.read.parquet(str(old)).selectExpr("d", "year(d) AS y"))
    assert isinstance(why, str) and why.startswith("source.select computes columns"), why

    nanos = tmp_path / "nanos.parquet"  # INT96 not written by Spark: Spark's settings convert it
    pq.write_table(pa.table({"ts": pa.array([0, 1], pa.timestamp("ns"))}), nanos, use_deprecated_int96_timestamps=True)
    why = direct_candidate(spark, SourceSpec(format="parquet", path=str(nanos)), spark.read.parquet(str(nanos)))
    assert isinstance(why, str) and "INT96" in why, why


@pytest.mark.slow
def test_a_resume_that_reads_otherwise_than_its_first_attempt_stages_again_and_loads_once(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = 6000
    path = tmp_path / "data.parquet"
    spark.range(rows, numPartitions=3).selectExpr("id", "concat('row ', id) AS v").write.parquet(str(path))
    folder = _folder(tmp_path, pg_db, bucket, monkeypatch, path, "resumed")
    # the first attempt reads with Spark (forced) and is killed with parts loaded, uncommitted
    run_killed(state_url, "spark_reader_staging", folder)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    assert list(s3.iter_objects(s3.make_client(), bucket, crashed.temp_path.split("/", 3)[3]))

    [outcome] = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert outcome.status == "succeeded" and outcome.run_id == crashed.run_id, outcome
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM resumed")
        assert cur.fetchone() == (rows, rows, sum(range(rows)))
    assert "read by pyarrow" in _run_reason(state_url, crashed.run_id)
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []




def test_a_value_the_target_refuses_names_the_file_and_row_groups_it_was_read_from(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "refused.parquet"
    path.mkdir()
    for name, first in (("a.parquet", 0), ("b.parquet", 1200)):
        ids = list(range(first, first + 1200))
        values = ["far too long a name" if i == 2300 else f"n{i}" for i in ids]  # b's row 1100: row group 2
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "u": values}), path / name, row_group_size=500)
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE refused_t (id bigint PRIMARY KEY, u varchar(8))")  # binary COPY: pyarrow's rows
    folder = _folder(tmp_path, pg_db, bucket, monkeypatch, path, "refused_t")
    [outcome] = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert outcome.status == "failed"
    assert "value too long for type character varying(8)" in outcome.error and "key (id=2300)" in outcome.error
    found = re.search(rf"\(from {re.escape(str(path / 'b.parquet'))}, row groups? ([0-9, -]+)\)", outcome.error)
    assert found, outcome.error
    shown = found.group(1)
    groups = range(int(shown.split("-")[0]), int(shown.split("-")[1]) + 1) if "-" in shown else \
        [int(g) for g in shown.split(", ")]
    assert 2 in groups, shown
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM refused_t")
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize(("where", "select", "pushed"), [
    # NULLs through NOT IN, <> and OR; columns filtered on but not loaded, named as Spark resolves them
    ("(N NOT IN (1, 3) OR NOT flag) AND (label <> 'x' OR label IS NULL)", "id, label", True),
    ("(n = 2 OR label IN ('y', 'é')) AND id >= 100", "id, n, flag", True),
    ("d > 0.5 AND upper(label) = 'Y'", "id, label", False),  # a double and a function: Spark's
])
def test_a_where_and_a_select_land_what_sparks_reader_lands(
        where: str, select: str, pushed: bool, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
        state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark.sql import functions as F

    path = tmp_path / "shaped.parquet"
    spark.range(2000, numPartitions=2).select(
        F.col("id"), F.when(F.col("id") % 6 == 0, None).otherwise((F.col("id") % 5).cast("int")).alias("n"),
        F.when(F.col("id") % 7 == 0, None).otherwise(F.element_at(F.array(F.lit("x"), F.lit("y"), F.lit("é")),
                                                                  (F.col("id") % 3 + 1).cast("int"))).alias("label"),
        F.when(F.col("id") % 11 == 0, None).otherwise(F.col("id") % 2 == 0).alias("flag"),
        (F.col("id") / 2000).alias("d"),
    ).write.parquet(str(path))
    folder = _folder(tmp_path, pg_db, bucket, monkeypatch, path, "shaped_direct",
                     shape=f'\n  where: "{where}"\n  select: [{select}]')
    [outcome] = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert outcome.status == "succeeded", outcome.error
    reason = _run_reason(state_url, outcome.run_id)
    if pushed:
        assert "read by pyarrow from 2 Parquet file(s)" in reason and "source.where evaluated by pyarrow" in reason, \
            reason
    else:
        assert "read by Spark (source.where is Spark's to evaluate (" in reason, reason
    frame = spark.read.parquet(str(path)).where(where).selectExpr(*[c.strip() for c in select.split(",")])
    write_to_postgres(frame, pg_db.as_params(), method="copy", table="shaped_spark", temp_s3_bucket=bucket,
                      state_url=state_url, fallback="none")
    _same_rows(pg_conn, "shaped_direct", "shaped_spark")
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM shaped_direct")
        assert 0 < cur.fetchone()[0] < 2000  # the condition kept some rows and dropped others
