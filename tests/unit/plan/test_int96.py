"""INT96 timestamps: Spark's microseconds recovered from what pyarrow reads (plan/int96.py), checked
over Spark's whole range against Spark's own writer and pyarrow's own arithmetic, both modelled
here from their sources (DateTimeUtils.toJulianDay, parquet/types.h); the real Spark and pyarrow
are in tests/functional/runner/test_parquet_writers.py."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.plan.int96 import JULIAN_EPOCH_DAY, MICROS_PER_DAY, arrow_reads, spark_micros, spark_writes

#: Julian day 0 (4714-11-24 BC), PostgreSQL's first day; Spark's microseconds end at 2**63 - 1
FIRST_PG_MICROS = -JULIAN_EPOCH_DAY * MICROS_PER_DAY
#: where Spark's julian microseconds wrap (its writer then stores a negative day): about 287,566 AD
WRAPS = 2**63 - 1 - JULIAN_EPOCH_DAY * MICROS_PER_DAY


def _round_trip(values: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.array(values, dtype=np.int64)
    us, ns = arrow_reads(*spark_writes(m))
    got, unexplained = spark_micros(us, ns)
    return m, got, unexplained


def test_the_year_290000_spark_wrote_is_the_instant_spark_reads() -> None:
    # parquet-testing's int96_from_spark.parquet: 290000-12-30T23:00:00Z; pyarrow alone reads 225,831 BC
    m, got, unexplained = _round_trip([9089380393200000000])
    us, _ = arrow_reads(*spark_writes(m))
    assert us[0] == -7188624036226874385  # what pyarrow 26 read from the real file
    assert got[0] == m[0] and not unexplained[0]


@settings(max_examples=400)
@given(st.lists(st.integers(FIRST_PG_MICROS, 2**63 - 1), min_size=1, max_size=50))
def test_every_instant_postgresql_can_store_comes_back_as_spark_reads_it(values: list[int]) -> None:
    m, got, unexplained = _round_trip(values)
    assert not unexplained.any()
    assert (got == m).all()


def test_the_edges_and_whole_days() -> None:
    edges = [FIRST_PG_MICROS, FIRST_PG_MICROS + 1, -1, 0, 1, WRAPS - 1, WRAPS, WRAPS + 1, 2**63 - 1,
             -62135596800000000,  # 0001-01-01
             9223371331200000000,  # 294247-01-10, Spark's last day
             WRAPS // MICROS_PER_DAY * MICROS_PER_DAY + MICROS_PER_DAY]  # a midnight past the wrap
    m, got, unexplained = _round_trip(edges)
    assert not unexplained.any() and (got == m).all()


@given(st.lists(st.integers(-(2**63), FIRST_PG_MICROS - 1), min_size=1, max_size=20))
def test_before_julian_day_0_a_value_is_spark_s_or_refused_never_another(values: list[int]) -> None:
    m, got, unexplained = _round_trip(values)
    assert ((got == m) | unexplained).all()  # PostgreSQL stores none of them: refusing is the same outcome
