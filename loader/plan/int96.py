"""Spark's microseconds of an INT96 timestamp Spark wrote, from what pyarrow reads of it. Pure (numpy).

An INT96 is (nanoseconds of the day: int64, Julian day: int32). Spark writes a timestamp ``m``
(microseconds since 1970) as ``julian = m + 2440588 days`` in wrapping 64-bit arithmetic, the day
``julian / day`` and the rest ``julian % day`` as Java divides (towards zero), and reads it back with
the same signed arithmetic, so every ``m`` comes back, the years past 287,566 included (where
``julian`` wraps, and the day and nanoseconds written are negative). pyarrow reads the two parts as
*unsigned* numbers: exact where both are non-negative (Julian day 0, 4713 BC, to 287,566 AD), and a
different instant otherwise: 290000-12-30T23:00:00Z came back as a date in 225,831 BC.

pyarrow never hands over the raw twelve bytes, but it reads the column in any unit, each by the
same unsigned formula: its microseconds and its nanoseconds together leave only a few possible
``m`` (Spark's value in the exact range; or with the day, the nanoseconds, or both negative), and
the one ``m`` whose INT96, as Spark writes it, pyarrow reads as both numbers is Spark's value. A
value no candidate (or more than one) explains was not written by Spark's writer: it is named, not
guessed (``unexplained``).
"""

from __future__ import annotations

from typing import Any

#: microseconds and nanoseconds in a day; the Julian day of 1970-01-01
MICROS_PER_DAY = 86_400_000_000
NANOS_PER_DAY = MICROS_PER_DAY * 1000
JULIAN_EPOCH_DAY = 2_440_588
_MOD = 1 << 64
#: what pyarrow's unsigned reading adds when the nanoseconds are negative (2**64 ns, in us)...
_NEGATIVE_NANOS = _MOD // 1000
#: ... and when the day is (2**32 days, in us, modulo 2**64)
_NEGATIVE_DAY = ((1 << 32) * MICROS_PER_DAY) % _MOD


def spark_writes(micros: Any) -> tuple[Any, Any]:
    """The (Julian day, nanoseconds of the day) Spark's writer stores for ``micros`` (int64 array):
    ``DateTimeUtils.toJulianDay``, in Java's wrapping arithmetic."""
    import numpy as np

    with np.errstate(over="ignore"):
        julian = (micros.astype(np.int64).view(np.uint64) + np.uint64(JULIAN_EPOCH_DAY * MICROS_PER_DAY)).view(np.int64)
        day = julian // MICROS_PER_DAY
        day += ((julian < 0) & (julian % MICROS_PER_DAY != 0)).astype(np.int64)  # Java divides towards zero
        rest = julian - day * MICROS_PER_DAY
    return day.astype(np.int32), rest * 1000


def arrow_reads(day: Any, nanos: Any) -> tuple[Any, Any]:
    """What pyarrow reads of (``day``, ``nanos``) in microseconds and in nanoseconds: both parts
    taken unsigned, in wrapping 64-bit arithmetic (parquet/types.h, ``Int96GetMicroSeconds``)."""
    import numpy as np

    with np.errstate(over="ignore"):
        days = day.astype(np.int32).view(np.uint32).astype(np.uint64) - np.uint64(JULIAN_EPOCH_DAY)
        unsigned = nanos.astype(np.int64).view(np.uint64)
        micros = (days * np.uint64(MICROS_PER_DAY) + unsigned // np.uint64(1000)).view(np.int64)
        total = (days * np.uint64(NANOS_PER_DAY) + unsigned).view(np.int64)
    return micros, total


def spark_micros(arrow_micros: Any, arrow_nanos: Any) -> tuple[Any, Any]:
    """Spark's microseconds for the values pyarrow read as ``arrow_micros`` and ``arrow_nanos``
    (int64 arrays of one column, NULLs as any number), and the mask of the values no single
    candidate explains (their result is meaningless: the caller refuses them)."""
    import numpy as np

    us = arrow_micros.astype(np.int64)
    with np.errstate(over="ignore"):
        shifts = [0, _NEGATIVE_NANOS, _NEGATIVE_NANOS + _NEGATIVE_DAY, _NEGATIVE_DAY]
        candidates = [(us.view(np.uint64) - np.uint64(s % _MOD)).view(np.int64) for s in shifts]
    found = np.zeros(len(us), dtype=np.int64)
    result = us.copy()
    for candidate in candidates:
        read_us, read_ns = arrow_reads(*spark_writes(candidate))
        fits = (read_us == us) & (read_ns == arrow_nanos.astype(np.int64))
        found += fits
        result = np.where(fits, candidate, result)
    return result, found != 1

