"""pg_types.parse: every spelling format_type() prints, read into base, modifiers and array dims."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from loader.errors import SchemaMismatchError
from loader.plan.pg_types import PgType, parse
from loader.plan.typemap import compatible


@pytest.mark.parametrize(("spelling", "expected"), [
    ("timestamp(3) with time zone", PgType("timestamp with time zone", ("3",))),
    ("timestamp(6) without time zone", PgType("timestamp without time zone", ("6",))),
    ("timestamp with time zone", PgType("timestamp with time zone")),
    ("timestamp without time zone", PgType("timestamp without time zone")),
    ("time(3) without time zone", PgType("time without time zone", ("3",))),
    ("time with time zone", PgType("time with time zone")),
    ("time(0) with time zone", PgType("time with time zone", ("0",))),
    ("interval", PgType("interval")),
    ("interval(2)", PgType("interval", ("2",))),
    ("interval day to second(3)", PgType("interval", ("3",), fields="day to second")),
    ("interval year to month", PgType("interval", fields="year to month")),
    ("interval minute to second", PgType("interval", fields="minute to second")),
    ("interval second(6)", PgType("interval", ("6",), fields="second")),
    ("bit(1)", PgType("bit", ("1",))),
    ("bit varying(5)", PgType("bit varying", ("5",))),
    ("bit varying", PgType("bit varying")),
    ("character(3)", PgType("character", ("3",))),
    ("bpchar", PgType("bpchar")),
    ("character varying(20)", PgType("character varying", ("20",))),
    ("character varying", PgType("character varying")),
    ("numeric(12,2)", PgType("numeric", ("12", "2"))),
    ("numeric(3,-2)", PgType("numeric", ("3", "-2"))),
    ("numeric", PgType("numeric")),
    ("double precision", PgType("double precision")),
    ("integer[]", PgType("integer", array_dims=1)),
    ("timestamp(3) without time zone[]", PgType("timestamp without time zone", ("3",), 1)),
    ("character varying(4)[]", PgType("character varying", ("4",), 1)),
    ("numeric(12,2)[][]", PgType("numeric", ("12", "2"), 2)),
    ("interval day to second(3)[]", PgType("interval", ("3",), 1, fields="day to second")),
    ("citext", PgType("citext")),
    ("public.citext", PgType("citext", schema="public")),
    ("mood", PgType("mood")),  # an enum, or a domain: a plain name
    ("app.mood[]", PgType("mood", array_dims=1, schema="app")),
    ('"My Type"', PgType("My Type")),
    ('"My Schema"."My ""quoted"" Type"', PgType('My "quoted" Type', schema="My Schema")),
    ('"char"', PgType("char")),
    ('"a.b(c)"', PgType("a.b(c)")),
    ("geometry(MultiPolygon,4326)", PgType("geometry", ("MultiPolygon", "4326"))),
    ("public.geography(Point,4326)[]", PgType("geography", ("Point", "4326"), 1, "public")),
    ("geometry", PgType("geometry")),
    ("jsonb", PgType("jsonb")),
])
def test_every_format_type_spelling(spelling: str, expected: PgType) -> None:
    assert parse(spelling) == expected


def test_plain_drops_modifiers_keeps_arrays_and_schema() -> None:
    assert parse("numeric(12,2)[]").plain == "numeric[]"
    assert parse("timestamp(3) with time zone").plain == "timestamp with time zone"
    assert parse("public.citext").plain == "public.citext"
    assert parse("integer[]").element == PgType("integer")


def test_precision_and_scale() -> None:
    assert parse("timestamp(3) with time zone").precision == 3
    assert parse("timestamp with time zone").precision is None
    assert parse("numeric(12,2)").scale == 2
    assert parse("numeric(5)").scale == 0
    assert parse("numeric").scale is None
    assert parse("geometry(Point,4326)").precision is None


@pytest.mark.parametrize("spelling", ["", "(3)", "foo bar", "a.b.c.d", "timestamp(3 with time zone"])
def test_a_spelling_format_type_never_prints_is_refused(spelling: str) -> None:
    with pytest.raises(SchemaMismatchError, match="cannot read the PostgreSQL column type"):
        parse(spelling)


@pytest.mark.parametrize(("spark_type", "target"), [
    (T.TimestampType(), "timestamp(3) with time zone"),
    (T.TimestampType(), "timestamp(6) without time zone"),
    (T.TimestampNTZType(), "timestamp(3) without time zone"),
    (T.DateType(), "timestamp(0) with time zone"),
    (T.StringType(), "time(3) without time zone"),
    (T.StringType(), "interval day to second(3)"),
    (T.StringType(), "bit varying(5)"),
    (T.StringType(), "geometry(MultiPolygon,4326)"),
    (T.IntegerType(), "numeric"),
    (T.IntegerType(), "bpchar"),
    (T.ArrayType(T.TimestampType()), "timestamp(3) with time zone[]"),
])
def test_precision_types_take_their_sources(spark_type: T.DataType, target: str) -> None:
    assert compatible(spark_type, target)


@pytest.mark.parametrize(("spark_type", "target"), [
    (T.TimestampType(), "time(3) without time zone"),
    (T.IntegerType(), "integer[]"),
    (T.StringType(), "timestamp(3) without time zone[]"),
    (T.LongType(), "interval day to second(3)"),
])
def test_mismatches_stay_refused(spark_type: T.DataType, target: str) -> None:
    assert not compatible(spark_type, target)
