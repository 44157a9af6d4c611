"""Geometry and geography columns: which PostGIS type a source column is, from its Parquet footer
(GeoParquet's ``geo`` key-value metadata, or Parquet's own GEOMETRY/GEOGRAPHY logical types) or from
Spark 4's ``geometry(srid)``/``geography(srid)`` types; and the Spark SQL that turns its WKB into
the EWKB PostGIS's ``geometry_recv`` takes with the SRID. Pure: the footers come in as text.

Why EWKB: a WKB value carries no SRID, and PostGIS refuses SRID 0 in a ``geometry(Point, 4326)``
column; EWKB (the SRID flag 0x20000000 in the type word, the SRID after it) lands with its SRID by
binary COPY, CSV and the JDBC methods alike. Driven from the footer, so PySpark 3.5 (which reads
such a column as binary) loads it as Spark 4 does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import SourceError

#: GeoParquet's default CRS (OGC:CRS84: longitude, latitude on WGS 84) as an SRID
DEFAULT_SRID = 4326


@dataclass(frozen=True)
class GeoColumn:
    name: str
    kind: str  # "geometry" or "geography"
    #: None: each value has its own (Spark's ``geometry(any)``), carried in its EWKB
    srid: int | None
    #: PostGIS's typmod type (Point, MultiPolygonZ...), None for any 2D one, "" for no typmod at all
    #: (types of different dimensions: a typmod's Z or its absence refuses the others)
    shape: str | None = None

    def pg_type(self) -> str:
        if self.shape == "" or (self.shape is None and not self.srid):
            return self.kind
        return f"{self.kind}({self.shape or 'Geometry'},{self.srid})"


def _srid_of_projjson(crs: object, where: str) -> int:
    if crs is None:
        return 0  # GeoParquet: null is an unknown or engineering CRS
    ident = crs.get("id") if isinstance(crs, dict) else None
    if isinstance(ident, dict) and str(ident.get("authority", "")).upper() == "EPSG" and str(ident.get("code", "")).isdigit():
        return int(ident["code"])
    if isinstance(ident, dict) and str(ident.get("authority", "")).upper() == "OGC" and ident.get("code") == "CRS84":
        return DEFAULT_SRID
    raise SourceError(f"{where}: its CRS has no EPSG code PostGIS can take as an SRID",
                      next_step="write the file with an EPSG CRS (GeoPandas: gdf.to_crs('EPSG:4326')), or cast the "
                                "column to binary in source.select and set the SRID in PostgreSQL")


def _shape(types: object) -> str | None:
    """PostGIS's typmod type for GeoParquet's ``geometry_types`` (["Point Z"] -> PointZ), None for
    several 2D types (Geometry), "" for types of different dimensions (no typmod can take them all)."""
    if not isinstance(types, list) or not types:
        return None
    split = [str(t).partition(" ") for t in types]
    dims = {d.replace(" ", "") for _b, _s, d in split}
    if len(dims) > 1:
        return ""
    if len(split) > 1:
        return None if dims == {""} else "Geometry" + dims.pop()
    return split[0][0] + split[0][2].replace(" ", "")


def from_geo_metadata(text: str, file: str) -> dict[str, GeoColumn]:
    """The columns GeoParquet's ``geo`` metadata describes (JSON; its spec 1.x)."""
    try:
        geo = json.loads(text)
        columns = geo["columns"]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{file}: its 'geo' metadata is not GeoParquet's JSON",
                          next_step="rewrite the file with a GeoParquet writer (GeoPandas, GDAL, DuckDB spatial)") from None
    out: dict[str, GeoColumn] = {}
    for name, spec in columns.items():
        where = f"{file}: column {name!r}"
        encoding = str(spec.get("encoding", "WKB"))
        if encoding.upper() != "WKB":
            raise SourceError(f"{where} is GeoParquet {encoding!r}, not WKB: the loader reads WKB columns",
                              next_step="write the file with encoding WKB (GeoPandas: to_parquet(geometry_encoding='WKB'))")
        srid = _srid_of_projjson(spec["crs"], where) if "crs" in spec else DEFAULT_SRID
        kind = "geography" if spec.get("edges") == "spherical" else "geometry"
        out[name] = GeoColumn(name, kind, srid, _shape(spec.get("geometry_types")))
    return out


_LOGICAL = re.compile(r"^(Geometry|Geography)\(crs=([^,)]*)")


def is_geospatial_logical(logical: str) -> bool:
    """Parquet's GEOMETRY/GEOGRAPHY logical type (as pyarrow prints it)."""
    return _LOGICAL.match(logical) is not None


def from_logical_type(name: str, logical: str, file: str) -> GeoColumn | None:
    """A column of Parquet's GEOMETRY/GEOGRAPHY logical type (as pyarrow prints it), else None."""
    m = _LOGICAL.match(logical)
    if m is None:
        return None
    crs = m.group(2).strip()
    if crs in ("", "OGC:CRS84", "EPSG:4326"):
        srid = DEFAULT_SRID
    elif re.fullmatch(r"(?i)(srid|epsg):\d+", crs):
        srid = int(crs.split(":")[1])
    else:
        raise SourceError(f"{file}: column {name!r}: CRS {crs!r} is not an SRID PostGIS can take",
                          next_step="write the file with an EPSG CRS, or cast the column to binary in source.select")
    return GeoColumn(name, m.group(1).lower(), srid, "")  # its types and dimensions unknown: no typmod


def from_spark_type(name: str, simple: str) -> GeoColumn | None:
    """Spark 4's ``geometry(4326)``/``geography(4326)`` and ``geometry(any)`` (an SRID per value),
    by their simpleString, else None."""
    m = re.fullmatch(r"(geometry|geography)\((\d+|any)\)", simple)
    if m is None:
        return None
    srid = None if m.group(2) == "any" else int(m.group(2))
    return GeoColumn(name, m.group(1), srid, "")  # dimensions unknown: no typmod


def _byte_hex(value: int, little: bool) -> str:
    return value.to_bytes(4, "little" if little else "big").hex().upper()


def _srid_bytes(srid: int | str, little: bool) -> str:
    """Spark SQL for the 4 bytes of ``srid`` (a number, or an int expression) in one byte order."""
    if isinstance(srid, int):
        return f"X'{_byte_hex(srid, little)}'"
    digits = f"lpad(hex({srid}), 8, '0')"  # big-endian hex digits; an SRID is below 2**31
    if not little:
        return f"unhex({digits})"
    return "unhex(concat(" + ", ".join(f"substr({digits}, {i}, 2)" for i in (7, 5, 3, 1)) + "))"


def ewkb_sql(column: str, srid: int | str) -> str:
    """Spark SQL turning the WKB in ``column`` (a quoted name or expression of binary type) into EWKB
    with ``srid`` (a number, or a Spark SQL int expression: each value's own): the SRID flag set in
    the type word's high byte, the SRID after the type word, each in the value's own byte order. A
    value that has the flag already (EWKB) is kept; so is every value whose SRID is 0 (no SRID to
    say). Works on Spark 3.5 and 4.x alike."""
    if srid == 0:
        return column
    flag = "(cast(conv(hex(substr({c}, {i}, 1)), 16, 10) AS int) | 32)"
    set_flag = "unhex(lpad(hex(" + flag + "), 2, '0'))"
    has_flag = "(cast(conv(hex(substr({c}, {i}, 1)), 16, 10) AS int) & 32) <> 0"
    little = (f"concat(substr({column}, 1, 4), {set_flag.format(c=column, i=5)}, {_srid_bytes(srid, True)}, "
              f"substr({column}, 6))")
    big = (f"concat(substr({column}, 1, 1), {set_flag.format(c=column, i=2)}, substr({column}, 3, 3), "
           f"{_srid_bytes(srid, False)}, substr({column}, 6))")
    no_srid = f"{column} IS NULL" if isinstance(srid, int) else f"{column} IS NULL OR {srid} = 0"
    return (f"CASE WHEN {no_srid} THEN {column} "
            f"WHEN substr({column}, 1, 1) = X'01' THEN "
            f"CASE WHEN {has_flag.format(c=column, i=5)} THEN {column} ELSE {little} END "
            f"ELSE CASE WHEN {has_flag.format(c=column, i=2)} THEN {column} ELSE {big} END END")


def footer_geo(metadata: Mapping[str, str], logical: Mapping[str, str], file: str) -> dict[str, GeoColumn]:
    """The geometry columns one file's footer names: GeoParquet's ``geo`` first, then logical types."""
    found = from_geo_metadata(metadata["geo"], file) if "geo" in metadata else {}
    for name, text in logical.items():
        col = from_logical_type(name, text, file)
        if col is not None and name not in found:
            found[name] = col
    return found
