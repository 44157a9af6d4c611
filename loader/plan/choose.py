"""The ``auto`` method decision (pure: numbers in, a method and a reason out).

COPY through S3 has a fixed cost (staging files, a HeadBucket, a round of S3
calls and a COPY per part) that only pays off on big loads; tuned JDBC starts
writing at once and is the better choice below the thresholds. COPY is only
chosen when its checks passed (credentials, bucket, database); otherwise
optimized JDBC, with the reason COPY was not ready.
"""

from __future__ import annotations

from ..options import Method

# The thresholds come from the benchmark (bench/README.md "Results with the binary limit", where
# the figures are): optimized JDBC led up to a few hundred thousand rows of the 6-column table and
# copy from 1M rows on; 500k rows of that table are about 32 MiB by Spark's estimate.
#: more rows than this -> COPY
COPY_MIN_ROWS = 500_000
#: or more estimated bytes than this (wide rows) -> COPY
COPY_MIN_BYTES = 32 * 1024 * 1024


def choose_method(row_count: int | None, row_width_bytes: int | None, copy_ready: bool,
                  copy_not_ready_reason: str = "") -> tuple[Method, str]:
    """``(method, reason)`` for ``method="auto"``.

    ``row_count`` None means the size is unknown (the DataFrame was not counted):
    COPY is then chosen when ready, since it scales to any size and its fixed cost
    is small next to a JDBC load that turns out to be big."""
    if not copy_ready:
        why = copy_not_ready_reason.strip() or "COPY prerequisites not met"
        return Method.OPTIMIZED, f"COPY not ready ({why}): optimized JDBC"
    if row_count is None:
        return Method.COPY, "row count unknown: COPY via S3 scales to any size"
    size = row_count * row_width_bytes if row_width_bytes else None
    if row_count > COPY_MIN_ROWS:
        return Method.COPY, f"{row_count:,} rows > {COPY_MIN_ROWS:,}: COPY via S3"
    if size is not None and size > COPY_MIN_BYTES:
        return Method.COPY, (f"{row_count:,} rows x {row_width_bytes} bytes ~ {_mb(size)} MB > "
                             f"{_mb(COPY_MIN_BYTES)} MB: COPY via S3")
    shown = f" (~{_mb(size)} MB)" if size is not None else ""
    return Method.OPTIMIZED, (f"{row_count:,} rows{shown} <= {COPY_MIN_ROWS:,} rows and "
                              f"{_mb(COPY_MIN_BYTES)} MB: optimized JDBC avoids the S3 round trip")


def _mb(size: int) -> int:
    return round(size / (1024 * 1024))
