"""What the loader is compared with, each as ``prepare(ctx, ds, table) -> run() -> rows``.

``prepare`` is untimed, ``run`` is what the clock measures.

* the limit: the server reads the pre-made CSV from its own disk,
  ``COPY t FROM '/path/file.csv' (FORMAT csv)``: no network, no client, no
  Spark; what a load of these rows into this table costs PostgreSQL alone;
* ``psql -c "\\copy t FROM 'file' (FORMAT csv)"``: the same CSV streamed by psql;
* psycopg2 ``copy_expert`` from the CSV file: the plain-Python baseline;
* dlt (``dlt[postgres]``) from the Parquet, with its ``parquet`` loader file
  format (ADBC, needs ``adbc-driver-postgresql``) and its ``csv`` one (COPY).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from .inputs import Dataset, iter_batches

Runner = Callable[[], int]


def _connect(ctx: Any) -> Any:
    import psycopg2

    return psycopg2.connect(**ctx.psycopg2_kwargs())


def server_copy(ctx: Any, ds: Dataset, table: str) -> Runner:
    def run() -> int:
        conn = _connect(ctx)
        try:
            with conn.cursor() as cur:
                cur.execute(f"COPY public.{table} FROM %s (FORMAT csv)", (str(ds.csv),))
                rows = cur.rowcount
            conn.commit()
            return rows
        finally:
            conn.close()
    return run


def psql_copy(ctx: Any, ds: Dataset, table: str) -> Runner:
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql is not installed (apt-get install postgresql-client)")
    path = str(ds.csv).replace("'", "''")
    cmd = [psql, ctx.url(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
           f"\\copy public.{table} FROM '{path}' (FORMAT csv)"]

    def run() -> int:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        return ds.rows  # psql -q prints nothing; the checksum counts the rows
    return run


def psycopg2_copy(ctx: Any, ds: Dataset, table: str) -> Runner:
    def run() -> int:
        conn = _connect(ctx)
        try:
            with conn.cursor() as cur, open(ds.csv, "rb") as fh:
                cur.copy_expert(f"COPY public.{table} FROM STDIN (FORMAT csv)", fh, size=1 << 20)
                rows = cur.rowcount
            conn.commit()
            return rows
        finally:
            conn.close()
    return run


def dlt_available(file_format: str) -> str:
    """'' when dlt can run with this loader file format here, else why not."""
    try:
        import dlt  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"dlt is not installed ({type(exc).__name__}: {exc}); pip install 'dlt[postgres]'"
    if file_format == "parquet":
        try:
            import adbc_driver_postgresql  # noqa: F401
        except Exception:
            return ("dlt loads parquet into postgres through ADBC: pip install adbc-driver-postgresql "
                    "(not in the bench extra)")
    return ""


def dlt_load(file_format: str) -> Callable[[Any, Dataset, str], Runner]:
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        why = dlt_available(file_format)
        if why:
            raise RuntimeError(why)
        os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
        os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
        import dlt

        ctx.dlt_runs += 1
        name = f"bench_{file_format}_{ctx.dlt_runs}"  # fresh dlt state each time: our DDL made the table
        pipelines_dir = ctx.workdir / "dlt"
        pipelines_dir.mkdir(exist_ok=True)

        @dlt.resource(name=table, write_disposition="append")
        def rows() -> Any:
            import pyarrow as pa

            for batch in iter_batches(ds.parquet, 100_000, plain_strings=True):
                yield pa.Table.from_batches([batch])

        def run() -> int:
            pipeline = dlt.pipeline(pipeline_name=name, pipelines_dir=str(pipelines_dir),
                                    destination=dlt.destinations.postgres(credentials=ctx.url()),
                                    dataset_name="public")
            info = pipeline.run(rows(), loader_file_format=file_format)
            info.raise_on_failed_jobs()
            return ds.rows  # dlt reports files, not rows; the checksum counts the rows
        return run
    return prepare


def spark_jdbc_direct(tuned: bool) -> Callable[[Any, Dataset, str], Runner]:
    """Spark's JDBC writer straight into the target, outside the loader: what a job does
    without us. Not atomic (one commit per partition), so a reference, not a method. ``tuned``
    uses the optimized method's settings, to show what its atomic publish costs."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        from loader.connection import ConnectionSpec
        from loader.jdbc.frame import SPARK_DEFAULT_BATCHSIZE, choose_batchsize, row_width

        spec = ConnectionSpec.parse(ctx.conn_params())
        df = ctx.spark.read.parquet(str(ds.parquet))
        props = spec.jdbc_properties()
        url = spec.jdbc_url()
        batchsize = SPARK_DEFAULT_BATCHSIZE
        if tuned:
            url = spec.jdbc_url(reWriteBatchedInserts="true", stringtype="unspecified")
            batchsize = choose_batchsize(row_width(df.schema))
            props.update({"isolationLevel": "READ_COMMITTED"})
        props["batchsize"] = str(batchsize)

        def run() -> int:
            df.write.mode("append").jdbc(url, f"public.{table}", properties=props)
            return ds.rows  # the checksum counts the rows
        return run
    return prepare
