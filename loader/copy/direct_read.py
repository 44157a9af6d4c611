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
    int96 = [c.path for c in (pf.schema.column(i) for i in range(len(pf.schema)))
             if c.physical_type == "INT96" and c.path in names]
    kw: dict[str, Any] = {"batch_size": BATCH_ROWS, "row_groups": list(unit.row_groups), "use_threads": False}
    # pyarrow's microseconds of an INT96 are Spark's only inside Julian day 0 .. year 287,566: the same
    # column read in nanoseconds too tells Spark's value everywhere (plan/int96.py)
    nanos = pq.ParquetFile(unit.path, coerce_int96_timestamp_unit="ns").iter_batches(columns=int96, **kw) \
        if int96 else None
    first_row = sum(pf.metadata.row_group(i).num_rows for i in range(unit.row_groups[0]))  # of the file
    for batch in pf.iter_batches(columns=names + extra, **kw):
        if nanos is not None:
            batch = _spark_int96(batch, next(nanos), unit.path, first_row)
        first_row += batch.num_rows
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
                arr = _cast(arr, target, unit.path, name)
            arrays.append(arr)
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _spark_int96(batch: Any, nanos: Any, path: str, first_row: int) -> Any:
    """``batch`` with each INT96 column replaced by Spark's microseconds (``nanos``: the same rows
    of those columns read in nanoseconds); a value that is not Spark's is refused, never guessed."""
    import numpy as np
    import pyarrow as pa

    from ..errors import DataError
    from ..plan.int96 import spark_micros

    if nanos.num_rows != batch.num_rows:  # both readers cut the row groups alike; never trust otherwise
        raise DataError(f"{path}: the INT96 columns' two readings differ in length ({nanos.num_rows} and "
                        f"{batch.num_rows} rows)", next_step="report this: the direct read stops rather than guess")
    for name in nanos.schema.names:
        idx = batch.schema.get_field_index(name)
        arr = batch.column(idx)
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        us = arr.cast(pa.int64()).fill_null(0).to_numpy()
        ns = nanos.column(nanos.schema.get_field_index(name)).cast(pa.int64()).fill_null(0).to_numpy()
        micros, unexplained = spark_micros(us, ns)
        bad = np.flatnonzero(unexplained & valid)
        if len(bad):
            raise DataError(f"{path}: column {name!r}, row {first_row + int(bad[0])} of the file: an INT96 timestamp "
                            "before 4714-11-24 BC (Julian day 0), which PostgreSQL cannot store, or one Spark's "
                            "writer does not write", next_step="fix the value in the source")
        fixed = pa.array(micros, pa.int64(), mask=~valid).cast(pa.timestamp("us"))
        batch = batch.set_column(idx, batch.schema.field(idx).with_type(fixed.type), fixed)
    return batch


def _cast(arr: Any, target: Any, path: str, name: str) -> Any:
    """``arr`` as ``target``: safe, so a value the cast would change (a millisecond timestamp beyond
    Spark's microsecond range, which Spark's reader refuses too) is refused naming its file and column."""
    import pyarrow as pa

    from ..errors import DataError

    try:
        return arr.cast(target)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path}: column {name!r}: {str(exc).splitlines()[0][:200]} (Spark's reader refuses it too)",
                        next_step="fix the value in the source") from None


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

    def source_of(self, partition: int) -> str | None:
        """The file and row groups the partition's parts hold (a unit's index is its partition)."""
        return self.read.units[partition].describe() if 0 <= partition < len(self.read.units) else None

    def run(self, cfg: StageConfig) -> list[dict[str, int]]:
        n = len(self.read.units)
        if n == 0:
            return []
        fn = functools.partial(_stage_unit, cfg, self.read)
        return list(self.spark_context.parallelize(range(n), n).mapPartitionsWithIndex(fn).collect())
