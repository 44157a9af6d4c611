"""The page walk (runner/page_walk.py) over real files of other writers (tests/data/parquet): a
page that runs past its column chunk is found from the headers alone, as parquet-mr fails on it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader.runner.page_walk import file_faults
from loader.runner.parquet_scan import footer_facts, odd_columns

DATA = Path(__file__).parents[2] / "data" / "parquet"


def test_the_malformed_file_s_pages_past_their_chunk_are_named_by_column() -> None:
    path = DATA / "nation.dict-malformed.parquet"
    faults = file_faults(str(path), pq.ParquetFile(path).metadata)
    assert set(faults) == {"name", "comment_col"}
    assert faults["name"] == "row group 0: a data page at byte 421 ends 15 byte(s) past its column chunk"


@pytest.mark.parametrize("name", [p.name for p in sorted(DATA.glob("*.parquet")) if "malformed" not in p.name])
def test_well_formed_files_of_every_writer_have_no_fault(name: str) -> None:
    path = DATA / name
    assert file_faults(str(path), pq.ParquetFile(path).metadata) == {}


def test_many_pages_and_row_groups_with_statistics_walk_clean(tmp_path: Path) -> None:
    path = tmp_path / "pages.parquet"
    table = pa.table({"s": [f"value {i}" * (i % 7) for i in range(20000)], "n": list(range(20000))})
    pq.write_table(table, path, row_group_size=6000, data_page_size=512, compression="zstd",
                   write_page_index=True, write_page_checksum=True)
    assert file_faults(str(path), pq.ParquetFile(path).metadata) == {}


def test_the_footer_names_what_spark_may_refuse() -> None:
    assert odd_columns(str(DATA / "byte_array_decimal.parquet")) == \
        "column 'value' is a decimal stored as BYTE_ARRAY: Spark's reader decides whether it reads it"
    assert "LZ4 (the deprecated codec)" in (odd_columns(str(DATA / "non_hadoop_lz4_compressed.parquet")) or "")
    assert "BROTLI" in (odd_columns(str(DATA / "large_string_map.brotli.parquet")) or "")
    assert odd_columns(str(DATA / "int64_decimal.parquet")) is None
    assert footer_facts(str(DATA / "int64_decimal.parquet")).physical == {"value": "INT64"}
