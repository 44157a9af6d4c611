"""Binary COPY encoder against a real PostgreSQL: encode -> COPY ... (FORMAT binary) -> SELECT back,
compared exactly with the source (floats bit for bit through float4send/float8send, numerics as
text, timestamps as microseconds since the Unix epoch, dates as days)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
import random
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg2
import pyarrow as pa
import pytest

from loader.connection import ConnectionSpec
from loader.copy.binary_encode import BinaryEncoder, TargetColumn, find_nul, strip_nul
from tests.unit.copy.test_binary_encode_unit import random_decimals

_names = itertools.count()
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def conn(pg_module_spec: ConnectionSpec) -> Iterator[Any]:
    c = psycopg2.connect(**pg_module_spec.psycopg2_kwargs())
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'")
    yield c
    c.close()


def load(conn: Any, columns: dict[str, str], arrays: list[pa.Array], select: str | None = None,
         parts: int = 1) -> list[tuple[Any, ...]]:
    """COPY the arrays into a new table of ``columns`` in ``parts`` complete streams, and read back."""
    table = f"t{next(_names)}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {table} (i serial, "
                    + ", ".join(f"{name} {typ}" for name, typ in columns.items()) + ")")
        batch = pa.record_batch(arrays, names=list(columns))
        enc = BinaryEncoder([TargetColumn(name, typ) for name, typ in columns.items()])
        step = -(-batch.num_rows // parts) or 1
        for start in range(0, max(batch.num_rows, 1), step):
            stream = enc.header() + enc.encode(batch.slice(start, step)) + enc.trailer()
            cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)", io.BytesIO(stream))
        cur.execute(f"SELECT {select or ', '.join(columns)} FROM {table} ORDER BY i")
        return cur.fetchall()


def column(conn: Any, pg_type: str, arr: pa.Array, select: str = "x") -> list[Any]:
    return [row[0] for row in load(conn, {"x": pg_type}, [arr], select)]


def copy_error(conn: Any, pg_type: str, arr: pa.Array) -> str:
    with pytest.raises(psycopg2.Error) as err:
        column(conn, pg_type, arr)
    return str(err.value)


# integers: every Arrow width into every integer column it fits
@pytest.mark.parametrize("pg_type", ["smallint", "integer", "bigint"])
def test_integers(conn: Any, pg_type: str) -> None:
    bits = {"smallint": 16, "integer": 32, "bigint": 64}[pg_type]
    for arrow_type in (pa.int8(), pa.int16(), pa.int32(), pa.int64()):
        lim = min(bits, arrow_type.bit_width)
        values = [-(2 ** (lim - 1)), -1, 0, None, 1, 2 ** (lim - 1) - 1]
        assert column(conn, pg_type, pa.array(values, arrow_type)) == values


def _bits(value: float, fmt: str) -> bytes:
    return struct.pack(fmt, value)


def test_real_and_double_bit_for_bit(conn: Any) -> None:
    specials = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308, 0.1, None]
    got = column(conn, "double precision", pa.array(specials, pa.float64()), "float8send(x)")
    assert [g and bytes(g) for g in got] == [v is not None and _bits(v, ">d") or None for v in specials]
    f32 = pa.array([math.nan, math.inf, -math.inf, -0.0, 1e-45, 3.4028234663852886e38, 0.1, None], pa.float32())
    want4 = [None if v is None else _bits(v, ">f") for v in f32.to_pylist()]
    assert [g and bytes(g) for g in column(conn, "real", f32, "float4send(x)")] == want4
    # float -> double precision: the exact float4 value (0.1f is 0.100000001490116...)
    want8 = [None if v is None else _bits(v, ">d") for v in f32.to_pylist()]
    assert [g and bytes(g) for g in column(conn, "double precision", f32, "float8send(x)")] == want8
    for ints in (pa.array([-128, 127], pa.int8()), pa.array([-2**15, None], pa.int16()),
                 pa.array([-2**31, 2**31 - 1], pa.int32())):
        assert column(conn, "double precision", ints) == ints.to_pylist()


def _numeric_texts(values: list[Decimal | None], scale: int) -> list[str | None]:
    return [None if v is None else format(v, "f") if scale else format(v, "f").split(".")[0]
            for v in values]


DANGER = ["1.00000001", "0.0001", "0.00000001", "10000", "100000000", "1000000000", "10000.5", "-10000.5",
          "-1.00000001", "-0.00000001", "-100000000", "0", "-0.01", "99999999999.99999999", "12345678.9"]


def test_numeric_danger_zone(conn: Any) -> None:
    values = [Decimal(v) for v in DANGER] + [None]
    got = column(conn, "numeric", pa.array(values, pa.decimal128(19, 8)), "x::text")
    assert got == [None if v is None else format(v.quantize(Decimal("1e-8")), "f") for v in values]
    extremes = [Decimal("99999999999999999999.999999999999999999"), Decimal("-99999999999999999999.999999999999999999"),
                Decimal("0.000000000000000001"), Decimal("-0.000000000000000001")]
    assert column(conn, "numeric", pa.array(extremes, pa.decimal128(38, 18)), "x::text") == [
        format(v, "f") for v in extremes]


def test_numeric_every_scale_0_to_18_and_fuzz_in_one_multi_column_load(conn: Any) -> None:
    rnd = random.Random(5)
    types = [(38, s) for s in range(19)] + [(38, 37), (18, 9), (12, 2), (19, 4), (5, 5), (28, 13), (1, 0)]
    cols = [random_decimals(rnd, p, s, 60) for p, s in types]
    n = min(len(c) for c in cols)
    arrays = [pa.array(c[:n] + [None], pa.decimal128(p, s)) for c, (p, s) in zip(cols, types, strict=True)]
    names = {f"n{i}": "numeric" for i in range(len(types))}
    rows = load(conn, names, arrays, ", ".join(f"{k}::text" for k in names), parts=3)
    for i, (p, s) in enumerate(types):
        assert [r[i] for r in rows] == _numeric_texts(cols[i][:n] + [None], s), (p, s)


def test_numeric_typmod_applies_in_binary_as_in_text(conn: Any) -> None:
    """numeric_recv applies the column's typmod: same rounding (half away from zero) as numeric_in."""
    widened = [Decimal("99999999.99"), Decimal("-0.01"), Decimal("0.00")]
    assert column(conn, "numeric(12,2)", pa.array(widened, pa.decimal128(10, 2)), "x::text") == [
        "99999999.99", "-0.01", "0.00"]
    values = ["1.0050", "1.0049", "-1.0050", "2.5550", "9999999999.9949"]
    got = column(conn, "numeric(12,2)", pa.array([Decimal(v) for v in values], pa.decimal128(14, 4)), "x::text")
    with conn.cursor() as cur:
        cur.execute("SELECT v::numeric(12,2)::text FROM unnest(%s::text[]) AS v", (values,))
        assert got == [r[0] for r in cur.fetchall()] == ["1.01", "1.00", "-1.01", "2.56", "9999999999.99"]
    for too_big in ("123456789012.5", "9999999999.995"):  # the second overflows by rounding
        assert "numeric field overflow" in copy_error(
            conn, "numeric(12,2)", pa.array([Decimal(too_big)], pa.decimal128(16, 3)))


def test_integers_into_numeric(conn: Any) -> None:
    values = [-2**63, -1, 0, None, 2**63 - 1]
    assert column(conn, "numeric(20,0)", pa.array(values, pa.int64())) == values


def test_boolean_bytea_text(conn: Any) -> None:
    assert column(conn, "boolean", pa.array([True, False, None])) == [True, False, None]
    blobs = [b"", None, b"\x00\xff\x01", bytes(range(256))]
    assert [b if b is None else bytes(b) for b in column(conn, "bytea", pa.array(blobs))] == blobs
    texts = ["", None, "plain", "é€😀 4-byte 𝄞", "quote \" back\\slash, comma\ttab\nnewline", "\\."]
    for arrow_type in (pa.string(), pa.large_string(), pa.string_view()):
        assert column(conn, "text", pa.array(texts, arrow_type)) == texts
    assert column(conn, "character varying(12)", pa.array(texts[:4])) == texts[:4]
    assert column(conn, "character(3)", pa.array(["ab", "", None, "é😀"])) == ["ab ", "   ", None, "é😀 "]
    assert column(conn, "bpchar", pa.array(["ab ", ""])) == ["ab ", ""]
    assert column(conn, "character varying", pa.array(texts)) == texts
    assert "value too long for type character varying(3)" in copy_error(conn, "character varying(3)",
                                                                         pa.array(["abcd"]))


def test_dates(conn: Any) -> None:
    dates = [dt.date(1, 1, 1), dt.date(1969, 12, 31), dt.date(1970, 1, 1), dt.date(1999, 12, 31),
             dt.date(2000, 1, 1), dt.date(2000, 2, 29), None, dt.date(9999, 12, 31)]
    arr = pa.array(dates, pa.date32())
    assert column(conn, "date", arr) == dates
    assert column(conn, "date", arr, "x - date '1970-01-01'") == arr.cast(pa.int32()).to_pylist()


MICROS = [-62135596800000000, -946684800000001, -1, 0, 1, 946684799999999, 946684800000000,
          253402300799999999, None]  # 0001-01-01, before 1970 and 2000, ..., the last µs of 9999


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
def test_timestamptz(conn: Any, tz: str) -> None:
    arr = pa.array(MICROS, pa.timestamp("us", tz))
    micros = "(extract(epoch FROM x) * 1000000)::bigint"
    assert column(conn, "timestamp with time zone", arr, micros) == MICROS
    got = column(conn, "timestamp with time zone", arr)
    assert got[0] == dt.datetime(1, 1, 1, tzinfo=UTC) and got[-2] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                                                 tzinfo=UTC)


def test_timestamp_without_time_zone(conn: Any) -> None:
    arr = pa.array(MICROS, pa.timestamp("us"))
    assert column(conn, "timestamp without time zone", arr, "(extract(epoch FROM x) * 1000000)::bigint") == MICROS
    assert column(conn, "timestamp without time zone", arr) == arr.to_pylist()


def test_timestamp_typmod_rounds_as_text_does(conn: Any) -> None:
    arr = pa.array([dt.datetime(2020, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
                    dt.datetime(2020, 1, 1, 0, 0, 0, 999500, tzinfo=UTC)], pa.timestamp("us", "UTC"))
    assert column(conn, "timestamp(3) with time zone", arr, "x::text") == [
        "2020-01-01 00:00:00.123+00", "2020-01-01 00:00:01+00"]


def test_json_and_jsonb(conn: Any) -> None:
    docs = ['{"b": 1, "a": [1, 2.50, "é😀"]}', "[]", '"s"', "null", None, '{"n": 12345678901234567890.5}']
    with conn.cursor() as cur:  # what the text path stores
        cur.execute("SELECT v::jsonb::text FROM unnest(%s::text[]) AS v", (docs,))
        want = [r[0] for r in cur.fetchall()]
    for arrow_type in (pa.string(), pa.large_string()):
        assert column(conn, "jsonb", pa.array(docs, arrow_type), "x::text") == want
        assert column(conn, "json", pa.array(docs, arrow_type), "x::text") == docs  # json keeps the text
    assert "invalid input syntax for type json" in copy_error(conn, "jsonb", pa.array(["{nope"]))


ARRAYS = [
    ("integer[]", pa.list_(pa.int32()), [[1, None, -2**31], [], None, [None], [2**31 - 1]]),
    ("integer[]", pa.list_(pa.int64()), [[1, None, -2**31], [], None, [2**31 - 1]]),
    ("bigint[]", pa.list_(pa.int64()), [[2**63 - 1, None, -2**63], [], None]),
    ("smallint[]", pa.list_(pa.int8()), [[-128, 127, None], []]),
    ("double precision[]", pa.list_(pa.float64()), [[1.5, None, math.inf, -0.0], [], None]),
    ("real[]", pa.list_(pa.float32()), [[1.5, None, -math.inf], []]),
    ("boolean[]", pa.list_(pa.bool_()), [[True, None, False], [], None]),
    ("text[]", pa.list_(pa.string()), [["a", None, "", "é😀", 'q"\\,{}'], [], None, ["NULL"]]),
    ("text[]", pa.large_list(pa.large_string()), [["a", None], [], None]),
    ("character varying(5)[]", pa.list_(pa.string()), [["a", None, "", "é😀"], [], None, ["NULL"]]),
    ("character(2)[]", pa.list_(pa.string()), [["a", None, "", "é😀"], [], None]),
    ("bpchar[]", pa.list_(pa.string_view()), [["ab", None], [], None]),
    ("numeric[]", pa.list_(pa.decimal128(20, 8)), [[Decimal(v) for v in DANGER] + [None], [], None]),
    ("date[]", pa.list_(pa.date32()), [[dt.date(1, 1, 1), None, dt.date(9999, 12, 31)], [], None]),
    ("timestamp without time zone[]", pa.list_(pa.timestamp("us")),
     [[dt.datetime(1, 1, 1), None, dt.datetime(9999, 12, 31, 23, 59, 59, 999999)], [], None]),
    ("timestamp with time zone[]", pa.list_(pa.timestamp("us", "Europe/Paris")),
     [[dt.datetime(1, 1, 1, tzinfo=UTC), None, dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
       dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)], [], None, [None]]),
    ("bytea[]", pa.list_(pa.binary()), [[b"\x00", None, b""], [], None]),
]


@pytest.mark.parametrize(("pg_type", "arrow_type", "values"), ARRAYS, ids=[f"{a[0]}<-{a[1]}" for a in ARRAYS])
def test_arrays(conn: Any, pg_type: str, arrow_type: pa.DataType, values: list[Any]) -> None:
    arr = pa.array(values, arrow_type)
    got = column(conn, pg_type, arr)
    want = arr.to_pylist() if "tz=" not in str(arrow_type) else arr.cast(pa.list_(pa.timestamp("us", "UTC"))).to_pylist()
    if pg_type.startswith("character(2)"):
        want = [v if v is None else [e if e is None else e.ljust(2) for e in v] for v in want]
    if pg_type == "bytea[]":
        got = [v if v is None else [e if e is None else bytes(e) for e in v] for v in got]
    assert [v if v is None else [e for e in v] for v in got] == want
    assert [math.copysign(1, e) for e in (got[0] or []) if isinstance(e, float) and e == 0] == [
        math.copysign(1, e) for e in want[0] if isinstance(e, float) and e == 0]  # -0.0 kept
    assert column(conn, pg_type, arr.slice(1), "x::text") == column(conn, pg_type, arr, "x::text")[1:]


def test_array_element_typmods_apply(conn: Any) -> None:
    values = pa.array([[Decimal("1.005"), None, Decimal("-2.0049")], []], pa.list_(pa.decimal128(10, 4)))
    assert column(conn, "numeric(8,2)[]", values, "x::text") == ["{1.01,NULL,-2.00}", "{}"]
    assert "value too long for type character varying(2)" in copy_error(
        conn, "character varying(2)[]", pa.array([["abc"]]))


def test_many_columns_sliced_batches_and_parts(conn: Any) -> None:
    """Several complete streams (header + tuples + trailer) each load on their own, in order."""
    n = 1000
    arrays = [pa.array(range(n), pa.int64()), pa.array([f"row {i} é" if i % 7 else None for i in range(n)]),
              pa.array([Decimal(i).scaleb(-2) for i in range(n)], pa.decimal128(12, 2)),
              pa.array([i * 1_000_003 for i in range(n)], pa.timestamp("us", "UTC")),
              pa.array([i % 3 == 0 for i in range(n)]), pa.array([[i, None] if i % 2 else [] for i in range(n)]),
              pa.nulls(n)]
    cols = {"a": "integer", "b": "text", "c": "numeric(12,2)", "d": "timestamp with time zone", "e": "boolean",
            "f": "bigint[]", "g": "uuid"}
    rows = load(conn, cols, arrays, "a, b, c, (extract(epoch FROM d) * 1000000)::bigint, e, f, g", parts=7)
    assert rows == list(zip(*[arr.to_pylist() if k != "d" else arr.cast(pa.int64()).to_pylist()
                              for k, arr in zip(cols, arrays, strict=True)], strict=True))


def test_nul_bytes_are_refused_found_and_stripped(conn: Any) -> None:
    arr = pa.array(["ok", "a\x00b"])
    assert "invalid byte sequence" in copy_error(conn, "text", arr)  # what find_nul prevents
    assert "invalid byte sequence" in copy_error(conn, "jsonb", pa.array(['"a\x00b"']))
    batch = pa.record_batch([arr], names=["x"])
    assert find_nul(batch) == ("x", 1)
    assert column(conn, "text", strip_nul(batch).column(0)) == ["ok", "ab"]


def _raw_strings(*raw: bytes) -> pa.Array:
    """A string array holding bytes Arrow did not validate (Spark's UTF8String does not either)."""
    offsets = [0]
    for r in raw:
        offsets.append(offsets[-1] + len(r))
    return pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(struct.pack(f"<{len(offsets)}i",
                                 *offsets)), pa.py_buffer(b"".join(raw))])


def test_invalid_utf8_is_refused_by_postgresql(conn: Any) -> None:
    for pg_type, raw in [("text", b"ab\xffc"), ("character varying(9)", b"\xc3("), ("jsonb", b'"\xed\xa0\x80"'),
                         ("json", b'"\xf8"')]:
        assert 'invalid byte sequence for encoding "UTF8"' in copy_error(conn, pg_type, _raw_strings(raw))
    for pg_type in ("text[]", "character varying[]"):  # pgpq's array and ours
        arr = pa.ListArray.from_arrays(pa.array([0, 1], pa.int32()), _raw_strings(b"x\x80"))
        assert 'invalid byte sequence for encoding "UTF8"' in copy_error(conn, pg_type, arr)


def test_binary_text_is_read_in_the_client_encoding(conn: Any) -> None:
    """Why the caller must COPY with client_encoding UTF8: textrecv converts from the client encoding."""
    with conn.cursor() as cur:
        cur.execute("SET client_encoding = 'LATIN1'")
        try:
            got = column(conn, "text", pa.array(["é"]), "octet_length(x)")
        finally:
            cur.execute("SET client_encoding = 'UTF8'")
    assert got == [4]  # 'Ã©': the two UTF-8 bytes taken as two LATIN1 characters
    assert column(conn, "text", pa.array(["é"]), "octet_length(x)") == [2]


def test_text_input_only_types_fail_in_binary(conn: Any) -> None:
    """What binary_unsupported protects against: a uuid column's receive function wants 16 bytes."""
    from loader.copy.binary_encode import _pgpq_tuples

    stream = b"PGCOPY\n\xff\r\n\x00" + bytes(8) + _pgpq_tuples(
        pa.record_batch([pa.array(["0a4b6e36-2d51-4d1e-b2e0-6c3a9ae2c0a1"])], names=["x"])) + b"\xff\xff"
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE uuids (x uuid)")
        with pytest.raises(psycopg2.Error, match="incorrect binary data format"):
            cur.copy_expert("COPY uuids (x) FROM STDIN (FORMAT binary)", io.BytesIO(stream))
