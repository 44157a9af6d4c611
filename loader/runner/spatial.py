"""Geometry and geography columns of a manifest's source made ready for PostGIS, for every method
(plan/geo_frame.py, as for ``write_to_postgres``): Spark 4's types, and the WKB columns the footers
of a Parquet source's local files describe (GeoParquet's ``geo`` metadata, Parquet's GEOMETRY and
GEOGRAPHY logical types), so PySpark 3.5, which reads those columns as binary, loads them alike.
"""

from __future__ import annotations

from typing import Any

from ..errors import SourceError
from ..manifest import SourceSpec
from ..plan.geo import GeoColumn, footer_geo
from ..plan.geo_frame import as_postgis


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
    """``df`` with its geometry columns as EWKB, each typed for PostGIS in its field's metadata
    (plan/geo_frame.py): Spark's geometry types, and a Parquet source's WKB columns its footers name."""
    wkb = footer_columns(_local_files(df)) if source is not None and source.format == "parquet" else {}
    return as_postgis(df, wkb)
