"""direct_filter: which ``where`` conditions pyarrow evaluates as Spark SQL does, and the rows it keeps
(three-valued: a NULL condition drops the row). Spark's own answers for the same conditions are
checked end to end in tests/functional/runner/test_direct_parquet.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from loader.plan.direct_filter import Where, parse_where, where_mask

COLUMNS = {"id": "int64", "small": "int16", "name": "string", "flag": "bool", "price": "double",
           "amount": "decimal128(12, 2)", "day": "date32[day]", "Dup": "string", "dup": "string"}
DATA = {"id": pa.array([1, 2, 3, None, 5], pa.int64()), "small": pa.array([10, -3, None, 7, 0], pa.int16()),
        "name": pa.array(["a", "b", None, "a", "é"]), "flag": pa.array([True, False, None, True, False])}


def _kept(text: str) -> list[int]:
    where = parse_where(text, COLUMNS)
    assert isinstance(where, Where), where
    mask = where_mask(where, {c: DATA[c] for c in where.columns})
    return [i for i, keep in enumerate(mask.to_pylist()) if keep]  # None (NULL) drops the row, as False


@pytest.mark.parametrize(("text", "rows"), [
    ("id = 2", [1]),
    ("id == 2", [1]),
    ("ID >= 3", [2, 4]),  # Spark resolves names case-insensitively by default
    ("`id` < 3", [0, 1]),
    ("2 < id", [2, 4]),
    ("id <> 2", [0, 2, 4]),  # NULL <> 2 is NULL: dropped
    ("id != 2 OR id IS NULL", [0, 2, 3, 4]),
    ("small > id", [0]),  # int16 against int64, both as int64
    ("small > 1000", []),
    ("id > -1 AND small < 0", [1]),
    ("name = 'a'", [0, 3]),
    ("name > 'a'", [1, 4]),  # by UTF-8 bytes: 'é' is after 'b'
    ("name IS NULL", [2]),
    ("name IS NOT NULL AND NOT name = 'a'", [1, 4]),
    ("id IN (1, 3, 5)", [0, 2, 4]),
    ("id NOT IN (1, 3)", [1, 4]),  # NULL NOT IN (...) is NULL: dropped
    ("NOT id IN (1, 3)", [1, 4]),
    ("name IN ('a', 'é')", [0, 3, 4]),
    ("flag", [0, 3]),
    ("NOT flag", [1, 4]),  # NOT NULL is NULL
    ("flag = false OR name = 'a'", [0, 1, 3, 4]),
    ("flag AND id > 0", [0]),  # row 3: flag, but id NULL
    ("(id = 1 OR id = 5) AND (name = 'é' OR small = 10)", [0, 4]),
    ("id IS NULL OR flag IS NULL", [2, 3]),
])
def test_a_condition_keeps_the_rows_spark_keeps(text: str, rows: list[int]) -> None:
    assert _kept(text) == rows


@pytest.mark.parametrize(("text", "why"), [
    ("price > 1", "column 'price' is double"),  # NaN: Spark's is above every number, IEEE's is not
    ("amount = 1", "decimal128"),
    ("day = '2024-01-01'", "date32"),
    ("upper(name) = 'A'", "function upper()"),
    ("id + 1 = 2", "'+ 1 = 2'"),
    ("id = '1'", "a integer compared with a string"),
    ("name = \"a\"", "\"a\""),
    ("name = 'a\\\\b'", "is not pushed down"),
    ("name = 'a' 'b'", "adjacent string literals"),
    ("id <=> 1", "'<=>' after a complete condition"),
    ("id = 1.5", "is not pushed down"),
    ("id = 99999999999999999999", "DECIMAL literal"),
    ("id IN (1, NULL)", "NULL where a column or a literal belongs"),
    ("dup = 'x'", "column 'dup' is not one column of every file"),
    ("nosuch = 1", "column 'nosuch' is not one column"),
    ("flag > true", "booleans are compared with = or != only"),
    ("1 = 1", "a comparison of two literals"),
    ("id", "it is not a condition"),
    ("id = 1 AND", "the condition ends early"),
])
def test_anything_else_is_left_to_spark_with_the_reason(text: str, why: str) -> None:
    reason = parse_where(text, COLUMNS)
    assert isinstance(reason, str) and reason.startswith("source.where is Spark's to evaluate ("), reason
    assert why in reason, reason


def test_the_columns_a_condition_reads_are_named_once() -> None:
    where = parse_where("id = 1 OR (ID = 2 AND name IS NULL)", COLUMNS)
    assert isinstance(where, Where) and where.columns == ("id", "name")


def test_dictionary_and_view_strings_compare_as_strings() -> None:
    where = parse_where("name = 'b'", {"name": "string"})
    assert isinstance(where, Where)
    encoded = pa.array(["a", "b", None, "b"]).dictionary_encode()
    assert where_mask(where, {"name": encoded}).to_pylist() == [False, True, None, True]
