"""typemap: the Spark -> PostgreSQL mapping, compatibility, column matching, CREATE TABLE (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pyspark.sql import types as T

from loader.adapters.pg import Column
from loader.errors import SchemaMismatchError
from loader.naming import TableRef
from loader.plan.typemap import (
    ColumnPlan,
    add_columns_sql,
    compatible,
    create_table_sql,
    match_columns,
    pg_type,
    plan_for_new_table,
)

REF = TableRef("public", "t")


@pytest.mark.parametrize(("spark_type", "expected"), [
    (T.ByteType(), "smallint"),
    (T.ShortType(), "smallint"),
    (T.IntegerType(), "integer"),
    (T.LongType(), "bigint"),
    (T.FloatType(), "real"),
    (T.DoubleType(), "double precision"),
    (T.DecimalType(38, 18), "numeric(38,18)"),
    (T.DecimalType(10, 0), "numeric(10,0)"),
    (T.DecimalType(5, 2), "numeric(5,2)"),
    (T.StringType(), "text"),
    (T.VarcharType(10), "text"),
    (T.CharType(3), "text"),
    (T.BooleanType(), "boolean"),
    (T.DateType(), "date"),
    (T.TimestampType(), "timestamp with time zone"),
    (T.TimestampNTZType(), "timestamp without time zone"),
    (T.BinaryType(), "bytea"),
    (T.NullType(), "text"),
    (T.ArrayType(T.IntegerType()), "integer[]"),
    (T.ArrayType(T.StringType()), "text[]"),
    (T.ArrayType(T.LongType()), "bigint[]"),
    (T.ArrayType(T.DecimalType(12, 2)), "numeric(12,2)[]"),
    (T.ArrayType(T.TimestampType()), "timestamp with time zone[]"),
    (T.ArrayType(T.ArrayType(T.IntegerType())), "jsonb"),
    (T.ArrayType(T.StructType([T.StructField("a", T.IntegerType())])), "jsonb"),
    (T.ArrayType(T.MapType(T.StringType(), T.IntegerType())), "jsonb"),
    (T.StructType([T.StructField("a", T.IntegerType())]), "jsonb"),
    (T.MapType(T.StringType(), T.StringType()), "jsonb"),
])
def test_pg_type_follows_the_documented_mapping(spark_type: Any, expected: str) -> None:
    assert pg_type(spark_type) == expected


def test_pg_type_of_an_unmapped_type_is_a_schema_mismatch() -> None:
    with pytest.raises(SchemaMismatchError, match="has no PostgreSQL mapping"):
        pg_type(T.CalendarIntervalType())


@pytest.mark.parametrize(("spark_type", "target"), [
    (T.StringType(), "text"), (T.StringType(), "jsonb"), (T.StringType(), "uuid"), (T.StringType(), "inet"),
    (T.StringType(), "integer"), (T.StringType(), "character varying(20)"), (T.NullType(), "bigint"),
    (T.ByteType(), "smallint"), (T.IntegerType(), "bigint"), (T.LongType(), "numeric(20,0)"),
    (T.IntegerType(), "double precision"), (T.IntegerType(), "text"),
    (T.DecimalType(12, 2), "numeric(12,2)"), (T.DecimalType(38, 18), "numeric"),
    (T.FloatType(), "double precision"), (T.DoubleType(), "numeric(10,2)"), (T.DoubleType(), "real"),
    (T.BooleanType(), "boolean"), (T.BooleanType(), "text"),
    (T.DateType(), "date"), (T.DateType(), "timestamp with time zone"),
    (T.TimestampType(), "timestamp with time zone"), (T.TimestampType(), "timestamp without time zone"),
    (T.TimestampNTZType(), "timestamp without time zone"),
    (T.BinaryType(), "bytea"),
    (T.ArrayType(T.IntegerType()), "integer[]"), (T.ArrayType(T.StringType()), "jsonb"),
    (T.StructType([T.StructField("a", T.IntegerType())]), "jsonb"),
    (T.MapType(T.StringType(), T.IntegerType()), "json"),
    # every scalar renders as text: character varying / character take what text takes
    (T.BooleanType(), "character varying(5)"), (T.DoubleType(), "character varying"),
    (T.DateType(), "character(10)"), (T.TimestampType(), "character varying(40)"),
    (T.LongType(), "character(20)"), (T.StructType([T.StructField("a", T.IntegerType())]), "character varying"),
    # a column of only NULLs fits any column, arrays included
    (T.NullType(), "integer[]"), (T.NullType(), "jsonb"), (T.NullType(), "bytea"),
])
def test_compatible_pairs(spark_type: Any, target: str) -> None:
    assert compatible(spark_type, target)


@pytest.mark.parametrize(("spark_type", "target"), [
    (T.BooleanType(), "integer"), (T.BooleanType(), "bigint"), (T.IntegerType(), "boolean"),
    (T.StringType(), "text[]"), (T.LongType(), "date"), (T.DoubleType(), "integer"),
    (T.DoubleType(), "bigint"), (T.TimestampType(), "date"), (T.DateType(), "integer"),
    (T.BinaryType(), "text"), (T.ArrayType(T.IntegerType()), "integer"),
    (T.StructType([T.StructField("a", T.IntegerType())]), "integer"),
    (T.MapType(T.StringType(), T.IntegerType()), "text[]"),
    (T.IntegerType(), "jsonb"), (T.CalendarIntervalType(), "interval"),
])
def test_incompatible_pairs(spark_type: Any, target: str) -> None:
    assert not compatible(spark_type, target)


def _schema(*fields: tuple[str, Any, bool]) -> T.StructType:
    return T.StructType([T.StructField(n, t, nullable) for n, t, nullable in fields])


def test_match_columns_orders_by_the_source_and_takes_the_target_types() -> None:
    schema = _schema(("b", T.StringType(), True), ("a", T.IntegerType(), True))
    existing = [Column("a", "bigint", True), Column("b", "jsonb", False), Column("c", "text", True, True),
                Column("d", "text", True)]
    with pytest.raises(SchemaMismatchError, match="'d'"):
        match_columns(REF, schema, existing)
    plan = match_columns(REF, schema, existing[:3])
    assert plan == ColumnPlan(("b", "a"), ("jsonb", "bigint"))


def test_match_columns_lists_every_problem_at_once() -> None:
    schema = _schema(("id", T.LongType(), False), ("extra", T.StringType(), True),
                     ("Name", T.StringType(), True), ("flag", T.BooleanType(), True),
                     ("payload", T.BinaryType(), True))
    existing = [Column("id", "bigint", True), Column("name", "text", False), Column("flag", "integer", False),
                Column("payload", "text", False), Column("required", "date", True),
                Column("defaulted", "date", True, has_default=True), Column("optional", "date", False)]
    with pytest.raises(SchemaMismatchError) as info:
        match_columns(REF, schema, existing)
    text = str(info.value)
    assert "public.t" in text
    assert "source column 'extra' is not in the table" in text
    assert "source column 'Name' is not in the table (the table has 'name': names are case-sensitive)" in text
    assert "column 'flag': source type boolean cannot load into integer" in text
    assert "column 'payload': source type binary cannot load into text" in text
    assert "table column 'required' (date, NOT NULL, no default) is missing from the source" in text
    assert "'defaulted'" not in text and "'optional'" not in text
    assert "'id'" not in text
    assert info.value.ids.get("table") == "public.t"
    assert info.value.next_step


def test_match_columns_missing_not_null_column_alone() -> None:
    schema = _schema(("id", T.LongType(), True))
    with pytest.raises(SchemaMismatchError, match=r"table column 'v' \(text, NOT NULL, no default\)"):
        match_columns(REF, schema, [Column("id", "bigint", False), Column("v", "text", True)])


def test_create_table_sql_quotes_hostile_identifiers() -> None:
    hostile_table = TableRef('we"ird; DROP TABLE x; --', 'ta"ble')
    schema = _schema(('a"b', T.IntegerType(), False), ("Mixed Case", T.StringType(), True),
                     ("x); DROP TABLE t; --", T.BooleanType(), True), ("select", T.DateType(), True),
                     ("ünï €", T.ArrayType(T.StringType()), True))
    sql = create_table_sql(hostile_table, schema, key=('a"b', "select"))
    assert sql.startswith('CREATE TABLE "we""ird; DROP TABLE x; --"."ta""ble" (')
    assert '"a""b" integer NOT NULL' in sql
    assert '"Mixed Case" text' in sql
    assert '"x); DROP TABLE t; --" boolean' in sql
    assert '"select" date' in sql
    assert '"ünï €" text[]' in sql
    assert 'PRIMARY KEY ("a""b", "select")' in sql
    # every identifier is quoted: removing quoted strings leaves only keywords and types
    bare = re.sub(r'"(?:[^"]|"")*"', "ID", sql)
    assert "DROP" not in bare and ";" not in bare


def test_create_table_sql_rejects_a_nul_in_a_name() -> None:
    from loader.errors import ConfigError

    with pytest.raises(ConfigError, match="NUL"):
        create_table_sql(REF, _schema(("a\x00b", T.IntegerType(), True)))


def test_plan_for_new_table_uses_pg_type() -> None:
    schema = _schema(("id", T.LongType(), False), ("m", T.MapType(T.StringType(), T.StringType()), True))
    assert plan_for_new_table(schema) == ColumnPlan(("id", "m"), ("bigint", "jsonb"))


# --- schema_evolution: add_columns ------------------------------------------------------------
def test_add_columns_plans_the_new_source_columns_with_the_type_map() -> None:
    schema = _schema(("id", T.LongType(), False), ('n"ew; x', T.DecimalType(12, 2), False),
                     ("tags", T.ArrayType(T.StringType()), True))
    existing = [Column("id", "bigint", True), Column("old", "text", False)]
    with pytest.raises(SchemaMismatchError, match="schema_evolution: add_columns"):
        match_columns(REF, schema, existing)  # none: refused, and the message says how to opt in
    plan = match_columns(REF, schema, existing, add_columns=True)
    assert plan == ColumnPlan(("id", 'n"ew; x', "tags"), ("bigint", "numeric(12,2)", "text[]"), ('n"ew; x', "tags"))
    # nullable whatever the source says (the rows already there have no value), names quoted exactly
    assert add_columns_sql(REF, plan) == ('ALTER TABLE "public"."t" ADD COLUMN "n""ew; x" numeric(12,2), '
                                          'ADD COLUMN "tags" text[]')
    assert add_columns_sql(REF, match_columns(REF, schema[:1], existing, add_columns=True)) is None


def test_add_columns_never_changes_a_type_nor_adds_a_case_twin() -> None:
    schema = _schema(("id", T.StringType(), True), ("Name", T.StringType(), True), ("when", T.DateType(), True),
                     ("new", T.LongType(), True))
    existing = [Column("id", "integer[]", True), Column("name", "text", False), Column("when", "boolean", False)]
    with pytest.raises(SchemaMismatchError) as info:
        match_columns(REF, schema, existing, add_columns=True)
    text = str(info.value)
    assert "column 'id': source type string cannot load into integer[]" in text
    assert "column 'when': source type date cannot load into boolean" in text
    assert "source column 'Name' is not in the table (the table has 'name'" in text
    assert "'new'" not in text  # that one would have been added


def test_a_missing_schema_is_refused_with_the_create_schema_to_run() -> None:
    from loader.plan.typemap import missing_schema_refusal

    message, step = missing_schema_refusal(TableRef("Sales Dept", "t"))
    assert message == "schema 'Sales Dept' of Sales Dept.t does not exist"
    assert step.startswith('CREATE SCHEMA "Sales Dept"')
