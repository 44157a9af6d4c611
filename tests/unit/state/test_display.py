"""``loader status`` tells the truth: committed rows, the attempts' own time, the error (first line
whole, next step kept) where the note is. Pure: records built in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from loader.errors import DataError
from loader.state import RunRecord, RunStatus
from loader.state.display import fit_error, note, row, rows_cell, runs_table, seconds

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def rec(status: RunStatus, **kw: Any) -> RunRecord:
    values: dict[str, Any] = dict(
        run_id="3f2a9c0e" * 4, manifest_name="trips", manifest_hash="h", target="public.trips",
        target_db="u@h:5432/db", method_requested="auto", method_used="copy", write_mode="append",
        status=status, reason=None, temp_path=None, bucket=None, parts_staged=0, parts_loaded=0, rows=None,
        bytes_staged=0, rows_rejected=0, attempt=1, started_at=T0, heartbeat_at=T0 + timedelta(seconds=20),
        finished_at=None, attempt_started_at=T0)
    values.update(kw)
    return RunRecord(**values)


def test_a_failed_run_shows_no_rows_it_never_committed() -> None:
    # Ctrl-C after 140,000 rows had gone into the open transaction: nothing was committed
    failed = rec(RunStatus.FAILED, rows_in_flight=140_000, finished_at=T0 + timedelta(seconds=20))
    assert rows_cell(failed) == "-"
    assert rows_cell(replace(failed, status=RunStatus.ABANDONED)) == "-"
    assert rows_cell(replace(failed, status=RunStatus.LOADING, finished_at=None)) == "- (140,000 in flight)"
    assert rows_cell(rec(RunStatus.SUCCEEDED, rows=140_000, rows_in_flight=140_000)) == "140,000"


def test_upsert_rows_say_inserted_and_updated() -> None:
    done = rec(RunStatus.SUCCEEDED, write_mode="upsert", rows=1000, rows_inserted=600, rows_updated=400,
               rows_rejected=2)
    assert rows_cell(done) == "1,000 (600 inserted, 400 updated) (+2 rejected)"


def test_a_slice_replace_says_how_many_old_rows_it_replaced() -> None:
    done = rec(RunStatus.SUCCEEDED, rows=3, rows_deleted=120)
    assert rows_cell(done) == "3 (replaced 120)"
    assert rows_cell(rec(RunStatus.SUCCEEDED, rows=3)) == "3"


def test_a_resumed_run_counts_only_its_attempts_time() -> None:
    # failed after 30 s, sat 10 hours, resumed, succeeded 12 s later
    resumed = rec(RunStatus.SUCCEEDED, attempt=2, active_seconds=42.0, attempt_started_at=T0 + timedelta(hours=10),
                  finished_at=T0 + timedelta(hours=10, seconds=12), rows=5)
    assert seconds(resumed) == 42.0
    assert row(resumed)[7] == "42.0"
    # a live second attempt: the first one's 30 s plus this one's up to its last heartbeat
    live = rec(RunStatus.LOADING, attempt=2, active_seconds=30.0, attempt_started_at=T0 + timedelta(hours=10),
               heartbeat_at=T0 + timedelta(hours=10, seconds=5))
    assert seconds(live) == 35.0
    # recorded before schema version 2: the wall time is all there is
    old = rec(RunStatus.SUCCEEDED, attempt_started_at=None, finished_at=T0 + timedelta(seconds=9), rows=1)
    assert seconds(old) == 9.0


def test_the_note_of_a_run_that_fell_back_and_failed_is_its_error() -> None:
    error = str(DataError("public.trips: value too long for type character varying(5)\nDETAIL: row 17\n"
                          "CONTEXT: COPY trips, line 17", next_step="widen the column or fix the source"))
    failed = rec(RunStatus.FAILED, method_used="optimized", fallback_reason="S3 PutObject failed: AccessDenied",
                 error=error, finished_at=T0 + timedelta(seconds=3))
    assert note(failed) == ("public.trips: value too long for type character varying(5) -> "
                            "widen the column or fix the source")
    ok = rec(RunStatus.SUCCEEDED, method_used="optimized", rows=1, finished_at=T0 + timedelta(seconds=3),
             fallback_reason="S3 PutObject failed: AccessDenied -> check the bucket policy")
    assert note(ok) == "fell back to optimized: S3 PutObject failed: AccessDenied -> check the bucket policy"


def test_the_table_keeps_one_run_per_row_and_the_whole_note() -> None:
    long_error = ("public.trips: the source does not match the table: column 'amount' is numeric(12,2) in the "
                  "table and string in the DataFrame\nsecond line of detail -> cast amount to decimal(12,2) in "
                  "the source, or ALTER TABLE public.trips ALTER COLUMN amount TYPE text")
    runs = [rec(RunStatus.FAILED, error=long_error, finished_at=T0 + timedelta(seconds=1)),
            rec(RunStatus.SUCCEEDED, run_id="b" * 32, rows=50, finished_at=T0 + timedelta(seconds=2))]
    wrapped = runs_table(runs, width=140).splitlines()
    assert all(len(line) <= 140 for line in wrapped)
    failed_rows = [i for i, line in enumerate(wrapped) if line.startswith("3f2a9c0e3f2a")]
    ok_rows = [i for i, line in enumerate(wrapped) if line.startswith("bbbbbbbbbbbb")]
    assert len(failed_rows) == 1 and len(ok_rows) == 1
    continuation = wrapped[failed_rows[0] + 1:ok_rows[0]]
    assert continuation and all(line.startswith(" " * 80) for line in continuation)
    joined = " ".join(line.strip() for line in wrapped[failed_rows[0]:ok_rows[0]])
    assert "string in the DataFrame -> cast amount to decimal(12,2)" in joined
    assert joined.endswith("ALTER COLUMN amount TYPE text")
    assert "second line of detail" not in joined

    wide = runs_table(runs, width=None).splitlines()
    assert len(wide) == 4 and wide[2].endswith("ALTER COLUMN amount TYPE text")
    assert wide[0].split()[:6] == ["run", "manifest", "table", "method", "status", "rows"]


def test_a_long_error_is_cut_in_the_middle_keeping_the_next_step() -> None:
    text = "first line: what happened\n" + "detail " * 2000 + " -> resume the run: loader resume 3f2a"
    kept = fit_error(text, limit=500)
    assert len(kept) <= 500
    assert kept.startswith("first line: what happened") and kept.endswith(" -> resume the run: loader resume 3f2a")
    assert fit_error("short -> step") == "short -> step"
    assert len(fit_error("x" * 5000)) <= 4000

