"""A float or double bound for numeric is spelled by its shortest digits (plan/pg_text.py): the
literal a person would type, which numeric keeps digit for digit (pure: no Spark job, no server)."""

from __future__ import annotations

import struct

import pytest
from pyspark.sql import types as T

from loader.copy.formats import BinaryFormat, CsvFormat, choose_format
from loader.plan.pg_text import needs_float_text, shortest_text
from loader.plan.typemap import ColumnPlan


@pytest.mark.parametrize(("value", "text"), [
    (0.30000000000000004, "0.30000000000000004"),  # PostgreSQL's float8 -> numeric cast: 0.3
    (1.2345678901234567, "1.2345678901234567"),  # the cast: 1.23456789012346
    (2.82879384806159e17, "2.82879384806159e+17"),  # Java 17: 2.82879384806159008E17
    (1e23, "1e+23"),  # Java 17: 9.999999999999999E22
    (5e-324, "5e-324"),  # Java: 4.9E-324
    (-0.0, "-0.0"), (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
])
def test_a_double_is_its_shortest_round_trip_text(value: float, text: str) -> None:
    assert shortest_text(value) == text
    assert value != value or float(text) == value


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (3.4028234663852886e38, "3.4028235e+38"), (1.401298464324817e-45, "1e-45"),
    (16777216.0, "16777216"), (-2.5, "-2.5"),
])
def test_a_float_is_its_float32s_shortest_text(value: float, text: str) -> None:
    single = struct.unpack("f", struct.pack("f", value))[0]
    assert shortest_text(single, single=True) == text
    assert struct.unpack("f", struct.pack("f", float(text)))[0] == single


def test_null_stays_null() -> None:
    assert shortest_text(None) is None and shortest_text(None, single=True) is None


def test_only_floats_bound_for_numeric_need_the_text() -> None:
    assert needs_float_text(T.DoubleType(), "numeric(38,18)")
    assert needs_float_text(T.FloatType(), "numeric")
    assert needs_float_text(T.ArrayType(T.DoubleType()), "numeric(10,2)[]")
    assert not needs_float_text(T.DoubleType(), "double precision")
    assert not needs_float_text(T.DecimalType(38, 18), "numeric(38,18)")
    assert not needs_float_text(T.ArrayType(T.DoubleType()), "double precision[]")


def test_a_double_for_numeric_lands_as_text_when_cast_later_so_binary_gives_way_to_csv() -> None:
    # on_error: reject and slice replaces land the rows first and cast them: float8 -> numeric
    # would keep 15 digits, so the double lands as its text, which only CSV produces
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("x", T.DoubleType())])
    plan = ColumnPlan(("id", "x"), ("bigint", "numeric(38,18)"))
    assert BinaryFormat().landing_types(plan, schema, cast_later=True) == ("bigint", "text")
    assert CsvFormat().landing_types(plan, schema, cast_later=True) == ("text", "text")
    fmt, why = choose_format("auto", plan, schema, cast_later=True)
    assert isinstance(fmt, CsvFormat) and "'x'" in why
    assert choose_format("auto", plan, schema, cast_later=False)[0].name == "csv"
