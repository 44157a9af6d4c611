"""Arrow record batches (as Spark's mapInArrow hands them over) -> PostgreSQL binary COPY streams.

Pure: no I/O; pyarrow, numpy and pgpq are imported when first needed. A caller
cuts parts of bounded size, each a complete stream that loads on its own with
``COPY t (cols) FROM STDIN (FORMAT binary)``::

    enc = BinaryEncoder(columns)          # after binary_unsupported(columns, kinds) is None
    part = enc.header() + enc.encode(b1) + enc.encode(b2) + enc.trailer()

Batch columns are matched to ``columns`` by position. Why each column is cast
first: binary COPY casts nothing, every field must already be in the target
type's own wire format (``int4recv`` reads exactly 4 bytes; an 8-byte bigint is
"incorrect binary data format"), so an int64 source for an ``integer`` column
is narrowed here, after a range check that names the column and row (never a
silent wrap), float32 for ``double precision`` widened, timestamps brought to
microseconds, and so on (the pairs and why: :mod:`loader.copy.binary_types`).

What pgpq (0.12.0) writes, all proven against PostgreSQL by the tests: integers,
floats (NaN, ±Infinity, -0.0 bit for bit), numeric from decimal128 (base-10000
digits aligned on the decimal point: pgpq <= 0.10 dropped leading zero groups of
the fraction and stored 1.00000001 as 1.0001, so the encoder checks pgpq's
numeric once per process and refuses to run on a pgpq that gets it wrong),
boolean, text (validated by PostgreSQL, see below), bytea, date and timestamps
(days/microseconds since 2000-01-01), jsonb (version byte 1 + text) and arrays.
What it gets wrong, so written by hand (binary_types.array_field): the element
OID of arrays of varchar, char(n) and timestamptz (pgpq writes text's 25 and
timestamp's 1114, which array_recv refuses: "wrong element type"). Also pgpq's
own write_batch buffers up to 1 MiB and returns b"" below that; encode() returns
each batch's tuples whole.

Text in binary is still validated: textrecv/jsonb_recv run pg_client_to_server,
so invalid UTF-8 fails the COPY ('invalid byte sequence for encoding "UTF8"').
That also means the bytes are read in the session's client_encoding: load with
``client_encoding = UTF8`` or non-ASCII text is silently converted (mojibake).
A NUL byte is refused in text and jsonb as in CSV: see find_nul / strip_nul.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ..errors import DataError, SchemaMismatchError
from .binary_types import (
    HAND_ARRAY_OIDS,
    TEXT_TARGETS,
    TargetColumn,
    array_field,
    binary_unsupported,
    numeric_value,
)

__all__ = ["HEADER", "TRAILER", "BinaryEncoder", "TargetColumn", "binary_unsupported", "find_nul",
           "numeric_value", "strip_nul"]

#: signature, flags (no OIDs), header extension length
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
#: a field count of -1 ends the stream
TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 (PostgreSQL's epoch) in Unix microseconds
_INT_BITS = {"smallint": 16, "integer": 32, "bigint": 64}
_pgpq_numeric_checked = False


class BinaryEncoder:
    """Encodes batches for ``columns`` (the COPY column list, in batch column order)."""

    def __init__(self, columns: Sequence[TargetColumn]):
        self.columns = tuple(columns)
        self._builders: dict[tuple[Any, ...], Any] = {}  # pgpq's encoder builders per prepared schema
        _check_pgpq_numeric()

    def header(self) -> bytes:
        return HEADER

    def trailer(self) -> bytes:
        return TRAILER

    def encode(self, batch: Any) -> bytes:
        """The tuples of ``batch``, each column cast to its target's wire type first."""
        import pyarrow as pa

        if batch.num_columns != len(self.columns):
            raise SchemaMismatchError(f"batch has {batch.num_columns} columns, the COPY lists "
                                      f"{len(self.columns)}: {[c.name for c in self.columns]}")
        prepared = []
        for i, col in enumerate(self.columns):
            try:
                prepared.append(_prepare(col, batch.column(i)))
            except pa.ArrowInvalid as exc:  # e.g. a timestamp finer than the microsecond
                raise DataError(f"column {col.name!r}: {exc}", column=col.name) from exc
        arrays = [a for a, _ in prepared]
        ready = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        key = tuple((a.type, jsonb) for a, jsonb in prepared)
        if key not in self._builders:
            self._builders[key] = _pgpq_builders(ready.schema, [jsonb for _, jsonb in prepared])
        return _pgpq_tuples(ready, self._builders[key])


def _pgpq_builders(schema: Any, jsonb: list[bool]) -> dict[str, Any]:
    import pgpq._pgpq as pg
    from pgpq import ArrowToPostgresBinaryEncoder as Enc

    builders = {}
    for field, as_jsonb in zip(schema, jsonb, strict=True):
        if as_jsonb:  # jsonb's binary format is a version byte (1) then the JSON text
            cls: Any = {"string": pg.StringEncoderBuilder, "large_string": pg.LargeStringEncoderBuilder,
                   "string_view": pg.StringViewEncoderBuilder}[str(field.type)]
            builders[field.name] = cls.new_with_output(field, pg.Jsonb())
        else:
            builders[field.name] = Enc.infer_encoder(field)
    return builders


def _pgpq_tuples(batch: Any, builders: dict[str, Any] | None = None) -> bytes:
    """pgpq's tuples for ``batch`` alone. One pgpq encoder per call because its write_batch keeps
    up to 1 MiB buffered (returning b"") and only finish() hands the rest over, with the trailer."""
    from pgpq import ArrowToPostgresBinaryEncoder as Enc

    enc = Enc.new_with_encoders(batch.schema, builders) if builders else Enc(batch.schema)
    enc.write_header()  # our header() is the same 19 bytes
    body, tail = enc.write_batch(batch), enc.finish()
    if tail[-2:] != TRAILER:
        raise RuntimeError("pgpq's finish() did not end with the COPY trailer")
    return bytes(body) if len(tail) == 2 else bytes(body) + bytes(tail[:-2])  # no copy of big batches


def _mismatch(col: TargetColumn, arr: Any) -> SchemaMismatchError:
    return SchemaMismatchError(f"column {col.name!r}: Arrow {arr.type} cannot be encoded in binary as "
                               f"{col.pg_type}", next_step="load this table with CSV", column=col.name)


def _prepare(col: TargetColumn, arr: Any) -> tuple[Any, bool]:
    """(array in the form pgpq writes as the target's wire type, whether to write it as jsonb)."""
    import pyarrow as pa

    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.binary()), False  # NULL is -1 whatever the column type
    if col.is_array:
        return _prepare_list(col, arr), False
    if col.base in ("json", "jsonb"):
        if not _is_string(arr.type):
            raise _mismatch(col, arr)
        return arr, col.base == "jsonb"  # json's binary format is the text itself
    return _scalar(col, arr, lambda i: i), False


def _is_string(ty: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(ty) or pa.types.is_large_string(ty) or pa.types.is_string_view(ty))


def _scalar(col: TargetColumn, arr: Any, row_of: Any) -> Any:
    """``arr`` cast to the Arrow type pgpq encodes as ``col``'s type (``row_of`` maps an index to
    the batch row, for errors)."""
    import pyarrow as pa

    t, ty, target = pa.types, arr.type, col.base
    if target in _INT_BITS and t.is_signed_integer(ty):
        return _narrow(col, arr, _INT_BITS[target], row_of)
    if target == "real" and t.is_float32(ty):
        return arr
    if target == "double precision" and (t.is_floating(ty) or (t.is_signed_integer(ty) and ty.bit_width <= 32)):
        return arr.cast(pa.float64())  # exact: float4 and int32 values are all doubles
    if target == "numeric" and t.is_decimal(ty) and not t.is_decimal256(ty) and ty.scale >= 0:
        return arr  # the column's typmod is applied by numeric_recv (rounds or errs as in text)
    if target == "numeric" and t.is_signed_integer(ty):
        return arr.cast(pa.decimal128(19, 0))  # every int64 fits 19 digits
    if (target in TEXT_TARGETS and _is_string(ty)) or (target == "boolean" and t.is_boolean(ty)):
        return arr  # varchar(n)/char(n): varcharrecv/bpcharrecv check the length or pad, as in text
    if target in ("bytea", "geometry", "geography") and (t.is_binary(ty) or t.is_large_binary(ty) or t.is_fixed_size_binary(ty)):
        return arr
    if target == "date" and t.is_date32(ty):
        return arr
    tz_wanted = {"timestamp with time zone": True, "timestamp without time zone": False}.get(target)
    if tz_wanted is not None and t.is_timestamp(ty) and (ty.tz is not None) == tz_wanted:
        return arr.cast(pa.timestamp("us", ty.tz))  # PostgreSQL counts microseconds; safe cast
    raise _mismatch(col, arr)


def _narrow(col: TargetColumn, arr: Any, bits: int, row_of: Any) -> Any:
    """Integers as ``bits``-bit ints; a value that does not fit is an error naming column and row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    to = pa.int16() if bits == 16 else pa.int32() if bits == 32 else pa.int64()
    if arr.type.bit_width > bits:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        mm = pc.min_max(arr)
        if mm["min"].is_valid and (mm["min"].as_py() < lo or mm["max"].as_py() > hi):
            idx = pc.index(pc.or_(pc.less(arr, lo), pc.greater(arr, hi)), True).as_py()
            raise DataError(f"column {col.name!r}: value {arr[idx].as_py()} (row {row_of(idx)}) is out of "
                            f"range for {col.pg_type}", next_step="cast the column or widen the table column",
                            column=col.name)
    return arr.cast(to)


def _compact(arr: Any) -> tuple[Any, Any, Any]:
    """A list array as (int64 offsets, exactly its elements, validity): slicing and values
    hidden behind NULL lists dropped, NULL lists empty."""
    import numpy as np
    import pyarrow.compute as pc

    lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(arr) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, arr.flatten(), arr.is_valid().to_numpy(zero_copy_only=False)


def _prepare_list(col: TargetColumn, arr: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        raise _mismatch(col, arr)
    offsets, values, valid = _compact(arr)
    elem = col.element
    values = _scalar(elem, values, lambda i: int(np.searchsorted(offsets, i, side="right") - 1))
    oid = HAND_ARRAY_OIDS.get(elem.base)
    if oid is None:  # pgpq writes these arrays (1-D, lower bound 1) with the right element OID
        return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~valid))
    if _is_string(values.type):  # varchar/char(n) elements: the UTF-8 bytes
        vals = values.cast(pa.large_string())
        ends = np.frombuffer(vals.buffers()[1], np.int64, len(vals) + 1, 8 * vals.offset)
        starts, lens = ends[:-1], np.diff(ends)
        data = np.frombuffer(vals.buffers()[2] or b"", np.uint8)
    else:  # timestamptz elements: int64 microseconds since 2000-01-01, big-endian
        us = values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False) - _PG_EPOCH_US
        data = us.astype(">i8").view(np.uint8)
        starts, lens = np.arange(len(us), dtype=np.int64) * 8, np.full(len(us), 8, np.int64)
    lens = np.where(values.is_null().to_numpy(zero_copy_only=False), -1, lens)
    return array_field(offsets, valid, starts, lens, data, oid)


def _check_pgpq_numeric() -> None:
    """Refuse a pgpq whose numeric is wrong (<= 0.10 stored 1.00000001 as 1.0001): checked once
    per process on the values that broke it, decoded as numeric_recv would."""
    global _pgpq_numeric_checked
    if _pgpq_numeric_checked:
        return
    import struct

    import pyarrow as pa

    cases = [Decimal(v) for v in ("1.00000001", "0.00000001", "-10000.5", "1000000000", "0", "-0.0001")]
    out, pos = _pgpq_tuples(pa.record_batch([pa.array(cases, pa.decimal128(38, 8))], names=["x"])), 0
    for want in cases:
        (size,) = struct.unpack_from(">i", out, pos + 2)
        got = numeric_value(out[pos + 6:pos + 6 + size])
        if got != want or got.as_tuple().exponent != -8:
            raise RuntimeError(f"pgpq encodes numeric {want} as {got}: upgrade pgpq to 0.12.0 or later")
        pos += 6 + size
    _pgpq_numeric_checked = True


def _nul_index(arr: Any) -> int | None:
    """Index of the first value (list: row) holding a NUL byte, or None; the values buffer is
    checked as a whole first (numpy, ~30 GB/s) so that clean data costs no per-row scan."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        offsets, values, _ = _compact(arr)
        hit = _nul_index(values)
        return None if hit is None else int(np.searchsorted(offsets, hit, side="right") - 1)
    if not _is_string(arr.type) or len(arr) == 0:
        return None
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    width = 8 if pa.types.is_large_string(arr.type) else 4
    ends = np.frombuffer(arr.buffers()[1], f"<i{width}", len(arr) + 1, width * arr.offset)
    start, stop = int(ends[0]), int(ends[-1])
    if stop <= start or np.frombuffer(arr.buffers()[2], np.uint8, stop - start, start).min() != 0:
        return None
    found = pc.index(pc.greater_equal(pc.find_substring(arr, "\x00"), 0), True).as_py()
    return None if found < 0 else found


def find_nul(batch: Any) -> tuple[str, int] | None:
    """(column name, row index) of the first NUL byte in a string (or array of string) column:
    PostgreSQL refuses NUL in text, varchar and jsonb, in binary as in CSV; None if there is none."""
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        row = _nul_index(arr)
        if row is not None:
            return name, row
    return None


def strip_nul(batch: Any) -> Any:
    """``batch`` with NUL bytes removed from its string values (opt-in: this changes the data;
    a string_view column that had some comes back as large_string)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def strip(strings: Any) -> Any:
        if pa.types.is_string_view(strings.type):  # replace_substring has no string_view kernel
            strings = strings.cast(pa.large_string())
        return pc.replace_substring(strings, "\x00", "")

    columns = []
    for arr in batch.columns:
        if _nul_index(arr) is not None:
            if _is_string(arr.type):
                arr = strip(arr)
            else:
                offsets, values, valid = _compact(arr)
                cls, width = ((pa.ListArray, pa.int32()) if pa.types.is_list(arr.type)
                              else (pa.LargeListArray, pa.int64()))
                arr = cls.from_arrays(pa.array(offsets, width), strip(values), mask=pa.array(~valid))
        columns.append(arr)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
