"""Summary numbers over runs (pure: works on RunRecords, no I/O).

``StateStore.summary`` selects the runs and calls :func:`summarize`.

* ``fallback_rate`` is fallbacks / runs (runs with a ``fallback_reason``);
* ``rows_per_second_by_method`` is, per ``method_used``, the sum of ``rows`` of
  the succeeded runs divided by the sum of their durations
  (``finished_at - started_at``); ``None`` when that duration is zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .models import RunRecord
from .status import RunStatus

UNKNOWN_METHOD = "unknown"


def _method(run: RunRecord) -> str:
    return run.method_used or UNKNOWN_METHOD


def summarize(runs: Iterable[RunRecord], since: datetime | None = None,
              reaped: Mapping[str, int] | None = None) -> dict[str, Any]:
    records = list(runs)
    total = len(records)
    by_status = Counter(r.status.value for r in records)
    by_method = Counter(_method(r) for r in records)
    fallback_reasons = Counter(r.fallback_reason for r in records if r.fallback_reason)
    fallbacks = sum(fallback_reasons.values())

    rows_by_method: dict[str, int] = {}
    seconds_by_method: dict[str, float] = {}
    for run in records:
        if run.status != RunStatus.SUCCEEDED:
            continue
        method = _method(run)
        rows_by_method[method] = rows_by_method.get(method, 0) + (run.rows or 0)
        seconds_by_method[method] = seconds_by_method.get(method, 0.0) + max(run.duration_seconds or 0.0, 0.0)
    rate: dict[str, float | None] = {
        method: (rows_by_method[method] / secs if secs > 0 else None)
        for method, secs in sorted(seconds_by_method.items())
    }

    return {
        "since": since.isoformat() if since is not None else None,
        "runs": total,
        "by_status": dict(sorted(by_status.items())),
        "succeeded": by_status.get(RunStatus.SUCCEEDED.value, 0),
        "failed": by_status.get(RunStatus.FAILED.value, 0),
        "abandoned": by_status.get(RunStatus.ABANDONED.value, 0),
        "active": sum(1 for r in records if r.status.is_active),
        "runs_by_method": dict(sorted(by_method.items())),
        "fallbacks": fallbacks,
        "fallback_rate": (fallbacks / total) if total else 0.0,
        "fallback_reasons": dict(fallback_reasons.most_common()),
        "rows_total": sum(rows_by_method.values()),
        "rows_by_method": dict(sorted(rows_by_method.items())),
        "load_seconds_by_method": dict(sorted(seconds_by_method.items())),
        "rows_per_second_by_method": rate,
        "bytes_staged_total": sum(r.bytes_staged for r in records),
        "rows_rejected_total": sum(r.rows_rejected for r in records),
        "reaped": dict(reaped) if reaped is not None else None,
    }
