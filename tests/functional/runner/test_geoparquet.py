"""Geometry into PostGIS by every method: GeoParquet written by GeoPandas (WKB with ``geo``
metadata: CRS, geometry types) and Parquet GEOMETRY/GEOGRAPHY columns written by Arrow C++
(tests/data/parquet, read by Spark 4.1+ as ``geometry(4326)``; PySpark 3.5 refuses them, naming the
column and the fix) land in ``geometry(<type>,<srid>)`` / ``geography`` columns made by
``create: if_missing``, value for value (the same EWKB, ST_Equals, ST_SRID), empty geometries and Z
coordinates included; without PostGIS the load is refused up front naming the column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import types as pyspark_types

from loader import commands
from loader.errors import ConfigError
from tests.functional.runner.test_parquet_writers import MANIFEST
from tests.helpers.pg_features import require_extension

DATA = Path(__file__).parents[2] / "data" / "parquet"

METHODS = ["copy", "optimized", "standard"]
#: Spark 4.1+ reads Parquet's GEOMETRY/GEOGRAPHY logical types; PySpark 3.5's reader cannot read their footers
SPARK_HAS_GEOMETRY = hasattr(pyspark_types, "GeometryType")


@pytest.fixture()
def postgis(pg_conn: Any, pg_db: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    require_extension(pg_conn, "postgis", "geometry columns")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    monkeypatch.setenv("WRITERS_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("WRITERS_BUCKET", bucket)
    return pg_conn


def _geopandas_file(tmp_path: Path) -> Path:
    import geopandas as gpd
    from shapely.geometry import LineString, Point, Polygon

    points = [Point(-0.1276, 51.5072), Point(), Point(2.35, 48.85), None, Point(13.4, 52.52)]
    shapes = [Polygon([(0, 0), (0, 1), (1, 1), (0, 0)]), LineString([(0, 0, 1), (2, 2, 3)]),
              Point(1, 2, 3), Polygon(), Point(5, 6)]
    frame = gpd.GeoDataFrame({"id": list(range(5)), "place": gpd.GeoSeries(points, crs="EPSG:4326")},
                             geometry="place")
    frame["shape"] = gpd.GeoSeries(shapes, crs="EPSG:27700")
    path = tmp_path / "places.parquet"
    frame.to_parquet(path, geometry_encoding="WKB", write_covering_bbox=False)
    return path


def _run(tmp_path: Path, path: Path, name: str, method: str, spark: Any, state_url: str) -> Any:
    folder = tmp_path / f"m-{name}"
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(MANIFEST.format(name=name, path=path, method=method))
    [outcome] = commands.run([str(folder)], state_url=state_url, spark=spark)
    return outcome


def _expected(cur: Any, path: Path, table: str, columns: dict[str, int]) -> None:
    """``table`` as PostGIS reads the file's WKB with each column's SRID (pyarrow reads the bytes)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    names = list(rows[0])
    cur.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM (VALUES " + ", ".join(
        "(" + ", ".join("%s" for _ in names) + ")" for _ in rows) + f") v({', '.join(names)})",
        [r[n] for r in rows for n in names])
    for col, srid in columns.items():
        cur.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE geometry USING ST_GeomFromWKB({col}, {srid})")


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_geopandas_geoparquet_lands_with_its_srid_and_type(method: str, spark: Any, postgis: Any, state_url: str,
                                                            tmp_path: Path) -> None:
    path = _geopandas_file(tmp_path)
    outcome = _run(tmp_path, path, f"places_{method}", method, spark, state_url)
    assert outcome.status == "succeeded", outcome.error
    with postgis.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    f"WHERE attrelid = 'places_{method}'::regclass AND attnum > 0 ORDER BY attnum")
        assert cur.fetchall() == [("id", "bigint"), ("place", "geometry(Point,4326)"), ("shape", "geometry")]
        _expected(cur, path, "want", {"place": 4326, "shape": 27700})
        cur.execute(f"SELECT w.id, ST_AsEWKB(w.place) IS NOT DISTINCT FROM ST_AsEWKB(g.place::geometry), "
                    "ST_AsEWKB(w.shape) = ST_AsEWKB(g.shape), ST_SRID(g.place), ST_SRID(g.shape), "
                    "ST_IsEmpty(g.shape) OR ST_Equals(w.shape, g.shape), ST_Z(ST_PointN(g.shape, 2)) "
                    f"FROM want w JOIN places_{method} g USING (id) ORDER BY w.id")
        got = cur.fetchall()
    assert [r[:6] for r in got] == [
        (0, True, True, 4326, 27700, True), (1, True, True, 4326, 27700, True), (2, True, True, 4326, 27700, True),
        (3, True, True, None, 27700, True), (4, True, True, 4326, 27700, True)]
    assert got[1][6] == 3.0  # the Z coordinate of LINESTRING Z (0 0 1, 2 2 3)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_parquet_geometry_and_geography_columns_land_as_postgis_types(method: str, spark: Any, postgis: Any,
                                                                       state_url: str, tmp_path: Path) -> None:
    for stem, column, pg in [("geospatial", "geometry", "geometry"),
                             ("crs-geography", "geography", "geography")]:
        name = f"{stem.replace('-', '_')}_{method}"
        outcome = _run(tmp_path, DATA / f"{stem}.parquet", name, method, spark, state_url)
        if not SPARK_HAS_GEOMETRY:  # PySpark 3.5's Parquet reader refuses the footer: so does every method
            assert outcome.status == "failed"
            assert f"cannot read {DATA / stem}.parquet: [CANNOT_READ_FILE_FOOTER]" in outcome.error
            assert f"column {column!r} is of Parquet's {column.upper()} logical type, which Spark reads from 4.1 " \
                   "on" in outcome.error and "write it as GeoParquet" in outcome.error
            assert "awaitResult" not in outcome.error and "getSetField" not in outcome.error
            continue
        assert outcome.status == "succeeded", outcome.error
        with postgis.cursor() as cur:
            cur.execute(f"SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{name}'::regclass "
                        f"AND attname = '{column}'")
            assert cur.fetchone()[0] == pg
            # the file's own WKT column says what each geometry is
            cur.execute(f"SELECT count(*), count(*) FILTER (WHERE ST_AsEWKB({column}::geometry) IS NOT DISTINCT FROM "
                        f"ST_AsEWKB(ST_SetSRID(ST_GeomFromText(wkt), 4326)) AND (wkt IS NULL OR ST_SRID({column}) = 4326)), "
                        f"count(*) FILTER (WHERE ST_IsEmpty({column}::geometry)), "
                        f"count(*) FILTER (WHERE ST_Zmflag({column}::geometry) = 3) FROM {name}")
            total, same, empty, zm = cur.fetchone()
        assert total > 0 and same == total and (stem != 'geospatial' or empty > 0 and zm > 0), (stem, total, same)


def test_without_postgis_a_geometry_column_is_refused_up_front(spark: Any, pg_conn: Any, pg_db: Any, bucket: str,
                                                                state_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("DROP EXTENSION IF EXISTS postgis CASCADE")
    monkeypatch.setenv("WRITERS_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("WRITERS_BUCKET", bucket)
    outcome = _run(tmp_path, _geopandas_file(tmp_path), "no_postgis", "copy", spark, state_url)
    assert outcome.status == "failed"
    assert "column 'place' is a geometry, and the server has no PostGIS" in outcome.error
    assert "CREATE EXTENSION postgis" in outcome.error
    assert ConfigError  # the refusal's kind (exit 2), raised before any data moved
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('no_postgis')")
        assert cur.fetchone()[0] is None
