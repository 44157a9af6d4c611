"""plan/narrowing: which source/target pairs round or may overflow, and what PostgreSQL makes of
one value (pure; issue 24 item 6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import types as T

from loader.plan.narrowing import narrowing, narrowings, stored_as, verdict


@pytest.mark.parametrize(("source", "target", "loses", "overflows"), [
    (T.DecimalType(12, 4), "numeric(10,2)", True, False),  # 8 digits before the point either way
    (T.DecimalType(12, 2), "numeric(10,2)", False, True),
    (T.DecimalType(38, 18), "numeric(10,2)", True, True),
    (T.DoubleType(), "numeric(10,2)", True, True),
    (T.FloatType(), "numeric(30,10)", True, True),
    (T.LongType(), "numeric(10,0)", False, True),  # 19 digits into 10
    (T.IntegerType(), "numeric(5,-2)", True, True),  # PostgreSQL 15: a negative scale rounds to hundreds
    (T.DecimalType(12, 4), "integer", True, False),  # 8 digits: below 2^31 even rounded up
    (T.DecimalType(14, 4), "integer", True, True),
    (T.DecimalType(5, 2), "smallint", True, False),
    (T.DecimalType(18, 0), "bigint", False, False),
    (T.ArrayType(T.DecimalType(12, 4)), "numeric(10,2)[]", True, False),
])
def test_a_pair_that_narrows_says_how(source: Any, target: str, loses: bool, overflows: bool) -> None:
    n = narrowing("amount", source, target)
    if not loses and not overflows:
        assert n is None
        return
    assert n is not None
    assert (n.loses_scale, n.may_overflow) == (loses, overflows)
    assert n.is_array == target.endswith("[]")
    assert n.describe().startswith(f"'amount' {source.simpleString()} -> {target}: ")


@pytest.mark.parametrize(("source", "target"), [
    (T.DecimalType(12, 4), "numeric"),  # no typmod: every value is kept
    (T.DecimalType(10, 2), "numeric(10,2)"),
    (T.DecimalType(10, 2), "numeric(12,4)"),
    (T.IntegerType(), "numeric(10,0)"),
    (T.DoubleType(), "double precision"),
    (T.DoubleType(), "numeric"),
    (T.StringType(), "numeric(10,2)"),  # text: PostgreSQL parses it (not a Spark number)
    (T.DecimalType(12, 4), "numeric(10,2)[]"),  # not a pair that loads: the type check refuses it
    (T.ArrayType(T.DecimalType(12, 4)), "jsonb"),
])
def test_pairs_that_keep_every_value(source: Any, target: str) -> None:
    assert narrowing("c", source, target) is None


def test_a_domain_is_judged_by_its_base_type_and_unmatched_columns_are_skipped() -> None:
    schema = T.StructType([T.StructField("a", T.DecimalType(12, 4)), T.StructField("b", T.DecimalType(12, 4)),
                           T.StructField("new", T.DoubleType())])
    found = narrowings(schema, {"a": "numeric(10,2)", "b": "numeric(12,4)"})
    assert [n.column for n in found] == ["a"]
    assert found[0].describe() == "'a' decimal(12,4) -> numeric(10,2): rounded to 2 decimal places"


def test_overflow_is_described_by_what_the_column_holds() -> None:
    n = narrowing("x", T.DecimalType(38, 18), "numeric(10,2)")
    assert n is not None and "values beyond 8 digits before the point refused" in n.describe()
    i = narrowing("x", T.DecimalType(14, 4), "integer")
    assert i is not None and "-2^31 .. 2^31 - 1" in i.describe()


@pytest.mark.parametrize(("value", "scale", "stored"), [
    (Decimal("1.0050"), 2, "1.01"),  # half away from zero, as numeric_in rounds
    (Decimal("-1.0050"), 2, "-1.01"),
    (Decimal("12345678.9999"), 2, "12345679.00"),
    (0.30000000000000004, 2, "0.30"),
    (1.005, 2, "1.01"),  # the double's shortest text is '1.005', which PostgreSQL is given
    (Decimal("2.5"), 0, "3"),
    (12345, -2, "1.23E+4"),
])
def test_stored_as_rounds_the_literal_half_away_from_zero(value: Any, scale: int, stored: str) -> None:
    assert str(stored_as(value, scale)) == stored


def test_the_verdict_on_one_value() -> None:
    n = narrowing("amount", T.DecimalType(12, 4), "numeric(10,2)")
    assert n is not None
    assert verdict(n, Decimal("1.0050")) == "would be stored as 1.01"
    assert verdict(n, Decimal("1.0000")) is None  # trailing zeros: the same number
    assert verdict(n, None) is None
    wide = narrowing("amount", T.DecimalType(12, 2), "numeric(10,2)")
    assert wide is not None
    assert verdict(wide, Decimal("99999999.99")) is None
    assert "does not fit numeric(10,2) (it holds 8 digits before the point" in str(verdict(wide, Decimal("-100000000.00")))
    d = narrowing("d", T.DoubleType(), "numeric(10,2)")
    assert d is not None
    assert verdict(d, float("nan")) is None  # numeric holds NaN
    assert "infinite" in str(verdict(d, float("inf")))
    assert verdict(d, 99999999.995) is not None  # rounds up to 9 digits: overflow
    i = narrowing("i", T.DecimalType(12, 1), "integer")
    assert i is not None
    assert verdict(i, Decimal(-(2**31))) is None  # two's complement: the negative bound fits
    assert verdict(i, Decimal(2**31)) is not None
    assert verdict(i, Decimal("2147483647.4")) == "would be stored as 2147483647"
