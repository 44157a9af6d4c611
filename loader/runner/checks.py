"""``--dry-run``'s checks of a manifest: everything that can be known without moving data.

The source: its path matches files (local) or objects (S3, one listing call); its columns and types,
where that is cheap and exact: a Parquet or ORC footer (pyarrow, the same types Spark reads), a CSV
header line (every column a string unless ``inferSchema`` asks Spark to look at the data). JSON and
JDBC sources, S3 Parquet, and CSV with ``inferSchema`` are only known once Spark reads them: said
so, not guessed. With the source's columns: the key columns are in it, and an existing table
matches it by the same rule the load applies (``typemap.match_columns``). Each problem names the
manifest's field; the runner's plan adds the target's and the bucket's. The role's privileges
(``privileges``) are asked the question the run asks, for ``doctor`` too.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

from ..adapters import pg
from ..destination import privilege_check
from ..destination.privileges import LoadShape, Report, slice_kind
from ..errors import LoaderError, SchemaMismatchError, SourceError
from ..manifest import Manifest
from ..options import Method
from ..plan.footer_types import as_spark_reads
from .line_ends import local_files
from .sources import reader_options

Problem = tuple[str, str]  # (manifest field, message)

_FOOTER_FORMATS = ("parquet", "orc")


@dataclass(frozen=True)
class SourceShape:
    #: Spark's schema of the source (a StructType), or None when only Spark can tell
    schema: Any | None
    #: how the columns were learnt, or why they are not known before the run
    note: str


def source_shape(m: Manifest, problems: list[Problem]) -> SourceShape:
    src = m.source
    if src.is_jdbc:
        return SourceShape(None, "columns known when the query runs")
    if not src.path:
        return SourceShape(None, f"{src.format}: columns known when Spark reads it")
    if src.select:  # the loaded columns are the projection's, known once Spark resolves it
        return SourceShape(None, "columns known when Spark applies source.select")
    path = src.path
    if path.startswith(("s3://", "s3a://")):
        return _s3_source(path, problems)
    local = path[len("file://"):] if path.startswith("file://") else path
    if "://" in local:
        return SourceShape(None, "columns known when Spark reads it")
    files = local_files(local)
    if not files:
        problems.append(("source.path", f"{path}: no such file or folder (or no data files in it)"))
        return SourceShape(None, "no files")
    if src.format in _FOOTER_FORMATS:
        return _footer_schema(src.format, files[0], problems)
    if src.format == "csv":
        try:
            options = reader_options(src)
        except SourceError as exc:  # files whose line endings differ (line_ends.py)
            problems.append(("source.path", exc.message))
            return SourceShape(None, "files refused")
        return _csv_header(options, files[0], problems)
    return SourceShape(None, f"{src.format}: Spark infers the columns from the data when it reads it")


def _s3_source(uri: str, problems: list[Problem]) -> SourceShape:
    from ..adapters import s3

    bucket, _, prefix = uri.split("://", 1)[1].partition("/")
    try:
        first = next(iter(s3.iter_objects(s3.make_client(max_attempts=1), bucket, prefix)), None)
    except LoaderError as exc:  # translated in adapters/s3 (NoSuchBucket, AccessDenied, ...)
        problems.append(("source.path", f"{uri}: cannot be listed: {exc.message}"))
        return SourceShape(None, "not readable")
    if first is None:
        problems.append(("source.path", f"{uri}: no objects under this prefix"))
        return SourceShape(None, "no objects")
    return SourceShape(None, "S3 source: columns known when Spark reads it")


def _footer_schema(fmt: str, path: str, problems: list[Problem]) -> SourceShape:
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType, TimestampType

    int96: set[str] = set()
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            arrow = pf.schema_arrow
            for i in range(len(pf.schema)):
                col = pf.schema.column(i)
                if col.physical_type == "INT96":  # Spark's legacy timestamps: read as timestamp (UTC)
                    int96.add(col.path)
                elif '"timeUnit":"nanoseconds"' in col.logical_type.to_json().replace(" ", ""):
                    problems.append(("source.path", f"{path}: column {col.path!r} holds nanosecond timestamps, "
                                     "which Spark cannot read -> write the file with coerce_timestamps='us' (pandas: "
                                     "df.to_parquet(..., coerce_timestamps='us', allow_truncated_timestamps=True))"))
                    return SourceShape(None, "not readable by Spark")
        else:
            import pyarrow.orc as orc

            arrow = orc.ORCFile(path).schema
    except (OSError, pa.ArrowException) as exc:
        problems.append(("source.path", f"{path}: not a readable {fmt} file ({str(exc).splitlines()[0][:200]})"))
        return SourceShape(None, "not readable")
    fields = []
    for f in arrow:
        try:
            # nullable, as Spark's file sources make every column
            spark_type = TimestampType() if f.name in int96 else from_arrow_type(as_spark_reads(f.type),
                                                                                     prefer_timestamp_ntz=True)
            fields.append(StructField(f.name, spark_type, True))
        except (TypeError, ValueError) as exc:  # a type PySpark has no mapping for: Spark says at run time
            return SourceShape(None, f"column {f.name!r}: {exc}; columns known when Spark reads it")
    return SourceShape(StructType(fields), f"columns from the {fmt} footer of {os.path.basename(path)}")


def _csv_header(options: dict[str, str], path: str, problems: list[Problem]) -> SourceShape:
    from pyspark.sql.types import StringType, StructField, StructType

    if options.get("inferSchema", "false").lower() == "true":
        return SourceShape(None, "csv with inferSchema: Spark infers the types from the data")
    try:
        with open(path, encoding=options.get("encoding", "utf-8"), newline="") as fh:
            first = next(csv.reader(fh, delimiter=options.get("sep", options.get("delimiter", ",")),
                                    quotechar=options.get("quote", '"')), [])
    except (OSError, UnicodeError, csv.Error) as exc:
        problems.append(("source.path", f"{path}: cannot read its first line ({exc})"))
        return SourceShape(None, "not readable")
    header = options.get("header", "false").lower() == "true"
    names = first if header else [f"_c{i}" for i in range(len(first))]
    how = "from the CSV header" if header else "CSV without a header: Spark names the columns _c0, _c1, ..."
    return SourceShape(StructType([StructField(n, StringType(), True) for n in names]), f"{how} (all strings)")


def check_against_source(m: Manifest, schema: Any, existing: list[Any] | None, problems: list[Problem]) -> None:
    """The key columns are in the source; an existing table matches the source (the load's rule)."""
    from ..plan.typemap import match_columns

    names = {f.name for f in schema.fields}
    missing = [k for k in m.target.key if k not in names]
    if missing:
        problems.append(("target.key", f"key column(s) {', '.join(map(repr, missing))} not in the source "
                         f"(its columns: {', '.join(sorted(names))})"))
    if existing is not None:
        try:
            match_columns(m.target.ref, schema, existing, add_columns=m.target.schema_evolution == "add_columns")
        except SchemaMismatchError as exc:
            problems.append(("target.table", exc.message))


def privileges(m: Manifest, method: Method) -> Report:
    """What the role of ``m``'s connection lacks for a run by ``method`` (AUTO: COPY or the optimized
    JDBC it may choose). Raises a LoaderError when the database cannot be reached."""
    t = m.target
    shape = LoadShape(t.ref, t.loader_schema, t.mode, method=method,
                      slice=slice_kind(t.replace_where, t.replace_by),
                      reject=m.on_error == "reject", allow_empty=t.allow_empty, create=t.create,
                      truncate=t.overwrite == "truncate")
    conn = pg.connect(t.connection, application_name="loader:privileges", autocommit=True)
    try:
        with conn.cursor() as cur:
            return privilege_check.missing(cur, shape)
    finally:
        conn.close()


def privileges_check(m: Manifest, method: Method) -> dict[str, Any]:
    """``loader doctor``'s check of the same question, in its report's shape (ok, detail)."""
    try:
        report = privileges(m, method)
    except LoaderError as exc:
        return {"ok": False, "detail": f"not checked: {exc.message}"}
    where = f"ledger, staging and rejects in schema {m.target.loader_schema}"
    if report.ok:
        return {"ok": True, "detail": f"role {report.role} holds every privilege a load by {method} into "
                                      f"{m.target.ref} needs ({where})"}
    return {"ok": False, "detail": f"role {report.role} lacks {len(report.missing)} privilege(s) a load by {method} "
                                   f"into {m.target.ref} needs ({where}):"
                                   + "".join(f"\n      {line}" for line in report.lines())}
