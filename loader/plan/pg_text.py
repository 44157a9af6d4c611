"""Spark SQL expressions that write a value as the text PostgreSQL's input function reads back
exactly: COPY's CSV lines (copy/csv_encode.py) and the JDBC methods' text columns (jdbc/) both
use them, so a value is spelled the same way whichever method carries it.

* timestamps from their microseconds since the epoch as ``YYYY-MM-DD HH:MM:SS.ffffff+00``
  (exact, whatever the session time zone; the day by integer division);
* binary as bytea hex (``\\x...``), arrays as PostgreSQL array literals, structs and maps (and
  arrays of them) as JSON with ``JSON_OPTIONS``;
* a NUL byte (PostgreSQL cannot store it in text) raises an error naming the column
  (adapters/spark_errors.nul_error_column reads it back), or is stripped when the user opts in;
* a float or double bound for a ``numeric`` column (or arrays of them for ``numeric[]``) as the
  shortest text that reads back as the same value (``float_text``), computed in Python: numeric
  keeps every digit it is given, so the digits are the value. Java 17's Double.toString (Spark's
  cast to string) is not always the shortest (2.82879384806159E17 prints as
  2.82879384806159008E17, 1E23 as 9.999999999999999E22), and PostgreSQL's float8 -> numeric cast
  keeps 15 digits (0.30000000000000004 -> 0.3), where the literal a person types is stored exactly.
"""

from __future__ import annotations

from typing import Any

from ..adapters.spark_errors import NUL_ERROR_TAG
from .pg_types import parse

#: Every struct, map and nested array that becomes json/jsonb text is written with these options,
#: by every method. Spark's JSON generator by default drops a struct's NULL fields ({"z": null}
#: and no "z" are different documents; a map keeps its NULLs) and writes timestamps with
#: milliseconds in the session time zone; here every microsecond is kept, instants in UTC (a
#: historic zone's offset has seconds that XXX would drop).
JSON_OPTIONS = {"ignoreNullFields": "false", "timeZone": "UTC",
                "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
                "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"}
_MICROS_PER_DAY = 86_400_000_000


def _lit(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _quoted(text_expr: str) -> str:
    return f"concat('\"', replace({text_expr}, '\"', '\"\"'), '\"')"


def _timestamp_utc(expr: str) -> str:
    m = f"unix_micros({expr})"
    r = f"pmod({m}, {_MICROS_PER_DAY})"
    # integer division of an exact multiple: floor(m / D) divides as doubles, which puts the
    # last microseconds of a day on the next day before ~1697 and after ~2243
    # (9999-12-31 23:59:59.999999 -> 10000-01-01)
    day = f"cast(date_from_unix_date(cast(({m} - {r}) div {_MICROS_PER_DAY} as int)) as string)"
    two = "lpad(cast({} as string), 2, '0')"
    return (
        f"concat({day}, ' ', {two.format(f'{r} div 3600000000')}, ':', "
        f"{two.format(f'({r} div 60000000) % 60')}, ':', {two.format(f'({r} div 1000000) % 60')}, "
        f"'.', lpad(cast({r} % 1000000 as string), 6, '0'), '+00')"
    )


def json_sql(expr: str) -> str:
    """SQL for a struct, map or array as JSON text, NULL fields kept (``JSON_OPTIONS``)."""
    options = ", ".join(f"{_lit(k)}, {_lit(v)}" for k, v in JSON_OPTIONS.items())
    return f"to_json({expr}, map({options}))"


def string_guard(expr: str, column: str, strip_nul: bool) -> str:
    """SQL for a string value with NUL bytes stripped, or failing with an error naming the column."""
    if strip_nul:
        return f"replace({expr}, char(0), '')"
    # the newline ends the column name for nul_error_column, whatever Spark appends after it
    return f"if(instr({expr}, char(0)) > 0, raise_error({_lit(NUL_ERROR_TAG + ':' + column + chr(10))}), {expr})"


def value_text(expr: str, dtype: Any, column: str, strip_nul: bool) -> str:
    """A non-NULL value of ``dtype`` as PostgreSQL input text (before CSV quoting)."""
    kind = type(dtype).__name__
    if kind in ("StringType", "VarcharType", "CharType"):
        return string_guard(expr, column, strip_nul)
    if kind == "TimestampType":
        return _timestamp_utc(expr)
    if kind == "TimestampNTZType":
        return f"date_format({expr}, 'yyyy-MM-dd HH:mm:ss.SSSSSS')"
    if kind == "BinaryType":
        return f"concat('\\\\x', lower(hex({expr})))"
    if kind == "BooleanType":
        return f"if({expr}, 't', 'f')"
    if kind == "ArrayType":
        return _array_literal(expr, dtype.elementType, column, strip_nul)
    if kind in ("StructType", "MapType"):
        return json_sql(expr)
    # numbers, dates: Spark's cast prints them the way PostgreSQL parses them (NaN, Infinity,
    # -0.0, plain decimals with every digit of the scale).
    return f"cast({expr} as string)"


def _array_literal(expr: str, elem: Any, column: str, strip_nul: bool) -> str:
    ekind = type(elem).__name__
    if ekind in ("ArrayType", "StructType", "MapType"):
        return json_sql(expr)  # typemap loads these as jsonb
    inner = value_text("x", elem, column, strip_nul)
    quoted = f"concat('\"', replace(replace({inner}, '\\\\', '\\\\\\\\'), '\"', '\\\\\"'), '\"')"
    element = f"if(x IS NULL, 'NULL', {quoted})"
    return f"concat('{{', array_join(transform({expr}, x -> {element}), ','), '}}')"


def field_expr(name: str, dtype: Any, strip_nul: bool = False) -> str:
    """SQL for one CSV field: empty when NULL, else the value's text, quoted where needed."""
    col = ident(name)
    text = value_text(col, dtype, name, strip_nul)
    kind = type(dtype).__name__
    needs_quotes = kind not in ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType",
                                "DoubleType", "DecimalType", "BooleanType", "DateType", "BinaryType")
    value = _quoted(text) if needs_quotes else text
    return f"if({col} IS NULL, '', {value})"


def pg_text_sql(name: str, dtype: Any) -> str:
    """SQL for column ``name`` as the text PostgreSQL's input function reads back exactly (NULL
    stays NULL): what the JDBC methods send for dates and timestamps (jdbc/codec.py)."""
    col = ident(name)
    return f"if({col} IS NULL, NULL, {value_text(col, dtype, name, False)})"


_FLOATS = ("FloatType", "DoubleType")


def _float_kind(spark_type: Any) -> str | None:
    """'FloatType'/'DoubleType' for a float or double, or an array of them; else None."""
    k = type(spark_type).__name__
    if k == "ArrayType":
        k = type(spark_type.elementType).__name__
    return k if k in _FLOATS else None


def needs_float_text(spark_type: Any, target_type: str) -> bool:
    """A float or double (or an array of them) bound for a numeric (numeric[]) column."""
    return _float_kind(spark_type) is not None and parse(target_type).plain in ("numeric", "numeric[]")


def shortest_text(value: float | None, single: bool = False) -> str | None:
    """The shortest decimal text that reads back as ``value`` (a float32's when ``single``), in
    PostgreSQL's spelling of NaN and the infinities: the literal a person would type for it."""
    if value is None:
        return None
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if not single:
        return repr(value)  # shortest round-trip (David Gay's algorithm), closest of equals
    import struct

    for digits in range(1, 10):  # 9 significant digits always identify a float32
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == value:
            return text
    raise AssertionError(f"{value!r} is not a float32")


def _shortest_double(value: Any) -> Any:
    return [shortest_text(v) for v in value] if isinstance(value, list) else shortest_text(value)


def _shortest_float(value: Any) -> Any:
    return [shortest_text(v, True) for v in value] if isinstance(value, list) else shortest_text(value, True)


def float_text(col: Any, spark_type: Any) -> tuple[Any, Any]:
    """``col`` (a float or double, or an array of them) as ``shortest_text``: the Spark Column and
    its type (string, or array of string). A Python UDF, row at a time: Arrow's pandas conversions
    turn NULL into NaN, and no JVM function spells a double shortest on Java 17."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType

    out = ArrayType(StringType()) if type(spark_type).__name__ == "ArrayType" else StringType()
    fn = _shortest_float if _float_kind(spark_type) == "FloatType" else _shortest_double
    return F.udf(fn, out, useArrow=False)(col), out
