"""Which (Spark type, PostgreSQL column type) pairs the binary COPY encoder can produce (pure).

Binary COPY converts nothing: each field goes straight to the column type's
``typreceive`` function, which reads its own wire format (``int4recv`` wants
exactly 4 bytes, ``array_recv`` wants the element type's OID, ``jsonb_recv`` a
version byte). The text/CSV path instead hands PostgreSQL text that its input
functions parse, round and validate. So a pair is supported here only when the
binary encoding gives the value the CSV path would (one deliberate exception:
float into ``double precision``, below), every pair below being proven by a
real-PostgreSQL round trip (tests/test_binary_encode_pg.py); for every other
pair :func:`binary_unsupported` says why, and the caller uses CSV.

Refused on purpose:

* a string into a type that only PostgreSQL can parse from text (uuid, inet,
  enums, domains, integer, date...): we would have to re-implement its parser;
* double into ``real``: the cast to float4 would happen here, turning an
  overflow into ±Infinity and an underflow into 0 silently, where float4in
  raises an error; refusing keeps one behaviour (PostgreSQL's) for both paths;
* ``long`` into ``double precision`` and float into ``numeric``: roundings to
  prove for little use;
* timestamp into ``timestamp without time zone`` and timestamp_ntz into
  ``timestamp with time zone``: the CSV path's meaning of those pairs depends on
  time zone settings; a binary timestamp carries none;
* struct/map into anything but json/jsonb (they arrive as JSON text).

Accepted widenings: byte/short/int/long into any integer column (a value that
does not fit is an error naming the column, raised before encoding), float into
``double precision`` (exact widening, as Spark's cast(float as double): 0.1f loads
as 0.100000001490116, where CSV loads the double nearest the float's shortest
decimal rendering, 0.1), byte/short/int into
``double precision`` (exact), integers into ``numeric``, decimal(p,s) into any
``numeric``: numeric_recv applies the column's typmod like numeric_in does
(rounds half away from zero to the scale, "numeric field overflow" beyond the
precision), ``timestamp(n)`` rounds to n digits and ``varchar(n)``/``char(n)``
check the length or pad, in binary as in text.

Also here, the two wire formats handled by hand: :func:`array_field` writes the
arrays whose element OID pgpq gets wrong (varchar, char(n), timestamptz), and
:func:`numeric_value` reads a binary numeric the way numeric_recv does, to check
pgpq's numerics.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact
from typing import Any

from ..plan.pg_types import parse

INT_KINDS = ("ByteType", "ShortType", "IntegerType", "LongType")
STRING_KINDS = ("StringType", "VarcharType", "CharType")
TEXT_TARGETS = ("text", "character varying", "character", "bpchar")

#: target type (typmod removed) -> Spark kinds whose values the encoder turns into it exactly
SCALAR_SOURCES: dict[str, tuple[str, ...]] = {
    "smallint": INT_KINDS, "integer": INT_KINDS, "bigint": INT_KINDS,
    "real": ("FloatType",),
    "double precision": ("FloatType", "DoubleType", "ByteType", "ShortType", "IntegerType"),
    "numeric": ("DecimalType",) + INT_KINDS,
    "boolean": ("BooleanType",),
    **{t: STRING_KINDS for t in TEXT_TARGETS},
    "bytea": ("BinaryType",),
    # PostGIS's binary input (geometry_recv) is (E)WKB: the bytes go as they are, the typmod checked
    "geometry": ("BinaryType",), "geography": ("BinaryType",),
    "date": ("DateType",),
    "timestamp with time zone": ("TimestampType",),
    "timestamp without time zone": ("TimestampNTZType",),
    # structs, maps and nested arrays arrive as JSON text, converted in the JVM
    "json": STRING_KINDS + ("StructType", "MapType", "ArrayType"),
    "jsonb": STRING_KINDS + ("StructType", "MapType", "ArrayType"),
}
#: array element types whose OID differs from what pgpq writes (it writes text/timestamp):
#: array_recv refuses a wrong element OID, so the encoder writes these arrays itself
HAND_ARRAY_OIDS = {"character varying": 1043, "character": 1042, "bpchar": 1042,
                   "timestamp with time zone": 1184}
_REASONS = {
    ("DoubleType", "real"): "real from double: casting to float4 here would round silently and turn "
                            "overflow into Infinity where PostgreSQL's text input raises an error",
    ("LongType", "double precision"): "double precision from long: would round beyond 2^53",
    ("TimestampType", "timestamp without time zone"): "an instant into a wall-clock column depends on "
                                                      "time zone settings, which binary does not carry",
    ("TimestampNTZType", "timestamp with time zone"): "a wall-clock time into an instant column depends on "
                                                      "the session time zone, which binary does not carry",
}
_CONTEXT = Context(prec=200, traps=[Inexact])  # exact decimal arithmetic for numeric_value


def base_type(pg_type: str) -> str:
    """``format_type`` output without its typmod: 'numeric(12,2)[]' -> 'numeric[]'."""
    return parse(pg_type).plain


@dataclass(frozen=True)
class TargetColumn:
    """One target column as PostgreSQL describes it (``pg_type`` as format_type() prints it)."""

    name: str
    pg_type: str

    @property
    def base(self) -> str:
        return base_type(self.pg_type)

    @property
    def is_array(self) -> bool:
        return self.base.endswith("[]")

    @property
    def element(self) -> TargetColumn:
        """The element column of an array column (same name, for error messages)."""
        return TargetColumn(self.name, self.pg_type.strip()[:-2])


def unsupported_reason(kind: str, target: str) -> str | None:
    """Why Spark kind ``kind`` cannot go to a column of base type ``target`` in binary, or None.

    ``kind`` may be ``'ArrayType<ElementKind>'`` to check an array's element as well."""
    if kind == "NullType":
        return None  # a NULL field is the same (-1) for every column type
    kind, _, elem_kind = kind.partition("<")
    elem_kind = elem_kind.rstrip(">")
    if target.endswith("[]"):
        elem = target[:-2]
        if kind != "ArrayType":
            return f"{target} from {kind}: only an array loads into an array column in binary"
        if elem in ("json", "jsonb") or elem.endswith("[]") or elem not in SCALAR_SOURCES:
            return f"{target}: the binary encoder cannot produce {target}"
        return unsupported_reason(elem_kind, elem) if elem_kind else None
    if target not in SCALAR_SOURCES:
        return f"{target}: the binary encoder cannot produce {target}"
    if kind in SCALAR_SOURCES[target]:
        return None
    if (kind, target) in _REASONS:
        return _REASONS[(kind, target)]
    if kind in STRING_KINDS:
        return f"{target} from a string: PostgreSQL parses that text itself (CSV)"
    return f"{target} from {kind}: the binary encoder has no exact conversion"


def binary_unsupported(columns: Sequence[TargetColumn], spark_kinds: Sequence[str]) -> tuple[str, str] | None:
    """None when every column can be produced in binary; else (column name, reason) for the first
    that cannot, e.g. ``('id', 'uuid: the binary encoder cannot produce uuid')``.

    ``spark_kinds`` are Spark type class names per column ('LongType', 'DecimalType',
    'ArrayType'...); 'ArrayType<LongType>' also checks the element (plain 'ArrayType' is then
    checked when the first batch arrives, with an error naming the column)."""
    if len(columns) != len(spark_kinds):
        raise ValueError(f"{len(columns)} target columns but {len(spark_kinds)} Spark types")
    for col, kind in zip(columns, spark_kinds, strict=True):
        reason = unsupported_reason(kind, col.base)
        if reason:
            return col.name, reason
    return None


# Wire formats written (arrays pgpq gets wrong) or read (to check pgpq's numeric) by hand


def array_field(offsets: Any, valid: Any, starts: Any, lens: Any, data: Any, oid: int) -> Any:
    """array_send's format for each list row, vectorised: ndim 1, has-null flag, element OID,
    length, lower bound 1, then per element its byte length (-1: NULL) and bytes.

    ``offsets`` (n+1) delimit each row's elements (NULL rows have none), ``valid`` (n) marks
    non-NULL rows, element e is ``data[starts[e]:starts[e] + lens[e]]`` or NULL when ``lens[e]``
    is -1. Returned as a large_binary array: pgpq writes a binary value as its length and bytes,
    which is all a COPY field is, whatever the column's type."""
    import numpy as np
    import pyarrow as pa

    n, nbytes = len(valid), np.maximum(lens, 0)
    rec = np.concatenate([[0], np.cumsum(4 + nbytes)])  # element records' cumulative sizes
    nulls = np.concatenate([[0], np.cumsum(lens < 0)])
    row_len = np.where(valid, 20 + rec[offsets[1:]] - rec[offsets[:-1]], 0)
    out_off = np.concatenate([[0], np.cumsum(row_len)]).astype(np.int64)
    out = np.empty(int(out_off[-1]), np.uint8)
    rows = np.flatnonzero(valid)
    hdr = np.empty((len(rows), 5), ">i4")
    hdr[:, 0], hdr[:, 2], hdr[:, 4] = 1, oid, 1
    hdr[:, 1] = (nulls[offsets[rows + 1]] - nulls[offsets[rows]]) > 0
    hdr[:, 3] = offsets[rows + 1] - offsets[rows]
    out[(out_off[rows][:, None] + np.arange(20)).ravel()] = hdr.view(np.uint8).ravel()
    elem_row = np.repeat(np.arange(n), np.diff(offsets))  # NULL lists have no elements
    rec_at = out_off[elem_row] + 20 + rec[:-1] - rec[offsets[elem_row]]
    out[(rec_at[:, None] + np.arange(4)).ravel()] = lens.astype(">i4").view(np.uint8)
    within = np.arange(int(nbytes.sum())) - np.repeat(np.cumsum(nbytes) - nbytes, nbytes)
    out[np.repeat(rec_at + 4, nbytes) + within] = data[np.repeat(starts, nbytes) + within]
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.large_binary(), n, [validity, pa.py_buffer(out_off), pa.py_buffer(out)])


def numeric_value(payload: bytes) -> Decimal:
    """The value numeric_recv reads from a binary numeric field (reference for checks):
    ndigits, weight, sign, dscale, then base-10000 digits, most significant first."""
    ndigits, weight, sign, dscale = struct.unpack_from(">hhHH", payload)
    digits = struct.unpack_from(f">{ndigits}h", payload, 8)
    if len(payload) != 8 + 2 * ndigits or not all(0 <= d < 10000 for d in digits):
        raise ValueError(f"not a binary numeric: {payload!r}")
    n = sum(d * 10 ** (4 * (len(digits) - 1 - i)) for i, d in enumerate(digits))
    value = Decimal(n).scaleb(4 * (weight - len(digits) + 1), context=_CONTEXT)
    value = value.quantize(Decimal(1).scaleb(-dscale), context=_CONTEXT)  # exact: dscale covers all digits
    return value.copy_negate() if sign == 0x4000 else value
