"""A footer's Arrow types as Spark's Parquet reader sees them (checked against Spark 4's reader:
uint8 -> smallint, uint16 -> int, uint32 -> bigint, uint64 -> decimal(20,0), views and large
types plain, dictionaries their values)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import from_arrow_type
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
)


@pytest.mark.parametrize(("arrow", "spark"), [
    (pa.string_view(), StringType()), (pa.large_string(), StringType()), (pa.binary_view(), BinaryType()),
    (pa.uint8(), ShortType()), (pa.uint16(), IntegerType()), (pa.uint32(), LongType()),
    (pa.uint64(), DecimalType(20, 0)), (pa.dictionary(pa.int32(), pa.string()), StringType()),
    (pa.large_list(pa.uint16()), ArrayType(IntegerType())),
    (pa.map_(pa.string_view(), pa.uint32()), MapType(StringType(), LongType())),
    (pa.struct([pa.field("a", pa.large_string())]), StructType([StructField("a", StringType())])),
    (pa.int64(), LongType()),
])
def test_each_type_converts_to_what_spark_reads(arrow: pa.DataType, spark: object) -> None:
    from loader.plan.footer_types import as_spark_reads

    assert from_arrow_type(as_spark_reads(arrow)) == spark
