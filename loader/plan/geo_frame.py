"""A DataFrame's geometry and geography columns made ready for PostGIS, for every method and both
ways in (``write_to_postgres`` and a manifest's source, runner/spatial.py): each such column becomes
EWKB (its WKB with the SRID, geo.py) and carries its PostgreSQL type in the field's metadata
(``loader.pg_type``), which the type map creates the column with.

Spark 4.1+'s ``geometry(srid)``/``geography(srid)`` columns are found by their type (``st_asbinary``
gives the WKB; ``geometry(any)``'s values each say their SRID, ``st_srid``); binary columns known to
hold WKB by other means (a Parquet source's footers, which PySpark 3.5 needs) are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SchemaMismatchError
from .geo import GeoColumn, ewkb_sql, from_spark_type
from .pg_text import ident as quote_spark
from .typemap import PG_TYPE_KEY


def as_postgis(df: Any, wkb_columns: Mapping[str, GeoColumn] | None = None) -> Any:
    """``df`` with its geometry columns as EWKB, each typed for PostGIS in its field's metadata;
    ``wkb_columns``: binary columns holding WKB, by name (one of another type is left as it is).
    ``df`` itself when it has none."""
    from pyspark.sql import functions as F

    wkb_columns = wkb_columns or {}
    ewkb: dict[str, tuple[GeoColumn, str]] = {}
    for f in df.schema.fields:
        q = quote_spark(f.name)
        col = from_spark_type(f.name, f.dataType.simpleString())
        if col is not None:
            ewkb[f.name] = (col, ewkb_sql(f"st_asbinary({q})", f"st_srid({q})" if col.srid is None else col.srid))
        elif f.name in wkb_columns and f.dataType.simpleString() == "binary":
            ewkb[f.name] = (wkb_columns[f.name], ewkb_sql(q, wkb_columns[f.name].srid or 0))
        elif any(_holds_spatial(t) for t in _inner_types(f.dataType)):
            raise SchemaMismatchError(
                f"column {f.name!r} holds geometry inside {f.dataType.simpleString()}: only a column of its own "
                "loads into PostGIS", next_step="select the geometry as a column of its own (place.at AS at), or "
                                                "turn it into WKB with st_asbinary()")
    if not ewkb:
        return df
    return df.select(*[
        F.expr(ewkb[f.name][1]).alias(f.name, metadata={PG_TYPE_KEY: ewkb[f.name][0].pg_type()})
        if f.name in ewkb else F.col(quote_spark(f.name)) for f in df.schema.fields])


def _inner_types(data_type: Any) -> list[Any]:
    """The types a struct, array or map holds (Spark's types have no common walk)."""
    inner = [f.dataType for f in getattr(data_type, "fields", None) or []]
    return inner + [getattr(data_type, a) for a in ("elementType", "keyType", "valueType") if hasattr(data_type, a)]


def _holds_spatial(data_type: Any) -> bool:
    return type(data_type).__name__ in ("GeometryType", "GeographyType") or \
        any(_holds_spatial(t) for t in _inner_types(data_type))
