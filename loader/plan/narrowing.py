"""Which columns a load narrows: source numbers with more decimals, or more digits, than the
target column keeps (pure; no I/O).

PostgreSQL rounds a literal to a ``numeric(p,s)`` column's scale, half away from zero
('1.0050' -> 1.01), and refuses one whose rounded value has more than ``p - s`` digits before
the point ("numeric field overflow"); an integer column rounds a fraction the same way ('2.5' ->
3). Every method lands values as those literals would, so rounding stays the default
(``on_narrowing: round``): this module names the columns where it can happen, for the dry run
and the run's log, and what ``on_narrowing: error`` checks row by row before data moves:

| source              | target                   | loses scale       | may overflow          |
|---------------------|--------------------------|-------------------|-----------------------|
| decimal(P,S)        | numeric(p,s)             | S > s             | P - S > p - s         |
| decimal(P,S)        | smallint/integer/bigint  | S > 0             | more digits than fit  |
| float, double       | numeric(p,s)             | always            | always                |
| byte ... long       | numeric(p,s)             | s < 0             | its digits > p - s    |

``numeric`` without a precision keeps every value: nothing narrows. Arrays narrow as their
elements do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .pg_types import parse

#: the digits of the largest value of each Spark integer type
_INT_DIGITS = {"ByteType": 3, "ShortType": 5, "IntegerType": 10, "LongType": 19}
#: the integer targets: the bound a value must stay within (PostgreSQL's "out of range")
INT_BOUNDS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


@dataclass(frozen=True)
class Narrowing:
    """One column whose values may change (rounded) or not fit (overflow) in the target."""

    column: str
    source: str  # the Spark type, as simpleString spells it
    target: str  # the column's type, as format_type spells it
    #: decimals kept by the target (0 for integer columns)
    scale: int
    loses_scale: bool
    may_overflow: bool
    #: the exclusive bound of the absolute value after rounding: 10^(p-s), or an integer type's
    limit: int | Decimal | None
    is_array: bool = False
    #: a float or double source: NaN lands as NaN, an infinity overflows
    floating: bool = False

    @property
    def integer_target(self) -> bool:
        """smallint/integer/bigint: -limit itself fits (two's complement), +limit does not."""
        return isinstance(self.limit, int)

    def describe(self) -> str:
        what = []
        if self.loses_scale:
            what.append(f"rounded to {self.scale} decimal place{'s' if self.scale != 1 else ''}")
        if self.may_overflow:
            what.append(f"values beyond {self.range_text} refused")
        return f"{self.column!r} {self.source} -> {self.target}: " + ", ".join(what)

    @property
    def range_text(self) -> str:
        """What the target holds, after rounding: '8 digits before the point', '-2^31 .. 2^31 - 1'."""
        if self.integer_target:
            bits = int(self.limit or 1).bit_length() - 1
            return f"-2^{bits} .. 2^{bits} - 1"
        digits = Decimal(self.limit or 0).adjusted()
        return f"{digits} digit{'s' if digits != 1 else ''} before the point" if digits >= 0 else \
            f"an absolute value below {self.limit}"


def narrowing(column: str, spark_type: Any, target: str) -> Narrowing | None:
    """How loading ``spark_type`` into a column of type ``target`` (a format_type spelling,
    a domain's base type) narrows it, or None when every value lands unchanged."""
    pg = parse(target)
    kind = type(spark_type).__name__
    is_array = kind == "ArrayType"
    if is_array != pg.is_array:
        return None  # not a pair that loads (refused by the type check), or jsonb
    element_type = spark_type.elementType if is_array else spark_type
    found = _scalar(type(element_type).__name__, element_type, pg.element.name, pg.precision, pg.scale)
    if found is None:
        return None
    loses, overflows, scale, limit = found
    floating = type(element_type).__name__ in ("FloatType", "DoubleType")
    return Narrowing(column, spark_type.simpleString(), target, scale, loses, overflows, limit, is_array, floating)


def _scalar(kind: str, spark_type: Any, base: str, precision: int | None,
            scale: int | None) -> tuple[bool, bool, int, int | Decimal | None] | None:
    limit: int | Decimal
    if base == "numeric" and precision is not None and scale is not None:
        limit = Decimal(10) ** (precision - scale)
        if kind == "DecimalType":
            loses = spark_type.scale > scale
            overflows = spark_type.precision - spark_type.scale > precision - scale
        elif kind in ("FloatType", "DoubleType"):
            loses = overflows = True
        elif kind in _INT_DIGITS:
            loses, overflows = scale < 0, _INT_DIGITS[kind] > precision - scale
        else:
            return None
    elif base in INT_BOUNDS and kind == "DecimalType":
        bound = INT_BOUNDS[base]
        loses = spark_type.scale > 0
        overflows = Decimal(10) ** (spark_type.precision - spark_type.scale) > bound
        limit, scale = bound, 0
    else:
        return None
    return (loses, overflows, scale, limit) if loses or overflows else None


def narrowings(schema: Any, targets: dict[str, str]) -> tuple[Narrowing, ...]:
    """The narrowed columns of a DataFrame ``schema`` loaded into columns of the types
    ``targets`` (name -> type spelling); a source column not in ``targets`` is new or refused."""
    found = (narrowing(f.name, f.dataType, targets[f.name]) for f in schema.fields if f.name in targets)
    return tuple(n for n in found if n is not None)


def verdict(n: Narrowing, value: Any) -> str | None:
    """Why PostgreSQL would not store this one value (a scalar, or an array's element) as it is
    sent: 'would be stored as 1.01' or 'does not fit numeric(10,2)...'; None: it lands unchanged
    (NULL, NaN, or a value within the target's scale and range)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return f"does not fit {n.target} (PostgreSQL refuses an infinite value: numeric field overflow)"
    stored = stored_as(value, n.scale)
    limit = Decimal(n.limit or 0)
    if stored >= limit or (stored < -limit if n.integer_target else stored <= -limit):
        return f"does not fit {n.target} (it holds {n.range_text}; PostgreSQL refuses it: out of range)"
    if stored != Decimal(str(value)):
        return f"would be stored as {stored}"
    return None


def stored_as(value: Any, scale: int) -> Decimal:
    """What PostgreSQL stores for ``value`` given as a literal to a column of this scale: its
    decimal text (a float's shortest repr, as the methods send it) rounded half away from zero."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
