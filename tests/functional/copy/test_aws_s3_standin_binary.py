"""The aws_s3 stand-in takes COPY ``options`` the way RDS does: ``(format binary)`` as well as text and CSV.

RDS passes ``options`` through to COPY ("Choices for format include CSV, text, and binary") and gunzips
an object only when its S3 metadata says ``Content-Encoding: gzip``. Each test writes a file with
``COPY ... TO STDOUT <options>`` from a source table, puts it on moto's S3, imports it with
``aws_s3.table_import_from_s3(..., <options>, ...)`` into a second table and compares the rows.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import uuid
from decimal import Decimal
from typing import Any

import psycopg2
import pytest

from loader.testing.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

UTC = dt.timezone.utc
BIG = os.urandom(1_300_000)  # one bytea value longer than the stand-in's 1 MiB copy chunk

ROWS: list[tuple[Any, ...]] = [
    (1, "plain", Decimal("1.5"), dt.datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC), b"\x00\x01\xff", True),
    (2, 'a "quoted" word, with \'single\' quotes', Decimal("-0.000000000000000001"),
     dt.datetime(1850, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), b"\r\n\\.\n", False),
    (3, "line1\nline2\r\nline3\ttab \\ back\\slash", Decimal("12345678901234567890.123456789012345678"),
     dt.datetime(2000, 1, 1, tzinfo=UTC), bytes(range(256)), None),
    (4, None, None, None, None, None),
    (5, "\\N", Decimal("1E+100"), dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), b"", True),
    (6, "é ü ß 中文 😀 \\. , \" '", Decimal("0E-18"), dt.datetime(1970, 1, 1, tzinfo=UTC), BIG, False),
    (7, "", Decimal("-1E+20"), dt.datetime(2024, 2, 29, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
     b"NULL", None),
]
# values psycopg2 cannot hand back as they are (numeric Infinity comes back as NaN): compared as text
SPECIAL = "(8, 'nan', 'NaN', 'infinity', NULL, NULL), (9, 'inf', '-Infinity', '-infinity', '\\x00', NULL)"
DDL = "(id int PRIMARY KEY, txt text, amount numeric, ts timestamptz, raw bytea, flag boolean)"
COUNT = len(ROWS) + 2


def _rows(conn: Any, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} WHERE id < 8 ORDER BY id")
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cur.fetchall()]


def _text_rows(conn: Any, table: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT t::text FROM {table} AS t ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def _assert_copied(conn: Any, table: str = "dst") -> None:
    assert _rows(conn, table) == ROWS
    assert _text_rows(conn, table) == _text_rows(conn, "src")


@pytest.fixture()
def src(aws_s3_extension: Any) -> Any:
    """The stand-in's connection, with table ``src`` holding ROWS and an empty ``dst`` like it."""
    conn = aws_s3_extension
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE src {DDL}")
        cur.executemany("INSERT INTO src VALUES (%s, %s, %s, %s, %s, %s)", ROWS)
        cur.execute(f"INSERT INTO src VALUES {SPECIAL}")
        cur.execute("CREATE TABLE dst (LIKE src INCLUDING ALL)")
    assert _rows(conn, "src") == ROWS and len(_text_rows(conn, "src")) == COUNT
    return conn


def _export(conn: Any, options: str, query: str = "SELECT * FROM src ORDER BY id") -> bytes:
    buf = io.BytesIO()
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY ({query}) TO STDOUT {options}", buf)
    return buf.getvalue()


def _put(s3: S3Server, bucket: str, data: bytes, gzipped: bool, content_encoding: str | None = None) -> str:
    key = f"parts/{uuid.uuid4().hex}" + (".gz" if gzipped else "")
    extra = {"ContentEncoding": content_encoding} if content_encoding else {}
    s3.client().put_object(Bucket=bucket, Key=key, Body=gzip.compress(data) if gzipped else data, **extra)
    return key


def _import(conn: Any, table: str, columns: str, options: str, bucket: str, key: str) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT aws_s3.table_import_from_s3(%s, %s, %s, aws_commons.create_s3_uri(%s, %s, %s))",
                    (table, columns, options, bucket, key, REGION))
        return str(cur.fetchone()[0])


OPTIONS = [
    "(format binary)",
    "(FORMAT binary)",
    "(format csv, header true)",
    "(format csv)",
    "(format text)",
    "DELIMITER '|'",  # the pre-9.0 option syntax, as in RDS's custom-delimiter example
]


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("options", OPTIONS)
def test_options_round_trip(src: Any, s3_server: S3Server, bucket: str, options: str, gzipped: bool) -> None:
    data = _export(src, options)
    if "binary" in options:
        assert data.startswith(b"PGCOPY\n\xff\r\n\x00"), "not a binary COPY stream"
    key = _put(s3_server, bucket, data, gzipped, "gzip" if gzipped else None)
    message = _import(src, "dst", "", options, bucket, key)
    assert message == f"{COUNT} rows imported into relation 'dst' from file {key} of {len(data)} bytes"
    assert int(message.split(" ", 1)[0]) == COUNT  # how loader.copy.transaction reads it
    _assert_copied(src)


def test_binary_with_column_list_and_the_other_signatures(src: Any, s3_server: S3Server, bucket: str) -> None:
    with src.cursor() as cur:
        cur.execute("CREATE TABLE narrow (note text DEFAULT 'kept', raw bytea, id int PRIMARY KEY, ts timestamptz)")
    data = _export(src, "(format binary)", "SELECT id, raw, ts FROM src ORDER BY id")
    key = _put(s3_server, bucket, data, gzipped=True, content_encoding="gzip")
    assert _import(src, "narrow", "id, raw, ts", "(format binary)", bucket, key).startswith(f"{COUNT} rows ")
    assert _rows(src, "narrow", "id, raw, ts, note") == [(r[0], r[4], r[3], "kept") for r in ROWS]

    plain = _put(s3_server, bucket, _export(src, "(format binary)"), gzipped=False)
    calls = [
        ("%s, %s, %s", (bucket, plain, REGION)),
        ("%s, %s, %s, %s, %s, NULL", (bucket, plain, REGION, ACCESS_KEY, SECRET_KEY)),
        ("aws_commons.create_s3_uri(%s, %s, %s), ROW(%s, %s, '')::aws_commons._aws_credentials_1",
         (bucket, plain, REGION, ACCESS_KEY, SECRET_KEY)),
    ]
    for args, params in calls:
        with src.cursor() as cur:
            cur.execute("TRUNCATE dst")
            cur.execute(f"SELECT aws_s3.table_import_from_s3('dst', '', '(format binary)', {args})", params)
            assert cur.fetchone()[0].startswith(f"{COUNT} rows imported into relation ")
        _assert_copied(src)


@pytest.mark.parametrize("options", ["(format binary)", "(format csv)"])
def test_gzip_without_content_encoding_is_not_gunzipped(src: Any, s3_server: S3Server, bucket: str,
                                                        options: str) -> None:
    """Like RDS: without the metadata the gzip bytes go to COPY as they are, and COPY rejects them."""
    key = _put(s3_server, bucket, _export(src, options), gzipped=True, content_encoding=None)
    assert s3_server.client().head_object(Bucket=bucket, Key=key).get("ContentEncoding") is None
    with pytest.raises(psycopg2.Error) as err:
        _import(src, "dst", "", options, bucket, key)
    assert "binary" not in options or "COPY file signature not recognized" in str(err.value)
    assert _rows(src, "dst") == []
