"""Replacing one dataset of a shared PostGIS table, as the design document's pipeline does:
two datasets in an ``entity``-shaped table (GiST on geometry, btree on dataset), one reloaded
with fewer, changed rows by ``replace_where`` and by ``replace_by``, for every method, while a
reader of the other dataset queries every 50 ms."""

from __future__ import annotations

import json
import struct
import threading
import time
from datetime import date
from typing import Any

import psycopg2
import pytest

from loader import write_to_postgres
from loader.demo import ENTITY_DDL
from loader.errors import ConfigError, DataError
from loader.state import StateStore
from loader.state.display import rows_cell
from tests.helpers.pg_features import require_extension

COLUMNS = ("dataset", "end_date", "entity", "entry_date", "geojson", "geometry", "json", "name",
           "organisation_entity", "point", "prefix", "reference", "start_date", "typology", "quality")
SQUARE = "MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))"


def _ewkb_hex(ring: list[tuple[float, float]], srid: int = 4326) -> str:
    """A one-polygon MultiPolygon as hex EWKB (little-endian), written here, not by PostGIS."""
    polygon = struct.pack("<BIII", 1, 3, 1, len(ring)) + b"".join(struct.pack("<dd", x, y) for x, y in ring)
    return (struct.pack("<BIII", 1, 0x20000006, srid, 1) + polygon).hex().upper()


# WKT (the SRID comes from the column), EWKT and hex EWKB: PostGIS's own input takes each
HEX_SQUARE = _ewkb_hex([(2, 2), (3, 2), (3, 3), (2, 3), (2, 2)])


def _row(dataset: str, n: int, geometry: str, point: str, name: str) -> tuple[Any, ...]:
    return (dataset, None, n, date(2024, 1, n % 28 + 1), json.dumps({"type": "Feature", "n": n}), geometry,
            json.dumps({"k": None, "n": n}), name, 600000 + n, point, dataset, f"REF-{n}", date(2020, 1, 1), "geography",
            None if n % 2 else "authoritative")


OLD_A = [_row("a", 1, SQUARE, "POINT(0.5 0.5)", "a one"), _row("a", 2, f"SRID=4326;{SQUARE}", "POINT(1 1)", "a two")]
OLD_B = [_row("b", 11, SQUARE, "POINT(2 2)", "b one"), _row("b", 12, HEX_SQUARE, "SRID=4326;POINT(3 3)", "b two"),
         _row("b", 13, SQUARE, "POINT(4 4)", "b three")]
# b reloaded: 11 changed (name, geometry), 12 kept, 13 gone, 14 new
NEW_B = [_row("b", 11, HEX_SQUARE, "POINT(2 2)", "b one, redrawn"), _row("b", 12, HEX_SQUARE, "POINT(3 3)", "b two"),
         _row("b", 14, f"SRID=4326;{SQUARE}", "POINT(5 5)", "b four")]


def _df(spark: Any, rows: list[tuple[Any, ...]]) -> Any:
    schema = ("dataset string, end_date date, entity long, entry_date date, geojson string, geometry string, "
              "json string, name string, organisation_entity long, point string, prefix string, reference string, "
              "start_date date, typology string, quality string")
    return spark.createDataFrame(rows, schema).repartition(2)


@pytest.fixture()
def entity(pg_conn: Any) -> Any:
    require_extension(pg_conn, "postgis", "the entity table's geometry columns")
    with pg_conn.cursor() as cur:
        cur.execute(ENTITY_DDL)  # make demo's table: the design document's, GiST and btree
    return pg_conn


def _expected(conn: Any, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """What PostgreSQL stores for the same values given as literals (a TEMP table like entity)."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS want (LIKE entity)")
        cur.execute("TRUNCATE want")
        cur.executemany(f"INSERT INTO want VALUES ({', '.join(['%s'] * len(COLUMNS))})", rows)
        cur.execute(f"SELECT {_shown('want')} FROM want ORDER BY entity")
        return cur.fetchall()


def _shown(table: str) -> str:
    return ", ".join(f"ST_AsEWKT({table}.{c}), ST_SRID({table}.{c})" if c in ("geometry", "point") else
                     f"{table}.{c}::text" for c in COLUMNS)


def _landed(conn: Any, dataset: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_shown('entity')} FROM entity WHERE dataset = %s ORDER BY entity", (dataset,))
        return cur.fetchall()


def _untouched(conn: Any, dataset: str) -> list[tuple[Any, ...]]:
    """The rows as stored: the tuple's place and its inserting transaction, and every byte."""
    with conn.cursor() as cur:
        cur.execute("SELECT ctid::text, xmin::text, entity::text::bytea FROM entity e WHERE dataset = %s "
                    "ORDER BY entity", (dataset,))
        return cur.fetchall()


class Reader(threading.Thread):
    """Counts dataset a every 50 ms on its own connection; records the slowest answer and any
    count that is not ``want``."""

    def __init__(self, spec: Any, dataset: str, allowed: set[int]) -> None:
        super().__init__(daemon=True)
        self.spec, self.dataset, self.allowed = spec, dataset, allowed
        self.stop, self.slowest, self.wrong, self.queries = threading.Event(), 0.0, [], 0

    def run(self) -> None:
        conn = psycopg2.connect(**self.spec.psycopg2_kwargs())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = '5s'")
                while not self.stop.is_set():
                    t = time.monotonic()
                    cur.execute("SELECT count(*) FROM entity WHERE dataset = %s", (self.dataset,))
                    n = cur.fetchone()[0]
                    self.slowest = max(self.slowest, time.monotonic() - t)
                    self.queries += 1
                    if n not in self.allowed:
                        self.wrong.append(n)
                    time.sleep(0.05)
        finally:
            conn.close()


VARIANTS = [
    pytest.param("copy", {"staging_format": "binary"}, id="copy-binary"),
    pytest.param("copy", {"staging_format": "csv"}, id="copy-csv"),
    pytest.param("copy", {"server_side": "always"}, id="copy-server-side"),
    pytest.param("copy", {"connections": 2, "rows_per_part": 1}, id="copy-2-connections"),
    pytest.param("optimized", {}, id="optimized"),
]


@pytest.mark.parametrize("how", ["replace_where", "replace_by"])
@pytest.mark.parametrize("method, options", VARIANTS)
def test_one_dataset_is_replaced_the_other_untouched_and_readers_never_wait(
        spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str, request: pytest.FixtureRequest,
        method: str, options: dict[str, Any], how: str) -> None:
    if options.get("server_side") == "always":
        request.getfixturevalue("aws_s3_extension")
    params = pg_db.as_params() | {"table": "entity"}
    common = dict(temp_s3_bucket=bucket, state_url=state_url)
    # an append of geometry from text stages CSV (binary cannot produce geometry); the slice
    # replace lands the rows in the source's types and casts them, so binary works there
    write_to_postgres(_df(spark, OLD_A + OLD_B), params, method="copy", **common)
    assert _landed(entity, "b") == _expected(entity, OLD_B)
    before_a = _untouched(entity, "a")
    slice_args = {"replace_where": "dataset = 'b'"} if how == "replace_where" else {"replace_by": ["dataset"]}
    readers = [Reader(pg_db, "a", {2}), Reader(pg_db, "b", {3})]  # b: its 3 old rows, then its 3 new ones
    for r in readers:
        r.start()
    try:
        result = write_to_postgres(_df(spark, NEW_B), params, method=method, mode="overwrite", **common, **options,
                                   **slice_args)
    finally:
        for r in readers:
            r.stop.set()
            r.join()
    assert (result.rows, result.rows_deleted, result.method) == (3, 3, method)
    run = StateStore(state_url).get(result.run_id)
    assert (run.rows, run.rows_deleted) == (3, 3) and rows_cell(run) == "3 (replaced 3)"
    if method == "copy":
        assert result.staging_format == options.get("staging_format", "binary")
        assert result.server_side is ("server_side" in options)
        # over 2 connections: an UNLOGGED staging table, merged in one transaction (copy/landing/staging_merge.py)
        assert ("into an UNLOGGED staging table" in (result.path_reason or "")) is ("connections" in options)
    assert _landed(entity, "b") == _expected(entity, NEW_B)
    with entity.cursor() as cur:  # geometries compared as geometries too, not only as text
        cur.execute("SELECT count(*) FROM entity e JOIN want w USING (entity) WHERE e.dataset = 'b' AND "
                    "ST_Equals(e.geometry, w.geometry) AND ST_SRID(e.geometry) = 4326 AND ST_Equals(e.point, w.point)")
        assert cur.fetchone()[0] == 3
    assert _untouched(entity, "a") == before_a  # not rewritten, not even touched
    for r in readers:
        assert r.queries >= 3 and r.wrong == [], (r.dataset, r.wrong)
        assert r.slowest < 1.0, f"a reader of dataset {r.dataset} waited {r.slowest:.2f}s"


def test_a_row_outside_replace_where_fails_the_load_and_changes_nothing(spark: Any, pg_db: Any, entity: Any,
                                                                        bucket: str, state_url: str) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    write_to_postgres(_df(spark, OLD_A + OLD_B), params, method="copy", temp_s3_bucket=bucket, state_url=state_url)
    before = _untouched(entity, "a") + _untouched(entity, "b")
    stray = _row("a", 99, SQUARE, "POINT(9 9)", "a stray")
    with pytest.raises(DataError) as info:
        write_to_postgres(_df(spark, NEW_B + [stray]), params, method="copy", mode="overwrite",
                          replace_where="dataset = 'b'", temp_s3_bucket=bucket, state_url=state_url)
    message = str(info.value)
    assert "entity=99" in message and "dataset = 'b'" in message, message
    assert _untouched(entity, "a") + _untouched(entity, "b") == before


def test_replace_by_replaces_each_slice_the_source_holds_and_null_is_a_slice(spark: Any, pg_db: Any, entity: Any,
                                                                             bucket: str, state_url: str) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    nulls = [_row(None, 21, SQUARE, "POINT(0 0)", "no dataset"), _row(None, 22, SQUARE, "POINT(0 0)", "none")]
    write_to_postgres(_df(spark, OLD_A + OLD_B + nulls), params, method="copy", temp_s3_bucket=bucket,
                      state_url=state_url)
    before_b = _untouched(entity, "b")
    again = [_row("a", 1, SQUARE, "POINT(0 0)", "a only"), _row(None, 23, SQUARE, "POINT(0 0)", "the null slice")]
    result = write_to_postgres(_df(spark, again), params, method="optimized", mode="overwrite",
                               replace_by="dataset", state_url=state_url)
    assert result.rows_deleted == 4  # a's two rows and the two NULL-dataset rows
    with entity.cursor() as cur:
        cur.execute("SELECT dataset, array_agg(entity ORDER BY entity) FROM entity GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [("a", [1]), ("b", [11, 12, 13]), (None, [23])]
    assert _untouched(entity, "b") == before_b


def test_a_predicate_the_table_cannot_evaluate_is_refused_before_anything_moves(
        spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    with pytest.raises(ConfigError, match="no_such_column"):
        write_to_postgres(_df(spark, NEW_B), params, method="copy", mode="overwrite", temp_s3_bucket=bucket,
                          replace_where="no_such_column = 'b'", state_url=state_url)
    with pytest.raises(ConfigError, match="SELECT"):
        write_to_postgres(_df(spark, NEW_B), params, method="copy", mode="overwrite", temp_s3_bucket=bucket,
                          replace_where="dataset IN (SELECT 'b')", state_url=state_url)
    with pytest.raises(ConfigError, match="boolean"):
        write_to_postgres(_df(spark, NEW_B), params, method="copy", mode="overwrite", temp_s3_bucket=bucket,
                          replace_where="entity + 1", state_url=state_url)


@pytest.mark.parametrize("method, options", [
    pytest.param("copy", {"staging_format": "binary"}, id="copy-binary"),
    pytest.param("copy", {"staging_format": "csv"}, id="copy-csv"),
    pytest.param("optimized", {}, id="optimized"),
    pytest.param("standard", {}, id="standard"),
])
@pytest.mark.parametrize("mode", ["append", "slice"])
def test_geometry_from_wkb_bytes_lands_exactly(spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str,
                                               method: str, options: dict[str, Any], mode: str) -> None:
    """A BinaryType column of (E)WKB into geometry: the SRID the value carries, or the column's."""
    with entity.cursor() as cur:
        cur.execute("CREATE TABLE shapes (id bigint, dataset text, geometry geometry(MultiPolygon, 4326), "
                    "point geometry(Point, 4326), g geometry)")
    ewkb = bytes.fromhex(HEX_SQUARE)
    wkb = struct.pack("<BId", 1, 1, 7.5) + struct.pack("<d", -1.25)  # POINT(7.5 -1.25), no SRID
    rows = [(1, "d", bytearray(ewkb), bytearray(wkb), bytearray(wkb)), (2, "d", None, None, None)]
    df = spark.createDataFrame(rows, "id long, dataset string, geometry binary, point binary, g binary")
    slice_args = {"mode": "overwrite", "replace_where": "dataset = 'd'"} if mode == "slice" else {}
    result = write_to_postgres(df, pg_db.as_params() | {"table": "shapes"}, method=method, temp_s3_bucket=bucket,
                               state_url=state_url, **options, **slice_args)
    assert result.rows == 2 and result.method == method
    with entity.cursor() as cur:
        cur.execute("SELECT id, ST_AsEWKT(geometry), ST_AsEWKT(point), ST_AsEWKT(g) FROM shapes ORDER BY id")
        assert cur.fetchall() == [
            (1, "SRID=4326;MULTIPOLYGON(((2 2,3 2,3 3,2 3,2 2)))", "SRID=4326;POINT(7.5 -1.25)", "POINT(7.5 -1.25)"),
            (2, None, None, None)]


@pytest.mark.parametrize("method, options", [
    pytest.param("copy", {"staging_format": "csv"}, id="copy-csv"),
    pytest.param("copy", {"staging_format": "binary"}, id="copy-binary"),
    pytest.param("copy", {"connections": 2, "rows_per_part": 1}, id="copy-2-connections"),
    pytest.param("optimized", {}, id="optimized"),
])
def test_with_on_error_reject_a_refused_geometry_is_set_aside_and_the_slice_still_replaced(
        spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str, method: str,
        options: dict[str, Any]) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    write_to_postgres(_df(spark, OLD_A + OLD_B), params, method="copy", temp_s3_bucket=bucket, state_url=state_url)
    before_a = _untouched(entity, "a")
    bad = _row("b", 15, "MULTIPOLYGON(((0 0,1 0)))", "POINT(1 1)", "not closed")  # PostGIS refuses it
    result = write_to_postgres(_df(spark, NEW_B + [bad]), params, method=method, mode="overwrite",
                               replace_by=["dataset"], on_error="reject", temp_s3_bucket=bucket,
                               state_url=state_url, **options)
    assert (result.rows, result.rows_rejected, result.rows_deleted) == (3, 1, 3)
    assert _landed(entity, "b") == _expected(entity, NEW_B)
    assert _untouched(entity, "a") == before_a
    with entity.cursor() as cur:
        cur.execute("SELECT row_data->>'entity', error FROM loader_rejects")
        (entity_id, error), = cur.fetchall()
        assert entity_id == "15" and "geometry" in error.lower(), error


def test_a_copy_that_falls_back_replaces_the_slice_through_jdbc(spark: Any, pg_db: Any, entity: Any, bucket: str,
                                                                state_url: str) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    write_to_postgres(_df(spark, OLD_A + OLD_B), params, method="copy", temp_s3_bucket=bucket, state_url=state_url)
    before_a = _untouched(entity, "a")
    result = write_to_postgres(_df(spark, NEW_B), params, method="copy", mode="overwrite",
                               replace_where="dataset = 'b'", temp_s3_bucket="no-such-bucket-for-slices",
                               state_url=state_url)
    assert result.method == "optimized" and result.fallback_reason and result.rows_deleted == 3
    assert _landed(entity, "b") == _expected(entity, NEW_B) and _untouched(entity, "a") == before_a


@pytest.mark.parametrize("method, options, slice_args", [
    pytest.param("copy", {"staging_format": "csv"}, {}, id="copy-csv-append"),
    pytest.param("copy", {"staging_format": "binary"}, {"mode": "overwrite", "replace_by": ["dataset"]},
                 id="copy-binary-slice"),
    pytest.param("optimized", {}, {}, id="optimized-append"),
])
def test_a_geometry_postgis_refuses_fails_the_load_naming_the_column(
        spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str, method: str, options: dict[str, Any],
        slice_args: dict[str, Any]) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    bad = _row("b", 15, "MULTIPOLYGON(((0 0,1 0)))", "POINT(1 1)", "not closed")
    with pytest.raises(DataError) as info:
        write_to_postgres(_df(spark, NEW_B + [bad]), params, method=method, temp_s3_bucket=bucket,
                          state_url=state_url, **options, **slice_args)
    message = str(info.value)
    assert "geometry requires more points" in message, message
    assert "column geometry" in message or "'geometry'" in message, message
    assert "PostGIS cannot read or build this geometry" in (info.value.next_step or "")
    with entity.cursor() as cur:
        cur.execute("SELECT count(*) FROM entity")
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize("slice_args", [{}, {"replace_where": "dataset = 'b'"}], ids=["overwrite", "replace_where"])
def test_an_empty_source_does_not_empty_the_table_or_the_slice_by_copy(
        spark: Any, pg_db: Any, entity: Any, bucket: str, state_url: str, slice_args: dict[str, Any]) -> None:
    params = pg_db.as_params() | {"table": "entity"}
    write_to_postgres(_df(spark, OLD_A + OLD_B), params, method="copy", temp_s3_bucket=bucket, state_url=state_url)
    before = _untouched(entity, "a") + _untouched(entity, "b")
    with pytest.raises(DataError, match="the source is empty"):
        write_to_postgres(_df(spark, []), params, method="copy", mode="overwrite", temp_s3_bucket=bucket,
                          state_url=state_url, **slice_args)
    assert _untouched(entity, "a") + _untouched(entity, "b") == before
    result = write_to_postgres(_df(spark, []), params, method="copy", mode="overwrite", temp_s3_bucket=bucket,
                               state_url=state_url, allow_empty=True, **slice_args)
    assert result.rows == 0 and _landed(entity, "b") == []
