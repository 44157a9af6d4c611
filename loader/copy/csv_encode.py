"""Spark SQL expressions that turn each row into one line of CSV that PostgreSQL reads back exactly.

Why not Spark's CSV writer: it escapes quotes with a backslash by default (not
RFC 4180, so PostgreSQL reads other values than were written), trims leading
and trailing white space by default, and formats timestamps in the session time
zone with a minute-precision offset, which loses the seconds of historic zone
offsets (LMT). So every field is built here, in the JVM, with plain SQL
functions (no Python UDF touches a row, but for a float or double bound for numeric, whose
shortest digits formats.CsvFormat.frame writes first: pg_text.float_text):

* NULL is an empty unquoted field; every non-NULL text value is quoted, with
  quotes doubled, so the empty string is ``""`` and stays distinct from NULL;
* each value is spelled as PostgreSQL input text by plan/pg_text.py (timestamps exact in UTC,
  bytea hex, array literals, JSON), the same spelling the JDBC methods send.
"""

from __future__ import annotations

from typing import Any

from ..plan.pg_text import field_expr, ident, value_text


def line_expr(schema: Any, columns: tuple[str, ...], strip_nul: bool = False) -> str:
    """SQL for the whole line (with its newline) of the given columns, in that order."""
    types = {f.name: f.dataType for f in schema.fields}
    fields = [field_expr(c, types[c], strip_nul) for c in columns]
    return f"concat(concat_ws(',', {', '.join(fields)}), '\\n')"


#: Spark CSV options that make ``to_csv`` write what PostgreSQL's CSV reader reads back exactly
CSV_OPTIONS = {
    "quote": '"', "escape": '"', "escapeQuotes": "true",  # RFC 4180: a quote is doubled
    "nullValue": "", "emptyValue": '""',  # NULL: empty and unquoted; '': quoted
    "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false",  # keep spaces
    "timeZone": "UTC",  # render instants in UTC whatever the session zone (no LMT offsets)
    "timestampFormat": "yyyy-MM-dd HH:mm:ss.SSSSSSXXX",
    "timestampNTZFormat": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "dateFormat": "yyyy-MM-dd",
}
_NATIVE = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType",
           "BooleanType", "DateType", "TimestampType", "TimestampNTZType")


def _prepared(name: str, dtype: Any, strip_nul: bool) -> str:
    """Columns Spark's CSV writer cannot render as PostgreSQL input become text first."""
    kind = type(dtype).__name__
    col = ident(name)
    if kind in _NATIVE:
        return col
    if kind in ("StringType", "VarcharType", "CharType"):
        return f"replace({col}, char(0), '')" if strip_nul else col
    return f"if({col} IS NULL, NULL, {value_text(col, dtype, name, strip_nul)})"


def csv_lines(df: Any, columns: tuple[str, ...], strip_nul: bool = False) -> Any:
    """A one-column DataFrame (``line``: string, newline included) of CSV lines, computed in
    the JVM by Spark's own CSV generator (3x faster than per-field SQL, measured)."""
    from pyspark.sql import functions as F

    if len(columns) == 1:
        # A lone unquoted ``\.`` line would end COPY's input: quote every value instead.
        return df.select(F.expr(line_expr(df.schema, columns, strip_nul)).alias("line"))
    types = {f.name: f.dataType for f in df.schema.fields}
    prepared = [F.expr(_prepared(c, types[c], strip_nul)).alias(f"c{i}") for i, c in enumerate(columns)]
    return df.select(F.concat(F.to_csv(F.struct(*prepared), CSV_OPTIONS), F.lit("\n")).alias("line"))
