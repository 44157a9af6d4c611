"""geography columns, as geometry ones: WKT, EWKT and hex EWKB strings and WKB bytes land as
PostgreSQL stores the same literal (the SRID the value carries, or 4326, geography's only
default), by every method and staging format, appended and as a replaced slice."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import ConfigError
from tests.helpers.pg_features import require_extension

# a point as little-endian WKB (no SRID) and as EWKB with SRID 4326, written here, not by PostGIS
WKB_POINT = struct.pack("<BIdd", 1, 1, 7.5, -1.25)
EWKB_POINT = struct.pack("<BIIdd", 1, 0x20000001, 4326, -0.1276, 51.5072)
WKT_LINE = "LINESTRING(0 0,10 10)"
ROWS: list[tuple[Any, ...]] = [
    (1, "d", "POINT(1 2)", WKT_LINE, bytearray(WKB_POINT)),
    (2, "d", "SRID=4326;POINT(-3.5 40.25)", f"SRID=4326;{WKT_LINE}", bytearray(EWKB_POINT)),
    (3, "d", EWKB_POINT.hex().upper(), EWKB_POINT.hex(), None),
    (4, "d", None, None, None),
]
SHOWN = "id, ST_AsEWKT(place), ST_SRID(place), ST_AsEWKT(route), ST_AsEWKT(raw), place::text, raw::text"


@pytest.fixture()
def places(pg_conn: Any) -> Any:
    require_extension(pg_conn, "postgis", "geography columns")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        ddl = "(id bigint, dataset text, place geography(Point, 4326), route geography, raw geography(Point))"
        cur.execute(f"CREATE TABLE places {ddl}")
        cur.execute(f"CREATE TEMP TABLE want {ddl}")
        cur.executemany("INSERT INTO want VALUES (%s, %s, %s, %s, %s)",
                        [(i, d, p, r, None if b is None else bytes(b)) for i, d, p, r, b in ROWS])
        cur.execute("CREATE INDEX places_gist ON places USING gist (place)")
        cur.execute("INSERT INTO places VALUES (9, 'd', 'POINT(0 0)', NULL, NULL), (10, 'e', 'POINT(9 9)', NULL, NULL)")
    return pg_conn


@pytest.mark.parametrize("method, options", [
    pytest.param("copy", {"staging_format": "binary"}, id="copy-binary"),
    pytest.param("copy", {"staging_format": "csv"}, id="copy-csv"),
    pytest.param("copy", {"server_side": "always"}, id="copy-server-side"),
    pytest.param("optimized", {}, id="optimized"),
    pytest.param("standard", {}, id="standard"),
])
@pytest.mark.parametrize("how", ["append", "replace_where"])
def test_geography_lands_as_postgis_reads_the_same_literal(spark: Any, pg_db: Any, places: Any, bucket: str,
                                                           state_url: str, method: str, options: dict[str, Any],
                                                           how: str, request: Any) -> None:
    if options.get("server_side"):
        request.getfixturevalue("aws_s3_extension")
    df = spark.createDataFrame(ROWS, "id long, dataset string, place string, route string, raw binary").repartition(2)
    slice_args = {"mode": "overwrite", "replace_where": "dataset = 'd'"} if how == "replace_where" else {}
    if how == "append" and options.get("staging_format") == "binary":
        # appended rows go straight into the target: text PostGIS must parse has no binary form
        # (a slice replace lands them in the source's types first, so binary works there)
        with pytest.raises(ConfigError, match="column 'place' .*geography from a string"):
            write_to_postgres(df, pg_db.as_params() | {"table": "places"}, method=method, temp_s3_bucket=bucket,
                              state_url=state_url, **options)
        return
    result = write_to_postgres(df, pg_db.as_params() | {"table": "places"}, method=method, temp_s3_bucket=bucket,
                               state_url=state_url, **options, **slice_args)
    assert result.method == method and result.rows == len(ROWS)
    with places.cursor() as cur:
        cur.execute(f"SELECT {SHOWN} FROM want ORDER BY id")
        want = cur.fetchall()
        cur.execute(f"SELECT {SHOWN} FROM places WHERE id < 9 ORDER BY id")
        assert cur.fetchall() == want
        assert want[1][1] == "SRID=4326;POINT(-3.5 40.25)" and want[0][2] == 4326  # the literals' own reading
        cur.execute("SELECT id FROM places WHERE id >= 9 ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ([9, 10] if how == "append" else [10])
