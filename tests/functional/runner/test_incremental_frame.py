"""The window's filter and the mark over real Spark, per cursor type: the observed mark (no second
pass) and the aggregate (resumes) agree, bounds are exact whatever the session time zone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from loader.errors import SourceError
from loader.runner.incremental import IncrementalLoad, cursor_type
from loader.watermark import Mark, Window, plan_window

pytestmark = pytest.mark.slow

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 10, 6, 59, 59, 999999, tzinfo=UTC)  # a DST change in New York follows
D0 = dt.date(2024, 2, 28)
CASES = {
    # type: (Spark type, values of rows 0..5 (None: a NULL cursor), the bound row 2's value)
    "timestamp": ("timestamp", [T0 + dt.timedelta(microseconds=i) for i in range(5)] + [None]),
    "timestamp_ntz": ("timestamp_ntz", [dt.datetime(2024, 3, 10, 2, 0, 0, i) for i in range(5)] + [None]),
    "date": ("date", [D0 + dt.timedelta(days=i) for i in range(5)] + [None]),
    "integer": ("long", [2**62 + i for i in range(5)] + [None]),
    "decimal": ("decimal(20,3)", [Decimal("0.001") * i for i in range(5)] + [None]),
    "string": ("string", ["a", "b", "é", "ü", "\U0001f600"] + [None]),
}


@pytest.mark.parametrize("ctype", sorted(CASES))
def test_window_and_mark_per_type(spark: Any, ctype: str) -> None:
    spark_type, values = CASES[ctype]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], f"id int, c {spark_type}")
    assert cursor_type(df, "c", "w") == ctype
    old_tz = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")  # bounds must not depend on it
    try:
        after = IncrementalLoad(df, plan_window("c", ctype, previous=Mark("c", ctype, values[1])))
        assert sorted(r.id for r in after.df.collect()) == [2, 3, 4]  # > the mark; NULL never
        observed = Mark.from_json(after.mark(first_attempt=True) or "")
        assert observed == Mark("c", ctype, values[4])
        assert after.mark(first_attempt=False) == observed.to_json()  # the aggregate agrees
        first = IncrementalLoad(df, plan_window("c", ctype, initial=values[1]))
        assert sorted(r.id for r in first.df.collect()) == [1, 2, 3, 4]  # >= initial
        every = IncrementalLoad(df, plan_window("c", ctype))
        assert sorted(r.id for r in every.df.collect()) == [0, 1, 2, 3, 4]
        empty = IncrementalLoad(df, plan_window("c", ctype, previous=Mark("c", ctype, values[4])))
        assert empty.df.collect() == []
        assert empty.mark(first_attempt=True) == Mark("c", ctype, values[4]).to_json()  # kept
    finally:
        spark.conf.set("spark.sql.session.timeZone", old_tz)


def test_cursor_must_exist_and_be_orderable(spark: Any) -> None:
    df = spark.createDataFrame([(1, 0.5)], "Updated_At long, score double")
    with pytest.raises(SourceError, match=r"m\.yaml: source\.incremental\.cursor: column 'updated_at' is not in "
                                          r"the source \(did you mean 'Updated_At'\?\)"):
        cursor_type(df, "updated_at", "m.yaml: source.incremental.cursor")
    with pytest.raises(Exception, match="column 'score' is double, which cannot be a cursor"):
        cursor_type(df, "score", "m.yaml: source.incremental.cursor")


def test_a_window_from_json_filters_the_same(spark: Any) -> None:
    df = spark.createDataFrame([(i,) for i in range(10)], "n long")
    window = plan_window("n", "integer", previous=Mark("n", "integer", 6), lag=2)
    again = Window.from_json(window.to_json())
    assert sorted(r.n for r in IncrementalLoad(df, again).df.collect()) == [5, 6, 7, 8, 9]
