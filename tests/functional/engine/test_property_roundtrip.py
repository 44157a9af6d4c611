"""Property test: DataFrames over every supported Spark type, loaded with every method and write mode,
read back value for value. COPY runs three ways: binary parts (the default where every column has a
binary encoding), CSV parts, and binary parts imported by the server itself (the aws_s3 stand-in).
Bounded in `make test`; `make fuzz` (LOADER_FUZZ=1) runs many more examples."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loader import write_to_postgres

FUZZ = os.environ.get("LOADER_FUZZ") == "1"
UTC = dt.timezone.utc

TRICKY = ['"', '""', ",", "\n", "\r\n", "\t", "\\", "\\N", "NULL", "", " lead", "trail ", "é", "😀", "\\.", "a,\"b\"\nc"]
text = st.one_of(st.sampled_from(TRICKY),
                 st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))
decimals = st.decimals(min_value=Decimal("-99999999999999999999.999999999999999999"),
                       max_value=Decimal("99999999999999999999.999999999999999999"), places=18,
                       allow_nan=False, allow_infinity=False)
instants = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                        timezones=st.just(UTC))
row = st.tuples(
    st.integers(-(2**7), 2**7 - 1), st.integers(-(2**15), 2**15 - 1), st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1), st.floats(width=32), st.floats(), decimals,
    st.decimals(min_value=-(10**10) + 1, max_value=10**10 - 1, places=0, allow_nan=False, allow_infinity=False),
    st.one_of(st.none(), text), st.binary(max_size=16), st.booleans(),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)), instants,
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), max_size=4),
    st.lists(st.one_of(st.none(), text), max_size=4),
    st.tuples(st.integers(-1000, 1000), text),
    st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), st.integers(-5, 5), max_size=3),
)


def _schema() -> Any:
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("id", T.IntegerType(), False),
        T.StructField("b", T.ByteType()), T.StructField("s", T.ShortType()), T.StructField("i", T.IntegerType()),
        T.StructField("l", T.LongType()), T.StructField("f", T.FloatType()), T.StructField("d", T.DoubleType()),
        T.StructField("dec", T.DecimalType(38, 18)), T.StructField("dec0", T.DecimalType(10, 0)),
        T.StructField("txt", T.StringType()), T.StructField("bin", T.BinaryType()),
        T.StructField("flag", T.BooleanType()), T.StructField("day", T.DateType()),
        T.StructField("ts", T.TimestampType()), T.StructField("ntz", T.TimestampNTZType()),
        T.StructField("ints", T.ArrayType(T.IntegerType())), T.StructField("strs", T.ArrayType(T.StringType())),
        T.StructField("st", T.StructType([T.StructField("a", T.IntegerType()), T.StructField("b", T.StringType())])),
        T.StructField("mp", T.MapType(T.StringType(), T.IntegerType())),
    ])


def _same(col: str, want: Any, got: Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if col == "f":  # real: compare as float32
        import struct

        if math.isnan(want):
            return math.isnan(got)
        return bool(struct.pack("f", want) == struct.pack("f", got))
    if col == "d":
        if math.isnan(want):
            return math.isnan(got)
        return bool(want == got and math.copysign(1, want) == math.copysign(1, got))
    if col == "bin":
        return bytes(got) == want
    if col == "st":
        return bool(got == {"a": want[0], "b": want[1]})
    return bool(want == got)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
@pytest.mark.parametrize("method", ["copy", "copy-csv", "copy-server", "optimized", "standard"])
@settings(max_examples=40 if FUZZ else 2, deadline=None, derandomize=not FUZZ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(rows=st.lists(row, min_size=1, max_size=6))
@example(rows=[  # every limit of the type matrix, always tried first
    (-(2**7), -(2**15), -(2**31), -(2**63), float("nan"), float("nan"),
     Decimal("-99999999999999999999.999999999999999999"), Decimal(-(10**10) + 1), "", b"", False,
     dt.date(1, 1, 1), dt.datetime(1850, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), dt.datetime(1, 1, 1),
     [None, -(2**31)], [None, '"', "", "NULL"], (0, ""), {}),
    (2**7 - 1, 2**15 - 1, 2**31 - 1, 2**63 - 1, float("inf"), float("-inf"),
     Decimal("99999999999999999999.999999999999999999"), Decimal(10**10 - 1), "\\N", b"\x00\xff", True,
     dt.date(9999, 12, 31), dt.datetime(2024, 3, 10, 7, 0, 0, 1, tzinfo=UTC),  # across a US DST change
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999), [], ["a,b", "\n"], (-1, "😀"), {"a": 1}),
    (0, 0, 0, 0, -0.0, -0.0, Decimal("0E-18"), Decimal(0), None, b"\x00", True,
     dt.date(2024, 2, 29), dt.datetime(2024, 11, 3, 6, 30, 0, 999999, tzinfo=UTC),
     dt.datetime(2024, 11, 3, 1, 30), [0], [None], (0, "x"), {"b": -5}),
    # what binary numeric encoders got wrong in public bug reports: a leading zero base-10000 group
    # in the fraction, integer parts at multiples of 10^4, 10^8 and 10^9; before 1970 and 2000
    (1, 1, 1, 10**9, 1.5, -1e-300, Decimal("1.00000001"), Decimal(10**8), "😀 4-byte", b"\x01", False,
     dt.date(1969, 12, 31), dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     dt.datetime(1969, 12, 31, 23, 59, 59, 999999), [None], [], (10**4, ""), {"x": 0}),
    (-1, -1, -10000, -(10**8), -1.5, 5e-324, Decimal("-0.000000000000000001"), Decimal(10**9), " ", b"", True,
     dt.date(2000, 1, 1), dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(2000, 1, 1), [2**31 - 1, None],
     [""], (1, "n"), {}),
    (2, 2, 10000, 10**4, 0.0, 1e308, Decimal("10000.5"), Decimal(-(10**4)), "", None, None,
     None, None, None, None, None, (2, "s"), None),
    # the days the hybrid Julian-Gregorian calendar skips (java.sql.Date/Timestamp moved them)
    (3, 3, 3, 3, 3.0, 3.0, Decimal(3), Decimal(3), "gap", b"", True, dt.date(1582, 10, 10),
     dt.datetime(1582, 10, 5, 12, 0, 0, 1, tzinfo=UTC), dt.datetime(1582, 10, 14, 23, 59, 59, 999999),
     [], [], (3, "g"), {}),
    (4, 4, 4, 4, 4.0, 4.0, Decimal(4), Decimal(4), "gap", b"", False, dt.date(1582, 10, 5),
     dt.datetime(1582, 10, 14, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(1000, 3, 1, 12),
     [], [], (4, "h"), {}),
])
def test_every_type_round_trips(method: str, mode: str, rows: list[tuple[Any, ...]], spark: Any, pg_db: Any, pg_conn: Any,
                                bucket: str, state_url: str, request: Any) -> None:
    data = [(i, *r[:16], (r[16][0], r[16][1]), r[17]) for i, r in enumerate(rows)]
    table = f"prop_{method.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    extra: dict[str, Any] = {"server_side": "never"} if method.startswith("copy") else {}
    if method == "copy-csv":
        extra["staging_format"] = "csv"
    if method == "copy-server":
        request.getfixturevalue("aws_s3_extension")
        extra["server_side"] = "always"
    expected_format = {"copy": "binary", "copy-server": "binary", "copy-csv": "csv"}.get(method)
    old_tz = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")  # non-UTC session
    try:
        df = spark.createDataFrame(data, _schema())
        key = ["id"] if mode == "upsert" else None
        loads = 1 if mode == "append" else 2  # overwrite and upsert: a second load must change nothing
        for _ in range(loads):
            result = write_to_postgres(df, pg_db.as_params(), method=method.split("-")[0], table=table,
                                       temp_s3_bucket=bucket, state_url=state_url, fallback="none", mode=mode,
                                       key=key, **extra)
            assert result.staging_format == expected_format, result.format_reason
            assert result.server_side == (method == "copy-server")
    finally:
        spark.conf.set("spark.sql.session.timeZone", old_tz)
    names = [f.name for f in _schema().fields]
    with pg_conn.cursor() as cur:
        cur.execute(f'SELECT {", ".join(names)} FROM "{table}" ORDER BY id')
        got = cur.fetchall()
    assert len(got) == len(data)
    for want_row, got_row in zip(data, got, strict=True):
        for col, want, have in zip(names, want_row, got_row, strict=True):
            if col == "mp" and isinstance(have, str):
                have = json.loads(have)
            assert _same(col, want, have), f"{method}: column {col}: sent {want!r}, read back {have!r}"
