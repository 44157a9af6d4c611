"""Strict CSV and JSON sources: a malformed record fails the load naming its file and line, or (with
``on_error: reject``) is set aside in ``loader_rejects`` with its raw text and the reason.

Spark's reader is PERMISSIVE: a CSV row with a field too many loses its last value and shifts the
others, one with a field too few gets NULLs, a value that does not parse as its declared type
becomes NULL, and the run says ``succeeded``. Read again with the schema Spark found (the manifest's
``source.schema``, the header's columns or what it inferred) plus a column for the corrupt record
(``columnNameOfCorruptRecord``), Spark marks exactly those records: a wrong number of fields
(checked by Spark's CSV parser once a schema is given), an unparseable value, a line that is not
JSON. One extra job over the files finds them before anything is written; the load reads the rows
whose mark is empty. A manifest that sets ``source.options.mode`` chooses Spark's own handling.

Spark gives the record and its file, not its line: the line is found by searching the local file
for the record's text (``locate``); a file elsewhere (S3) is named without a line.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..adapters import pg, pg_errors
from ..destination.rejects import record_source_rejects, reject_table
from ..errors import DataError
from ..manifest import SourceSpec, TargetSpec
from ..record_lines import locate
from ..result import LoadResult

log = logging.getLogger("loader")

CORRUPT = "_loader_corrupt_record"
STRICT_FORMATS = ("csv", "json")
#: records named in a failing load's message
SHOWN = 5


@dataclass(frozen=True)
class SourceReject:
    """A record the source's reader could not read as the declared columns."""

    file: str
    line: int | None
    raw: str
    reason: str

    @property
    def origin(self) -> str:
        return f"{self.file} line {self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Guarded:
    df: Any
    rejects: tuple[SourceReject, ...] = ()


def applies(source: SourceSpec) -> bool:
    return source.format in STRICT_FORMATS and not any(k.lower() == "mode" for k, _ in source.options)


def check(df: Any, source: SourceSpec, reread: Callable[[Any, dict[str, str]], Any], where: str, *,
          reject: bool, max_errors: int | None) -> Guarded:
    """``df`` read as usual; ``reread(schema, options)`` reads the same files again. Returns the
    well-formed rows and, with ``reject``, the others; else a malformed record raises DataError."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    fields = [f for f in df.schema.fields if f.name != CORRUPT]
    marked = reread(StructType([*fields, StructField(CORRUPT, StringType())]),
                    {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
    limit = SHOWN if not reject else (None if max_errors is None else max_errors + 1)
    # the other columns too: Spark refuses a query of a raw file that reads only the corrupt column
    bad = marked.where(F.col(CORRUPT).isNotNull()).select(F.input_file_name().alias("_f"), CORRUPT,
                                                          *[F.col(f"`{f.name}`") for f in fields])
    rows = (bad.limit(limit) if limit is not None else bad).collect()
    clean = marked.where(F.col(CORRUPT).isNull()).drop(CORRUPT)
    if not rows:
        return Guarded(clean)
    names = [f.name for f in fields]
    types = [f.dataType.simpleString() for f in fields]
    opts = dict(source.options)
    found = locate([(r["_f"], r[CORRUPT]) for r in rows])
    rejects = tuple(SourceReject(file, line, r[CORRUPT],
                                 reason(source.format, r[CORRUPT], names, types, [r[i + 2] for i in range(len(names))], opts))
                    for r, (file, line) in zip(rows, found, strict=True))
    if not reject:
        raise DataError(f"{where}: malformed record(s), first: " + " | ".join(_shown(x) for x in rejects),
                        next_step="fix the file (or source.schema), or set on_error: reject to load the other "
                                  "rows and set these aside in loader_rejects; nothing was loaded")
    if max_errors is not None and len(rejects) > max_errors:
        raise DataError(f"{where}: more than max_errors={max_errors} malformed records; first: "
                        + " | ".join(_shown(x) for x in rejects[:SHOWN]),
                        next_step="fix the source or raise max_errors; nothing was loaded")
    return Guarded(clean, rejects)


def set_aside(result: LoadResult, target: TargetSpec, read: Guarded, store: Any) -> LoadResult:
    """The source's rejected records go to ``loader_rejects`` once the load has committed, in their
    own transaction (they were never part of the load), and count in the run's ``rows_rejected``."""
    if not read.rejects:
        return result
    conn = pg.connect(target.connection, application_name="loader:rejects")
    try:
        with pg_errors.translated(table=target.ref), conn, conn.cursor() as cur:
            record_source_rejects(cur, target.loader_schema, target.ref, result.run_id,
                                  [(r.line, r.origin, r.reason, r.raw) for r in read.rejects])
    finally:
        conn.close()
    log.warning("%s: %d malformed source record(s) set aside in %s (run %s)", target.ref, len(read.rejects),
                reject_table(target.loader_schema), result.run_id)
    total = result.rows_rejected + len(read.rejects)
    store.update(result.run_id, rows_rejected=total)
    return dataclasses.replace(result, rows_rejected=total)


def _shown(r: SourceReject) -> str:
    raw = r.raw if len(r.raw) <= 200 else r.raw[:200] + "..."
    return f"{r.origin}: {r.reason}: {raw!r}"


def reason(fmt: str, raw: str, names: Sequence[str], types: Sequence[str], parsed: Sequence[Any],
           options: dict[str, str]) -> str:
    """Why the record is malformed, in words: its field count, or the first value that did not parse."""
    if fmt == "csv":
        sep = options.get("sep", options.get("delimiter", ","))
        quote = options.get("quote", '"')
        try:
            tokens = next(csv.reader([raw], delimiter=sep or ",", quotechar=quote or None,
                                     doublequote=True, strict=False), [])
        except (csv.Error, TypeError):
            tokens = []
        if tokens and len(tokens) != len(names):
            return f"{len(tokens)} fields, expected {len(names)} ({', '.join(names)})"
        values: dict[str, Any] = dict(zip(names, tokens, strict=False))
    else:
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            return f"not valid JSON ({exc.msg} at character {exc.pos})"
        if not isinstance(doc, dict):
            return f"not a JSON object but {type(doc).__name__}"
        values = doc
    for name, typ, got in zip(names, types, parsed, strict=True):
        value = values.get(name)
        if got is None and value not in (None, ""):
            return f"column {name!r}: {value!r} is not a valid {typ}"
    return "a value does not parse as its column's type"
