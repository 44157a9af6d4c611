"""The tricky-data table used across method tests, and helpers to compare what PostgreSQL holds."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

TRICKY_TEXT = [
    'a "quoted" word', "comma, inside", "line1\nline2", "crlf\r\nend", "tab\there", "back\\slash",
    "\\N", "NULL", "", None, "  lead and trail  ", "é ü ß 中文", "emoji 😀🎉", "\\.", '"', ",", "'single'",
]

TRICKY_DDL_TYPES = {
    "id": "bigint", "txt": "text", "amount": "numeric(38,18)", "small": "numeric(10,0)", "ts": "timestamptz",
    "flag": "boolean", "day": "date", "ratio": "double precision",
}


def tricky_rows() -> list[tuple[Any, ...]]:
    rows = []
    amounts = [Decimal("12345678901234567890.123456789012345678"), Decimal("-0.000000000000000001"),
               Decimal("0E-18"), None]
    stamps = [dt.datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=dt.timezone.utc),
              dt.datetime(1850, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc),
              dt.datetime(2000, 1, 1, 0, 0, tzinfo=dt.timezone.utc), None]
    days = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29), None]
    ratios = [0.1, -0.0, 1e-300, float("inf"), float("-inf"), float("nan"), None]
    for i, text in enumerate(TRICKY_TEXT):
        rows.append((i, text, amounts[i % 4], Decimal(9999999999 - i) if i % 5 else None, stamps[i % 4],
                     [True, False, None][i % 3], days[i % 4], ratios[i % 7]))
    return rows


def tricky_df(spark: Any, copies: int = 1) -> Any:
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("id", T.LongType(), False), T.StructField("txt", T.StringType()),
        T.StructField("amount", T.DecimalType(38, 18)), T.StructField("small", T.DecimalType(10, 0)),
        T.StructField("ts", T.TimestampType()), T.StructField("flag", T.BooleanType()),
        T.StructField("day", T.DateType()), T.StructField("ratio", T.DoubleType()),
    ])
    base = tricky_rows()
    rows = [(r[0] + k * 1000,) + r[1:] for k in range(copies) for r in base]
    return spark.createDataFrame(rows, schema).repartition(3)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b) and type(a) is type(b) or (a is None and b is None)


def fetch_table(conn: Any, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {order}")
        return [tuple(r) for r in cur.fetchall()]


def assert_rows_equal(expected: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> None:
    assert len(expected) == len(got), f"{len(got)} rows loaded, {len(expected)} expected"
    for want, have in zip(sorted(expected, key=lambda r: r[0]), got, strict=True):
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            assert same_value(a, b), f"row id={want[0]} column #{i}: expected {a!r}, got {b!r}"
