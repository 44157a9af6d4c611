"""The line of a record Spark named, found in the local file (PySpark 3.5's FAILFAST error names no file)."""

from __future__ import annotations

from pathlib import Path

from loader.record_lines import find_record, locate


def test_find_record_names_the_file_and_line_that_hold_it(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,ann\n")
    (tmp_path / "b.csv").write_text("id,name\n2,bob\n3,cid,extra\n")
    files = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert find_record(files, "3,cid,extra") == (str(tmp_path / "b.csv"), 3)
    assert find_record(files, "not there") is None


def test_locate_leaves_a_file_elsewhere_without_a_line() -> None:
    assert locate([("s3://b/k.csv", "x")]) == [("s3://b/k.csv", None)]
