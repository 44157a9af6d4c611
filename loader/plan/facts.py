"""The facts ``auto`` decides on, read at the edges: the input's size and COPY's readiness.

``plan.choose_method`` is the pure decision; this module asks Spark's optimizer
for a row count (no job is run) and S3 for credentials and one HeadBucket.
"""

from __future__ import annotations

from typing import Any

from ..adapters import s3
from ..errors import StagingError
from .typemap import row_width


def estimate_size(df: Any) -> tuple[int | None, int | None]:
    """(rows, bytes per row) from Spark's optimizer statistics, without running a job."""
    width = row_width(df.schema)
    try:
        stats = df._jdf.queryExecution().optimizedPlan().stats()
        rows_opt = stats.rowCount()
        if rows_opt.isDefined():
            return _big_int(rows_opt.get()), width
        size = _big_int(stats.sizeInBytes())
    except Exception:
        return None, width
    if size >= 2**62:  # Spark's "unknown"
        return None, width
    return size // width, width


def expected_rows(df: Any) -> int | None:
    """The estimate progress shows a load's rows against (None: unknown, or not a DataFrame)."""
    try:
        return estimate_size(df)[0]
    except Exception:  # a frame without a schema (tests' fakes): no estimate, no harm
        return None


def _big_int(value: Any) -> int:
    """A Scala BigInt from py4j: already a Python int, or an object with toString()."""
    return value if isinstance(value, int) else int(value.toString())


def copy_ready(bucket: str) -> tuple[bool, str]:
    """Cheap readiness check for ``auto``: credentials and one HeadBucket on the bucket the
    request resolved (s3.resolve_bucket)."""
    if not s3.credentials_present():
        return False, "no AWS credentials found"
    try:
        s3.check_bucket(s3.make_client(max_attempts=1), bucket)
    except StagingError as exc:
        return False, f"bucket {bucket} not accessible ({exc.message})"
    return True, ""
