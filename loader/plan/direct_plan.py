"""Whether a Parquet source's files can be read by pyarrow on the executors instead of by Spark, and
how they are cut into tasks. Pure: the footers' facts come in (runner/parquet_scan.py reads them).

Why: Spark's Parquet read and its rows-to-Arrow conversion cost more client CPU per row than
PostgreSQL's COPY does (bench/README.md, "Where the time goes"); pyarrow reads the same files
straight into the Arrow batches the binary encoder takes. Taken only where the batches are
exactly the ones Spark's reader would have handed over, so the values land the same:

* every column the load reads is a column of every file, of a type Spark's reader reads as the
  DataFrame's type without conversion (``as_spark_reads``: a view, large or dictionary string is
  a string, an unsigned integer the next wider signed one, ``UINT_64`` a ``DECIMAL(20,0)``;
  millisecond timestamps widen to microseconds). A type Spark converts otherwise (nanosecond
  timestamps, nested types, a schema the manifest forces) keeps Spark's reader;
* INT96 timestamps (what Spark writes by default) only from a file Spark 3.0 or later wrote
  without its LEGACY rebase: then Spark's reader takes the Julian day and the nanoseconds as they
  are, truncated to microseconds, which is what pyarrow's ``coerce_int96_timestamp_unit="us"``
  reads (an INT96 written elsewhere is converted by Spark's settings and keeps Spark's reader);
* no file asks for Spark's Julian-calendar rebase (written by Spark 2.x, or by 3.x in LEGACY
  mode), and a file not written by Spark holds no date before 1582-10-15 nor timestamp before
  1900 unless ``spark.sql.parquet.datetimeRebaseModeInRead`` is CORRECTED: under Spark's default
  (EXCEPTION) Spark refuses those values, under LEGACY it rebases them. The footer's statistics
  say; a file without them keeps Spark's reader.

A ``select`` of plain column names is the DataFrame's columns, and a ``where`` that pyarrow evaluates
as Spark does (direct_filter.py) is evaluated on each batch. Anything else (other ``select`` or
``where``, reader options, hive partition directories, files that are not local) keeps Spark's
reader: the reason is carried to the run's ``format_reason``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .direct_filter import Where

#: Spark's simpleString -> the Arrow type (as pyarrow prints it) its reader produces it from
_ARROW_OF = {"tinyint": "int8", "smallint": "int16", "int": "int32", "bigint": "int64", "float": "float",
             "double": "double", "boolean": "bool", "string": "string", "binary": "binary", "date": "date32[day]"}
#: days since 1970-01-01 of 1582-10-15 (the Gregorian switch: Spark's date rebase threshold)
GREGORIAN_SWITCH_DAY = -141427
#: microseconds since 1970-01-01 of 1900-01-01T00:00:00Z (Spark's timestamp rebase threshold)
TIMESTAMP_REBASE_MICROS = -2208988800_000_000
SPARK_VERSION_KEY = "org.apache.spark.version"
LEGACY_KEYS = ("org.apache.spark.legacyDateTime", "org.apache.spark.legacyINT96")
#: how the footer's reader (runner/parquet_scan.py) names a column stored as INT96
INT96 = "int96"
#: the codecs both readers decode alike, as pyarrow names them ("LZ4" is LZ4_RAW; the deprecated
#: LZ4 is "UNKNOWN" there: Spark's reader reads it only in Hadoop's framing, pyarrow either way)
SAME_CODECS = frozenset({"UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4"})
#: the physical types of a decimal both readers read alike (a BYTE_ARRAY one Spark's reader may fail on)
SAME_DECIMALS = frozenset({"INT32", "INT64", "FIXED_LEN_BYTE_ARRAY"})


@dataclass(frozen=True)
class FileFacts:
    """What one file's footer says: its columns (Arrow type as Spark reads it, as printed by pyarrow),
    its key-value metadata, each row group's rows, and per date/timestamp column the smallest value
    (days or microseconds since 1970; None when a row group has no statistics)."""

    path: str
    columns: Mapping[str, str]
    metadata: Mapping[str, str]
    row_groups: tuple[int, ...]
    minimums: Mapping[str, int | None]
    #: per column, what the footer says of how it is stored where Spark's reader may part from
    #: pyarrow's: the codecs of its chunks, a decimal's physical type, a page past its chunk's end
    codecs: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    physical: Mapping[str, str] = dataclasses.field(default_factory=dict)
    page_faults: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class DirectUnit:
    """One task's share: consecutive row groups of one file."""

    path: str
    row_groups: tuple[int, ...]
    rows: int

    def describe(self) -> str:
        """'from x.parquet, row groups 4-7': what a refusal of one of its rows names."""
        groups = self.row_groups
        consecutive = list(groups) == list(range(groups[0], groups[-1] + 1))
        shown = f"{groups[0]}-{groups[-1]}" if consecutive and len(groups) > 1 else ", ".join(map(str, groups))
        return f"from {self.path}, row group{'s' if len(groups) > 1 else ''} {shown}"


@dataclass(frozen=True)
class DirectRead:
    """The files read by pyarrow: the columns (name, Spark simpleString) in the load's order and the
    units, one per Spark task (the partition index is the unit's index, stable across attempts)."""

    columns: tuple[tuple[str, str], ...]
    units: tuple[DirectUnit, ...]
    #: the manifest's ``where``, evaluated by pyarrow (direct_filter.py); None: every row
    where: Where | None = None

    @property
    def rows(self) -> int:
        return sum(u.rows for u in self.units)

    @property
    def files(self) -> int:
        return len({u.path for u in self.units})

    def project(self, names: Sequence[str]) -> DirectRead:
        """The same files read for ``names`` only, in that order (the load's column plan)."""
        by_name = dict(self.columns)
        return DirectRead(tuple((n, by_name[n]) for n in names), self.units, self.where)

    def describe(self) -> str:
        where = ", source.where evaluated by pyarrow" if self.where is not None else ""
        return f"read by pyarrow from {self.files} Parquet file(s) in {len(self.units)} task(s){where}"


def reads_as(spark_type: str, arrow_type: str) -> bool:
    """Spark's reader gives ``spark_type`` from a file column of ``arrow_type`` (as Spark reads it)
    with no conversion but a lossless widening."""
    if spark_type in _ARROW_OF:
        return arrow_type == _ARROW_OF[spark_type]
    if spark_type.startswith("decimal("):
        return arrow_type == "decimal128(" + spark_type[len("decimal("):].replace(",", ", ")
    if spark_type == "timestamp":  # an instant: any zone spells the same one (INT96: see _file_problem)
        return arrow_type == INT96 or arrow_type.startswith(("timestamp[us, tz=", "timestamp[ms, tz="))
    if spark_type == "timestamp_ntz":
        return arrow_type in ("timestamp[us]", "timestamp[ms]")
    return False


def plan_direct(columns: Sequence[tuple[str, str]], files: Sequence[FileFacts], *, parallelism: int,
                rebase_mode: str = "EXCEPTION", int96_conversion: bool = False) -> DirectRead | str:
    """The direct read of ``files`` for the DataFrame's ``columns`` (name, Spark simpleString), or
    why Spark's reader stays (a sentence). ``rebase_mode``: spark.sql.parquet.datetimeRebaseModeInRead;
    ``int96_conversion``: spark.sql.parquet.int96TimestampConversion (Spark shifts INT96 by zone)."""
    if not files:
        return "no file to read"
    if int96_conversion and any(t == INT96 for f in files for t in f.columns.values()):
        return "spark.sql.parquet.int96TimestampConversion is on: Spark's reader shifts INT96 timestamps"
    dated = [n for n, t in columns if t in ("date", "timestamp", "timestamp_ntz")]
    for f in files:
        why = _file_problem(columns, f, dated, rebase_mode.upper())
        if why is not None:
            return f"{f.path}: {why}"
    return DirectRead(tuple(columns), cut_units(files, parallelism))


def _file_problem(columns: Sequence[tuple[str, str]], f: FileFacts, dated: list[str], mode: str) -> str | None:
    for name, spark_type in columns:
        arrow_type = f.columns.get(name)
        if arrow_type is None:
            return f"column {name!r} is not in the file (a partition directory or a schema of the manifest's)"
        if not reads_as(spark_type, arrow_type):
            return f"column {name!r} is {arrow_type} in the file, {spark_type} in Spark: Spark's reader converts it"
        why = stored_problem(f, name, spark_type)
        if why is not None:
            return why
    if not dated:
        return None
    version = f.metadata.get(SPARK_VERSION_KEY)
    if version is not None:  # Spark compares the version as a string, and so does this
        if version < "3.0.0" or any(k in f.metadata for k in LEGACY_KEYS):
            return f"written by Spark {version} with the Julian calendar: Spark's reader rebases its dates"
        return None
    int96 = [n for n in dated if f.columns.get(n) == INT96]
    if int96:
        return f"column {int96[0]!r} is INT96 not written by Spark 3 or later: Spark's reader converts it"
    if mode == "CORRECTED":
        return None
    if mode == "LEGACY":
        return "not written by Spark and datetimeRebaseModeInRead is LEGACY: Spark's reader rebases its dates"
    for name in dated:
        low = f.minimums.get(name)
        floor = GREGORIAN_SWITCH_DAY if dict(columns)[name] == "date" else TIMESTAMP_REBASE_MICROS
        if low is None:
            return f"column {name!r} has no statistics to show it holds no date Spark's reader would refuse"
        if low < floor:
            return f"column {name!r} holds a date before the calendar switch, which Spark's reader refuses"
    return None


def stored_problem(f: FileFacts, name: str, spark_type: str) -> str | None:
    """Why Spark's reader, not pyarrow, must decide whether and how ``name`` reads: the only way the
    two cannot part on a file one of them refuses (a method is a speed choice, not an outcome)."""
    odd = sorted(f.codecs.get(name, frozenset()) - SAME_CODECS)
    if odd:
        codec = "LZ4 (the deprecated codec)" if odd[0] == "UNKNOWN" else odd[0]
        return f"column {name!r} is compressed with {codec}: Spark's reader decides whether it reads it"
    if spark_type.startswith("decimal(") and f.physical.get(name, "INT32") not in SAME_DECIMALS:
        return f"column {name!r} is a decimal stored as {f.physical[name]}: Spark's reader decides whether it reads it"
    if name in f.page_faults:
        return f"column {name!r}: {f.page_faults[name]}, which Spark's reader does not read past"
    return None


def cut_units(files: Sequence[FileFacts], parallelism: int) -> tuple[DirectUnit, ...]:
    """Consecutive row groups of a file, about ``2 x parallelism`` units in all (a unit is never
    less than one row group), in file order: the same files give the same units on every attempt."""
    total = sum(sum(f.row_groups) for f in files)
    share = max(1, -(-total // max(1, 2 * parallelism)))
    units: list[DirectUnit] = []
    for f in files:
        groups: list[int] = []
        rows = 0
        for i, n in enumerate(f.row_groups):
            if n == 0:
                continue
            groups.append(i)
            rows += n
            if rows >= share:
                units.append(DirectUnit(f.path, tuple(groups), rows))
                groups, rows = [], 0
        if groups:
            units.append(DirectUnit(f.path, tuple(groups), rows))
    return tuple(units)
