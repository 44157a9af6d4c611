"""How the ``optimized`` method hands values to Spark's JDBC writer: compact wire forms.

A JFR profile of Spark's JDBC writer showed most of the JVM's time going into converting
single values, not into Spark or the network (bench/README.md, "Figures that used to live in
docstrings"): strings decoded from UTF-8 into a Java String and encoded again by pgjdbc;
decimals through BigDecimal and pgjdbc's BigInteger division; dates and timestamps through
java.sql.Timestamp/Date and a GregorianCalendar into text that PostgreSQL parses again.

So ``optimized`` sends each such column in a form both sides handle cheaply.
Spark's writer inserts into an *inlet*: a view with the wire types whose
``DO INSTEAD`` rule decodes the values in SQL and inserts them into the staging
table, which keeps the Spark-native types (``typemap.pg_type``). The decoding
thus runs in the PostgreSQL backends that receive the rows, in parallel, during
the write (decoding bytea costs PostgreSQL what parsing the text did), and the
publish reads an ordinary staging table whatever the method.

| Spark type              | sent as              | Spark side          | decoded by the rule              |
|-------------------------|----------------------|---------------------|----------------------------------|
| string, varchar, char   | bytea                | cast to binary      | convert_from(c, 'UTF8')          |
| timestamp               | bigint (microsecond) | unix_micros         | exact integer arithmetic         |
| date                    | integer (days)       | unix_date           | date '1970-01-01' + c            |
| decimal(p <= 18, s >= 0)| bigint (unscaled)    | x * 10^s, exactly   | c::numeric * 10^-s               |
| timestamp_ntz, arrays of dates and timestamps (``standard``: date and timestamp too) | text | ISO text (csv_encode) | CAST(c AS type) |

Everything else goes as Spark's JDBC writer sends it, except what it would change (both
methods, ``standard`` too: :func:`calendar_safe`): Spark hands dates and timestamps to pgjdbc as
java.sql.Date/Timestamp, which count on the hybrid Julian-Gregorian calendar, where the days
1582-10-05 ... 1582-10-14 do not exist (a timestamp_ntz 1582-10-10 12:00 arrived as 1582-10-20,
a date as 1582-10-15). Spark 3+ and PostgreSQL both count on the proleptic Gregorian calendar,
so such columns (timestamp_ntz in ``optimized``; date, timestamp, timestamp_ntz and arrays of
them in ``standard``) travel as the text COPY's CSV sends (csv_encode: ISO dates, instants in
UTC with microseconds), cast by the inlet's rule (what the compact forms save: bench/README.md,
same section). Every decode is
exact: bytes are not re-encoded, timestamps are integer microseconds on the
proleptic Gregorian calendar on both sides (no Julian rebasing), decimals keep
every digit; invalid UTF-8 is refused by convert_from as it would be by text
input. ``standard`` keeps Spark's writer exactly as shipped: it is the baseline. (Both methods
send a float or double bound for numeric as its shortest text, made before this module sees it:
frame.py, ``pg_text.float_text``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..naming import TableRef, quote_ident
from ..plan.pg_text import pg_text_sql
from ..plan.typemap import STRING_KINDS, kind

#: unscaled decimals up to 18 digits fit a signed 64-bit integer
MAX_COMPACT_PRECISION = 18
INLET_SUFFIX = "_in"


@dataclass(frozen=True)
class StagedColumn:
    """One column: its staging name, its type in the staging table, and how it travels there."""

    name: str
    #: the staging table's type: the Spark-native PostgreSQL type
    pg_type: str
    #: the type Spark's writer sends (the inlet view's column type)
    wire_type: str
    #: SQL over the inlet row (``NEW.<name>``) giving the value in ``pg_type``
    decode: str

    @classmethod
    def plain(cls, name: str, pg_type: str) -> StagedColumn:
        return cls(name, pg_type, pg_type, "NEW." + quote_ident(name))

    @property
    def compact(self) -> bool:
        return self.wire_type != self.pg_type


def wire_form(spark_type: Any, name: str, native_pg_type: str) -> StagedColumn | None:
    """How the column travels when ``optimized`` sends it compact (the one decision: the wire
    type and the inlet rule's decode), or None when it goes as Spark's writer sends it."""
    c = "NEW." + quote_ident(name)
    k = kind(spark_type)

    def staged(wire: str, decode: str) -> StagedColumn:
        return StagedColumn(name, native_pg_type, wire, decode)

    if k in STRING_KINDS:
        return staged("bytea", f"convert_from({c}, 'UTF8')")
    if k == "TimestampType":
        # whole seconds through to_timestamp (exact: |seconds| < 2^38 and seconds * 10^6 stays a
        # multiple of 64 below 2^59, so the double holds it exactly), the microseconds as an interval
        return staged("bigint", f"to_timestamp(({c} / 1000000)::float8) + ({c} % 1000000) * interval '1 microsecond'")
    if k == "DateType":
        return staged("integer", f"date '1970-01-01' + {c}")
    if k == "DecimalType" and spark_type.scale >= 0 and spark_type.precision <= MAX_COMPACT_PRECISION:
        scale = spark_type.scale
        return staged("bigint", f"{c}::numeric" if scale == 0 else f"{c}::numeric * 0.{'0' * (scale - 1)}1")
    return None


def compact(expr: Any, spark_type: Any, name: str, native_pg_type: str) -> tuple[Any, StagedColumn] | None:
    """The column in its compact wire form (``wire_form``) and the Spark expression that makes
    it, or None. ``expr`` is the (already NUL-guarded) Spark Column; ``native_pg_type`` the staging type."""
    staged = wire_form(spark_type, name, native_pg_type)
    if staged is None:
        return None
    from pyspark.sql import functions as F

    k = kind(spark_type)
    if k in STRING_KINDS:
        return expr.cast("binary"), staged
    if k == "TimestampType":
        return F.unix_micros(expr), staged
    if k == "DateType":
        return F.unix_date(expr), staged
    if spark_type.scale == 0:
        return expr.cast("long"), staged
    # 10^s as an exact decimal(s+1, 0): the product's type (p+s+2 <= 38 digits) needs no rounding
    return (expr * F.lit(Decimal(10) ** spark_type.scale)).cast("long"), staged


#: Spark types whose JDBC setter goes through java.sql.Date/Timestamp (the hybrid calendar)
_CALENDAR_KINDS = ("DateType", "TimestampType", "TimestampNTZType")


def calendar_wire(spark_type: Any, name: str, native_pg_type: str) -> StagedColumn | None:
    """Dates and timestamps (and arrays of them) travel as PostgreSQL input text, cast by the
    inlet's rule; None for other types."""
    k = kind(spark_type)
    if k == "ArrayType":
        k = kind(spark_type.elementType)
    if k not in _CALENDAR_KINDS:
        return None
    return StagedColumn(name, native_pg_type, "text", f"CAST(NEW.{quote_ident(name)} AS {native_pg_type})")


def calendar_safe(source: str, spark_type: Any, name: str, native_pg_type: str) -> tuple[Any, StagedColumn] | None:
    """``calendar_wire``'s column and the Spark expression that writes its text (pgjdbc cannot
    send arrays of timestamptz at all). ``source`` is the DataFrame's column name, ``name`` the
    staging column's."""
    staged = calendar_wire(spark_type, name, native_pg_type)
    if staged is None:
        return None
    from pyspark.sql import functions as F

    return F.expr(pg_text_sql(source, spark_type)), staged


def inlet_of(stage: TableRef) -> TableRef:
    """The inlet view of a staging table (dropped with it; the reaper drops both)."""
    return TableRef(stage.schema, stage.table + INLET_SUFFIX)


def inlet_ddl(stage: TableRef, cols: list[StagedColumn]) -> list[str]:
    """The view Spark writes into (``inlet_of(stage)``) and the rule that decodes each row into ``stage``."""
    inlet = inlet_of(stage)
    wire = ", ".join(f"NULL::{c.wire_type} AS {quote_ident(c.name)}" for c in cols)
    names = ", ".join(quote_ident(c.name) for c in cols)
    decoded = ", ".join(c.decode for c in cols)
    return [f"CREATE VIEW {inlet.quoted} AS SELECT {wire} WHERE false",
            f"CREATE RULE loader_decode AS ON INSERT TO {inlet.quoted} DO INSTEAD "
            f"INSERT INTO {stage.quoted} ({names}) VALUES ({decoded})"]
