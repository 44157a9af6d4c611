"""When pyarrow may read a Parquet source instead of Spark (plan/direct_plan.py), and how the files are
cut into tasks: pure, from footer facts."""

from __future__ import annotations

import datetime as dt

import pytest

from loader.plan.direct_plan import (
    GREGORIAN_SWITCH_DAY,
    INT96,
    TIMESTAMP_REBASE_MICROS,
    DirectRead,
    DirectUnit,
    FileFacts,
    cut_units,
    plan_direct,
    reads_as,
)

SPARK4 = {"org.apache.spark.version": "4.0.1"}


def facts(columns: dict[str, str], metadata: dict[str, str] | None = None, groups: tuple[int, ...] = (10,),
          minimums: dict[str, int | None] | None = None, path: str = "/f.parquet") -> FileFacts:
    return FileFacts(path, columns, metadata if metadata is not None else {}, groups, minimums or {})


@pytest.mark.parametrize(("spark", "arrow", "ok"), [
    ("bigint", "int64", True), ("int", "int64", False), ("bigint", "int32", False),
    ("string", "string", True), ("decimal(12,2)", "decimal128(12, 2)", True),
    ("decimal(12,2)", "decimal128(12, 3)", False), ("decimal(20,0)", "decimal128(20, 0)", True),
    ("timestamp", "timestamp[us, tz=UTC]", True), ("timestamp", "timestamp[ms, tz=Europe/Paris]", True),
    ("timestamp", "timestamp[ns, tz=UTC]", False), ("timestamp", "timestamp[us]", False),
    ("timestamp_ntz", "timestamp[us]", True), ("timestamp_ntz", "timestamp[us, tz=UTC]", False),
    ("timestamp", INT96, True), ("date", "date32[day]", True), ("array<bigint>", "list<item: int64>", False),
    ("struct<a:int>", "struct<a: int32>", False), ("binary", "binary", True), ("string", "binary", False),
])
def test_reads_as_takes_only_what_spark_reads_without_conversion(spark: str, arrow: str, ok: bool) -> None:
    assert reads_as(spark, arrow) is ok


def test_a_plain_file_is_read_directly_in_the_load_order() -> None:
    got = plan_direct([("id", "bigint"), ("v", "string")], [facts({"v": "string", "id": "int64"})], parallelism=2)
    assert isinstance(got, DirectRead)
    assert got.columns == (("id", "bigint"), ("v", "string")) and got.rows == 10
    assert got.project(["v"]).columns == (("v", "string"),)


def test_a_column_missing_from_one_file_or_of_another_type_keeps_spark() -> None:
    good = facts({"id": "int64", "day": "date32[day]"}, SPARK4)
    got = plan_direct([("id", "bigint"), ("day", "date")], [good, facts({"id": "int64"}, SPARK4, path="/g")],
                      parallelism=2)
    assert got == "/g: column 'day' is not in the file (a partition directory or a schema of the manifest's)"
    got = plan_direct([("id", "bigint")], [facts({"id": "int32"})], parallelism=2)
    assert isinstance(got, str) and "int32 in the file, bigint in Spark" in got


@pytest.mark.parametrize(("metadata", "ok"), [
    ({"org.apache.spark.version": "3.5.1"}, True),
    ({"org.apache.spark.version": "2.4.8"}, False),
    ({"org.apache.spark.version": "3.5.1", "org.apache.spark.legacyDateTime": ""}, False),
    ({"org.apache.spark.version": "3.5.1", "org.apache.spark.legacyINT96": ""}, False),
])
def test_spark_written_dates_are_direct_unless_spark_rebases_them(metadata: dict[str, str], ok: bool) -> None:
    got = plan_direct([("d", "date")], [facts({"d": "date32[day]"}, metadata, minimums={"d": -700000})],
                      parallelism=1)
    assert isinstance(got, DirectRead) is ok, got


def test_int96_not_written_by_spark_keeps_spark_and_so_does_spark_int96_conversion() -> None:
    got = plan_direct([("ts", "timestamp")], [facts({"ts": INT96})], parallelism=1)
    assert isinstance(got, str) and "INT96" in got
    got = plan_direct([("ts", "timestamp")], [facts({"ts": INT96}, SPARK4)], parallelism=1, int96_conversion=True)
    assert isinstance(got, str) and "int96TimestampConversion" in got
    assert isinstance(plan_direct([("ts", "timestamp")], [facts({"ts": INT96}, SPARK4)], parallelism=1), DirectRead)


def test_other_writers_dates_follow_sparks_rebase_mode_and_the_footer_statistics() -> None:
    cols = [("d", "date"), ("ts", "timestamp")]
    types = {"d": "date32[day]", "ts": "timestamp[us, tz=UTC]"}
    modern = {"d": GREGORIAN_SWITCH_DAY, "ts": TIMESTAMP_REBASE_MICROS}
    assert isinstance(plan_direct(cols, [facts(types, minimums=modern)], parallelism=1), DirectRead)
    early = plan_direct(cols, [facts(types, minimums={**modern, "d": GREGORIAN_SWITCH_DAY - 1})], parallelism=1)
    assert isinstance(early, str) and "'d'" in early and "calendar switch" in early
    early_ts = plan_direct(cols, [facts(types, minimums={**modern, "ts": TIMESTAMP_REBASE_MICROS - 1})],
                           parallelism=1)
    assert isinstance(early_ts, str) and "'ts'" in early_ts
    no_stats = plan_direct(cols, [facts(types, minimums={**modern, "d": None})], parallelism=1)
    assert isinstance(no_stats, str) and "no statistics" in no_stats
    assert isinstance(plan_direct(cols, [facts(types, minimums={"d": None, "ts": None})], parallelism=1,
                                  rebase_mode="corrected"), DirectRead)
    legacy = plan_direct(cols, [facts(types, minimums=modern)], parallelism=1, rebase_mode="LEGACY")
    assert isinstance(legacy, str) and "LEGACY" in legacy


def test_thresholds_are_the_switch_day_and_1900() -> None:
    assert dt.date(1970, 1, 1) + dt.timedelta(days=GREGORIAN_SWITCH_DAY) == dt.date(1582, 10, 15)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert epoch + dt.timedelta(microseconds=TIMESTAMP_REBASE_MICROS) == dt.datetime(1900, 1, 1,
                                                                                     tzinfo=dt.timezone.utc)


def test_units_cut_row_groups_about_twice_the_parallelism_and_never_split_a_group() -> None:
    files = [facts({}, groups=(100, 100, 100, 100), path="/a"), facts({}, groups=(400,), path="/b"),
             facts({}, groups=(0,), path="/empty")]
    units = cut_units(files, parallelism=2)  # 800 rows, 4 units of about 200
    assert [(u.path, u.row_groups, u.rows) for u in units] == [("/a", (0, 1), 200), ("/a", (2, 3), 200),
                                                               ("/b", (0,), 400)]
    assert cut_units(files, parallelism=2) == units  # the same files, the same partitions
    assert sum(u.rows for u in cut_units(files, parallelism=64)) == 800
    assert plan_direct([("id", "bigint")], [], parallelism=2) == "no file to read"


@pytest.mark.parametrize(("extra", "spark_type", "said"), [
    ({"codecs": {"v": frozenset({"SNAPPY", "UNKNOWN"})}}, "bigint", "compressed with LZ4 (the deprecated codec)"),
    ({"codecs": {"v": frozenset({"BROTLI"})}}, "bigint", "compressed with BROTLI"),
    ({"physical": {"v": "BYTE_ARRAY"}}, "decimal(4,2)", "a decimal stored as BYTE_ARRAY"),
    ({"page_faults": {"v": "row group 0: a data page at byte 9 ends 3 byte(s) past its column chunk"}}, "bigint",
     "ends 3 byte(s) past its column chunk, which Spark's reader does not read past"),
])
def test_what_spark_may_refuse_goes_to_spark_s_reader_named_by_column(extra: dict, spark_type: str,
                                                                      said: str) -> None:
    arrow = "decimal128(4, 2)" if spark_type.startswith("decimal") else "int64"
    f = FileFacts("/f.parquet", {"v": arrow}, {}, (10,), {}, **extra)
    got = plan_direct([("v", spark_type)], [f], parallelism=1)
    assert isinstance(got, str) and got.startswith("/f.parquet: column 'v'") and said in got, got


@pytest.mark.parametrize("physical", ["INT32", "INT64", "FIXED_LEN_BYTE_ARRAY"])
def test_decimals_of_the_physical_types_both_readers_share_are_read_directly(physical: str) -> None:
    f = FileFacts("/f.parquet", {"v": "decimal128(9, 2)"}, {}, (10,), {}, {"v": frozenset({"ZSTD", "LZ4"})},
                  {"v": physical})
    assert isinstance(plan_direct([("v", "decimal(9,2)")], [f], parallelism=1), DirectRead)


def test_a_unit_says_which_file_and_row_groups_it_reads() -> None:
    assert DirectUnit("/d/a.parquet", (4, 5, 6, 7), 10).describe() == "from /d/a.parquet, row groups 4-7"
    assert DirectUnit("/d/a.parquet", (3,), 10).describe() == "from /d/a.parquet, row group 3"
    assert DirectUnit("/d/a.parquet", (1, 3), 10).describe() == "from /d/a.parquet, row groups 1, 3"  # 2 is empty
