"""The pure logic of incremental loads: values, marks and windows round-trip exactly; lags; windows."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loader.errors import ConfigError
from loader.watermark import (
    Mark,
    Window,
    lag_for,
    lag_problem,
    next_mark,
    parse_value,
    plan_window,
    spark_cursor_type,
    to_json_value,
)

UTC = timezone.utc

aware = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
VALUES = {
    "timestamp": aware,
    "timestamp_ntz": st.datetimes(),
    "date": st.dates(),
    "integer": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**12, max_value=10**12),
    "string": st.text(),
}


@pytest.mark.parametrize("ctype", sorted(VALUES))
def test_every_type_round_trips_through_json_exactly(ctype: str) -> None:
    @given(VALUES[ctype])
    def check(value: object) -> None:
        mark = Mark("c", ctype, value)
        back = Mark.from_json(mark.to_json())
        assert back == mark and type(back.value) is type(value)
        if ctype == "decimal":
            assert str(back.value) == str(value)  # the scale too

    check()


def test_json_forms_are_the_documented_ones() -> None:
    assert to_json_value("timestamp", datetime(2024, 1, 1, 2, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))) == \
        "2024-01-01T00:00:00.000001Z"
    assert to_json_value("timestamp", datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"
    assert to_json_value("timestamp_ntz", datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06T07:08:09.000000"
    assert to_json_value("date", date(2024, 2, 29)) == "2024-02-29"
    assert json.loads(Mark("id", "integer", 2**63 - 1).to_json())["value"] == 2**63 - 1
    assert json.loads(Mark("d", "decimal", Decimal("1.50")).to_json())["value"] == "1.50"


def test_parse_values_from_a_manifest() -> None:
    assert parse_value("timestamp", "2024-01-01T02:00:00+02:00", "w") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_value("timestamp", "2024-01-01", "w") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_value("timestamp_ntz", "2024-01-01T00:00:00.5", "w") == datetime(2024, 1, 1, 0, 0, 0, 500000)
    assert parse_value("integer", 7, "w") == 7 and parse_value("integer", "-7", "w") == -7
    assert parse_value("decimal", "0.10", "w") == Decimal("0.10")
    assert parse_value("string", "0001", "w") == "0001"


@pytest.mark.parametrize(("ctype", "raw"), [
    ("timestamp", "2024-01-01T00:00:00"),  # no zone for an instant: ambiguous
    ("timestamp_ntz", "2024-01-01T00:00:00Z"),  # a zone for a wall-clock time: ignored silently otherwise
    ("timestamp", "2024-01-01T00:00:00.1234567Z"),  # nanoseconds: Spark keeps microseconds
    ("date", "2024-02-30"), ("integer", "1.5"), ("integer", True), ("decimal", "NaN"), ("string", 5),
])
def test_bad_values_are_refused_naming_the_field(ctype: str, raw: object) -> None:
    with pytest.raises(ConfigError, match=r"^m\.yaml: source\.incremental\.initial: .* is not a") as err:
        parse_value(ctype, raw, "m.yaml: source.incremental.initial")
    assert err.value.next_step


def test_cursor_types_from_spark() -> None:
    assert [spark_cursor_type(t, "c", "w") for t in ("timestamp", "timestamp_ntz", "date", "bigint",
                                                      "int", "decimal(20,0)", "string")] == \
        ["timestamp", "timestamp_ntz", "date", "integer", "integer", "decimal", "string"]
    with pytest.raises(ConfigError, match="column 'score' is double, which cannot be a cursor"):
        spark_cursor_type("double", "score", "m.yaml: source.incremental.cursor")


@pytest.mark.parametrize(("ctype", "raw", "lag"), [
    ("timestamp", "2h", timedelta(hours=2)), ("timestamp", "PT2H", timedelta(hours=2)),
    ("timestamp", "1h30m", timedelta(minutes=90)), ("timestamp", "P1DT0.5S", timedelta(days=1, milliseconds=500)),
    ("timestamp", 90, timedelta(seconds=90)), ("timestamp", 0.000001, timedelta(microseconds=1)),
    ("timestamp_ntz", "1w", timedelta(days=7)), ("date", 3, 3), ("date", "2d", 2), ("date", "P1W", 7),
    ("integer", 100, 100), ("decimal", 0.5, Decimal("0.5")),
])
def test_lags(ctype: str, raw: object, lag: object) -> None:
    assert lag_problem(raw) is None
    assert lag_for(ctype, raw, "w") == lag


@pytest.mark.parametrize(("ctype", "raw", "words"), [
    ("date", "12h", "not a whole number of days"), ("string", 5, "has no distance"),
    ("integer", "2h", "not a distance for a integer cursor"), ("integer", 1.5, "not a distance"),
])
def test_lags_that_do_not_fit_the_cursor(ctype: str, raw: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        lag_for(ctype, raw, "m.yaml: source.incremental.lag")


@pytest.mark.parametrize("raw", ["2 hours", "-1h", "PT", "", "h", -5, True])
def test_lag_syntax_problems(raw: object) -> None:
    assert lag_problem(raw)


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_first_run_starts_at_initial_inclusive_then_after_the_mark() -> None:
    first = plan_window("at", "timestamp", initial=T0)
    assert (first.lower, first.inclusive, first.origin) == (T0, True, "initial")
    assert plan_window("at", "timestamp").lower is None  # no initial: every row (NULL cursors never)
    prev = Mark("at", "timestamp", T0 + timedelta(days=3))
    nxt = plan_window("at", "timestamp", initial=T0, previous=prev)
    assert (nxt.lower, nxt.inclusive, nxt.origin, nxt.previous) == (prev.value, False, "mark", prev)
    assert "at > 2024-01-04T00:00:00.000000Z" in nxt.describe()


def test_lag_reaches_back_but_never_before_initial() -> None:
    prev = Mark("at", "timestamp", T0 + timedelta(hours=5))
    assert plan_window("at", "timestamp", previous=prev, lag=timedelta(hours=2)).lower == T0 + timedelta(hours=3)
    clamped = plan_window("at", "timestamp", initial=T0, previous=prev, lag=timedelta(days=9))
    assert (clamped.lower, clamped.inclusive) == (T0, True)
    low = plan_window("d", "date", previous=Mark("d", "date", date(1, 1, 2)), lag=5)
    assert low.lower == date.min  # clamped, not an overflow


def test_from_and_full_refresh_ignore_the_mark() -> None:
    prev = Mark("id", "integer", 500)
    assert plan_window("id", "integer", previous=prev, from_value=10, lag=5).lower == 10  # exact, no lag
    full = plan_window("id", "integer", previous=prev, initial=0, full_refresh=True)
    assert (full.lower, full.inclusive, full.full_refresh) == (0, True, True)


def test_a_mark_of_another_cursor_is_not_used() -> None:
    window = plan_window("id", "integer", initial=0, previous=Mark("other", "integer", 99))
    assert (window.lower, window.origin, window.previous) == (0, "initial", None)


def test_next_mark() -> None:
    prev = Mark("id", "integer", 100)
    normal = plan_window("id", "integer", previous=prev, lag=50)
    assert next_mark(normal, 140, 3) == Mark("id", "integer", 140)
    assert next_mark(normal, None, 0) == prev  # an empty window keeps the mark
    assert next_mark(normal, 90, 2) == prev  # a lag re-read never moves the mark back
    assert next_mark(plan_window("id", "integer"), None, 0) is None
    restart = plan_window("id", "integer", previous=prev, from_value=10)
    assert next_mark(restart, 20, 1) == Mark("id", "integer", 20)  # --from restarts on purpose


@pytest.mark.parametrize("window", [
    plan_window("at", "timestamp", initial=T0),
    plan_window("at", "timestamp", previous=Mark("at", "timestamp", T0), lag=timedelta(seconds=1)),
    plan_window("s", "string", previous=Mark("s", "string", "é\"\\"), from_value="a'b"),
    plan_window("n", "decimal", initial=Decimal("-1.000"), full_refresh=True),
    plan_window("d", "date"),
])
def test_windows_round_trip(window: Window) -> None:
    assert Window.from_json(window.to_json()) == window
