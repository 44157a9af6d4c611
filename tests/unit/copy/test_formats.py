"""The staging format decision, made once per run (pure: no Spark job, no server)."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from loader.copy.formats import BinaryFormat, CsvFormat, choose_format, planned_format
from loader.errors import ConfigError
from loader.plan.typemap import ColumnPlan, plan_for_new_table

SCHEMA = T.StructType([T.StructField("id", T.LongType()), T.StructField("u", T.StringType()),
                       T.StructField("tags", T.ArrayType(T.StringType())),
                       T.StructField("st", T.StructType([T.StructField("a", T.IntegerType())]))])


def test_a_table_created_from_the_source_is_binary() -> None:
    fmt, why = choose_format("auto", plan_for_new_table(SCHEMA), SCHEMA, cast_later=False)
    assert isinstance(fmt, BinaryFormat) and why.startswith("binary")
    assert fmt.copy_options(freeze=True) == "(FORMAT binary, FREEZE)" and fmt.extension(True) == ".bin.gz"


def test_a_text_only_target_column_chooses_csv_and_names_it() -> None:
    plan = ColumnPlan(("id", "u", "tags", "st"), ("bigint", "uuid", "text[]", "jsonb"))
    fmt, why = choose_format("auto", plan, SCHEMA, cast_later=False)
    assert isinstance(fmt, CsvFormat) and "'u'" in why and "uuid" in why
    with pytest.raises(ConfigError, match="'u'"):
        choose_format("binary", plan, SCHEMA, cast_later=False)


def test_csv_when_asked() -> None:
    plan = plan_for_new_table(SCHEMA)
    assert choose_format("csv", plan, SCHEMA, cast_later=False)[0].name == "csv"
    assert CsvFormat().copy_options(freeze=False) == "(FORMAT csv, ENCODING 'UTF8')"
    with pytest.raises(ConfigError):
        choose_format("parquet", plan, SCHEMA, cast_later=False)


def test_rejects_land_in_types_that_take_every_source_value() -> None:
    # a uuid target refuses binary, but with on_error: reject the rows land in the source's own
    # types first and each is cast in the INSERT that can set it aside
    plan = ColumnPlan(("id", "u", "tags", "st"), ("integer", "uuid", "varchar(3)[]", "jsonb"))
    fmt, _ = choose_format("auto", plan, SCHEMA, cast_later=True)
    assert fmt.name == "binary"
    assert fmt.landing_types(plan, SCHEMA, cast_later=True) == ("bigint", "text", "text[]", "jsonb")
    assert fmt.landing_types(plan, SCHEMA, cast_later=False) == plan.pg_types
    assert CsvFormat().landing_types(plan, SCHEMA, cast_later=True) == ("text",) * 4


def test_a_narrower_target_than_binary_can_prove_is_csv() -> None:
    # double into real would round here, silently: PostgreSQL's text input decides instead
    schema = T.StructType([T.StructField("x", T.DoubleType())])
    fmt, why = choose_format("auto", ColumnPlan(("x",), ("real",)), schema, cast_later=False)
    assert fmt.name == "csv" and "'x'" in why


def test_dry_run_says_what_it_can_from_the_target_alone() -> None:
    assert planned_format("auto", None, reject=False).startswith("binary")
    assert planned_format("auto", [("id", "bigint"), ("addr", "inet")], reject=False) == \
        "csv: column 'addr' (inet) has no binary encoding"
    assert "will fail" in planned_format("binary", [("e", "my_enum")], reject=False)
    assert planned_format("auto", [("n", "numeric(12,2)"), ("a", "integer[]")], reject=False).startswith("binary")
    assert planned_format("csv", None, reject=False) == "csv (requested)"
