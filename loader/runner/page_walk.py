"""Walk a Parquet column chunk's page headers as Spark's reader (parquet-mr) does, without decoding a
value: does every page end inside the chunk the footer describes?

Why: parquet-mr reads a column chunk as exactly the ``total_compressed_size`` bytes the footer gives
and fails ("Reached the end of stream") on a page that runs past them; Arrow C++ reads on
optimistically (PARQUET-816) and returns the rows. Such a file (parquet-testing's
``nation.dict-malformed.parquet``) would be loaded by the direct read and refused by every method
that reads with Spark. The walk finds it from the headers alone (a few bytes a page), so the
planner hands the file to Spark's reader, whose refusal is then every method's.

The headers are Thrift compact structs (parquet.thrift ``PageHeader``: 1 type, 2 uncompressed size,
3 compressed size, ...); only what the walk needs is decoded, the rest skipped by its wire type.
"""

from __future__ import annotations

from typing import Any, BinaryIO

#: how many bytes of a header are read at first (statistics can make one longer: read again)
_HEAD = 256
_DICTIONARY_PAGE = 2


class _Short(Exception):
    """The bytes read end inside the header: read more."""


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = out = 0
    while True:
        if i >= len(b):
            raise _Short
        x = b[i]
        i += 1
        out |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return out, i


def _skip(b: bytes, i: int, wire: int) -> int:
    """Past one value of compact wire type ``wire`` at ``i``."""
    if wire in (1, 2):  # booleans live in the field header
        return i
    if wire == 3:
        return i + 1
    if wire in (4, 5, 6):
        return _varint(b, i)[1]
    if wire == 7:
        return i + 8
    if wire == 8:
        n, i = _varint(b, i)
        return i + n
    if wire in (9, 10):
        if i >= len(b):
            raise _Short
        head, i = b[i], i + 1
        n, elem = head >> 4, head & 0x0F
        if n == 15:
            n, i = _varint(b, i)
        for _ in range(n):
            i = i + 1 if elem in (1, 2) else _skip(b, i, elem)
        return i
    if wire == 11:
        n, i = _varint(b, i)
        if n == 0:
            return i
        if i >= len(b):
            raise _Short
        kinds, i = b[i], i + 1
        for _ in range(n):
            i = _skip(b, _skip(b, i, kinds >> 4), kinds & 0x0F)
        return i
    if wire == 12:
        return _struct(b, i)[1]
    raise ValueError(f"not a Thrift compact type: {wire}")


def _struct(b: bytes, i: int) -> tuple[dict[int, int], int]:
    """The integer fields of the struct at ``i`` (others skipped), and where it ends."""
    fields: dict[int, int] = {}
    fid = 0
    while True:
        if i >= len(b):
            raise _Short
        head, i = b[i], i + 1
        if head == 0:
            return fields, i
        wire, delta = head & 0x0F, head >> 4
        if delta:
            fid += delta
        else:
            raw, i = _varint(b, i)
            fid = (raw >> 1) ^ -(raw & 1)
        if wire == 5:  # i32: zigzag varint
            raw, i = _varint(b, i)
            fields[fid] = (raw >> 1) ^ -(raw & 1)
        else:
            i = _skip(b, i, wire)


def page_header(fh: BinaryIO, offset: int, limit: int) -> tuple[int, int, int]:
    """(page type, compressed size, header length) of the header at ``offset``; ``limit``: the chunk's end."""
    size = _HEAD
    while True:
        fh.seek(offset)
        b = fh.read(min(size, max(1, limit - offset)))
        try:
            fields, end = _struct(b, 0)
            return fields.get(1, -1), fields.get(3, -1), end
        except _Short:
            if offset + len(b) >= limit or len(b) < size:
                raise ValueError(f"a page header at byte {offset} runs past its column chunk") from None
            size *= 16


def chunk_fault(fh: BinaryIO, column: Any) -> str | None:
    """Why Spark's reader could not read this column chunk (pyarrow's ``ColumnChunkMetaData``) page by
    page inside its bytes, or None. Stops at the chunk's values: what follows is not its pages."""
    start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    if start is None or column.dictionary_page_offset == 0:  # an old writer's zero: the data page starts it
        start = column.data_page_offset
    end = start + column.total_compressed_size
    pos = start
    while pos < end:
        try:
            kind, compressed, length = page_header(fh, pos, end)
        except ValueError as exc:
            return str(exc)
        if compressed < 0 or pos + length + compressed > end:
            return (f"a {'dictionary' if kind == _DICTIONARY_PAGE else 'data'} page at byte {pos} ends "
                    f"{pos + length + compressed - end} byte(s) past its column chunk")
        pos += length + compressed
    return None


def file_faults(path: str, meta: Any) -> dict[str, str]:
    """Per top-level column, the first chunk fault in the file (``meta``: pyarrow's FileMetaData)."""
    faults: dict[str, str] = {}
    with open(path, "rb") as fh:
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                name = column.path_in_schema.split(".")[0]
                if name in faults:
                    continue
                why = chunk_fault(fh, column)
                if why is not None:
                    faults[name] = f"row group {g}: {why}"
    return faults
