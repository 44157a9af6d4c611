"""CSV files as pandas, polars and duckdb write them land exactly (issue #24, item 3): a quoted field
holding ``\\r\\n`` keeps it in a file whose lines end in ``\\r\\n`` (Spark's detection rewrote it to
``\\n``), and a quoted empty string ``""`` lands as '' while an unquoted empty field is NULL (Spark's
default nullValue made both NULL). Files whose line endings differ are refused, naming them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader.runner.line_ends import first_line_end
from tests.functional.runner.test_runner import query
from tests.functional.runner.test_sources_strict import env, run

pytestmark = pytest.mark.slow
__all__ = ["env"]  # the fixture, used by name

ROWS = [(1, "a\r\nb"), (2, ""), (3, None), (4, 'say "hi", twice'), (5, "two\nlines"), (6, "plain"), (7, " x ")]


def _pandas(path: Path, crlf: bool) -> list[tuple[Any, ...]]:
    import pandas as pd

    pd.DataFrame(ROWS, columns=["id", "note"]).to_csv(path, index=False, lineterminator="\r\n" if crlf else "\n")
    return [(i, None if v == "" else v) for i, v in ROWS]  # pandas writes '' and NULL alike


def _polars(path: Path, crlf: bool) -> list[tuple[Any, ...]]:
    import polars as pl

    pl.DataFrame(ROWS, schema=["id", "note"], orient="row").write_csv(path, line_terminator="\r\n" if crlf else "\n")
    return ROWS


def _duckdb(path: Path, crlf: bool) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE x (id INTEGER, note VARCHAR)")
    con.executemany("INSERT INTO x VALUES (?, ?)", ROWS)
    con.execute(f"COPY x TO '{path}' (HEADER)")
    con.close()
    return ROWS


WRITERS = {"pandas": _pandas, "polars": _polars, "duckdb": _duckdb}


@pytest.mark.parametrize(("writer", "crlf", "method"), [
    ("pandas", True, "optimized"), ("pandas", False, "optimized"), ("polars", False, "optimized"),
    ("polars", True, "copy"), ("duckdb", False, "optimized"), ("duckdb", False, "copy")])
def test_a_csv_from_each_writer_lands_exactly(spark: Any, env: dict[str, Any], pg_conn: Any, state_url: str,
                                              writer: str, crlf: bool, method: str) -> None:
    path = env["data"] / f"{writer}.csv"
    expected = WRITERS[writer](path, crlf)
    data = path.read_bytes()
    assert (b"\r\n" in data.split(b"\n", 1)[0] + b"\n") == crlf  # the header's own line ending
    if writer != "pandas":
        assert b'2,""' in data  # what the issue is about: a quoted empty string
    out = run(env, spark, state_url, {"format": "csv", "path": str(path), "options": {"header": "true"},
                                      "select": ["CAST(id AS INT) AS id", "note"]}, method=method)
    assert (out.status, out.method, out.fallback_reason) == ("succeeded", method, None), out.error
    assert query(pg_conn, "SELECT id, note FROM t ORDER BY id") == expected


def test_files_with_different_line_endings_are_refused(spark: Any, env: dict[str, Any], state_url: str) -> None:
    folder = env["data"] / "mixed"
    folder.mkdir()
    _pandas(folder / "a.csv", crlf=True)
    _pandas(folder / "b.csv", crlf=False)
    out = run(env, spark, state_url, {"format": "csv", "path": str(folder), "options": {"header": "true"}})
    assert out.status == "failed", out
    assert f"{folder / 'a.csv'} (CRLF)" in out.error and f"{folder / 'b.csv'} (LF)" in out.error, out.error
    assert "lineSep" in out.error


def test_the_first_line_ending_outside_quotes() -> None:
    assert first_line_end(b'id,note\r\n1,"a\r\nb"\r\n') == "\r\n"
    assert first_line_end(b'id,"x\r\ny"\n1,2\n') == "\n"
    assert first_line_end(b'"say ""hi\r\n"" now"\r\n') == "\r\n"
    assert first_line_end(b"no line end") is None
