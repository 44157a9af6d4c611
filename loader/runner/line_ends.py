"""A CSV file's line ending, so that Spark keeps a quoted ``\\r\\n`` as it is.

With ``multiLine`` and no ``lineSep``, Spark's CSV parser (univocity) detects the line ending from
the first record and then rewrites every line ending inside a quoted field to ``\\n``: a pandas
``to_csv(lineterminator="\\r\\n")`` file with a field ``"a\\r\\nb"`` lands as ``a\\nb``. Given the
file's own ending as ``lineSep`` it keeps the field exactly. So the runner reads the start of each
local file, finds the first line ending outside quotes and passes it; files with different endings
cannot be read with one ``lineSep`` and are refused, naming them.
"""

from __future__ import annotations

import glob
import os

from ..errors import SourceError

#: how much of each file is read to find the first line ending
SNIFF_BYTES = 1 << 16

_NAMES = {"\r\n": "CRLF", "\n": "LF"}


def first_line_end(head: bytes, quote: bytes = b'"') -> str | None:
    """``"\\r\\n"`` or ``"\\n"``: the first line ending outside a quoted field, or None if none is in
    ``head`` (a doubled quote toggles twice, so RFC 4180's escaping needs no special case)."""
    quoted = False
    q = quote[0] if quote else None
    for i, byte in enumerate(head):
        if byte == q:
            quoted = not quoted
        elif byte == 0x0A and not quoted:
            return "\r\n" if i > 0 and head[i - 1] == 0x0D else "\n"
    return None


def local_files(path: str) -> list[str]:
    """The data files of a local path (a file, a folder, a glob), as Spark reads them."""
    found: list[str] = []
    for top in sorted(glob.glob(path[len("file://"):] if path.startswith("file://") else path)):
        if os.path.isfile(top):
            found.append(top)
            continue
        for root, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            found += [os.path.join(root, n) for n in sorted(names) if not n.startswith((".", "_"))]
    return found


def line_sep(path: str, quote: str, where: str) -> str | None:
    """The ``lineSep`` every local file at ``path`` ends its lines with (None: not local, no line
    ending found, or compressed: Spark's detection applies). Different endings are refused."""
    if "://" in path and not path.startswith("file://"):
        return None
    seen: dict[str, str] = {}
    for name in local_files(path):
        if name.endswith((".gz", ".bz2", ".zst", ".lz4", ".snappy", ".deflate", ".xz")):
            return None
        with open(name, "rb") as f:
            end = first_line_end(f.read(SNIFF_BYTES), quote.encode() if quote else b"")
        if end is not None:
            seen.setdefault(end, name)
    if len(seen) > 1:
        shown = ", ".join(f"{name} ({_NAMES[end]})" for end, name in sorted(seen.items()))
        raise SourceError(f"{where}.path: {path}: its files end their lines differently: {shown}; one read "
                          "cannot keep a quoted line break exactly in both",
                          next_step="load each kind with its own manifest, or set source.options.lineSep")
    return next(iter(seen), None)
