"""Geometry and geography columns of a source made ready for PostGIS, for every method: each such
column becomes EWKB (its WKB with the SRID, plan/geo.py) and carries its PostgreSQL type in the
field's metadata (``loader.pg_type``), which the type map creates the column with.

Found in Spark 4's types (``geometry(4326)``: Spark's ``st_asbinary`` gives the WKB) and in the
footers of a Parquet source's local files (GeoParquet's ``geo`` metadata, Parquet's GEOMETRY and
GEOGRAPHY logical types), so PySpark 3.5, which reads those columns as binary, loads them alike.
"""

from __future__ import annotations

from typing import Any

from ..errors import SourceError
from ..manifest import SourceSpec
from ..plan.geo import GeoColumn, ewkb_sql, footer_geo, from_spark_type
from ..plan.pg_text import ident as quote_spark
from ..plan.typemap import PG_TYPE_KEY


def _local_files(df: Any) -> list[str]:
    from .parquet_scan import local_file

    try:
        files = [local_file(u) for u in df.inputFiles()]
    except Exception:  # a source without files (a JDBC query, a computed frame)
        return []
    return sorted(p for p in files if p is not None)


def footer_columns(files: list[str]) -> dict[str, GeoColumn]:
    """The geometry columns the files' footers describe; every file must say the same of a column."""
    import pyarrow.parquet as pq

    found: dict[str, tuple[GeoColumn, str]] = {}
    for path in files:
        try:
            pf = pq.ParquetFile(path)
        except Exception:  # not a footer pyarrow reads: Spark's reader says why, later
            continue
        kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (pf.metadata.metadata or {}).items()}
        logical = {pf.schema.column(i).path: str(pf.schema.column(i).logical_type) for i in range(len(pf.schema))}
        for name, col in footer_geo(kv, logical, path).items():
            seen = found.setdefault(name, (col, path))
            if seen[0] != col:
                raise SourceError(f"column {name!r} is {seen[0].pg_type()} in {seen[1]} and {col.pg_type()} in {path}",
                                  next_step="load the files separately, or rewrite them with one CRS and type")
    return {name: col for name, (col, _p) in found.items()}


def spatial(df: Any, source: SourceSpec | None = None) -> Any:
    """``df`` with its geometry columns as EWKB, each typed for PostGIS in its field's metadata."""
    from pyspark.sql import functions as F

    geo: dict[str, tuple[GeoColumn, str]] = {}
    for f in df.schema.fields:
        col = from_spark_type(f.name, f.dataType.simpleString())
        if col is not None:
            geo[f.name] = (col, f"st_asbinary({quote_spark(f.name)})")
    if source is not None and source.format == "parquet":
        binary = {f.name for f in df.schema.fields if f.dataType.simpleString() == "binary"}
        for name, col in footer_columns(_local_files(df)).items():
            if name in binary:
                geo[name] = (col, quote_spark(name))
    if not geo:
        return df
    return df.select(*[
        F.expr(ewkb_sql(geo[f.name][1], geo[f.name][0].srid)).alias(f.name, metadata={PG_TYPE_KEY: geo[f.name][0].pg_type()})
        if f.name in geo else F.col(quote_spark(f.name)) for f in df.schema.fields])
