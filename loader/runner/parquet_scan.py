"""The runner's side of the direct Parquet read: the footers of the files Spark would read, turned
into the facts plan/direct_plan.py decides on. I/O only (the footers, Spark's settings); the
decision and its reasons are direct_plan's.

A Parquet source qualifies without a ``schema``, reader ``options`` or an incremental window (Spark's
to apply); its ``select`` only if it names columns, its ``where`` only if pyarrow evaluates it as
Spark does (plan/direct_filter.py). The files are the ones Spark
lists for the DataFrame (``inputFiles``), local for now: pyarrow on the executors would read
``s3://`` with the instance role, but that is not built (an S3 source keeps Spark's reader).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from typing import Any

from ..manifest import SourceSpec
from ..plan.direct_filter import Where, parse_where
from ..plan.direct_plan import INT96, DirectRead, FileFacts, plan_direct, stored_problem
from ..plan.footer_types import as_spark_reads
from ..plan.geo import is_geospatial_logical
from ..plan.typemap import PG_TYPE_KEY
from .page_walk import file_faults

_EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def direct_candidate(spark: Any, source: SourceSpec, df: Any) -> DirectRead | str | None:
    """The direct read of the source's files, the reason Spark's reader stays, or None when the
    source is not Parquet files (nothing to say)."""
    if source.format != "parquet" or not source.path:
        return None
    for field, value in (("schema", source.schema), ("options", source.options)):
        if value:
            return f"source.{field} is Spark's to apply"
    if source.select and not all(_PLAIN.match(item) for item in source.select):
        return "source.select computes columns, which is Spark's to do (only plain column names are read by pyarrow)"
    geo = [f.name for f in df.schema.fields if PG_TYPE_KEY in (f.metadata or {})]
    if geo:
        return f"column {geo[0]!r} is a geometry: Spark's rows carry it as EWKB with its SRID"
    files = [local_file(u) for u in df.inputFiles()]
    local = sorted(p for p in files if p is not None)
    if len(local) < len(files):
        return "the files are not local (pyarrow reads local files only, for now)"
    try:
        facts = [footer_facts(p) for p in local]
    except OSError as exc:
        return f"a footer could not be read by pyarrow ({str(exc).splitlines()[0][:200]})"
    where: Where | None = None
    if source.where:
        parsed = parse_where(source.where, _common_columns(facts))
        if isinstance(parsed, str):
            return parsed
        where = parsed
    conf = spark.conf
    read = plan_direct([(f.name, f.dataType.simpleString()) for f in df.schema.fields], facts,
                       parallelism=int(spark.sparkContext.defaultParallelism),
                       rebase_mode=_setting(conf, "spark.sql.parquet.datetimeRebaseModeInRead", "EXCEPTION"),
                       int96_conversion=_setting(conf, "spark.sql.parquet.int96TimestampConversion",
                                                 "false").lower() == "true")
    return read if isinstance(read, str) or where is None else dataclasses.replace(read, where=where)


def _setting(conf: Any, key: str, older: str) -> str:
    """Spark's value of ``key``: its own default when unset (Spark 4 reads CORRECTED where 3.5 read
    EXCEPTION), ``older`` only where the session cannot say."""
    try:
        value = conf.get(key)
    except Exception:  # a key this Spark does not know
        value = None
    return str(value if value is not None else older)


#: a select item that only names a column (then the DataFrame's columns are the files')
_PLAIN = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`]|``)+`)\s*$")


def _common_columns(facts: list[FileFacts]) -> dict[str, str]:
    """The columns every file has with the same type (name -> Arrow type as Spark reads it)."""
    if not facts:
        return {}
    common = dict(facts[0].columns)
    for f in facts[1:]:
        common = {n: t for n, t in common.items() if f.columns.get(n) == t}
    return common


def local_file(uri: str) -> str | None:
    """The path of a ``file:`` URI as Spark lists it (``file:/a/b`` or ``file:///a/b``), else None."""
    if not uri.startswith("file:"):
        return None if "://" in uri else uri
    rest = uri[len("file:"):]
    return "/" + rest.lstrip("/") if rest.startswith("/") else None


def footer_facts(path: str) -> FileFacts:
    """One file's footer: top-level columns as Spark reads them, key-value metadata, row groups, and
    the smallest date or timestamp per such column (None where a row group has no statistics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except pa.ArrowException as exc:
        raise OSError(f"{os.path.basename(path)}: {exc}") from None
    meta = pf.metadata
    leaves = {pf.schema.column(i).path: (i, pf.schema.column(i).physical_type) for i in range(len(pf.schema))}
    columns: dict[str, str] = {}
    minimums: dict[str, int | None] = {}
    for f in pf.schema_arrow:
        leaf = leaves.get(f.name)
        if leaf is not None and leaf[1] == "INT96":
            columns[f.name] = INT96
            continue
        columns[f.name] = str(as_spark_reads(f.type))
        if leaf is not None and (pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)):
            minimums[f.name] = _minimum(meta, leaf[0])
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()}
    codecs: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            codecs.setdefault(column.path_in_schema.split(".")[0], set()).add(str(column.compression))
    physical = {name: kind for name, (_i, kind) in leaves.items()}
    return FileFacts(path, columns, kv, tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups)),
                     minimums, {n: frozenset(c) for n, c in codecs.items()}, physical, file_faults(path, meta))


def _minimum(meta: Any, column: int) -> int | None:
    """The column's smallest value over the row groups, in days or microseconds since 1970."""
    low: int | None = None
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if meta.row_group(i).num_rows == 0:
            continue
        if stats is None or not stats.has_min_max:
            return None
        try:
            value = _as_int(stats.min)
        except (ValueError, OverflowError):  # a value Python's datetime cannot hold: not proven
            value = None
        if value is None:
            return None
        low = value if low is None else min(low, value)
    return low


def _as_int(value: Any) -> int | None:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dt.date):
        return (value - _EPOCH_DAY).days
    return None


def odd_columns(path: str) -> str | None:
    """What of a local Parquet file's footer Spark's reader may refuse (the columns, why), to name the
    column in a refusal Spark gives only for the file; None when nothing (or no footer) says."""
    try:
        f = footer_facts(path)
    except (OSError, ValueError):
        return None
    found = [stored_problem(f, name, "decimal(" if t.startswith("decimal") else t) for name, t in f.columns.items()]
    said = [why for why in found if why is not None] + _geospatial_before_spark_41(path)
    return "; ".join(said) if said else None


def _geospatial_before_spark_41(path: str) -> list[str]:
    """Parquet's GEOMETRY/GEOGRAPHY logical types are newer than the Parquet reader of Spark before
    4.1 (PySpark 3.5's parquet-mr 1.13 fails on such a footer): said where this Spark has no
    geometry type. GeoParquet's WKB columns are plain binary to every Spark."""
    from pyspark.sql import types

    if hasattr(types, "GeometryType"):
        return []
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema
    columns = [schema.column(i) for i in range(len(schema))]
    return [f"column {c.path!r} is of Parquet's {str(c.logical_type).split('(')[0].upper()} logical type, which "
            "Spark reads from 4.1 on (its older Parquet reader cannot read the file's footer): load it with "
            "Spark 4.1+, or write it as GeoParquet (WKB with 'geo' metadata, e.g. GeoPandas' "
            "to_parquet(geometry_encoding='WKB'))"
            for c in columns if is_geospatial_logical(str(c.logical_type))]
