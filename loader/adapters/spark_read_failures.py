"""A source read that failed inside a Spark job (the JDBC write or the COPY staging pulls the rows,
so a malformed record under ``mode: FAILFAST`` or an unreadable file surfaces there, as
``Py4JJavaError: An error occurred while calling o99.jdbc``), and JSON that is not JSON Lines.

Decided by Spark's error conditions along the Java cause chain (``FAILED_READ_FILE.*`` carries the
file, ``MALFORMED_*`` the record), never by a message's words; the line is found by searching the
local file for the record (record_lines.py)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any

from ..errors import DataError, SourceError
from ..record_lines import local_path, locate

#: Spark refuses a query of a raw JSON/CSV file that reads only its corrupt-record column: for JSON
#: that column is all Spark found when no line is a JSON document, e.g. one pretty-printed array
#: (Spark 4's condition, then Spark 3.5's name for the same error)
ONLY_CORRUPT_COLUMN = ("UNSUPPORTED_FEATURE.QUERY_ONLY_CORRUPT_RECORD_COLUMN", "_LEGACY_ERROR_TEMP_1285")
_MALFORMED = ("MALFORMED_RECORD_IN_PARSING", "MALFORMED_CSV_RECORD", "MALFORMED_JSON_RECORD")
#: "Encountered error while reading file <path>": Spark 4's FAILED_READ_FILE.*, Spark 3.5's legacy 2064;
#: and Spark 3.5's "Could not read footer for file: <file>" (Spark 4: FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER)
#: and "Parquet column cannot be converted in file <filePath>" (Spark 4: FAILED_READ_FILE.PARQUET_COLUMN_...)
_FAILED_READ = ("FAILED_READ_FILE", "_LEGACY_ERROR_TEMP_2064", "CANNOT_READ_FILE_FOOTER", "_LEGACY_ERROR_TEMP_2063")
#: the parameter naming the file, by condition: Spark 4's and 3.5's 2064 say path
_FILE_PARAMS = ("path", "file", "filePath")
#: Java's own words for a NullPointerException say which call failed inside the reader, not why
_NO_REASON = ("java.lang.NullPointerException",)


#: a compression codec's Hadoop class Spark's reader could not load -> the codec, and how to get it
MISSING_CODECS = {
    "org.apache.hadoop.io.compress.BrotliCodec": (
        "Brotli", "rewrite the file with another codec (zstd, snappy, gzip), or put a Brotli codec for Hadoop "
                  "on Spark's classpath (spark.jars: a jar providing org.apache.hadoop.io.compress.BrotliCodec, "
                  "e.g. com.github.rdblue:brotli-codec)"),
    "com.hadoop.compression.lzo.LzoCodec": (
        "LZO", "rewrite the file with another codec (zstd, snappy, gzip), or add hadoop-lzo and its native "
               "library to Spark (spark.jars and spark.driver/executor.extraLibraryPath)"),
}
_NO_CLASS = ("java.lang.ClassNotFoundException", "java.lang.NoClassDefFoundError")


@dataclass(frozen=True)
class _Link:
    condition: str
    params: dict[str, str]
    message: str
    java_class: str = ""


def _chain(exc: BaseException) -> list[_Link]:
    """Each SparkThrowable from the top of the Java cause chain down (Spark 4 says ``getCondition``,
    3.5 ``getErrorClass``); a Python-side PySparkException when there is no Java one."""
    links: list[_Link] = []
    throwable: Any = getattr(exc, "java_exception", None) or exc
    for _ in range(20):  # the chain is short; never loop on a cycle
        if throwable is None:
            break
        condition = ""
        for name in ("getCondition", "getErrorClass"):
            getter = getattr(throwable, name, None)
            if callable(getter):
                try:
                    condition = str(getter() or "")
                except Exception:  # not a SparkThrowable
                    condition = ""
                if condition:
                    break
        params: dict[str, str] = {}
        try:
            params = {str(k): str(v) for k, v in dict(throwable.getMessageParameters()).items()}
        except Exception:  # no parameters on this one
            pass
        try:
            message = str(throwable.getMessage() if hasattr(throwable, "getMessage") else throwable)
        except Exception:
            message = ""
        try:
            java_class = str(throwable.getClass().getName()) if hasattr(throwable, "getClass") else ""
        except Exception:
            java_class = ""
        links.append(_Link(condition, params, "" if message == "None" else message, java_class))
        if throwable is exc:
            break
        try:
            throwable = throwable.getCause()
        except Exception:
            break
    return links


def chain_conditions(exc: BaseException) -> list[str]:
    """Spark's error conditions along the cause chain, top first: a refusal thrown inside a job (PySpark
    3.5 reads the footers in one) carries its condition below the job's."""
    return [link.condition for link in _chain(exc) if link.condition]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def translate_read_in_job(exc: BaseException, *, run_id: str | None = None,
                          table: str | None = None) -> DataError | SourceError | None:
    """A failed read of the source inside a Spark job as ours, or None when it is something else."""
    chain = _chain(exc)
    links = [link for link in chain if link.condition]
    files = [next(link.params[p] for p in _FILE_PARAMS if p in link.params) for link in links
             if link.condition.startswith(_FAILED_READ) and any(p in link.params for p in _FILE_PARAMS)]
    records = [link.params["badRecord"] for link in links
               if link.condition.startswith(_MALFORMED) and "badRecord" in link.params]
    if records:
        record = records[-1]  # the deepest is the raw text (CSV: the line; the outer ones a parsed row)
        file = files[0] if files else None
        where = "the source"  # Spark 3.5 names no file: the runner finds it (runner/run.py, record_lines)
        if file is not None:
            path, line = locate([(file, record)])[0]
            where = f"{path} line {line}" if line is not None else path
        shown = record if len(record) <= 200 else record[:200] + "..."
        return DataError(f"{where}: Spark's reader refused the malformed record {shown!r}",
                         next_step="fix the record in the file, or remove source.options.mode: the loader's own "
                                   "check then names every malformed record and on_error: reject sets them aside",
                         run_id=run_id, table=table, record=None if file else record)
    if files:
        file = local_path(files[0]) or files[0]
        cause, next_step = spark_reason(chain)
        return SourceError(f"cannot read {file}: {cause}", next_step=next_step, run_id=run_id, table=table, file=file)
    return None


def spark_reason(chain: list[_Link]) -> tuple[str, str]:
    """Spark's own reason for failing to read a file, in words, and what to do: a missing codec by the
    class Spark could not load, else the deepest message of the cause chain, else Spark's condition
    and what failed without saying why (a NullPointerException inside the reader has no message)."""
    for link in chain:
        if link.java_class in _NO_CLASS and link.message.strip() in MISSING_CODECS:
            codec, how = MISSING_CODECS[link.message.strip()]
            return (f"its pages are compressed with {codec}, and Spark's Hadoop has no {codec} codec "
                    f"(Spark's reader cannot load {link.message.strip()})", how)
    check = "check that the file is readable and of the manifest's source.format"
    below = chain[next((i for i, link in enumerate(chain) if link.condition.startswith(_FAILED_READ)), 0):]
    if not below:
        return "Spark's reader failed", check
    if _says_why(below[-1]):  # the root cause says why in words
        return _first_line(below[-1].message), check
    worded = [_first_line(link.message) for link in below if _says_why(link)]
    said = worded[-1] if worded else "Spark's reader failed"
    kind = below[-1].java_class.rsplit(".", 1)[-1]
    if kind:
        article = "an" if kind[0] in "AEIOU" else "a"
        said += f" (Spark's reader stopped on {article} {kind}, which says nothing more: it cannot read this file)"
    return said, check + "; or rewrite the file with another writer"


def _says_why(link: _Link) -> bool:
    return bool(_first_line(link.message)) and link.java_class not in _NO_REASON


def json_not_lines(path: str, where: str, multiline: bool) -> SourceError:
    """Spark found no JSON document on any line: most often one JSON array (or one pretty-printed
    object), which Spark reads only with ``multiLine``."""
    if multiline:
        return SourceError(f"{where}: {path}: Spark read no JSON record from it, even with multiLine",
                           next_step="check that the file is JSON (one object a line, or with multiLine "
                                     "one object or one array of objects a file)")
    file, first = _first_char(path)
    shape = "looks like one JSON array (it starts with '[')" if first == "[" else \
        "holds JSON documents over several lines, not one a line (JSON Lines)"
    return SourceError(f"{where}: {file or path} {shape}, and Spark reads format: json as one record a line",
                       next_step='set source.options: {multiLine: "true"} (an array\'s objects become the rows)')


def _first_char(path: str) -> tuple[str | None, str]:
    """The first local file under ``path`` and its first non-blank character (only local files)."""
    local = local_path(path)
    if local is None:
        return None, ""
    files = [local] if os.path.isfile(local) else sorted(
        f for f in glob.glob(os.path.join(glob.escape(local), "**", "*"), recursive=True)
        if os.path.isfile(f) and not os.path.basename(f).startswith((".", "_")))
    for file in files[:1]:
        try:
            with open(file, "rb") as fh:
                head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError:
            return file, ""
        return file, head[:1].decode("latin-1")
    return None, ""
