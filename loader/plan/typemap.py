"""Spark-to-PostgreSQL type mapping and column matching (pure; no I/O).

Mapping used when the target table is created (``create: if_missing``):

| Spark                         | PostgreSQL                   |
|-------------------------------|------------------------------|
| byte, short                   | smallint                     |
| int                           | integer                      |
| long                          | bigint                       |
| float / double                | real / double precision      |
| decimal(p,s)                  | numeric(p,s) (precision kept)|
| string, varchar, char         | text                         |
| boolean                       | boolean                      |
| date                          | date                         |
| timestamp                     | timestamp with time zone     |
| timestamp_ntz                 | timestamp without time zone  |
| binary                        | bytea                        |
| array<scalar>                 | <scalar>[]                   |
| array<struct/map/array>       | jsonb                        |
| struct, map                   | jsonb                        |

When the table exists, columns are matched by name and each pair is checked
with ``compatible``: text goes into any type that accepts text input (jsonb,
uuid, inet, enums...) and PostgreSQL validates the value; the other pairs are
the lossless or usual widenings. With ``schema_evolution: add_columns`` a source
column the table lacks becomes a new nullable column of the type above; a type
change is still refused, and no column is ever dropped, renamed or narrowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SchemaMismatchError
from ..naming import TableRef, quote_ident
from .pg_types import parse

#: Spark's string types
STRING_KINDS = ("StringType", "VarcharType", "CharType")
_SCALARS = {
    "ByteType": "smallint", "ShortType": "smallint", "IntegerType": "integer", "LongType": "bigint",
    "FloatType": "real", "DoubleType": "double precision", "StringType": "text",
    "VarcharType": "text", "CharType": "text", "BooleanType": "boolean", "DateType": "date",
    "TimestampType": "timestamp with time zone", "TimestampNTZType": "timestamp without time zone",
    "BinaryType": "bytea", "NullType": "text",
}
_INTS = ("smallint", "integer", "bigint")
_NUMERIC_TARGETS = _INTS + ("numeric", "real", "double precision")
#: text-like targets: every scalar has a text rendering (format_type spells varchar/char this way)
_TEXTS = ("text", "character varying", "character", "bpchar")


def kind(spark_type: Any) -> str:
    return type(spark_type).__name__


def pg_type(spark_type: Any) -> str:
    """PostgreSQL column type for a Spark data type."""
    name = kind(spark_type)
    if name == "DecimalType":
        return f"numeric({spark_type.precision},{spark_type.scale})"
    if name in _SCALARS:
        return _SCALARS[name]
    if name == "ArrayType":
        elem = spark_type.elementType
        if kind(elem) in _SCALARS or kind(elem) == "DecimalType":
            return pg_type(elem) + "[]"
        return "jsonb"
    if name in ("StructType", "MapType"):
        return "jsonb"
    raise SchemaMismatchError(f"Spark type {spark_type.simpleString()} has no PostgreSQL mapping",
                              next_step="cast the column to a supported type before loading")


def pg_type_of(field: Any) -> str:
    """``field_pg_type``, a refusal naming the column."""
    try:
        return field_pg_type(field)
    except SchemaMismatchError as exc:
        raise SchemaMismatchError(f"column {field.name!r}: {exc.message}", next_step=exc.next_step) from None


#: PostGIS types: text (WKT, EWKT, hex EWKB) and bytes ((E)WKB) load through PostGIS's own input
SPATIAL = ("geometry", "geography")
#: the StructField metadata key with a column's PostgreSQL type (plan/geo.py: a geometry column's)
PG_TYPE_KEY = "loader.pg_type"


def field_pg_type(field: Any) -> str:
    """The PostgreSQL type of a new column for ``field``: its metadata's (a geometry column, typed
    with its SRID from the source: runner/spatial.py), else the type map's."""
    given = (getattr(field, "metadata", None) or {}).get(PG_TYPE_KEY)
    return str(given) if given else pg_type(field.dataType)


def compatible(spark_type: Any, target: str) -> bool:
    """Can values of ``spark_type`` be loaded into a column of PostgreSQL type ``target``
    (as format_type spells it: ``timestamp(3) with time zone`` is a timestamptz)?"""
    name = kind(spark_type)
    parsed = parse(target)
    is_array = parsed.is_array
    base = "" if is_array else parsed.plain  # an array column takes only arrays (and NULLs)
    if name == "NullType":
        return True  # only NULLs: any column takes them
    if name in STRING_KINDS:
        return not is_array  # text input works for any scalar type; PG validates
    if name in ("ByteType", "ShortType", "IntegerType", "LongType"):
        return base in _NUMERIC_TARGETS or base in _TEXTS
    if name == "DecimalType":
        return base in _NUMERIC_TARGETS or base in _TEXTS
    if name in ("FloatType", "DoubleType"):
        return base in ("real", "double precision", "numeric") or base in _TEXTS
    if name == "BooleanType":
        return base == "boolean" or base in _TEXTS
    if name == "DateType":
        return base in ("date", "timestamp with time zone", "timestamp without time zone") or base in _TEXTS
    if name in ("TimestampType", "TimestampNTZType"):
        return base in ("timestamp with time zone", "timestamp without time zone") or base in _TEXTS
    if name == "BinaryType":
        return base in ("bytea",) + SPATIAL  # PostGIS: (E)WKB bytes
    if name == "ArrayType":
        return is_array or base in ("jsonb", "json")
    if name in ("StructType", "MapType"):
        return base in ("jsonb", "json") or base in _TEXTS
    return False


@dataclass(frozen=True)
class ColumnPlan:
    """How the DataFrame's columns land in the target: names in target order, their PG types."""

    names: tuple[str, ...]
    pg_types: tuple[str, ...]
    #: columns the load adds to the table (schema_evolution add_columns), in ``names`` with their types
    added: tuple[str, ...] = ()


def create_table_sql(ref: TableRef, schema: Any, key: tuple[str, ...] = ()) -> str:
    cols = [f"{quote_ident(f.name)} {pg_type_of(f)}" + ("" if f.nullable else " NOT NULL")
            for f in schema.fields]
    if key:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in key)})")
    return f"CREATE TABLE {ref.quoted} (\n  " + ",\n  ".join(cols) + "\n)"


def add_columns_sql(ref: TableRef, plan: ColumnPlan) -> str | None:
    """The one ALTER TABLE that adds the plan's new columns, nullable (the rows already there have
    no value for them), or None. Runs inside the load transaction: a failed load adds nothing."""
    if not plan.added:
        return None
    types = dict(zip(plan.names, plan.pg_types, strict=True))
    return f"ALTER TABLE {ref.quoted} " + ", ".join(f"ADD COLUMN {quote_ident(n)} {types[n]}" for n in plan.added)


def match_columns(ref: TableRef, schema: Any, existing: list[Any], add_columns: bool = False) -> ColumnPlan:
    """Match DataFrame fields to an existing table's columns by name; every problem at once.
    ``add_columns``: a source column the table lacks is planned as a new column of the type map's
    type, not refused (a column that differs from one of the table's only in case still is)."""
    by_name = {c.name: c for c in existing}
    problems: list[str] = []
    names: list[str] = []
    types: list[str] = []
    added: list[str] = []
    for f in schema.fields:
        col = by_name.get(f.name)
        if col is None:
            folded = [c.name for c in existing if c.name.lower() == f.name.lower()]
            if add_columns and not folded:
                names.append(f.name)
                types.append(pg_type_of(f))
                added.append(f.name)
                continue
            hint = f" (the table has {folded[0]!r}: names are case-sensitive)" if folded else ""
            problems.append(f"source column {f.name!r} is not in the table{hint}")
            continue
        if not compatible(f.dataType, col.checked_type):  # a domain: its base type
            problems.append(f"column {f.name!r}: source type {f.dataType.simpleString()} cannot load "
                            f"into {col.data_type}")
        names.append(f.name)
        types.append(col.data_type)
    source_names = {f.name for f in schema.fields}
    for col in existing:
        if col.name not in source_names and col.not_null and not col.has_default:
            problems.append(f"table column {col.name!r} ({col.data_type}, NOT NULL, no default) "
                            "is missing from the source")
    if problems:
        evolve = "" if add_columns else " (or set schema_evolution: add_columns to add new source columns)"
        raise SchemaMismatchError(
            f"{ref}: the source does not match the table: " + "; ".join(problems),
            next_step="rename/cast the columns in the DataFrame, or alter the table" + (
                evolve if any(p.startswith("source column") for p in problems) else ""),
            table=str(ref),
        )
    return ColumnPlan(tuple(names), tuple(types), tuple(added))


def plan_for_new_table(schema: Any) -> ColumnPlan:
    return ColumnPlan(tuple(f.name for f in schema.fields), tuple(pg_type_of(f) for f in schema.fields))


# Spark's planner's per-type width estimates: what `auto` and the JDBC batch size go by
_WIDTHS = {"ByteType": 1, "ShortType": 2, "IntegerType": 4, "LongType": 8, "FloatType": 4,
           "DoubleType": 8, "BooleanType": 1, "DateType": 4, "TimestampType": 8,
           "TimestampNTZType": 8, "StringType": 20, "BinaryType": 100, "NullType": 1}


def row_width(schema: Any) -> int:
    """Estimated bytes per row, as Spark's planner estimates it; nested types count 100."""
    total = 0
    for f in schema.fields:
        name = kind(f.dataType)
        if name == "DecimalType":
            total += 8 if f.dataType.precision <= 18 else 16
        else:
            total += _WIDTHS.get(name, 100)
    return max(1, total)


def missing_schema_refusal(target: TableRef) -> tuple[str, str]:
    """The loader creates tables, never schemas: a misspelt schema would otherwise be made. The run
    and the dry run say the same."""
    return (f"schema {target.schema!r} of {target} does not exist",
            f"CREATE SCHEMA {quote_ident(target.schema)} (or fix the schema in the target's name)")
