"""The direct read (copy/direct_read.py) against Spark's reader, value for value, over each accepted
type's whole range: INT96 timestamps Spark writes (years 1 to 294247), and timestamps in ms and us,
dates far from 1970 and decimals in INT32, INT64 and FIXED_LEN_BYTE_ARRAY written by pyarrow and
polars. Values drawn by hypothesis; a few examples each (one Spark job an example)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.copy.direct_read import unit_batches
from loader.plan.direct_plan import DirectRead, plan_direct
from loader.runner.parquet_scan import footer_facts

#: 0001-01-01T00:00:00Z and Spark's last microsecond (294247-01-10T04:00:54.775807Z)
FIRST, LAST = -62135596800000000, 2**63 - 1
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _direct(spark: Any, path: Path) -> list[list[Any]]:
    import pyarrow as pa

    df = spark.read.parquet(str(path))
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    read = plan_direct([(f.name, f.dataType.simpleString()) for f in df.schema.fields],
                       [footer_facts(str(f)) for f in files], parallelism=1,
                       rebase_mode=spark.conf.get("spark.sql.parquet.datetimeRebaseModeInRead"))
    assert isinstance(read, DirectRead), read
    cols: list[list[Any]] = [[] for _ in read.columns]
    for unit in read.units:
        for batch in unit_batches(read, unit):
            for i in range(batch.num_columns):
                arr = batch.column(i)
                cols[i] += (arr.cast(pa.int64()) if pa.types.is_timestamp(arr.type) else arr).to_pylist()
    return cols


@pytest.mark.slow
@SLOW
@given(st.lists(st.integers(FIRST, LAST), min_size=1, max_size=30))
def test_int96_spark_writes_is_read_as_spark_reads_it(spark: Any, tmp_path_factory: Any, micros: list[int]) -> None:
    path = tmp_path_factory.mktemp("int96") / "t.parquet"
    frame = spark.createDataFrame([(m,) for m in micros], "m long").selectExpr("timestamp_micros(m) AS ts")
    frame.coalesce(1).write.option("compression", "snappy").parquet(str(path))  # INT96: Spark's default
    want = [r[0] for r in spark.read.parquet(str(path)).selectExpr("unix_micros(ts)").collect()]
    assert sorted(_direct(spark, path)[0]) == sorted(want) == sorted(micros)


@pytest.mark.slow
@SLOW
@given(st.lists(st.tuples(
    st.integers(-(9 * 10**15), 9 * 10**15),  # milliseconds Spark widens to microseconds without overflow
    st.integers(FIRST, LAST),
    st.integers(-719162, 2932896),  # days: 0001-01-01 .. 9999-12-31
    st.integers(-(10**9) + 1, 10**9 - 1), st.integers(-(10**18) + 1, 10**18 - 1), st.integers(-(10**37) + 1, 10**37 - 1),
), min_size=1, max_size=20), st.sampled_from(["pyarrow", "polars"]))
def test_pyarrow_and_polars_files_are_read_as_spark_reads_them(spark: Any, tmp_path_factory: Any,
                                                              rows: list[tuple[int, ...]], writer: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "ms": pa.array([r[0] for r in rows], pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "us": pa.array([r[1] for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "day": pa.array([r[2] for r in rows], pa.int32()).cast(pa.date32()),
        "d9": pa.array([decimal.Decimal(r[3]).scaleb(-2) for r in rows], pa.decimal128(9, 2)),
        "d18": pa.array([decimal.Decimal(r[4]).scaleb(-6) for r in rows], pa.decimal128(18, 6)),
        "d38": pa.array([decimal.Decimal(r[5]).scaleb(-10) for r in rows], pa.decimal128(38, 10)),
    })
    path = tmp_path_factory.mktemp(writer) / "t.parquet"
    if writer == "pyarrow":  # decimals of up to 18 digits as INT32/INT64, the rest FIXED_LEN_BYTE_ARRAY
        pq.write_table(table, path, store_decimal_as_integer=True)
    else:
        import polars as pl

        pl.from_arrow(table).write_parquet(path)
    physical = {pq.ParquetFile(path).schema.column(i).physical_type for i in range(3, 6)}
    assert physical <= {"INT32", "INT64", "FIXED_LEN_BYTE_ARRAY"}
    df = spark.read.parquet(str(path))
    want = df.selectExpr("unix_micros(ms)", "unix_micros(us)", "day", "d9", "d18", "d38").collect()
    got = _direct(spark, path)
    for i in range(6):
        assert got[i] == [r[i] for r in want], (i, got[i][:3], [r[i] for r in want][:3])
    assert isinstance(want[0][2], dt.date)
