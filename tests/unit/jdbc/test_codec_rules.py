"""The JDBC methods' pure decisions, without Spark's JVM or PostgreSQL: which wire form each
Spark type takes (jdbc/codec.py), the inlet view and rule that decode it, and how the staging
frame sizes batches and which columns it sends as JSON (jdbc/frame.py). That the decodes are
exact on a real server is tests/functional/jdbc/test_jdbc_codec.py's job."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    CharType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    VarcharType,
)

from loader.errors import ConfigError
from loader.jdbc.codec import (
    MAX_COMPACT_PRECISION,
    StagedColumn,
    calendar_wire,
    inlet_ddl,
    inlet_of,
    wire_form,
)
from loader.jdbc.frame import MAX_BATCHSIZE, MIN_BATCHSIZE, choose_batchsize, travels_as_json
from loader.naming import TableRef


@pytest.mark.parametrize("spark_type, wire, decode", [
    (StringType(), "bytea", "convert_from(NEW.\"c_1\", 'UTF8')"),
    (VarcharType(5), "bytea", "convert_from(NEW.\"c_1\", 'UTF8')"),
    (CharType(3), "bytea", "convert_from(NEW.\"c_1\", 'UTF8')"),
    (DateType(), "integer", "date '1970-01-01' + NEW.\"c_1\""),
    (TimestampType(), "bigint",
     "to_timestamp((NEW.\"c_1\" / 1000000)::float8) + (NEW.\"c_1\" % 1000000) * interval '1 microsecond'"),
    (DecimalType(18, 0), "bigint", "NEW.\"c_1\"::numeric"),
    (DecimalType(12, 2), "bigint", "NEW.\"c_1\"::numeric * 0.01"),
    (DecimalType(18, 18), "bigint", "NEW.\"c_1\"::numeric * 0.000000000000000001"),
    (DecimalType(1, 1), "bigint", "NEW.\"c_1\"::numeric * 0.1"),
])
def test_compact_wire_forms(spark_type: Any, wire: str, decode: str) -> None:
    col = wire_form(spark_type, "c_1", "native")
    assert col == StagedColumn("c_1", "native", wire, decode) and col.compact


@pytest.mark.parametrize("spark_type", [
    DecimalType(MAX_COMPACT_PRECISION + 1, 2),  # an unscaled value past 2^63
    DecimalType(38, 0), DecimalType(5, -2),  # a negative scale has no exact 10^s multiplier
    LongType(), IntegerType(), DoubleType(), BooleanType(), TimestampNTZType(), ArrayType(StringType()),
])
def test_what_goes_as_sparks_writer_sends_it(spark_type: Any) -> None:
    assert wire_form(spark_type, "c_1", "x") is None


def test_the_decimal_decode_has_exactly_the_scales_digits() -> None:
    for scale in range(1, MAX_COMPACT_PRECISION + 1):
        decode = (wire_form(DecimalType(MAX_COMPACT_PRECISION, scale), "c", "numeric") or StagedColumn.plain("", "")).decode
        factor = decode.split(" * ")[1]
        assert factor == "0." + "0" * (scale - 1) + "1" and len(factor) - 2 == scale


@pytest.mark.parametrize("spark_type", [DateType(), TimestampType(), TimestampNTZType(), ArrayType(DateType()),
                                        ArrayType(TimestampType())])
def test_calendar_types_travel_as_text_cast_by_the_rule(spark_type: Any) -> None:
    col = calendar_wire(spark_type, 'we"ird', "timestamp with time zone")
    assert col == StagedColumn('we"ird', "timestamp with time zone", "text",
                               'CAST(NEW."we""ird" AS timestamp with time zone)')


@pytest.mark.parametrize("spark_type", [StringType(), LongType(), ArrayType(LongType()), DecimalType(10, 2)])
def test_other_types_need_no_calendar_care(spark_type: Any) -> None:
    assert calendar_wire(spark_type, "c_1", "x") is None


def test_a_plain_column_is_not_compact_and_quotes_its_name() -> None:
    col = StagedColumn.plain('a"b', "bigint")
    assert (col.wire_type, col.decode, col.compact) == ("bigint", 'NEW."a""b"', False)


def test_the_inlet_view_and_its_rule() -> None:
    stage = TableRef("etl", "loader_stage_x")
    cols = [StagedColumn.plain("c_1", "bigint"), wire_form(StringType(), "c_2", "text")]
    assert inlet_of(stage) == TableRef("etl", "loader_stage_x_in")
    assert inlet_ddl(stage, [c for c in cols if c is not None]) == [
        'CREATE VIEW "etl"."loader_stage_x_in" AS SELECT NULL::bigint AS "c_1", NULL::bytea AS "c_2" WHERE false',
        'CREATE RULE loader_decode AS ON INSERT TO "etl"."loader_stage_x_in" DO INSTEAD '
        'INSERT INTO "etl"."loader_stage_x" ("c_1", "c_2") VALUES (NEW."c_1", convert_from(NEW."c_2", \'UTF8\'))']


@pytest.mark.parametrize("width, batch", [(1, MAX_BATCHSIZE), (100, 10_485), (1024 * 1024, MIN_BATCHSIZE),
                                          (0, MAX_BATCHSIZE)])
def test_batches_of_about_one_mebibyte_within_bounds(width: int, batch: int) -> None:
    assert choose_batchsize(width) == batch


def test_a_batchsize_override_is_taken_and_checked() -> None:
    assert choose_batchsize(100, 7) == 7
    with pytest.raises(ConfigError, match="jdbc.batchsize must be positive"):
        choose_batchsize(100, 0)


STRUCT = StructType([StructField("x", LongType())])


@pytest.mark.parametrize("spark_type, target, as_json", [
    (STRUCT, "jsonb", True), (MapType(StringType(), LongType()), "jsonb", True),
    (ArrayType(STRUCT), "jsonb[]", True), (ArrayType(ArrayType(LongType())), "bigint[]", True),
    (ArrayType(LongType()), "jsonb", True), (ArrayType(LongType()), "bigint[]", False),
    (LongType(), "bigint", False), (StringType(), "jsonb", False),
])
def test_which_columns_travel_as_json_text(spark_type: Any, target: str, as_json: bool) -> None:
    assert travels_as_json(spark_type, target) is as_json
