"""Staging: the executors write parts straight to S3, in parallel, with boto3.

No hadoop-aws / s3a is needed and no row reaches the driver. Each Spark task
turns its partition's rows (binary COPY tuples from Arrow batches, or CSV lines
rendered in the JVM: formats.py) into parts of bounded size, gzips them (optionally), uploads
them (boto3 switches to multipart upload above 8 MB) and, last, writes a small
JSON marker ``part-NNNNN.json`` listing its parts with their rows and bytes.
The marker is what makes a partition "staged": a resume skips the partitions
whose marker is there. Each part also carries its row count in its S3 metadata,
so that a resume reuses the leading parts of a partition whose task was stopped
(``resume.py``): the task skips their rows without encoding or uploading them.

Keys are deterministic (partition index, sequence number), so a retried or
speculative task overwrites its own parts with the same content instead of
adding new ones; the loader still checks the total row count at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..adapters.s3 import translated
from ..adapters.spark_errors import DATA_ERROR_TAG, STAGING_ERROR_TAG
from ..naming import TempLocation
from ..options import DEFAULT_PART_MB

#: the S3 user metadata that carries a part's row count (read back by resume.plan_resume)
ROWS_METADATA = "loader-rows"

# Uncompressed bytes per part (copy.part_mb): bounds a task's memory, and small enough that
# loading can start while the rest is still being staged.
DEFAULT_PART_BYTES = DEFAULT_PART_MB * 1024 * 1024


@dataclass(frozen=True)
class StagedPart:
    partition: int
    seq: int
    key: str
    rows: int
    bytes: int  # bytes stored in S3 (compressed when gzip)


@dataclass(frozen=True)
class StageConfig:
    """Everything an executor needs; pickled into the Spark task (no secrets: credentials
    come from the executor's own environment or instance role)."""

    location: TempLocation
    gzip: bool
    part_bytes: int = DEFAULT_PART_BYTES
    rows_per_part: int | None = None
    endpoint_url: str | None = None
    skip_partitions: frozenset[int] = frozenset()
    #: a resume's leading parts of unmarked partitions, kept (resume.plan_resume): their rows are skipped
    reuse: dict[int, tuple[StagedPart, ...]] = field(default_factory=dict)
    #: only in local mode (the executors are this machine): the driver's resolved credentials,
    #: since Python workers keep the environment the JVM started with. On a cluster the
    #: executors use their own role and this stays None.
    credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)
    #: the staging format's executor side (formats.CsvPartEncoder / BinaryPartEncoder): a part is
    #: header + encoded batches + trailer, a complete COPY input of its own
    encoder: Any = None
    extension: str = ".csv"
    content_type: str = "text/csv"


def batch_bytes(arr: Any) -> bytes:
    """The CSV bytes of an Arrow string column whose values end with newlines: its values
    buffer between the first and last offset, without touching a row in Python."""
    import numpy as np

    arr = arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr
    if len(arr) == 0:
        return b""
    width = np.int64 if str(arr.type) in ("large_string", "large_utf8") else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset: arr.offset + len(arr) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    return bufs[2].to_pybytes()[start:end] if start or end != bufs[2].size else bufs[2].to_pybytes()


class _PartWriter:
    def __init__(self, cfg: StageConfig, partition: int, client: Any) -> None:
        self.cfg, self.partition, self.client = cfg, partition, client
        self.parts: list[StagedPart] = list(cfg.reuse.get(partition, ()))  # the next seq follows them
        self._reset()

    def _reset(self) -> None:
        self.buf = io.BytesIO()
        self.raw = 0
        self.rows = 0
        self.zip = zlib.compressobj(1, zlib.DEFLATED, 31) if self.cfg.gzip else None
        self._write(self.cfg.encoder.header())

    def _write(self, data: bytes) -> None:
        self.buf.write(self.zip.compress(data) if self.zip else data)
        self.raw += len(data)

    def room(self, rows: int) -> int:
        """How many of ``rows`` fit in the current part under rows_per_part (exact: batches are
        sliced to it); the MiB cap is checked after each piece, so a part may pass it by one batch."""
        limit = self.cfg.rows_per_part
        return rows if limit is None else max(1, min(rows, limit - self.rows))

    def add(self, data: bytes, rows: int) -> None:
        self._write(data)
        self.rows += rows
        full_rows = self.cfg.rows_per_part is not None and self.rows >= self.cfg.rows_per_part
        if self.raw >= self.cfg.part_bytes or full_rows:
            self.flush()

    def flush(self) -> None:
        if self.rows == 0:
            return
        self._write(self.cfg.encoder.trailer())
        if self.zip:
            self.buf.write(self.zip.flush())
        size = self.buf.tell()
        self.buf.seek(0)
        key = self.cfg.location.part_key(self.partition, len(self.parts), self.cfg.extension)
        # the row count, for a resume that finds this part without its partition's marker
        extra: dict[str, Any] = {"ContentType": self.cfg.content_type, "Metadata": {ROWS_METADATA: str(self.rows)}}
        if self.cfg.gzip:
            extra["ContentEncoding"] = "gzip"  # RDS's aws_s3 gunzips only with this metadata
        with translated("upload", self.cfg.location.bucket):
            self.client.upload_fileobj(self.buf, self.cfg.location.bucket, key, ExtraArgs=extra)
        self.parts.append(StagedPart(self.partition, len(self.parts), key, self.rows, size))
        self._reset()

    def write_marker(self) -> None:
        body = json.dumps({"partition": self.partition,
                           "parts": [p.__dict__ for p in self.parts]}).encode()
        with translated("PutObject", self.cfg.location.bucket):
            self.client.put_object(Bucket=self.cfg.location.bucket, Key=self.cfg.location.marker_key(self.partition),
                                   Body=body, ContentType="application/json")


def stage_partition(cfg: StageConfig, batches: Iterator[Any]) -> Iterator[Any]:
    """mapInArrow body: runs on an executor for one partition."""
    import pyarrow as pa
    from pyspark import TaskContext

    ctx = TaskContext.get()
    partition = ctx.partitionId() if ctx is not None else 0
    out_schema = pa.schema([("partition", pa.int32()), ("parts", pa.int32()), ("rows", pa.int64()),
                            ("bytes", pa.int64())])
    yield pa.RecordBatch.from_pylist([stage_batches(cfg, partition, batches)], schema=out_schema)


def stage_batches(cfg: StageConfig, partition: int, batches: Iterator[Any]) -> dict[str, int]:
    """Stage one partition's Arrow batches (from Spark's rows or read from Parquet files by
    direct_read.py) as parts and a marker; returns the partition's summary (its rows and bytes)."""
    from ..adapters.s3 import make_client
    from ..errors import DataError, StagingError

    writer = None
    if partition not in cfg.skip_partitions:  # else staged by an earlier attempt: its marker is there
        # The terminal's Ctrl-C reaches this worker too (same process group): the driver stops the job
        # (cancelled, the worker killed); a KeyboardInterrupt here would only print a traceback.
        with contextlib.suppress(ValueError):  # not the worker's main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            writer = _PartWriter(cfg, partition, make_client(cfg.endpoint_url, credentials=cfg.credentials))
            _write_partition(writer, cfg, partition, batches)
        except StagingError as exc:
            # reaches the driver as text inside Spark's error: the tag says "infrastructure"
            raise RuntimeError(f"{STAGING_ERROR_TAG}: {exc.message}") from None
        except DataError as exc:  # a value the target column cannot take (binary encoder's checks)
            raise RuntimeError(f"{DATA_ERROR_TAG}: {exc.message}") from None
    parts = writer.parts if writer is not None else []
    return {"partition": partition, "parts": len(parts), "rows": sum(p.rows for p in parts),
            "bytes": sum(p.bytes for p in parts)}


def _write_partition(writer: _PartWriter, cfg: StageConfig, partition: int, batches: Iterator[Any]) -> None:
    skip = sum(p.rows for p in writer.parts)  # rows an earlier attempt staged in the reused parts
    rows_before = 0
    for batch in batches:
        offset = 0
        if skip:  # the leading rows are in the reused parts already
            offset = min(skip, batch.num_rows)
            skip -= offset
            rows_before += offset
        while offset < batch.num_rows:  # a batch is split where rows_per_part closes a part
            n = writer.room(batch.num_rows - offset)
            piece = batch if n == batch.num_rows else batch.slice(offset, n)
            writer.add(cfg.encoder.encode(piece, partition, rows_before), n)
            rows_before, offset = rows_before + n, offset + n
    if skip:
        raise RuntimeError(f"partition {partition} has {rows_before} rows, fewer than the {rows_before + skip} "
                           "its reused parts hold: the source changed since they were staged")
    writer.flush()
    writer.write_marker()


def nul_message(column: str, partition: int, row: int, value: str | None = None) -> str:
    """Tagged so the driver can recognise it inside Spark's error (adapters/spark_errors.translate_staging_failure)."""
    from ..adapters.spark_errors import NUL_ERROR_TAG

    shown = f": {value[:80]!r}" if value is not None else ""
    return f"{NUL_ERROR_TAG}:{column}\n(partition {partition}, row {row} of it{shown})"


def nul_byte_message(arr: Any, columns: tuple[str, ...], partition: int, rows_before: int) -> str:
    """Name the column and row of the first NUL byte (tagged so the driver can recognise it)."""
    import csv

    from ..adapters.spark_errors import NUL_ERROR_TAG

    for i, value in enumerate(arr.to_pylist()):
        if value is not None and "\x00" in value:
            fields = next(csv.reader([value.replace("\x00", "\ufffd")]))
            idx = next((j for j, f in enumerate(fields) if "\ufffd" in f), 0)
            column = columns[idx] if idx < len(columns) else f"#{idx + 1}"
            return nul_message(column, partition, rows_before + i + 1, value)
    return f"{NUL_ERROR_TAG}:?"


def local_credentials(spark: Any) -> tuple[str, str, str | None] | None:
    """The driver's AWS credentials when Spark runs in local mode, else None."""
    master = spark.sparkContext.master or ""
    if not master.startswith("local"):
        return None
    import boto3

    creds = boto3.session.Session().get_credentials()
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token


class FrameJob:
    """The staging job over a DataFrame's partitions (StagingThread runs it): Spark's rows, as the
    Arrow batches ``mapInArrow`` hands over. direct_read.ParquetJob is the other kind."""

    reader = "spark"

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.spark_context = frame.sparkSession.sparkContext

    @property
    def partitions(self) -> int:
        return int(self.frame.rdd.getNumPartitions())

    def source_of(self, partition: int) -> str | None:
        """Nothing to add: a partition of Spark's rows comes from no one file Spark says."""
        return None

    def run(self, cfg: StageConfig) -> list[dict[str, int]]:
        """Stage every partition; one summary row per partition."""
        import functools

        fn = functools.partial(stage_partition, cfg)
        result = self.frame.mapInArrow(fn, "partition int, parts int, rows long, bytes long").collect()
        return [r.asDict() for r in result]


def parse_marker(body: bytes) -> list[StagedPart]:
    """The parts a partition's marker (``write_marker``) lists."""
    return [StagedPart(**p) for p in json.loads(body)["parts"]]
