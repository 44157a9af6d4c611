"""Sources as users write them: a CSV from pandas (quotes doubled, newlines inside quoted fields)
reads back exactly, as RFC 4180 says, unless the manifest overrides the options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loader.manifest import SourceSpec
from loader.runner.sources import CSV_DEFAULTS, read_source, reader_options

ROWS = [(1, 'say "hi"', "plain"), (2, "two\nlines", 'a,b "c"'), (3, "", "x"), (4, None, "last")]


def _pandas_csv(path: Path) -> None:
    import pandas as pd

    pd.DataFrame(ROWS, columns=["id", "note", "other"]).to_csv(path, index=False)


def test_a_pandas_csv_reads_back_exactly(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "pandas.csv"
    _pandas_csv(path)
    assert b'"say ""hi"""' in path.read_bytes() and b'"two\nlines"' in path.read_bytes()
    df = read_source(spark, SourceSpec("csv", str(path), options=(("header", "true"),)))
    got = sorted((int(r["id"]), r["note"], r["other"]) for r in df.collect())
    # pandas writes NULL and '' alike (an empty field): Spark reads both back as NULL
    assert got == [(1, 'say "hi"', "plain"), (2, "two\nlines", 'a,b "c"'), (3, None, "x"), (4, None, "last")]


def test_the_manifest_can_still_override_each_default(spark: Any, tmp_path: Path) -> None:
    spec = SourceSpec("csv", "x.csv", options=(("multiLine", "false"), ("escape", "\\")))
    assert reader_options(spec) == {**CSV_DEFAULTS, "escape": "\\", "multiLine": "false"}
    assert reader_options(SourceSpec("parquet", "x")) == {}
    path = tmp_path / "pandas.csv"
    _pandas_csv(path)
    df = read_source(spark, SourceSpec("csv", str(path), options=(("header", "true"), ("multiLine", "false"))))
    assert df.count() > len(ROWS)  # Spark's line-per-record reading splits the quoted newline
    assert CSV_DEFAULTS["escape"] == '"'
