"""The footer facts the direct Parquet read decides on (runner/parquet_scan.py), from files pyarrow
writes here: no Spark, no server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loader.plan.direct_plan import INT96
from loader.runner.parquet_scan import footer_facts, local_file


def test_local_paths_as_spark_lists_them() -> None:
    assert local_file("file:/data/a b/x.parquet") == "/data/a b/x.parquet"
    assert local_file("file:///data/x%20y.parquet") == "/data/x%20y.parquet"  # a name is not decoded
    assert local_file("/data/x.parquet") == "/data/x.parquet"
    assert local_file("s3://bucket/x.parquet") is None
    assert local_file("hdfs://nn/x.parquet") is None


def test_footer_facts_types_as_spark_reads_them_int96_groups_and_minimums(tmp_path: Path) -> None:
    table = pa.table({
        "id": pa.array([3, 1, 2], pa.int64()),
        "u": pa.array([1, 2, 3], pa.uint32()),
        "s": pa.array(["a", "b", "a"]).dictionary_encode(),
        "d": pa.array([dt.date(1600, 1, 2), dt.date(1582, 10, 15), dt.date(2000, 1, 1)]),
        "ts": pa.array([dt.datetime(1950, 1, 1, tzinfo=dt.timezone.utc)] * 3, pa.timestamp("ms", tz="UTC")),
    })
    path = tmp_path / "f.parquet"
    pq.write_table(table, path, row_group_size=2)
    f = footer_facts(str(path))
    assert f.columns == {"id": "int64", "u": "int64", "s": "string", "d": "date32[day]",
                         "ts": "timestamp[ms, tz=UTC]"}
    assert f.row_groups == (2, 1)
    assert f.minimums == {"d": (dt.date(1582, 10, 15) - dt.date(1970, 1, 1)).days,
                          "ts": (dt.datetime(1950, 1, 1) - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)}
    assert "ARROW:schema" in f.metadata

    legacy = tmp_path / "int96.parquet"
    pq.write_table(pa.table({"ts": pa.array([0], pa.timestamp("ns"))}), legacy, use_deprecated_int96_timestamps=True)
    assert footer_facts(str(legacy)).columns == {"ts": INT96}


def test_a_file_without_statistics_has_no_minimum(tmp_path: Path) -> None:
    path = tmp_path / "nostats.parquet"
    pq.write_table(pa.table({"d": pa.array([dt.date(2000, 1, 1)])}), path, write_statistics=False)
    assert footer_facts(str(path)).minimums == {"d": None}
