"""A DataFrame handed to ``write_to_postgres`` with Spark 4's ``geometry(srid)``, ``geometry(any)``
and ``geography(srid)`` columns loads into PostGIS by every method and staging format, value for
value (the same EWKB: coordinates, Z, byte order normalised, empty geometries, NULL; each value's
SRID), into a table the load creates and into an existing one with typed columns; geometry nested
in a struct is refused naming the column. PySpark 3.5 has no such types: skipped there."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import SchemaMismatchError
from tests.helpers.pg_features import require_extension

POINT = struct.pack("<BIdd", 1, 1, -0.1276, 51.5072)
LINE_Z = struct.pack("<BII6d", 1, 1002, 2, 0, 0, 1, 2, 2, 3)  # ISO WKB LINESTRING Z
EMPTY_POLYGON = struct.pack("<BII", 1, 3, 0)
BIG_ENDIAN_POINT = struct.pack(">BIdd", 0, 1, 1.5, 2.5)
#: (id, WKB, the SRID of the geometry(any) column's value)
ROWS: list[tuple[Any, ...]] = [(1, POINT, 4326), (2, LINE_Z, 3857), (3, EMPTY_POLYGON, 0),
                               (4, BIG_ENDIAN_POINT, 4326), (5, None, 4326)]
#: (column, its Spark expression, its expected PostGIS value from the row's WKB w and SRID s)
COLUMNS = [("g", "st_geomfromwkb(w, 4326)", "ST_GeomFromWKB(w, 4326)"),
           ("m", "st_geomfromwkb(w, 3857)", "ST_GeomFromWKB(w, 3857)"),
           ("a", "st_setsrid(st_geomfromwkb(w), s)", "ST_GeomFromWKB(w, s)"),
           ("gg", "st_geogfromwkb(w)", "ST_GeomFromWKB(w, 4326)")]
EXISTING = "(id bigint, g geometry(Geometry, 4326), m geometry(Geometry, 3857), a geometry, gg geography(Geometry, 4326))"


@pytest.fixture()
def postgis(pg_conn: Any) -> Any:
    require_extension(pg_conn, "postgis", "geometry columns")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("CREATE TEMP TABLE want (id bigint, w bytea, s int)")
        cur.executemany("INSERT INTO want VALUES (%s, %s, %s)", ROWS)
    return pg_conn


def _frame(spark: Any) -> Any:
    import pyspark

    if int(pyspark.__version__.split(".")[0]) < 4:
        pytest.skip(f"PySpark {pyspark.__version__} has no geometry types (GeoParquet: tests/functional/runner)")
    rows = [(i, None if w is None else bytearray(w), s) for i, w, s in ROWS]
    df = spark.createDataFrame(rows, "id long, w binary, s int").repartition(2)
    return df.selectExpr("id", *[f"{expr} AS {name}" for name, expr, _ in COLUMNS])


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [
    pytest.param("copy", {"staging_format": "binary"}, id="copy-binary"),
    pytest.param("copy", {"staging_format": "csv"}, id="copy-csv"),
    pytest.param("optimized", {}, id="optimized"),
    pytest.param("standard", {}, id="standard"),
])
@pytest.mark.parametrize("table", ["created", "existing"])
def test_spark_geometry_columns_land_value_for_value(spark: Any, pg_db: Any, postgis: Any, bucket: str,
                                                     state_url: str, method: str, options: dict[str, Any],
                                                     table: str) -> None:
    df = _frame(spark)
    assert df.schema.simpleString() == \
        "struct<id:bigint,g:geometry(4326),m:geometry(3857),a:geometry(any),gg:geography(4326)>"
    ids = [i for i, _w, _s in ROWS]
    if table == "existing":  # its 2D typmods refuse the Z line (PostGIS: "Geometry has Z dimension")
        ids.remove(2)
        df = df.where("id <> 2")
        with postgis.cursor() as cur:
            cur.execute(f"CREATE TABLE places {EXISTING}")
    result = write_to_postgres(df, pg_db.as_params() | {"table": "places"}, method=method, temp_s3_bucket=bucket,
                               state_url=state_url, **options)
    assert result.method == method and result.rows == len(ids)
    with postgis.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'places'::regclass AND attnum > 0 ORDER BY attnum")
        types = [t for _n, t in cur.fetchall()]
        assert types == (["bigint", "geometry", "geometry", "geometry", "geography"] if table == "created" else
                         ["bigint", "geometry(Geometry,4326)", "geometry(Geometry,3857)", "geometry",
                          "geography(Geometry,4326)"])
        same = ", ".join(f"ST_AsEWKB(p.{name}::geometry) IS NOT DISTINCT FROM ST_AsEWKB({want})"
                         f" AND ST_SRID(p.{name}) IS NOT DISTINCT FROM ST_SRID({want})" for name, _e, want in COLUMNS)
        cur.execute(f"SELECT w.id, {same} FROM want w JOIN places p USING (id) ORDER BY w.id")
        got = cur.fetchall()
        cur.execute("SELECT ST_AsEWKT(a), ST_Z(ST_PointN(g, 2)), ST_AsEWKT(m) FROM places WHERE id IN (1, 2) ORDER BY id")
        shown = cur.fetchall()
    assert got == [(i, True, True, True, True) for i in ids]
    assert shown[0] == ("SRID=4326;POINT(-0.1276 51.5072)", None, "SRID=3857;POINT(-0.1276 51.5072)")
    if table == "created":
        assert shown[1] == ("SRID=3857;LINESTRING(0 0 1,2 2 3)", 3.0, "SRID=3857;LINESTRING(0 0 1,2 2 3)")


def test_geometry_inside_a_struct_is_refused_naming_the_column(spark: Any, pg_db: Any, postgis: Any, bucket: str,
                                                               state_url: str) -> None:
    nested = _frame(spark).selectExpr("id", "named_struct('at', g) AS place")
    with pytest.raises(SchemaMismatchError, match=r"column 'place' holds geometry inside struct<at:geometry\(4326\)>"):
        write_to_postgres(nested, pg_db.as_params() | {"table": "nested"}, method="copy", temp_s3_bucket=bucket,
                          state_url=state_url)
