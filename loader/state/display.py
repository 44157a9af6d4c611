"""How a run is shown to a person (``loader status``), and how its error is kept: pure, no I/O.

What the table must not do, and used to: show rows a failed or abandoned run never committed
(its heartbeat's progress), count the hours a resumed run sat interrupted as its time, show the
fallback reason where the error belongs, break a row on a multi-line error, and cut the next
step off the end of an error.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .models import RunRecord
from .status import RunStatus

#: how much error text the store keeps (the next step is kept whole, see ``fit_error``)
ERROR_LIMIT = 4000
#: what separates an error's message from its next step (``LoaderError.__str__``)
NEXT_STEP = " -> "
HEADER = ("run", "manifest", "table", "method", "status", "rows", "started (UTC)", "seconds", "note")
#: the note column is wrapped at the terminal's width, but never narrower than this
MIN_NOTE_WIDTH = 40


def fit_error(text: str, limit: int = ERROR_LIMIT) -> str:
    """``text`` cut to ``limit`` characters from the middle of its message: the first line (what
    happened) and the next step (what to do) are what a person reads, so both stay."""
    if len(text) <= limit:
        return text
    message, sep, step = text.rpartition(NEXT_STEP)
    if not sep or len(step) > limit // 2:
        message, step = text, ""
    keep = max(limit - len(sep) - len(step) - 5, 0)
    return f"{message[:keep]} ...{sep}{step}" if step else f"{message[:keep]} ..."


def error_note(text: str) -> str:
    """The error's first line whole, with its next step (which follows the message's last line)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0].strip()
    if len(lines) > 1 and NEXT_STEP in lines[-1] and NEXT_STEP not in first:
        first += NEXT_STEP + lines[-1].rpartition(NEXT_STEP)[2].strip()
    return first


def note(r: RunRecord) -> str:
    """Failed or abandoned: why (the error, not the fallback reason); succeeded after a fallback: why
    it fell back."""
    if r.status in (RunStatus.FAILED, RunStatus.ABANDONED) and r.error:
        return error_note(r.error)
    if r.fallback_reason:
        return f"fell back to {r.method_used or 'JDBC'}: {error_note(r.fallback_reason)}"
    return ""


def rows_cell(r: RunRecord) -> str:
    """Committed rows only. An active run's progress is shown as in flight; a failed or abandoned
    run committed nothing ("-"), whatever its last heartbeat counted."""
    if r.rows is None:
        if r.status.is_active and r.rows_in_flight:
            return f"- ({r.rows_in_flight:,} in flight)"
        return "-"
    text = f"{r.rows:,}"
    if r.rows_inserted is not None or r.rows_updated is not None:
        text += f" ({r.rows_inserted or 0:,} inserted, {r.rows_updated or 0:,} updated)"
    if r.rows_deleted is not None:
        text += f" (replaced {r.rows_deleted:,})"
    if r.rows_rejected:
        text += f" (+{r.rows_rejected:,} rejected)"
    return text


def seconds(r: RunRecord) -> float:
    """The attempts' own time: a resumed run does not count the time it sat failed or killed."""
    if r.attempt_started_at is None and r.duration_seconds is not None:  # recorded before schema version 2
        return r.duration_seconds
    return r.attempts_seconds()


def row(r: RunRecord) -> tuple[str, ...]:
    return (r.run_id[:12], r.manifest_name, r.target, r.method_used or r.method_requested, r.status.value,
            rows_cell(r), r.started_at.strftime("%Y-%m-%d %H:%M:%S"), f"{seconds(r):.1f}", note(r))


def runs_table(records: Sequence[RunRecord], width: int | None) -> str:
    """One row per run; the note (last column) is wrapped under itself to ``width`` characters, or
    kept on one line when ``width`` is None (``--wide``). Nothing is cut."""
    rows = [row(r) for r in records]
    widths = [max(len(x) for x in col) for col in zip(HEADER[:-1], *(r[:-1] for r in rows), strict=True)]
    indent = sum(widths) + 2 * len(widths)

    def line(cells: Sequence[str]) -> list[str]:
        head = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True)) + "  "
        text = cells[-1]
        if width is None or not text:
            return [(head + text).rstrip()]
        chunks = textwrap.wrap(text, max(width - indent, MIN_NOTE_WIDTH), break_on_hyphens=False) or [""]
        return [head + chunks[0]] + [" " * indent + c for c in chunks[1:]]

    out = line(HEADER)
    out.append("  ".join("-" * w for w in widths) + "  " + "-" * len(HEADER[-1]))
    for r in rows:
        out.extend(line(r))
    return "\n".join(out)
