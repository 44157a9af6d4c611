"""Where a record Spark named sits in its file: Spark gives the record's text and its file, not its
line, so the line is found by searching the local file for that text. A file elsewhere (S3) has no
line here. Used for the strict CSV/JSON check's rejects and for a failed read inside a Spark job."""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from urllib.parse import unquote, urlparse


def local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI or a plain path; None for a file elsewhere (s3://...)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else None


def locate(records: Sequence[tuple[str, str]]) -> list[tuple[str, int | None]]:
    """(file as a path, line) of each (file URI, raw record): a local file is searched for the
    record's text, in order (Spark returns a file's records in order), each search after the last."""
    out: list[tuple[str, int | None]] = []
    state: dict[str, tuple[int, int]] = {}  # file -> (offset searched to, lines before it)
    for uri, raw in records:
        path = local_path(uri)
        if path is None:
            out.append((uri, None))
            continue
        try:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                start, lines = state.get(path, (0, 0))
                needle = raw.encode()
                pos = mm.find(needle, start)
                if pos < 0 and start:
                    start, lines, pos = 0, 0, mm.find(needle)
                if pos < 0:
                    out.append((path, None))
                    continue
                lines += mm[start:pos].count(b"\n")
                state[path] = (pos + max(len(needle), 1), lines + needle.count(b"\n"))
                out.append((path, lines + 1))
        except (OSError, ValueError):  # gone, or empty (mmap of 0 bytes)
            out.append((path, None))
    return out


def find_record(files: Sequence[str], record: str) -> tuple[str, int] | None:
    """The first of the local ``files`` holding ``record``, and its line (when Spark named no file)."""
    for file in files:
        path, line = locate([(file, record)])[0]
        if line is not None:
            return path, line
    return None
