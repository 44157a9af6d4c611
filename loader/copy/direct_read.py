"""The staging job that reads Parquet files with pyarrow on the executors (direct_plan.py says when).

One Spark task per unit (row groups of one file); the task reads its row groups' columns, makes
each batch the Arrow batch Spark's reader would have handed to ``mapInArrow`` (the load's column
order, the types of ``direct_plan.reads_as`` widened to Spark's), and stages it exactly as the
DataFrame path does (task.stage_batches: parts, markers, resume). The unit's index is the
partition index of the parts, so a resume of the same files skips the same units.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from ..plan.direct_filter import where_mask
from ..plan.direct_plan import DirectRead, DirectUnit
from .task import StageConfig, stage_batches

#: rows per Arrow batch read (Spark's own maxRecordsPerBatch is 10,000; bigger batches cost the
#: encoder less per row, and a part is cut by its bytes whatever the batch)
BATCH_ROWS = 65_536


def arrow_type(spark_type: str) -> Any:
    """The Arrow type Spark hands to mapInArrow for a column of ``spark_type`` (its simpleString)."""
    import pyarrow as pa

    plain = {"tinyint": pa.int8(), "smallint": pa.int16(), "int": pa.int32(), "bigint": pa.int64(),
             "float": pa.float32(), "double": pa.float64(), "boolean": pa.bool_(), "string": pa.string(),
             "binary": pa.binary(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC"),
             "timestamp_ntz": pa.timestamp("us")}
    if spark_type in plain:
        return plain[spark_type]
    if spark_type.startswith("decimal("):
        precision, scale = spark_type[len("decimal("):-1].split(",")
        return pa.decimal128(int(precision), int(scale))
    raise ValueError(f"no direct read for Spark type {spark_type}")


def unit_batches(read: DirectRead, unit: DirectUnit) -> Iterator[Any]:
    """The unit's rows as the batches Spark would give: columns c0..cN in the load's order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..plan.footer_types import as_spark_reads

    names = [n for n, _ in read.columns]
    want = [arrow_type(t) for _, t in read.columns]
    schema = pa.schema([pa.field(f"c{i}", t) for i, t in enumerate(want)])
    where = read.where
    extra = [c for c in where.columns if c not in names] if where is not None else []
    pf = pq.ParquetFile(unit.path, coerce_int96_timestamp_unit="us")
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=list(unit.row_groups), columns=names + extra,
                                 use_threads=False):
        if where is not None:  # the manifest's where, as Spark evaluates it (a NULL condition drops the row)
            batch = batch.filter(where_mask(where, {c: batch.column(batch.schema.get_field_index(c))
                                                    for c in where.columns}))
        arrays = []
        for name, target in zip(names, want, strict=True):
            arr = batch.column(batch.schema.get_field_index(name))
            if arr.type != target:  # the widenings reads_as allows, and INT96's zone (it is UTC)
                if pa.types.is_dictionary(arr.type):
                    arr = arr.dictionary_decode()
                if as_spark_reads(arr.type) != arr.type:
                    arr = arr.cast(as_spark_reads(arr.type))
                arr = arr.cast(target)  # safe: refuses (ArrowInvalid) what would lose a value
            arrays.append(arr)
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _stage_unit(cfg: StageConfig, read: DirectRead, index: int, _rows: Iterator[Any]) -> Iterator[dict[str, int]]:
    yield stage_batches(cfg, index, unit_batches(read, read.units[index]))


class ParquetJob:
    """The staging job over ``read``'s units (StagingThread runs it)."""

    reader = "pyarrow"

    def __init__(self, spark_context: Any, read: DirectRead) -> None:
        self.spark_context, self.read = spark_context, read

    @property
    def partitions(self) -> int:
        return len(self.read.units)

    def run(self, cfg: StageConfig) -> list[dict[str, int]]:
        n = len(self.read.units)
        if n == 0:
            return []
        fn = functools.partial(_stage_unit, cfg, self.read)
        return list(self.spark_context.parallelize(range(n), n).mapPartitionsWithIndex(fn).collect())
