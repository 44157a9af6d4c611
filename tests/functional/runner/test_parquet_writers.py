"""Real Parquet files of other writers (tests/data/parquet: parquet-mr, Impala, HVR, parquet-cpp,
Arrow C++, Rust; and Spark 3.4's INT96), each loaded by one manifest with ``method: copy`` (which
reads with pyarrow where plan/direct_plan.py allows) and ``method: optimized`` (Spark's reader):
one outcome whatever the method. A file Spark's reader reads lands the same rows by both; a file it
refuses is refused by both, naming the file and Spark's own reason in words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.state import StateStore
from tests.functional.runner.test_direct_parquet import _same_rows

DATA = Path(__file__).parents[2] / "data" / "parquet"

MANIFEST = """\
version: 1
name: {name}
source:
  format: parquet
  path: {path}
target:
  connection: ${{WRITERS_DB_URL}}
  table: {name}
  mode: append
method: {method}
copy:
  bucket: ${{WRITERS_BUCKET}}
  fallback: none
"""

#: read by Spark's reader; by copy through pyarrow (True) or, as the footer demands, Spark's reader
READ = {"int96_from_spark": True, "int32_decimal": True, "int64_decimal": True, "fixed_length_decimal": True,
        "lz4_raw_compressed": True, "datapage_v1-corrupt-checksum": True,
        "rle-dict-uncompressed-corrupt-checksum": True, "hadoop_lz4_compressed": False}
#: refused by Spark's reader: Spark's reason, as the refusal must say it
REFUSED = {
    "byte_array_decimal": r"stopped on a NullPointerException.*column 'value' is a decimal stored as BYTE_ARRAY",
    "nation.dict-malformed": r"Reached the end of stream with 7 bytes left to read \(column 'name': row group 0: "
                             r"a data page at byte 421 ends 15 byte\(s\) past its column chunk",
    "non_hadoop_lz4_compressed": r"stopped on an ArrayIndexOutOfBoundsException.*LZ4 \(the deprecated codec\)",
    "large_string_map.brotli": r"compressed with Brotli, and Spark's Hadoop has no Brotli codec",
    "unknown-logical-type": r"\[FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER\].*Could not read footer",
}


def _table(stem: str, method: str) -> str:
    return re.sub(r"\W", "_", stem) + "_" + method


def _run_all(method: str, tmp_path: Path, state_url: str, spark: Any) -> dict[str, Any]:
    folder = tmp_path / method
    folder.mkdir()
    for stem in [*READ, *REFUSED]:
        name = _table(stem, method)
        (folder / f"{name}.yaml").write_text(MANIFEST.format(name=name, path=DATA / f"{stem}.parquet", method=method))
    return {o.manifest: o for o in commands.run([str(folder)], state_url=state_url, spark=spark)}


@pytest.mark.slow
def test_every_file_has_one_outcome_whatever_the_method(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                        state_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITERS_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("WRITERS_BUCKET", bucket)
    copied = _run_all("copy", tmp_path, state_url, spark)
    optimized = _run_all("optimized", tmp_path, state_url, spark)
    for stem, direct in READ.items():
        by_copy, by_jdbc = copied[_table(stem, "copy")], optimized[_table(stem, "optimized")]
        assert by_copy.status == by_jdbc.status == "succeeded", (stem, by_copy.error, by_jdbc.error)
        _same_rows(pg_conn, _table(stem, "copy"), _table(stem, "optimized"))
        reason = str(StateStore(state_url).get(by_copy.run_id).reason or "")
        assert ("read by pyarrow" in reason) is direct, (stem, reason)
    for stem, said in REFUSED.items():
        for outcome in (copied[_table(stem, "copy")], optimized[_table(stem, "optimized")]):
            error = outcome.error or ""
            assert outcome.status == "failed" and f"{stem}.parquet" in error, (stem, error)
            assert re.search(said, error), (stem, error)
            assert "None" not in error and "An error occurred while calling" not in error, error
    with pg_conn.cursor() as cur:  # the year 290000 of Spark's INT96 is the instant Spark reads
        cur.execute("SELECT max(a)::text FROM int96_from_spark_copy")
        assert cur.fetchone()[0] == "290000-12-30 23:00:00+00"
