"""Binary COPY encoder without a server: the type rules, the casts and their errors, the wire
bytes (numeric decoded as numeric_recv would, hand-written arrays parsed back), NUL handling.
The same encodings are loaded into a real PostgreSQL in test_binary_encode_pg.py."""

from __future__ import annotations

import random
import re
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from loader.copy.binary_encode import (
    HEADER,
    TRAILER,
    BinaryEncoder,
    TargetColumn,
    binary_unsupported,
    find_nul,
    numeric_value,
    strip_nul,
)
from loader.copy.binary_types import base_type
from loader.errors import DataError, SchemaMismatchError


def fields(tuples: bytes) -> list[list[bytes | None]]:
    """The COPY binary tuples parsed back: per row, each field's bytes (None for NULL)."""
    rows, pos = [], 0
    while pos < len(tuples):
        (count,) = struct.unpack_from(">h", tuples, pos)
        pos += 2
        row: list[bytes | None] = []
        for _ in range(count):
            (size,) = struct.unpack_from(">i", tuples, pos)
            pos += 4
            row.append(None if size < 0 else tuples[pos:pos + size])
            pos += max(size, 0)
        rows.append(row)
    return rows


def encode(pg_type: str, arr: pa.Array) -> list[bytes | None]:
    tuples = BinaryEncoder([TargetColumn("c", pg_type)]).encode(pa.record_batch([arr], names=["c"]))
    return [row[0] for row in fields(tuples)]


def pg_array(payload: bytes) -> tuple[int, list[bytes | None]]:
    """(element OID, element payloads) of a one-dimensional binary array."""
    ndim, has_null, oid = struct.unpack_from(">iii", payload)
    assert ndim == 1
    (length, lower) = struct.unpack_from(">ii", payload, 12)
    assert lower == 1
    pos, elems = 20, []
    for _ in range(length):
        (size,) = struct.unpack_from(">i", payload, pos)
        pos += 4
        elems.append(None if size < 0 else payload[pos:pos + size])
        pos += max(size, 0)
    assert pos == len(payload) and bool(has_null) == (None in elems)
    return oid, elems


def test_header_and_trailer_are_pgpq_s() -> None:
    from pgpq import ArrowToPostgresBinaryEncoder

    enc = BinaryEncoder([TargetColumn("a", "integer")])
    pgpq_enc = ArrowToPostgresBinaryEncoder(pa.schema([("a", pa.int32())]))
    assert enc.header() == HEADER == pgpq_enc.write_header() and len(HEADER) == 19
    assert enc.trailer() == TRAILER == pgpq_enc.finish() == b"\xff\xff"


@pytest.mark.parametrize(("pg_type", "kind", "reason"), [
    ("uuid", "StringType", "uuid: the binary encoder cannot produce uuid"),
    ("inet", "StringType", "inet: the binary encoder cannot produce inet"),
    ("my_enum", "StringType", "my_enum: the binary encoder cannot produce my_enum"),
    ("public.positive_int", "LongType", "cannot produce"),  # a domain: only its name is known
    ("interval", "StringType", "cannot produce"),
    ("integer", "StringType", "integer from a string: PostgreSQL parses that text itself"),
    ("date", "StringType", "parses that text itself"),
    ("real", "DoubleType", "round silently"),
    ("double precision", "LongType", "2^53"),
    ("numeric(10,2)", "DoubleType", "no exact conversion"),
    ("timestamp without time zone", "TimestampType", "time zone"),
    ("timestamp with time zone", "TimestampNTZType", "time zone"),
    ("timestamp with time zone", "DateType", "no exact conversion"),
    ("text", "StructType", "no exact conversion"),
    ("text", "MapType", "no exact conversion"),
    ("integer", "DecimalType", "no exact conversion"),
    ("integer[]", "LongType", "only an array"),
    ("jsonb[]", "ArrayType", "cannot produce jsonb[]"),
    ("uuid[]", "ArrayType", "cannot produce uuid[]"),
    ("real[]", "ArrayType<DoubleType>", "round silently"),
    ("integer[]", "ArrayType<StringType>", "parses that text itself"),
])
def test_unsupported_pairs_say_why(pg_type: str, kind: str, reason: str) -> None:
    cols = [TargetColumn("ok", "bigint"), TargetColumn("id", pg_type)]
    got = binary_unsupported(cols, ["LongType", kind])
    assert got is not None and got[0] == "id" and reason in got[1], got


@pytest.mark.parametrize(("pg_type", "kind"), [
    ("smallint", "LongType"), ("integer", "ByteType"), ("bigint", "IntegerType"), ("real", "FloatType"),
    ("double precision", "FloatType"), ("double precision", "IntegerType"), ("numeric", "DecimalType"),
    ("numeric(12,2)", "DecimalType"), ("numeric(20,0)", "LongType"), ("boolean", "BooleanType"),
    ("text", "StringType"), ("character varying(20)", "VarcharType"), ("character(3)", "CharType"),
    ("bytea", "BinaryType"), ("date", "DateType"), ("timestamp with time zone", "TimestampType"),
    ("timestamp(3) without time zone", "TimestampNTZType"), ("jsonb", "StringType"), ("jsonb", "StructType"),
    ("json", "MapType"), ("jsonb", "ArrayType"), ("integer[]", "ArrayType"), ("text[]", "ArrayType<StringType>"),
    ("numeric(10,2)[]", "ArrayType<DecimalType>"), ("timestamp with time zone[]", "ArrayType<TimestampType>"),
    ("character varying(5)[]", "ArrayType"), ("uuid", "NullType"), ("integer[]", "NullType"),
])
def test_supported_pairs(pg_type: str, kind: str) -> None:
    assert binary_unsupported([TargetColumn("c", pg_type)], [kind]) is None


def test_everything_typemap_creates_is_supported() -> None:
    from pyspark.sql import types as T

    from loader.plan.typemap import pg_type

    scalars = [T.ByteType(), T.ShortType(), T.IntegerType(), T.LongType(), T.FloatType(), T.DoubleType(),
               T.DecimalType(38, 18), T.StringType(), T.BooleanType(), T.DateType(), T.TimestampType(),
               T.TimestampNTZType(), T.BinaryType()]
    nested = [T.StructType([T.StructField("a", T.LongType())]), T.MapType(T.StringType(), T.LongType()),
              T.ArrayType(T.ArrayType(T.LongType()))]
    for st in scalars + nested + [T.ArrayType(t) for t in scalars + nested[:2]] + [T.NullType()]:
        kind = type(st).__name__
        if kind == "ArrayType":
            kind += f"<{type(st.elementType).__name__}>"
        assert binary_unsupported([TargetColumn("c", pg_type(st))], [kind]) is None, (st, pg_type(st))


def test_base_type_drops_typmods() -> None:
    assert base_type("numeric(12,2)[]") == "numeric[]"
    assert base_type("timestamp(3) with time zone") == "timestamp with time zone"
    assert base_type("character varying(20)") == "character varying"
    assert TargetColumn("a", "character(3)[]").element == TargetColumn("a", "character(3)")
    with pytest.raises(ValueError, match="2 target columns but 1"):
        binary_unsupported([TargetColumn("a", "text"), TargetColumn("b", "text")], ["StringType"])


def _dec(unscaled: int, scale: int) -> Decimal:
    return Decimal(f"{unscaled}e-{scale}")  # exact (Decimal arithmetic would round to 28 digits)


def random_decimals(rnd: random.Random, p: int, s: int, n: int) -> list[Decimal]:
    """Extremes, the smallest step, zero, and ``n`` random decimal(p, s) values rich in zero
    digit groups (multiples of 10^4, 10^8..., fractions like 0.0000xxxx)."""
    out = [_dec(10**p - 1, s), _dec(1 - 10**p, s), _dec(1, s), _dec(0, s)]
    for _ in range(n):
        nd = rnd.randint(1, p)
        u = int("".join(rnd.choice("00001123456789") for _ in range(nd)))
        u *= 10 ** rnd.choice([0, 0, p - nd])
        out.append(_dec(u if rnd.random() < 0.5 else -u, s))
    return out


def test_pgpq_numeric_decodes_to_the_same_value_and_scale_for_every_precision_and_scale() -> None:
    """Every decimal128(p, s), p 1..38, s 0..p: the bytes mean what numeric_recv will read."""
    rnd = random.Random(20240611)
    for p in range(1, 39):
        for s in sorted({0, 1, 2, 3, 4, 5, 8, 9, p // 2, p - 1, p} & set(range(p + 1))):
            values = random_decimals(rnd, p, s, 40)
            got = encode("numeric", pa.array(values, pa.decimal128(p, s)).slice(1))
            for want, payload in zip(values[1:], got, strict=True):
                assert payload is not None
                value = numeric_value(payload)
                assert value == want and value.as_tuple().exponent == -s, (p, s, want, value)


def test_the_numerics_that_broke_older_pgpq() -> None:
    values = [Decimal(v) for v in ("1.00000001", "0.0001", "0.00000001", "10000", "100000000", "1000000000",
                                   "10000.5", "-1.00000001", "-0.01", "0")]
    got = encode("numeric", pa.array(values, pa.decimal128(20, 8)))
    assert [numeric_value(p) for p in got if p] == values
    # 1.00000001: weight 0, digits 1 0000 0001 (old pgpq wrote 1 0001: 1.0001)
    assert got[0] == struct.pack(">hhHHhhh", 3, 0, 0, 8, 1, 0, 1)


@pytest.mark.parametrize(("pg_type", "arrow_type", "good", "bad"), [
    ("integer", pa.int64(), [-2**31, 2**31 - 1], 2**31),
    ("integer", pa.int64(), [0], -2**31 - 1),
    ("smallint", pa.int32(), [-2**15, 2**15 - 1], 2**15),
    ("smallint", pa.int64(), [7], -2**40),
])
def test_narrowing_checks_the_range_and_names_column_and_row(pg_type: str, arrow_type: pa.DataType,
                                                             good: list[int], bad: int) -> None:
    got = encode(pg_type, pa.array(good + [None], arrow_type))
    width = 4 if pg_type == "integer" else 2
    assert got == [v.to_bytes(width, "big", signed=True) for v in good] + [None]
    with pytest.raises(DataError, match=rf"column 'c': value {bad} \(row {len(good) + 1}\) is out of range"):
        encode(pg_type, pa.array(good + [None, bad, 1], arrow_type))


def test_narrowing_inside_arrays_names_the_row() -> None:
    arr = pa.array([[1], None, [], [2, None, 2**31], [5]], pa.list_(pa.int64())).slice(1)
    with pytest.raises(DataError, match=r"column 'c': value 2147483648 \(row 2\)"):
        encode("integer[]", arr)


@pytest.mark.parametrize(("pg_type", "arr"), [
    ("integer", pa.array(["1"])),
    ("text", pa.array([1])),
    ("real", pa.array([1.0], pa.float64())),
    ("jsonb", pa.array([{"a": 1}])),
    ("timestamp with time zone", pa.array([0], pa.timestamp("us"))),
    ("integer[]", pa.array([1])),
    ("numeric", pa.array([1.5])),
])
def test_arrow_types_that_do_not_fit_the_target_name_the_column(pg_type: str, arr: pa.Array) -> None:
    with pytest.raises(SchemaMismatchError, match=f"column 'c': Arrow .* cannot be encoded in binary as {re.escape(pg_type)}"):
        encode(pg_type, arr)


def test_failed_casts_name_the_column() -> None:
    with pytest.raises(DataError, match="column 'c': .*would lose data"):
        encode("timestamp without time zone", pa.array([1], pa.timestamp("ns")))  # finer than PostgreSQL
    assert encode("timestamp without time zone", pa.array([1000], pa.timestamp("ns"))) == [
        struct.pack(">q", 1 - 946_684_800_000_000)]
    negative_scale = pa.array([Decimal("1E+1")], pa.decimal128(5, -1))
    with pytest.raises(SchemaMismatchError, match="cannot be encoded"):
        encode("numeric", negative_scale)  # unproven: refused


def test_column_count_must_match() -> None:
    enc = BinaryEncoder([TargetColumn("a", "integer"), TargetColumn("b", "text")])
    with pytest.raises(SchemaMismatchError, match="batch has 1 columns, the COPY lists 2"):
        enc.encode(pa.record_batch([pa.array([1], pa.int32())], names=["a"]))


def test_encode_returns_each_batch_whole_and_alone() -> None:
    """pgpq's own write_batch keeps up to 1 MiB buffered and returns b'': ours must not."""
    enc = BinaryEncoder([TargetColumn("a", "bigint"), TargetColumn("b", "text")])
    batch = pa.record_batch([pa.array([1, None, 3]), pa.array(["x", "", None])], names=["a", "b"])
    one = enc.encode(batch.slice(0, 1))
    assert fields(one) == [[(1).to_bytes(8, "big"), b"x"]]
    assert one + enc.encode(batch.slice(1)) == enc.encode(batch)
    assert enc.encode(batch.slice(0, 0)) == b""
    big = pa.record_batch([pa.array(range(100_000)), pa.array(["x" * 10] * 100_000)], names=["a", "b"])
    whole = enc.encode(big)  # over pgpq's 1 MiB: write_batch returns it, finish() only the trailer
    assert len(whole) == 100_000 * (2 + 4 + 8 + 4 + 10)
    assert whole == enc.encode(big.slice(0, 3)) + enc.encode(big.slice(3))


def test_casts() -> None:
    assert encode("bigint", pa.array([-1], pa.int8())) == [(-1).to_bytes(8, "big", signed=True)]
    assert encode("double precision", pa.array([0.1], pa.float32())) == [struct.pack(">d", float(pa.scalar(
        0.1, pa.float32()).as_py()))]
    assert encode("double precision", pa.array([2**31 - 1], pa.int32())) == [struct.pack(">d", 2**31 - 1)]
    assert [numeric_value(p) for p in encode("numeric", pa.array([-2**63, 2**63 - 1]))] == [-2**63, 2**63 - 1]
    ms = pa.array([-1, 1], pa.timestamp("ms", "UTC"))  # -1 ms and +1 ms around 1970-01-01
    assert encode("timestamp with time zone", ms) == [struct.pack(">q", v * 1000 - 946_684_800_000_000)
                                                      for v in (-1, 1)]
    assert encode("jsonb", pa.array(['{"a":1}'], pa.large_string())) == [b'\x01{"a":1}']
    assert encode("json", pa.array(['{"a":1}'])) == [b'{"a":1}']
    assert encode("uuid", pa.nulls(2)) == [None, None]


def test_hand_written_arrays_carry_the_target_element_oid() -> None:
    strings = pa.array([["a", None, "é😀"], None, [], [""], [None]], pa.list_(pa.string()))
    for pg_type, oid in [("character varying(5)[]", 1043), ("character(2)[]", 1042)]:
        got = encode(pg_type, strings)
        assert got[1] is None
        assert [pg_array(p) for p in got if p] == [(oid, [b"a", None, "é😀".encode()]), (oid, []), (oid, [b""]),
                                                   (oid, [None])]
    ts = pa.array([[0, None], [-1]], pa.list_(pa.timestamp("us", "Europe/Paris")))
    assert [pg_array(p) for p in encode("timestamp with time zone[]", ts) if p] == [
        (1184, [struct.pack(">q", -946_684_800_000_000), None]), (1184, [struct.pack(">q", -946_684_800_000_001)])]


def test_hand_written_arrays_ignore_slicing_and_values_behind_null_lists() -> None:
    values = pa.array(["h0", "h1", "a", "b", "c", "d"], pa.large_string())
    arr = pa.ListArray.from_arrays(pa.array([0, 2, 4, 5, 6], pa.int32()), values,
                                   mask=pa.array([False, True, False, False]))  # row 1 hides a, b
    assert [None if p is None else pg_array(p)[1] for p in encode("character varying[]", arr.slice(1))] == [
        None, [b"c"], [b"d"]]
    assert [None if p is None else pg_array(p)[1] for p in encode("text[]", arr)] == [
        [b"h0", b"h1"], None, [b"c"], [b"d"]]


def test_find_nul() -> None:
    batch = pa.record_batch([pa.array([1, 2, 3]), pa.array(["a", None, "b\x00"]),
                             pa.array([["x"], ["\x00"], None], pa.list_(pa.large_string()))],
                            names=["n", "s", "l"])
    assert find_nul(batch) == ("s", 2)
    assert find_nul(batch.slice(1, 1)) == ("l", 0)
    assert find_nul(batch.slice(0, 1)) is None
    assert find_nul(pa.record_batch([pa.array(["ok", "\x00"], pa.string_view())], names=["v"])) == ("v", 1)
    assert find_nul(pa.record_batch([pa.array([b"\x00"])], names=["bytes_may_hold_nul"])) is None
    assert find_nul(pa.record_batch([pa.array([], pa.string())], names=["e"])) is None
    hidden = pa.Array.from_buffers(pa.string(), 2, [pa.py_buffer(b"\x02"), pa.py_buffer(
        struct.pack("<3i", 0, 1, 2)), pa.py_buffer(b"\x00k")])  # the NUL sits behind a NULL
    assert find_nul(pa.record_batch([hidden], names=["h"])) is None


def test_strip_nul() -> None:
    batch = pa.record_batch([pa.array(["a\x00b", None, ""]), pa.array([["\x00x", None], None, []]),
                             pa.array([1, 2, 3])], names=["s", "l", "n"])
    clean = strip_nul(batch)
    assert clean.schema == batch.schema
    assert clean.to_pydict() == {"s": ["ab", None, ""], "l": [["x", None], None, []], "n": [1, 2, 3]}
    assert find_nul(clean) is None
    assert strip_nul(clean).to_pydict() == clean.to_pydict()
    views = pa.record_batch([pa.array(["a\x00", None], pa.string_view()),
                             pa.array([["\x00b"], None], pa.list_(pa.string_view()))], names=["v", "l"])
    assert strip_nul(views).to_pydict() == {"v": ["a", None], "l": [["b"], None]}


def test_module_imports_without_pyarrow_or_pgpq() -> None:
    code = ("import sys; sys.modules['pyarrow'] = sys.modules['pgpq'] = sys.modules['numpy'] = None; "
            "from loader.copy.binary_encode import binary_unsupported, TargetColumn; "
            "print(binary_unsupported([TargetColumn('id', 'uuid')], ['StringType']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "('id', 'uuid: the binary encoder cannot produce uuid')"
