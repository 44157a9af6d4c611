"""The ``auto`` method decision (pure: numbers in, a method and a reason out).

COPY through S3 has a fixed cost (staging files, a HeadBucket, a round of S3
calls and a COPY per part) that only pays off on big loads; tuned JDBC starts
writing at once and is the better choice below the thresholds. COPY is only
chosen when its checks passed (credentials, bucket, database); otherwise
optimized JDBC, with the reason COPY was not ready.
"""

from __future__ import annotations

from ..options import Method

# The thresholds come from the benchmark (bench/README.md, 2 vCPUs shared by
# Spark and PostgreSQL). Below ~200k rows COPY's fixed cost (a Spark job to
# stage, S3 calls, one COPY per part) dominates. At 1M-5M rows of the 6-column
# table optimized ran at 278k-297k rows/s and copy at 224k-227k; on TPC-H
# lineitem (16 columns) copy led, 176k to 154k. Above 1M rows COPY is still
# chosen because it costs PostgreSQL less (2.0 against 3.4 CPU-seconds per
# million rows), which is what limits a cluster whose executors are not on the
# database's cores.
#: more rows than this -> COPY
COPY_MIN_ROWS = 1_000_000
#: or more estimated bytes than this (wide rows) -> COPY
COPY_MIN_BYTES = 256 * 1024 * 1024


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
