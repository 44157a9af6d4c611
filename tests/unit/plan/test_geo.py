"""Which PostGIS type a geometry column becomes (plan/geo.py): Spark 4's types, GeoParquet's
metadata; what is refused."""

from __future__ import annotations

import json

import pytest

from loader.errors import SourceError
from loader.plan.geo import GeoColumn, ewkb_sql, from_geo_metadata, from_spark_type


@pytest.mark.parametrize("simple, column", [
    ("geometry(4326)", GeoColumn("g", "geometry", 4326, "")),
    ("geography(4326)", GeoColumn("g", "geography", 4326, "")),
    ("geometry(any)", GeoColumn("g", "geometry", None, "")),  # each value's SRID
    ("binary", None), ("string", None), ("struct<a:geometry(4326)>", None),
])
def test_spark_types(simple: str, column: GeoColumn | None) -> None:
    assert from_spark_type("g", simple) == column


def test_spark_types_have_no_typmod_and_any_srid_says_none_in_the_type() -> None:
    assert [from_spark_type("g", s).pg_type() for s in ("geometry(4326)", "geometry(any)", "geography(any)")] == \
        ["geometry", "geometry", "geography"]


def test_geoparquet_metadata_gives_type_and_srid() -> None:
    geo = {"version": "1.1.0", "primary_column": "p", "columns": {
        "p": {"encoding": "WKB", "geometry_types": ["Point"],
              "crs": {"id": {"authority": "EPSG", "code": 27700}}},
        "s": {"encoding": "WKB", "geometry_types": ["Polygon", "MultiPolygon"]},
        "z": {"encoding": "WKB", "geometry_types": ["Point Z", "LineString"], "edges": "spherical"}}}
    got = from_geo_metadata(json.dumps(geo), "f.parquet")
    assert {n: c.pg_type() for n, c in got.items()} == {
        "p": "geometry(Point,27700)", "s": "geometry(Geometry,4326)", "z": "geography"}


def test_a_crs_without_an_epsg_id_is_refused_naming_the_file_and_column() -> None:
    geo = {"columns": {"p": {"encoding": "WKB", "crs": {"name": "local", "id": {"authority": "ESRI", "code": 1}}}}}
    with pytest.raises(SourceError, match=r"f.parquet: column 'p': its CRS has no EPSG code"):
        from_geo_metadata(json.dumps(geo), "f.parquet")


def test_ewkb_of_a_per_value_srid_keeps_srid_zero_values_as_wkb() -> None:
    sql = ewkb_sql("w", "st_srid(g)")
    assert sql.startswith("CASE WHEN w IS NULL OR st_srid(g) = 0 THEN w ")
    assert "lpad(hex(st_srid(g)), 8, '0')" in sql
    assert ewkb_sql("w", 0) == "w"
    assert "X'E6100000'" in ewkb_sql("w", 4326) and "X'000010E6'" in ewkb_sql("w", 4326)
