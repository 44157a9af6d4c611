"""The Arrow type of a Parquet footer column as Spark's Parquet reader sees it, for ``--dry-run``.

pyarrow gives a footer back with the Arrow types its writer stored (``string_view``, ``uint16``,
``large_list``, dictionaries: what tpchgen-cli and polars write), and PySpark's ``from_arrow_type``
refuses several (``UNSUPPORTED_DATA_TYPE_FOR_ARROW_CONVERSION``). Spark itself reads the Parquet
types under them: a view or large string is a string, an unsigned integer the next wider signed one
(``UINT_64`` a ``DECIMAL(20,0)``), a dictionary its values. Each is rewritten to the plain Arrow
type PySpark converts to that Spark type, so the preview shows what the load will create."""

from __future__ import annotations

from typing import Any


def as_spark_reads(t: Any) -> Any:
    """``t`` (a pyarrow DataType) with every type Spark reads differently replaced by the plain one."""
    import pyarrow as pa

    unsigned = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(),
                pa.uint64(): pa.decimal128(20, 0)}
    if t in unsigned:
        return unsigned[t]
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_dictionary(t):
        return as_spark_reads(t.value_type)
    if (pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t) or pa.types.is_list(t)):
        return pa.list_(as_spark_reads(t.value_type))
    if pa.types.is_map(t):
        return pa.map_(as_spark_reads(t.key_type), as_spark_reads(t.item_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, as_spark_reads(f.type), f.nullable) for f in t])
    return t
