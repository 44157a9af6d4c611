"""``make demo``: a real load, start to finish, on loopback.

Starts a throwaway PostgreSQL cluster and a local S3 endpoint (moto's server,
with the project's default bucket, so COPY needs zero configuration), generates
a sample data set (1,000,000 trips in Parquet with realistic types, plus
customers in CSV and events in JSON, orders for an incremental load), runs ``loader run
manifests/`` against them (entity.yaml loads two datasets of a PostGIS table from WKT and EWKT
text, entity_geoparquet.yaml replaces one of them from a GeoParquet file GeoPandas wrote, its WKB
geometry landing in the PostGIS columns with its SRID, entity_reload.yaml replaces the other),
adds new order files and runs the incremental manifest again (it loads only those), prints
``loader status``, and stops what it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .options import DEFAULT_BUCKET
from .testing.pgcluster import PgCluster
from .testing.s3server import start_moto

TRIPS = int(os.environ.get("LOADER_DEMO_ROWS", "1000000"))
ORDERS = 10_000
ENTITIES = 20_000  # per dataset
#: the design document's shared table (manifests/entity*.yaml replace one dataset at a time)
ENTITY_DDL = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE entity (
  dataset text, end_date date, entity bigint PRIMARY KEY, entry_date date, geojson jsonb,
  geometry geometry(MultiPolygon, 4326), json jsonb, name text, organisation_entity bigint,
  point geometry(Point, 4326), prefix text, reference text, start_date date, typology text, quality text);
CREATE INDEX entity_geometry_gist ON entity USING gist (geometry);
CREATE INDEX entity_dataset ON entity (dataset);
"""


def entities(spark: Any, first: int, n: int, datasets: list[str], version: str) -> Any:
    """``n`` entities per dataset from ``first``: squares as WKT, their centres as EWKT."""
    from pyspark.sql import functions as F

    x = (F.col("id") % 1000 / 100).cast("string")
    y = (F.floor(F.col("id") / 1000) / 100).cast("string")
    rows = []
    for i, dataset in enumerate(datasets):
        ids = spark.range(first + i * 1_000_000, first + i * 1_000_000 + n, numPartitions=2)
        rows.append(ids.select(
            F.lit(dataset).alias("dataset"), F.lit(None).cast("date").alias("end_date"), F.col("id").alias("entity"),
            F.lit("2024-01-01").cast("date").alias("entry_date"),
            F.to_json(F.struct(F.lit("Feature").alias("type"), F.col("id").alias("id"))).alias("geojson"),
            F.concat(F.lit("MULTIPOLYGON((("), x, F.lit(" "), y, F.lit(","), x, F.lit(" "), y, F.lit("1,"), x,
                     F.lit("1 "), y, F.lit("1,"), x, F.lit(" "), y, F.lit(")))")).alias("geometry"),
            F.to_json(F.struct(F.lit(version).alias("version"), F.lit(None).cast("string").alias("note")))
             .alias("json"),
            F.concat(F.lit(f"{dataset} "), F.col("id").cast("string")).alias("name"),
            (F.col("id") % 300 + 600000).alias("organisation_entity"),
            F.concat(F.lit("SRID=4326;POINT("), x, F.lit(" "), y, F.lit(")")).alias("point"),
            F.lit(dataset).alias("prefix"), F.concat(F.lit("REF-"), F.col("id").cast("string")).alias("reference"),
            F.lit("2020-01-01").cast("date").alias("start_date"), F.lit("geography").alias("typology"),
            F.lit(version).alias("quality")))
    out = rows[0]
    for more in rows[1:]:
        out = out.unionByName(more)
    return out


#: the dataset the GIS team publishes again as GeoParquet (manifests/entity_geoparquet.yaml)
GEO_DATASET = "tree-preservation-zone"


def geoparquet_entities(path: Path, first: int, n: int) -> None:
    """``n`` entities of ``GEO_DATASET`` from ``first`` as GeoPandas writes them: GeoParquet, its
    ``geometry`` (a square, as a MultiPolygon) and ``point`` (its centre) columns WKB in EPSG:4326,
    with the ``geo`` metadata that says so; at the places entities() gives them."""
    import datetime as dt

    import geopandas as gpd
    import numpy as np
    import shapely

    ids = np.arange(first, first + n)
    x, y = ids % 1000 / 100, np.floor(ids / 1000) / 100
    squares = shapely.multipolygons(shapely.box(x, y, x + 1.25, y + 1.25)[:, np.newaxis])
    frame = gpd.GeoDataFrame({
        "dataset": GEO_DATASET, "entity": ids, "entry_date": dt.date(2024, 6, 1),
        "json": '{"version": "geoparquet", "note": null}', "name": [f"{GEO_DATASET} {i}" for i in ids],
        "organisation_entity": ids % 300 + 600000, "prefix": GEO_DATASET,
        "reference": [f"REF-{i}" for i in ids], "start_date": dt.date(2020, 1, 1), "typology": "geography",
        "quality": "geoparquet", "geometry": gpd.GeoSeries(squares, crs="EPSG:4326"),
        "point": gpd.GeoSeries(shapely.points(x + 0.625, y + 0.625), crs="EPSG:4326")}, geometry="geometry")
    frame.to_parquet(path, geometry_encoding="WKB", write_covering_bbox=False, index=False)


def generate(data: Path) -> None:
    from pyspark.sql import functions as F

    from .adapters.spark import get_or_create_session

    spark = get_or_create_session("loader-demo-data")
    ids = spark.range(TRIPS, numPartitions=4)
    trips = ids.select(
        F.col("id").alias("trip_id"),
        F.concat(F.lit("driver-"), (F.col("id") % 5000).cast("string")).alias("driver"),
        (F.col("id") % 100000 / 100 + 2.5).cast("decimal(12,2)").alias("fare"),
        F.timestamp_micros(F.lit(1_700_000_000_000_000) + F.col("id") * 1_234_567).alias("picked_up_at"),
        (F.col("id") % 3 == 0).alias("shared"),
        F.when(F.col("id") % 11 == 0, None)
         .when(F.col("id") % 11 == 1, F.lit(""))
         .otherwise(F.concat(F.lit('note "'), F.col("id").cast("string"), F.lit('", with comma\nand newline')))
         .alias("note"),
    )
    trips.write.mode("overwrite").parquet(str(data / "trips.parquet"))
    customers = spark.range(50_000, numPartitions=1).select(
        F.col("id").alias("customer_id"), F.concat(F.lit("Customer "), F.col("id").cast("string")).alias("name"),
        F.concat(F.lit("c"), F.col("id").cast("string"), F.lit("@example.com")).alias("email"))
    customers.coalesce(1).write.mode("overwrite").option("header", "true").csv(str(data / "customers.csv"))
    events = spark.range(100_000, numPartitions=2).select(
        F.col("id").alias("event_id"), (F.col("id") % 50_000).alias("customer_id"),
        F.element_at(F.array(F.lit("view"), F.lit("click"), F.lit("buy")), (F.col("id") % 3 + 1).cast("int"))
         .alias("kind"),
        F.timestamp_micros(F.lit(1_700_000_000_000_000) + F.col("id") * 7_000_000).alias("at"))
    events.write.mode("overwrite").json(str(data / "events.json"))
    sessions = spark.range(20_000, numPartitions=2).select(
        F.col("id").alias("session_id"), (F.col("id") % 50_000).alias("customer_id"),
        (F.col("id") % 3600).cast("int").alias("seconds"), (F.col("id") % 5 == 0).alias("converted"))
    sessions.write.mode("overwrite").orc(str(data / "sessions.orc"))
    entities(spark, 0, ENTITIES, ["conservation-area", "tree-preservation-zone"], "first").write.mode(
        "overwrite").parquet(str(data / "entity.parquet"))
    # published again: the first half of its entities, changed (the others are gone)
    entities(spark, 0, ENTITIES // 2, ["conservation-area"], "second").write.mode("overwrite").parquet(
        str(data / "entity_reload.parquet"))
    geoparquet_entities(data / "entity_geoparquet.parquet", 1_000_000, ENTITIES)  # entities()' ids of GEO_DATASET
    # orders: an incremental source. The second batch waits in orders_incoming until the first run
    # is done, then lands in the folder the way a producer adds files (see main).
    for folder, first, n in (("orders", 0, ORDERS), ("orders_incoming", ORDERS, ORDERS // 5)):
        spark.range(first, first + n, numPartitions=2).select(
            F.col("id").alias("order_id"), (F.col("id") % 50_000).alias("customer_id"),
            (F.col("id") % 997 / 10).cast("decimal(10,2)").alias("total"),
            F.timestamp_micros(F.lit(1_704_067_200_000_000) + F.col("id") * 60_000_000).alias("updated_at"),
        ).write.mode("overwrite").parquet(str(data / folder))
    spark.stop()


def orders_arrive(data: Path) -> int:
    """Move the waiting order files into the source folder; returns how many rows they hold."""
    for part in (data / "orders_incoming").glob("part-*"):
        part.rename(data / "orders" / f"late-{part.name}")
    return ORDERS // 5


def main() -> int:
    root = Path(".demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    data = root / "data"
    data.mkdir(parents=True)
    print(f"demo: starting PostgreSQL and a local S3 endpoint; generating {TRIPS:,} trips ...", flush=True)
    with PgCluster(fast=False) as pg, start_moto() as s3:
        s3.create_bucket(DEFAULT_BUCKET)  # the design document's default: zero configuration
        env = dict(os.environ)
        env.update(s3.env())
        env.update({"LOADER_DEMO_DATA": str(data), "LOADER_DEMO_DATABASE_URL": pg.url(),
                    "LOADER_STATE_URL": f"sqlite:///{root / 'state.db'}"})
        os.environ.update(env)
        import psycopg2

        with psycopg2.connect(pg.url()) as conn, conn.cursor() as cur:
            cur.execute(ENTITY_DDL)
        t0 = time.monotonic()
        generate(data)
        print(f"demo: data generated in {time.monotonic() - t0:.0f}s", flush=True)
        cli = [sys.executable, "-m", "loader.cli"]
        subprocess.run([*cli, "validate", "manifests/"], env=env, check=True)
        print("demo: loader run manifests/", flush=True)
        code = subprocess.run([*cli, "run", "manifests/"], env=env).returncode
        new_rows = orders_arrive(data)
        print(f"\ndemo: {new_rows:,} new orders arrived; loader run manifests/ --only orders "
              "(incremental: only the new rows)", flush=True)
        code = code or subprocess.run([*cli, "run", "manifests/", "--only", "orders"], env=env).returncode
        print("\ndemo: loader status", flush=True)
        subprocess.run([*cli, "status"], env=env, check=True)
        leftovers = [o["Key"] for o in s3.client().list_objects_v2(Bucket=DEFAULT_BUCKET).get("Contents", [])]
        print(f"\ndemo: objects left in s3://{DEFAULT_BUCKET}: {len(leftovers)}")
        with psycopg2.connect(pg.url()) as conn, conn.cursor() as cur:
            cur.execute("SELECT dataset, count(*), min(quality) FROM entity GROUP BY 1 ORDER BY 1")
            for dataset, count, version in cur.fetchall():
                print(f"demo: entity, dataset {dataset}: {count:,} rows ({version} version)")
            # the GeoParquet's geometries as PostGIS reads them: typed, with their SRID, each point in its square
            cur.execute("SELECT count(*), count(*) FILTER (WHERE ST_GeometryType(geometry) = 'ST_MultiPolygon' "
                        "AND ST_SRID(geometry) = 4326 AND ST_SRID(point) = 4326 AND ST_Contains(geometry, point)) "
                        "FROM entity WHERE dataset = %s", (GEO_DATASET,))
            rows, placed = cur.fetchone() or (0, 0)
            print(f"demo: entity, dataset {GEO_DATASET} from GeoParquet: {placed:,} of {rows:,} multipolygons "
                  "in EPSG:4326, each holding its point")
            for table in ("trips", "customers", "events", "sessions", "calendar", "orders"):
                cur.execute(f"SELECT count(*) FROM {table}")
                (count,) = cur.fetchone() or (0,)
                print(f"demo: {table}: {count:,} rows in PostgreSQL")
    shutil.rmtree(root, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
