"""The staging format, chosen once per run and carried as an object: binary or CSV.

Binary COPY is PostgreSQL's fastest input (no text to parse; measured in bench/README.md), but
it converts nothing: every field must already be in the target column's own wire format. So
``choose_format`` takes binary only when every target column can be produced exactly
(``binary_types.binary_unsupported``), and otherwise CSV, naming the column and its type in
the reason (shown by ``--dry-run``, recorded with the run and returned in ``LoadResult``).

Each format gives the rest of the COPY method what differs between the two:

* ``frame``: the DataFrame the executors receive as Arrow batches (``mapInArrow``): CSV lines
  rendered in the JVM, or the columns themselves (structs and maps as JSON text);
* ``encoder``: the picklable object that turns one partition's batches into parts, each a
  complete COPY input of its own (binary: header, tuples, trailer), so a part loads alone,
  client-side and server-side, and a resume can skip it;
* ``copy_options`` and the part keys' extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..plan.pg_text import JSON_OPTIONS, float_text, needs_float_text
from ..plan.pg_types import parse
from ..plan.typemap import SPATIAL, ColumnPlan, kind, pg_type
from .csv_encode import csv_lines
from .part_reader import binary_fields, csv_fields
from .task import batch_bytes, nul_byte_message, nul_message

FORMATS = ("auto", "binary", "csv")


@dataclass(frozen=True)
class CsvPartEncoder:
    """Executor side of CSV: the lines are already rendered; a part is their bytes."""

    columns: tuple[str, ...]
    check_nul: bool

    def header(self) -> bytes:
        return b""

    def trailer(self) -> bytes:
        return b""

    def encode(self, batch: Any, partition: int, rows_before: int) -> bytes:
        data = batch_bytes(batch.column(0))
        if self.check_nul and b"\x00" in data:  # memchr: free when there is none
            raise ValueError(nul_byte_message(batch.column(0), self.columns, partition, rows_before))
        return data


@dataclass(frozen=True)
class BinaryPartEncoder:
    """Executor side of binary: cast each column to its target's type and encode (pgpq)."""

    columns: tuple[tuple[str, str], ...]  # (name, target type as format_type() prints it)
    strip_nul: bool

    def _encoder(self) -> Any:
        return _binary_encoder(self.columns)

    def header(self) -> bytes:
        return bytes(self._encoder().header())

    def trailer(self) -> bytes:
        return bytes(self._encoder().trailer())

    def encode(self, batch: Any, partition: int, rows_before: int) -> bytes:
        from .binary_encode import find_nul, strip_nul

        if self.strip_nul:
            batch = strip_nul(batch)
        else:
            found = find_nul(batch)
            if found is not None:  # Arrow names the columns c0, c1...: say the target's name
                column = self.columns[batch.schema.names.index(found[0])][0]
                raise ValueError(nul_message(column, partition, rows_before + found[1] + 1))
        return bytes(self._encoder().encode(batch))


def _binary_encoder(columns: tuple[tuple[str, str], ...]) -> Any:
    """One encoder per column list and executor process (its casts are planned once)."""
    encoder = _ENCODERS.get(columns)
    if encoder is None:
        from .binary_encode import BinaryEncoder, TargetColumn

        encoder = _ENCODERS[columns] = BinaryEncoder([TargetColumn(n, t) for n, t in columns])
    return encoder


_ENCODERS: dict[tuple[tuple[str, str], ...], Any] = {}


class StagingFormat:
    name: str = ""
    #: what the design document's log line calls the parts ("Writing temporary CSV to ...")
    label: str = ""
    content_type: str = ""
    #: a server-side import may refuse this format where the same parts stream fine from the client
    #: (an aws_s3 that does not pass binary to COPY); CSV imports fail only for S3/IAM reasons
    server_may_refuse: bool = False
    #: reads the given fields of one row (1-based, as PostgreSQL counts) back from a part
    row_fields: Any = None

    def frame(self, df: Any, plan: ColumnPlan, strip_nul: bool, target: ColumnPlan | None = None) -> Any:
        """The DataFrame the executors receive. ``plan``: the landing types; ``target``: the table's,
        when the rows land apart first (``landing_types``)."""
        raise NotImplementedError

    def encoder(self, plan: ColumnPlan, strip_nul: bool) -> Any:
        raise NotImplementedError

    def extension(self, gzip: bool) -> str:
        raise NotImplementedError

    def copy_options(self, freeze: bool) -> str:
        raise NotImplementedError

    def landing_types(self, plan: ColumnPlan, schema: Any, cast_later: bool) -> tuple[str, ...]:
        """The column types the parts are COPYed into. Normally the target's. With ``cast_later``
        (``on_error: reject``, a slice replace) the rows land first in a TEMP table whose types
        accept every value the source can hold, and are cast on their way into the target: a
        value the target refuses fails its row (reject: in the bisected INSERT), not the COPY,
        and a column binary cannot produce (PostGIS geometry from WKT) is cast by the server."""
        return plan.pg_types


class CsvFormat(StagingFormat):
    name, label, content_type = "csv", "CSV", "text/csv"
    row_fields = staticmethod(csv_fields)

    def frame(self, df: Any, plan: ColumnPlan, strip_nul: bool, target: ColumnPlan | None = None) -> Any:
        from pyspark.sql import functions as F

        # PostGIS's text input reads hex (E)WKB, not bytea's \x form: bytes bound for a spatial
        # column travel as plain hex
        binary = {f.name for f in df.schema.fields if kind(f.dataType) == "BinaryType"}
        spatial = [n for n, t in zip(plan.names, plan.pg_types, strict=True)
                   if n in binary and parse(t).plain in SPATIAL]
        if spatial:
            df = df.withColumns({n: F.hex(F.col("`" + n.replace("`", "``") + "`")) for n in spatial})
        # a double bound for numeric (landing as text or not): its shortest digits (pg_text)
        types = {f.name: f.dataType for f in df.schema.fields}
        bound = target or plan
        floats = [n for n, t in zip(bound.names, bound.pg_types, strict=True) if needs_float_text(types[n], t)]
        if floats:
            df = df.withColumns({n: float_text(F.col("`" + n.replace("`", "``") + "`"), types[n])[0] for n in floats})
        return csv_lines(df, plan.names, strip_nul)

    def encoder(self, plan: ColumnPlan, strip_nul: bool) -> CsvPartEncoder:
        return CsvPartEncoder(plan.names, check_nul=not strip_nul)

    def extension(self, gzip: bool) -> str:
        return ".csv.gz" if gzip else ".csv"

    def landing_types(self, plan: ColumnPlan, schema: Any, cast_later: bool) -> tuple[str, ...]:
        if not cast_later:
            return plan.pg_types
        # every CSV value is text, bytes as bytea's \x text: cast from bytea (PostGIS has that cast)
        binary = {f.name for f in schema.fields if kind(f.dataType) == "BinaryType"}
        return tuple("bytea" if n in binary else "text" for n in plan.names)

    def copy_options(self, freeze: bool) -> str:
        return "(FORMAT csv, ENCODING 'UTF8'" + (", FREEZE" if freeze else "") + ")"


class BinaryFormat(StagingFormat):
    name, label, content_type = "binary", "binary", "application/octet-stream"
    server_may_refuse = True
    row_fields = staticmethod(binary_fields)

    def frame(self, df: Any, plan: ColumnPlan, strip_nul: bool, target: ColumnPlan | None = None) -> Any:
        from pyspark.sql import functions as F

        types = {f.name: f.dataType for f in df.schema.fields}
        cols = []
        for i, (name, landing) in enumerate(zip(plan.names, plan.pg_types, strict=True)):
            col = F.col("`" + name.replace("`", "``") + "`")
            if _needs_json(types[name], landing):
                col = F.to_json(col, JSON_OPTIONS)  # structs, maps and nested arrays load as json/jsonb text
            cols.append(col.alias(f"c{i}"))
        return df.select(*cols)

    def encoder(self, plan: ColumnPlan, strip_nul: bool) -> BinaryPartEncoder:
        return BinaryPartEncoder(tuple(zip(plan.names, plan.pg_types, strict=True)), strip_nul)

    def extension(self, gzip: bool) -> str:
        return ".bin.gz" if gzip else ".bin"

    def landing_types(self, plan: ColumnPlan, schema: Any, cast_later: bool) -> tuple[str, ...]:
        if not cast_later:
            return plan.pg_types
        # the source's own types (what a new table would get): every value encodes exactly; a
        # double bound for numeric as text (float8 -> numeric keeps 15 digits), which binary
        # cannot produce: such a table is staged as CSV, whose landing column is text
        types = {f.name: f.dataType for f in schema.fields}
        return tuple("text" if needs_float_text(types[n], t) else pg_type(types[n])
                     for n, t in zip(plan.names, plan.pg_types, strict=True))

    def copy_options(self, freeze: bool) -> str:
        return "(FORMAT binary" + (", FREEZE" if freeze else "") + ")"


def _needs_json(dtype: Any, target: str) -> bool:
    """Structs, maps and arrays bound for json/jsonb travel as their JSON text (as in CSV)."""
    k = kind(dtype)
    return k in ("StructType", "MapType") or (k == "ArrayType" and parse(target).plain in ("json", "jsonb"))


def _kind_of(dtype: Any, target: str) -> str:
    """The Spark kind as the binary encoder sees it: arrays with their element, JSON as text."""
    if _needs_json(dtype, target):
        return "StringType"
    if kind(dtype) == "ArrayType":
        return f"ArrayType<{kind(dtype.elementType)}>"
    return kind(dtype)


def choose_format(requested: str, plan: ColumnPlan, schema: Any, *, cast_later: bool) -> tuple[StagingFormat, str]:
    """The staging format for this run and why: the one decision, made before anything is staged.
    ``cast_later``: the rows land in a table of the load's own in the source's types and are cast on
    their way into the target (on_error: reject, a slice replace): every source type encodes."""
    if requested not in FORMATS:
        raise ConfigError(f"copy.format {requested!r} is not one of {', '.join(FORMATS)}")
    if requested == "csv":
        return CsvFormat(), "csv requested"
    why_not = _binary_problem(plan, schema, cast_later)
    if why_not is None:
        return BinaryFormat(), "binary: every column has a binary encoding"
    if requested == "binary":
        raise ConfigError(f"copy.format binary cannot load this table: {why_not}",
                          next_step="use copy.format: auto (or csv), or cast the column in Spark")
    return CsvFormat(), f"csv: {why_not}"


def _binary_problem(plan: ColumnPlan, schema: Any, cast_later: bool) -> str | None:
    if cast_later:  # the rows land in the source's own types first (landing_types): always encodable
        plan = ColumnPlan(plan.names, BinaryFormat().landing_types(plan, schema, cast_later=True))
    from .binary_types import TargetColumn, binary_unsupported

    types = {f.name: f.dataType for f in schema.fields}
    found = binary_unsupported([TargetColumn(n, t) for n, t in zip(plan.names, plan.pg_types, strict=True)],
                               [_kind_of(types[n], t) for n, t in zip(plan.names, plan.pg_types, strict=True)])
    if found is None:
        return None
    column, reason = found
    return f"column {column!r} ({reason})"


def planned_format(requested: str, target: Sequence[tuple[str, str]] | None, *, reject: bool) -> str:
    """What ``--dry-run`` can say before the source is read: the target's column types alone
    decide most cases (uuid, inet, enums are CSV whatever the source); a table created from
    the source always takes binary."""
    if requested == "csv":
        return "csv (requested)"
    if reject:
        return "binary (on_error: reject lands the rows in the source's types, then casts each row)"
    if target is None:
        return "binary (the table is created from the source's types)"
    from .binary_types import SCALAR_SOURCES, TargetColumn

    for name, target_type in target:
        base = TargetColumn(name, target_type).base
        element = base[:-2] if base.endswith("[]") else base
        if element not in SCALAR_SOURCES or (base.endswith("[]") and element in ("json", "jsonb")):
            if requested == "binary":
                return (f"binary requested, but column {name!r} ({target_type}) has no binary encoding: "
                        "the run will fail")
            return f"csv: column {name!r} ({target_type}) has no binary encoding"
    return "binary, unless a source column's type needs CSV (decided when the source is read)"
