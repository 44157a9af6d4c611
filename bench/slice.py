"""Whole-table overwrite against a slice replace, and what a reader waits meanwhile.

    .venv/bin/python bench/slice.py [--rows 1000000] [--repeat 1]

A table of the benchmark's shape (bigint id PK, text dataset (btree), text name, numeric(12,2),
timestamptz, boolean) holds ``rows`` rows of dataset 'a' and 100,000 of dataset 'b'. Each case
loads ``rows`` new rows of dataset 'a' with COPY (the library call's defaults, a cached
DataFrame), while a reader counts dataset 'b' every 50 ms on its own connection:

* ``overwrite``: mode overwrite of the whole table, by each of its three paths: ``overwrite=truncate``
  (TRUNCATE in place), ``connections=1`` (its rows replaced in place under MVCC: DELETE, then COPY),
  ``connections=2`` (through a shadow table, swapped in), and the default (``auto``: the shadow for
  a table of 64 MiB or more, else MVCC);
* ``replace_where true``: the same rows, row locks only (every old row deleted);
* ``replace_where dataset = 'a'``: only the 'a' slice replaced, 'b' untouched;
* ``replace_by [dataset]``: the same through the slices the source holds;
* the last two again with ``connections=2``: the parts land over two connections in the run's
  staging table, then one transaction merges them.

It prints seconds, rows/s and the reader's slowest answer per case. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loader import write_to_postgres  # noqa: E402
from loader.options import DEFAULT_BUCKET  # noqa: E402
from loader.testing.pgcluster import PgCluster  # noqa: E402
from loader.testing.s3server import start_moto  # noqa: E402

DDL = ("CREATE TABLE t (id bigint PRIMARY KEY, dataset text NOT NULL, name text, amount numeric(12,2), "
       "ts timestamptz, flag boolean); CREATE INDEX t_dataset ON t (dataset)")


def frame(spark: Any, first: int, rows: int, dataset: str) -> Any:
    from pyspark.sql import functions as F

    return spark.range(first, first + rows, numPartitions=2).select(
        F.col("id"), F.lit(dataset).alias("dataset"), F.concat(F.lit("name "), F.col("id").cast("string")).alias("name"),
        (F.col("id") % 100000 / 100).cast("decimal(12,2)").alias("amount"),
        F.timestamp_micros(F.lit(1_700_000_000_000_000) + F.col("id")).alias("ts"), (F.col("id") % 2 == 0).alias("flag"))


class Reader(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.slowest = url, threading.Event(), 0.0

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.stop.is_set():
                t = time.monotonic()
                cur.execute("SELECT count(*) FROM t WHERE dataset = 'b'")
                cur.fetchone()
                self.slowest = max(self.slowest, time.monotonic() - t)
                time.sleep(0.05)
        conn.close()


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--rows", type=int, default=1_000_000)
    args.add_argument("--repeat", type=int, default=1)
    opts = args.parse_args()
    from loader.adapters.spark import get_or_create_session

    with PgCluster(fast=False) as pg, start_moto() as s3:
        s3.create_bucket(DEFAULT_BUCKET)
        os.environ.update(s3.env())
        import psycopg2

        spark = get_or_create_session("loader-bench-slice")
        new_a = frame(spark, 0, opts.rows, "a").cache()
        new_a.count()
        cases: list[tuple[str, dict[str, Any]]] = [
            ("overwrite: truncate", {"overwrite": "truncate"}),
            ("overwrite, MVCC (connections 1)", {"connections": 1}),
            ("overwrite, shadow (connections 2)", {"connections": 2}),
            ("overwrite (auto, the default)", {}),
            ("replace_where true", {"replace_where": "true"}),
            ("replace_where dataset = 'a'", {"replace_where": "dataset = 'a'"}),
            ("replace_by [dataset]", {"replace_by": ["dataset"]}),
            # over 2 connections into the run's staging table, merged in one transaction (copy/landing/staging_merge.py)
            ("replace_where dataset = 'a', k2", {"replace_where": "dataset = 'a'", "connections": 2}),
            ("replace_by [dataset], k2", {"replace_by": ["dataset"], "connections": 2}),
        ]
        print(f"{'case':32} {'seconds':>8} {'rows/s':>10} {'reader waited (max)':>20}")
        for name, slice_args in cases:
            for _ in range(opts.repeat):
                with psycopg2.connect(pg.url()) as conn, conn.cursor() as cur:
                    cur.execute("DROP TABLE IF EXISTS t")
                    cur.execute(DDL)
                write_to_postgres(frame(spark, 0, opts.rows, "a").unionByName(
                    frame(spark, 10_000_000, 100_000, "b")), pg.url(), table="t", method="copy")
                conn = psycopg2.connect(pg.url())
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("VACUUM ANALYZE t")
                conn.close()
                reader = Reader(pg.url())
                reader.start()
                t0 = time.monotonic()
                write_to_postgres(new_a, pg.url(), table="t", method="copy", mode="overwrite", **slice_args)
                seconds = time.monotonic() - t0
                reader.stop.set()
                reader.join()
                print(f"{name:32} {seconds:8.1f} {opts.rows / seconds:10,.0f} {reader.slowest:19.2f}s", flush=True)
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
