"""Reading a staged part back: ``PartStream`` for COPY, and on the error path which row did
PostgreSQL reject?

PostgreSQL names the part's line (CSV: the physical line; binary: the tuple number) in the
COPY error's context. A user knows their rows by key, not by line of a temporary file that is
deleted anyway, so the error gets ``; key (id=7)`` read from that row of the part. The key is
a courtesy: if anything here fails, the error stands as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import re
import struct
from collections.abc import Sequence
from typing import Any, cast

from ..adapters import s3
from ..errors import StagingError
from ..plan.pg_types import parse
from .binary_types import numeric_value

_PG_EPOCH = dt.date(2000, 1, 1)


class _Raw:
    """An S3 body with its first bytes already peeked at."""

    def __init__(self, body: Any, head: bytes) -> None:
        self._body, self._head = body, head

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if size is None or size < 0:
                return head + self._body.read()
            return head + self._body.read(max(0, size - len(head)))
        return bytes(self._body.read(size if size and size > 0 else None))


class PartStream:
    """File-like view of an S3 object for psycopg2's copy_expert: gunzips when the bytes are
    gzip (checked by magic number, whatever an HTTP layer did with Content-Encoding).
    An S3 failure or a KeyboardInterrupt while reading is kept in ``failure``: psycopg2 reports
    either only as a cancelled COPY ("COPY from stdin failed: error in .read() call"), and it is the
    S3 error, or the interruption, that says what happened."""

    def __init__(self, body: Any, bucket: str | None = None) -> None:
        self.bucket = bucket
        self.failure: BaseException | None = None
        head = self._guard(body.read, 2)
        raw = _Raw(body, head)
        self._src: Any = gzip.GzipFile(fileobj=cast(Any, raw), mode="rb") if head == b"\x1f\x8b" else raw

    def read(self, size: int = -1) -> bytes:
        return bytes(self._guard(self._src.read, size))

    def _guard(self, read: Any, size: int) -> Any:
        try:
            with s3.translated("GetObject", self.bucket):
                return read(size)
        except (StagingError, KeyboardInterrupt) as exc:
            self.failure = exc
            raise


def key_of_line(parts: Any, key: str, message: str, columns: Sequence[str], key_columns: Sequence[str],
                pg_types: Sequence[str], row_fields: Any, label: str = "key") -> str:
    """'; key (id=7)' for the record at the line PostgreSQL named, read back from the part: the
    staged part is deleted with the failed run, so the row is named by what the user's data holds
    (a table without a key: its first columns, ``label`` 'row')."""
    found = re.search(r"\bline (\d+)", message)
    if not found or not key_columns or not all(k in columns for k in key_columns):
        return ""
    wanted = int(found.group(1))
    indexes = [list(columns).index(k) for k in key_columns]
    try:
        # parts are bounded (16 MB before compression), and this runs only on the error path
        data = PartStream(parts.open(key)).read()
        values = row_fields(data, wanted, indexes, [pg_types[i] for i in indexes])
    except Exception:  # the key is a courtesy; the error itself stands
        return ""
    if values is None:
        return ""
    return f"; {label} (" + ", ".join(f"{k}={_short(v)}" for k, v in zip(key_columns, values, strict=True)) + ")"


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def csv_fields(data: bytes, wanted: int, indexes: list[int], types: list[str]) -> list[str] | None:
    text = io.StringIO(data.decode("utf-8"), newline="")
    lines_read = 0

    def counted() -> Any:  # PostgreSQL counts physical lines; csv reads records
        nonlocal lines_read
        for line in text:
            lines_read += 1
            yield line

    for record in csv.reader(counted()):
        if lines_read >= wanted:
            return [record[i] for i in indexes]
    return None


def binary_fields(data: bytes, wanted: int, indexes: list[int], types: list[str]) -> list[str] | None:
    """Walk the binary COPY stream to tuple ``wanted`` (1-based) and decode the key fields."""
    ext_len = struct.unpack_from(">i", data, 15)[0]
    pos, tuple_no = 19 + ext_len, 0
    while pos + 2 <= len(data):
        (nfields,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if nfields < 0:
            return None  # the trailer: fewer tuples than the line PostgreSQL named
        tuple_no += 1
        fields: list[bytes | None] = []
        for _ in range(nfields):
            (size,) = struct.unpack_from(">i", data, pos)
            pos += 4
            fields.append(None if size < 0 else data[pos:pos + size])
            pos += max(size, 0)
        if tuple_no == wanted:
            return [_decode(fields[i], t) for i, t in zip(indexes, types, strict=True)]
    return None


def _decode(raw: bytes | None, pg_type: str) -> str:
    if raw is None:
        return "NULL"
    base = parse(pg_type).plain  # an array's base ends in [] and shows as hex
    if base in ("smallint", "integer", "bigint"):
        return str(int.from_bytes(raw, "big", signed=True))
    if base == "numeric":
        return str(numeric_value(raw))
    if base == "date":
        return str(_PG_EPOCH + dt.timedelta(days=struct.unpack(">i", raw)[0]))
    if base in ("text", "character varying", "character", "bpchar"):
        return raw.decode("utf-8", "replace")
    return "0x" + raw.hex()
