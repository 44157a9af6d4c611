"""What Spark's JDBC writer sends, and how: staging columns, batch size, writer settings.

The staging frame renames every column to ``c_<n>`` (Spark 3.5 does not escape
quotes inside column names, so a hostile name must never reach its SQL), turns
structs, maps and arrays the target cannot take as arrays into JSON text, guards
strings against NUL bytes, and for ``optimized`` picks the compact wire forms of
``jdbc_codec``. The writer settings are the tuning of ``optimized``: batched
INSERTs rewritten into multi-row ones, server-typed string parameters, ~1 MiB
batches and one connection per partition, capped, never a shuffle.
"""

from __future__ import annotations

from typing import Any

from ..connection import ConnectionSpec
from ..errors import ConfigError
from ..options import JdbcOptions, Method
from ..plan.pg_text import JSON_OPTIONS, float_text, needs_float_text, string_guard
from ..plan.typemap import STRING_KINDS, ColumnPlan, kind, pg_type, row_width
from . import codec as jdbc_codec
from .codec import StagedColumn

#: Spark's own default, kept for ``standard`` (the baseline).
SPARK_DEFAULT_BATCHSIZE = 1000
#: pgjdbc keeps a whole batch of parameters in memory before sending it: ~1 MB of rows was
#: as fast as any and bigger batches cost JVM CPU (bench/README.md, "Figures that used to live
#: in docstrings").
TARGET_BATCH_BYTES = 1024 * 1024
MIN_BATCHSIZE, MAX_BATCHSIZE = 1_000, 50_000
_COMPLEX = ("StructType", "MapType")


#: Spark's own per-value size estimates (DataType.defaultSize; strings count 20 bytes)
def choose_batchsize(width: int, override: int | None = None) -> int:
    if override is not None:
        if override < 1:
            raise ConfigError(f"jdbc.batchsize must be positive, got {override}")
        return override
    return max(MIN_BATCHSIZE, min(MAX_BATCHSIZE, TARGET_BATCH_BYTES // max(1, width)))


def travels_as_json(spark_type: Any, target_type: str) -> bool:
    """Columns Spark's JDBC writer cannot send as they are: staged as JSON text."""
    name = kind(spark_type)
    if name in _COMPLEX:
        return True
    if name == "ArrayType":
        elem = kind(spark_type.elementType)
        return elem in _COMPLEX or elem == "ArrayType" or not target_type.endswith("[]")
    return False


def staging_frame(df: Any, plan: ColumnPlan, strip_nul: bool = False,
                  compact: bool = False) -> tuple[Any, list[StagedColumn]]:
    """The DataFrame as it goes into staging, and the staging columns.

    ``compact`` (method optimized): strings, timestamps, dates and short decimals
    travel in the cheaper wire forms of ``jdbc_codec``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    fields = {f.name: f for f in df.schema.fields}
    missing = [n for n in plan.names if n not in fields]
    if missing:
        raise ConfigError(f"column plan names {missing} that the DataFrame does not have")
    exprs, cols = [], []
    for i, (name, target_type) in enumerate(zip(plan.names, plan.pg_types, strict=True), start=1):
        dtype = fields[name].dataType
        quoted = "`" + name.replace("`", "``") + "`"
        alias = f"c_{i}"
        if needs_float_text(dtype, target_type):  # its shortest digits, cast to numeric by PostgreSQL
            col, dtype = float_text(F.col(quoted), dtype)
            native = pg_type(dtype)
        elif travels_as_json(dtype, target_type):
            col, dtype, native = F.to_json(F.col(quoted), JSON_OPTIONS), StringType(), "text"
        elif kind(dtype) in STRING_KINDS:
            # a NUL byte: the same error naming the column as COPY gives, or stripped on opt-in
            col, native = F.expr(string_guard(quoted, name, strip_nul)), pg_type(dtype)
        elif kind(dtype) == "NullType":  # the JDBC writer has no type for void
            col, native = F.col(quoted).cast("string"), "text"
        else:
            col, native = F.col(quoted), pg_type(dtype)
        wire = jdbc_codec.compact(col, dtype, alias, native) if compact else None
        if wire is None:  # both methods: what java.sql.Date/Timestamp would move (hybrid calendar)
            wire = jdbc_codec.calendar_safe(name, dtype, alias, native)
        if wire is None:
            exprs.append(col.alias(alias))
            cols.append(StagedColumn.plain(alias, native))
        else:
            exprs.append(wire[0].alias(alias))
            cols.append(wire[1])
    return df.select(*exprs), cols


def writer_settings(frame: Any, spec: ConnectionSpec, method: Method,
                    opts: JdbcOptions) -> tuple[Any, str, dict[str, str], int, int]:
    """The frame (coalesced to the connection cap), JDBC URL, properties, batch size and partitions."""
    props = spec.jdbc_properties()
    current = frame.rdd.getNumPartitions()
    if method is Method.STANDARD:
        return frame, spec.jdbc_url(), props, SPARK_DEFAULT_BATCHSIZE, current
    # reWriteBatchedInserts turns a batch into multi-row INSERTs (the big win);
    # stringtype=unspecified lets the server type string parameters.
    url = spec.jdbc_url(reWriteBatchedInserts="true", stringtype="unspecified")
    # the width of the frame as sent (compact strings are binary: 100 bytes in Spark's
    # estimate), which is what the 1 MiB target was measured with
    batchsize = choose_batchsize(row_width(frame.schema), opts.batchsize)
    limits = [current, opts.max_connections] + ([opts.num_partitions] if opts.num_partitions else [])
    parts = max(1, min(limits))
    if parts < current:
        frame = frame.coalesce(parts)  # never repartition: a shuffle costs more than it saves
    # No "numPartitions" option: we coalesced already, and Spark's check of it plans
    # the DataFrame a second time, which resolves the row-count Observation empty.
    props.update({"batchsize": str(batchsize), "isolationLevel": "READ_COMMITTED"})
    return frame, url, props, batchsize, parts
