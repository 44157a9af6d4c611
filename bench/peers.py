"""What the loader is compared with, each as ``prepare(ctx, ds, table) -> run() -> rows``.

``prepare`` is untimed, ``run`` is what the clock measures. Every peer loads
into the table the benchmark created (same DDL, primary key included).

* the limit: the server reads the pre-made file in PostgreSQL's *binary* COPY
  format from its own disk, ``COPY t FROM '/path/file.bin' (FORMAT binary)``:
  no network, no client, no Spark, no text parsing; what a load of these rows
  into this table costs PostgreSQL alone;
* the text limit (``limit-text``): the same from the CSV,
  ``COPY t FROM '/path/file.csv' (FORMAT csv)``;
* ``psql -c "\\copy t FROM 'file' (FORMAT csv)"``: the same CSV streamed by psql;
* psycopg2 ``copy_expert`` from the CSV file: the plain-Python baseline;
* dlt (``dlt[postgres]``) from the Parquet, with its ``parquet`` loader file
  format (ADBC, needs ``adbc-driver-postgresql``) and its ``csv`` one (COPY);
* ``adbc_ingest`` (``adbc-driver-postgresql``) of the Parquet's Arrow batches,
  mode append (ADBC sends binary COPY);
* pgpq + psycopg 3: the Parquet read with pyarrow, encoded by ``pgpq`` to binary
  COPY and sent with ``COPY t FROM STDIN (FORMAT BINARY)``.

A peer whose package is missing raises :class:`PeerUnavailable` from
``prepare``: the benchmark skips it and says why in the notes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .inputs import Dataset, iter_batches

Runner = Callable[[], int]


class PeerUnavailable(RuntimeError):
    """A peer's package is not installed: skipped with a note, not a failure."""


def _require(module: str, install: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001
        raise PeerUnavailable(f"{module} is not installed ({type(exc).__name__}); pip install {install}") from None


def _connect(ctx: Any) -> Any:
    import psycopg2

    return psycopg2.connect(**ctx.psycopg2_kwargs())


def server_copy(ctx: Any, ds: Dataset, table: str) -> Runner:
    """The text limit: the server reads the CSV."""
    return _server_copy(ctx, ds, table, "csv")


def server_copy_binary(ctx: Any, ds: Dataset, table: str) -> Runner:
    """The limit: the server reads the same rows in binary COPY format."""
    if ds.binary is None:
        raise RuntimeError(f"{ds.name}: no binary COPY file (inputs.write_binary was not run)")
    return _server_copy(ctx, ds, table, "binary")


def _server_copy(ctx: Any, ds: Dataset, table: str, fmt: str) -> Runner:
    path = str(ds.binary if fmt == "binary" else ds.csv)

    def run() -> int:
        conn = _connect(ctx)
        try:
            with conn.cursor() as cur:
                cur.execute(f"COPY public.{table} FROM %s (FORMAT {fmt})", (path,))
                rows = cur.rowcount
            conn.commit()
            return rows
        finally:
            conn.close()
    return run


def server_copy_parallel(k: int, key_after: bool = False) -> Callable[[Any, Dataset, str], Runner]:
    """The parallel limits: k connections at once, each ``COPY ... FROM 'file' (FORMAT binary)`` of
    a k-th of the rows (k = 1: the whole file), each in its own transaction (not atomic: a limit).
    ``key_after``: the table has no index during the COPYs and its primary key is built after
    them (timed), the shape a shadow-table overwrite would have."""

    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        if ds.binary is None or (k > 1 and k not in ds.binary_parts):
            raise RuntimeError(f"{ds.name}: no binary COPY file split {k} ways (inputs.write_binary)")
        paths = [str(ds.binary)] if k == 1 else [str(p) for p in ds.binary_parts[k]]

        def one(path: str, counts: list[int], start: threading.Barrier) -> None:
            conn = _connect(ctx)
            try:
                start.wait()
                with conn.cursor() as cur:
                    cur.execute(f"COPY public.{table} FROM %s (FORMAT binary)", (path,))
                    counts.append(cur.rowcount)
                conn.commit()
            finally:
                conn.close()

        def run() -> int:
            counts: list[int] = []
            start = threading.Barrier(len(paths))
            with ThreadPoolExecutor(len(paths)) as pool:
                for f in [pool.submit(one, p, counts, start) for p in paths]:
                    f.result()
            if key_after:
                conn = _connect(ctx)
                try:
                    with conn.cursor() as cur:
                        cur.execute(f"ALTER TABLE public.{table} ADD PRIMARY KEY ({', '.join(ds.key)})")
                    conn.commit()
                finally:
                    conn.close()
            return sum(counts)
        return run
    return prepare


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
            return "dlt loads parquet into postgres through ADBC: pip install adbc-driver-postgresql"
    return ""


def dlt_load(file_format: str) -> Callable[[Any, Dataset, str], Runner]:
    """dlt appends into the table the benchmark created (dataset ``public``, resource named after
    the table): dlt finds it in the destination and creates nothing. The resource also carries the
    table's primary key as a hint, so a dlt that had to create it would create the same key; the
    benchmark checks after every load that the table still has its primary key and no extra column."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        why = dlt_available(file_format)
        if why:
            raise PeerUnavailable(why)
        os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
        os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
        import dlt

        ctx.dlt_runs += 1
        name = f"bench_{file_format}_{ctx.dlt_runs}"  # fresh dlt state each time: our DDL made the table
        pipelines_dir = ctx.workdir / "dlt"
        pipelines_dir.mkdir(exist_ok=True)

        @dlt.resource(name=table, write_disposition="append", primary_key=list(ds.key))
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


def adbc_ingest(ctx: Any, ds: Dataset, table: str) -> Runner:
    """``cursor.adbc_ingest(table, batches, mode="append")`` into the pre-created table. The Parquet's
    batches are cast to the table's column types (binary COPY takes no int32 for a bigint)."""
    _require("adbc_driver_postgresql", "adbc-driver-postgresql")
    import pyarrow as pa
    from adbc_driver_postgresql import dbapi

    from .inputs import iter_target_batches, target_schema

    schema = target_schema(ds)
    url = ctx.url()

    def run() -> int:
        reader = pa.RecordBatchReader.from_batches(schema, iter_target_batches(ds))
        with dbapi.connect(url) as conn:
            with conn.cursor() as cur:
                rows = cur.adbc_ingest(table, reader, mode="append", db_schema_name="public")
            conn.commit()
        return rows if rows is not None and rows >= 0 else ds.rows
    return run


def pgpq_copy(ctx: Any, ds: Dataset, table: str) -> Runner:
    """Plain Python: pyarrow reads the Parquet, ``pgpq`` encodes each batch in binary COPY format,
    psycopg 3 sends it with ``COPY t FROM STDIN (FORMAT BINARY)``. The batches are cast to the
    table's column types first (pgpq encodes what Arrow holds: decimal128(p, s) as numeric,
    timestamp[us, UTC] as timestamptz, int64 as bigint, ...)."""
    _require("pgpq", "pgpq==0.12.0")
    _require("psycopg", "'psycopg[binary]'")
    import pgpq
    import psycopg

    from .inputs import iter_target_batches, target_schema

    schema = target_schema(ds)
    kwargs = ctx.psycopg2_kwargs()  # host, port, dbname, user, password: the same for psycopg 3

    def run() -> int:
        encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
        with psycopg.connect(**kwargs) as conn, conn.cursor() as cur:  # the connection commits on a clean exit
            with cur.copy(f"COPY public.{table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(encoder.write_header())
                for batch in iter_target_batches(ds):
                    copy.write(encoder.write_batch(batch))
                copy.write(encoder.finish())
            rows = cur.rowcount
        return rows if rows >= 0 else ds.rows
    return run


def spark_jdbc_direct(tuned: bool) -> Callable[[Any, Dataset, str], Runner]:
    """Spark's JDBC writer straight into the target, outside the loader: what a job does
    without us. Not atomic (one commit per partition), so a reference, not a method. ``tuned``
    uses the optimized method's settings, to show what its atomic publish costs."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        from loader.connection import ConnectionSpec
        from loader.jdbc.frame import SPARK_DEFAULT_BATCHSIZE, choose_batchsize
        from loader.plan.typemap import row_width

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
