"""The reaper's decisions, pure: every rule and boundary of which prefixes and staging tables
may go, and the report. No server: the records are made here (tests/functional/reaper runs the
same rules against real S3, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from loader.errors import ConfigError
from loader.naming import s3_uri
from loader.reaper.apply import (
    Decision,
    ReapEntry,
    ReapPolicy,
    ReapReport,
    decide,
    decide_staging_table,
    format_report,
    parse_duration,
)
from loader.state import RunRecord, RunStatus

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
ROOT = "tmp/postgres-copy"
POLICY = ReapPolicy()  # grace 6h, resume window 24h, stale after 30m

def ep(when: datetime) -> int:
    return int(when.timestamp())


def key_of(table: str = "orders", epoch: int | None = None, short: str = "deadbeef", root: str = ROOT) -> str:
    return f"{root}/{table}-{epoch if epoch is not None else ep(NOW - H)}-{short}/"


KEY = key_of()
URI = s3_uri("b", KEY)


def rec(status: RunStatus, *, short: str = "deadbeef", temp_path: str | None = URI,
        heartbeat: datetime | None = None, finished: datetime | None = None, cleanup: str | None = None,
        staging_table: str | None = None) -> RunRecord:
    return RunRecord(
        run_id=short + uuid.uuid4().hex[:24], manifest_name="m", manifest_hash="h", target="public.orders",
        target_db="u@h:5432/db", method_requested="copy", method_used="copy", write_mode="append",
        status=status, reason=None, temp_path=temp_path, bucket="b", parts_staged=0, parts_loaded=0,
        rows=None, bytes_staged=0, rows_rejected=0, attempt=1, started_at=NOW - 2 * H,
        heartbeat_at=heartbeat or NOW, finished_at=finished, cleanup_status=cleanup,
        staging_table=staging_table)


# --- parse_duration and the policy ------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("6h", timedelta(hours=6)), ("30m", timedelta(minutes=30)), ("45s", timedelta(seconds=45)),
    ("2d", timedelta(days=2)), ("90", timedelta(seconds=90)), ("1w", timedelta(days=7)),
    (" 12H ", timedelta(hours=12)), ("0", timedelta(0)), (90, timedelta(seconds=90)),
    (timedelta(minutes=5), timedelta(minutes=5)),
])
def test_parse_duration(text: Any, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "6x", "-1h", "1.5h", "6 hours", "6h30m", "abc", -5, True])
def test_parse_duration_refuses(text: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text, "grace")
    assert "grace" in str(info.value)


def test_policy_validates() -> None:
    assert ReapPolicy(prefix_root="/tmp/postgres-copy/").prefix_root == "tmp/postgres-copy"
    for bad in ("", "/", "a/../b", "a//b"):
        with pytest.raises(ConfigError):
            ReapPolicy(prefix_root=bad)
    with pytest.raises(ConfigError):
        ReapPolicy(grace=timedelta(hours=-1))
    with pytest.raises(ConfigError):
        ReapPolicy(table="a/b")
    assert ReapPolicy(table="my table").table_part == "my_table"


# --- decide: prefixes no run owns ------------------------------------------------------------


def test_unknown_prefix_older_than_grace_is_deleted() -> None:
    d = decide(s3_uri("b", key_of(epoch=ep(NOW - 7 * H))), [], NOW, POLICY)
    assert (d.action, d.run_id, d.abandon) == ("delete", None, False)
    assert "unknown prefix older than grace" in d.reason


@pytest.mark.parametrize(("age", "action"), [
    (timedelta(hours=6), "keep"),  # exactly on the boundary: keep
    (timedelta(hours=6, seconds=1), "delete"),
    (timedelta(hours=5, minutes=59), "keep"),
    (timedelta(0), "keep"),
    (-H, "keep"),  # a clock ahead of ours: keep
])
def test_unknown_prefix_grace_boundary(age: timedelta, action: str) -> None:
    d = decide(s3_uri("b", key_of(epoch=ep(NOW - age))), [], NOW, POLICY)
    assert d.action == action
    if action == "keep":
        assert "inside grace: a run may be starting" in d.reason


def test_a_run_with_the_short_id_but_another_temp_path_does_not_own_it() -> None:
    key = key_of(epoch=ep(NOW - 7 * H))
    live_elsewhere = [
        rec(RunStatus.LOADING, temp_path=s3_uri("other-bucket", key)),
        rec(RunStatus.LOADING, temp_path=s3_uri("b", key_of(epoch=ep(NOW - 7 * H) + 1))),
        rec(RunStatus.LOADING, temp_path=None),
    ]
    d = decide(s3_uri("b", key), live_elsewhere, NOW, POLICY)
    assert d.action == "delete" and "unknown" in d.reason


def test_owner_matches_with_or_without_trailing_slash_and_by_key_only() -> None:
    live = rec(RunStatus.LOADING, temp_path=URI.rstrip("/"))
    assert decide(URI, [live], NOW, POLICY).action == "keep"
    # a bare key: the owner may be in any bucket
    assert decide(KEY, [rec(RunStatus.LOADING, temp_path=s3_uri("zz", KEY))], NOW, POLICY).run_id is not None


# --- decide: unfinished runs --------------------------------------------------------------------


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.STAGING, RunStatus.STAGED, RunStatus.LOADING])
def test_live_run_is_kept(status: RunStatus) -> None:
    r = rec(status, heartbeat=NOW - timedelta(minutes=5))
    d = decide(URI, [r], NOW, POLICY)
    assert (d.action, d.run_id, d.abandon, d.status) == ("keep", r.run_id, False, status)
    assert "live run" in d.reason


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.STAGING, RunStatus.STAGED, RunStatus.LOADING])
def test_stale_unfinished_run_is_abandoned_then_deleted(status: RunStatus) -> None:
    r = rec(status, heartbeat=NOW - timedelta(minutes=31))
    d = decide(URI, [r], NOW, POLICY)
    assert (d.action, d.run_id, d.abandon, d.status) == ("delete", r.run_id, True, status)
    assert "stale" in d.reason


@pytest.mark.parametrize(("age", "action"), [
    (timedelta(minutes=30), "keep"), (timedelta(minutes=30, seconds=1), "delete"), (-timedelta(minutes=1), "keep"),
])
def test_stale_after_boundary(age: timedelta, action: str) -> None:
    assert decide(URI, [rec(RunStatus.LOADING, heartbeat=NOW - age)], NOW, POLICY).action == action


def test_a_fresh_prefix_epoch_does_not_save_a_stale_run() -> None:
    key = key_of(epoch=ep(NOW - timedelta(minutes=40)))
    r = rec(RunStatus.STAGING, temp_path=s3_uri("b", key), heartbeat=NOW - timedelta(minutes=35))
    assert decide(s3_uri("b", key), [r], NOW, POLICY).abandon


# --- decide: failed runs --------------------------------------------------------------------------


def test_failed_run_inside_resume_window_is_kept() -> None:
    r = rec(RunStatus.FAILED, finished=NOW - 2 * H, heartbeat=NOW - 2 * H)
    d = decide(URI, [r], NOW, POLICY)
    assert d.action == "keep" and "resumable until 2024-05-02 10:00:00Z" in d.reason


@pytest.mark.parametrize(("age", "action"), [
    (timedelta(hours=24), "keep"), (timedelta(hours=24, seconds=1), "delete"), (timedelta(days=3), "delete"),
])
def test_failed_run_resume_window_boundary(age: timedelta, action: str) -> None:
    r = rec(RunStatus.FAILED, finished=NOW - age, heartbeat=NOW - age)
    d = decide(URI, [r], NOW, POLICY)
    assert d.action == action
    if action == "delete":
        # abandoned first, conditional on "failed": a concurrent resume wins and keeps the files
        assert d.abandon and d.status is RunStatus.FAILED and "beyond the resume window" in d.reason


def test_failed_run_without_finished_at_measures_from_heartbeat() -> None:
    assert decide(URI, [rec(RunStatus.FAILED, heartbeat=NOW - 25 * H)], NOW, POLICY).action == "delete"
    assert decide(URI, [rec(RunStatus.FAILED, heartbeat=NOW - 23 * H)], NOW, POLICY).action == "keep"


def test_resume_window_is_a_policy_setting() -> None:
    r = rec(RunStatus.FAILED, finished=NOW - 2 * H)
    assert decide(URI, [r], NOW, ReapPolicy(resume_window=H)).action == "delete"


# --- decide: finished runs ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.ABANDONED])
@pytest.mark.parametrize("cleanup", ["failed", "pending", None, "done"])
def test_finished_run_files_are_deleted_unless_kept(status: RunStatus, cleanup: str | None) -> None:
    r = rec(status, finished=NOW - timedelta(minutes=1), cleanup=cleanup)
    d = decide(URI, [r], NOW, POLICY)
    assert (d.action, d.run_id, d.abandon) == ("delete", r.run_id, False)
    assert status.value in d.reason
    if cleanup == "done":
        assert "cleanup done but objects remain" in d.reason
    else:
        assert f"cleanup {cleanup or 'not recorded'}" in d.reason


@pytest.mark.parametrize(("age", "action"), [
    (H, "keep"), (timedelta(hours=24), "keep"), (timedelta(hours=24, seconds=1), "delete"),
])
def test_kept_files_live_for_the_resume_window(age: timedelta, action: str) -> None:
    r = rec(RunStatus.SUCCEEDED, finished=NOW - age, cleanup="kept")
    d = decide(URI, [r], NOW, POLICY)
    assert d.action == action and "kept on request" in d.reason


def test_several_owners_keep_if_any_keeps() -> None:
    stale = rec(RunStatus.LOADING, heartbeat=NOW - 2 * H)
    live = rec(RunStatus.LOADING, heartbeat=NOW)
    assert decide(URI, [stale, live], NOW, POLICY).action == "keep"
    two_stale = [stale, rec(RunStatus.STAGING, heartbeat=NOW - 2 * H)]
    d = decide(URI, two_stale, NOW, POLICY)
    assert d.action == "keep" and "several unfinished runs" in d.reason
    done = rec(RunStatus.SUCCEEDED, finished=NOW - H, cleanup="failed")
    d = decide(URI, [done, stale], NOW, POLICY)
    assert d.action == "delete" and d.abandon and d.run_id == stale.run_id


# --- decide: what is never touched ----------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "tmp/postgres-copy/orders-123-xyz/",
    "tmp/postgres-copy/orders-1700000000-DEADBEEF/",
    "tmp/postgres-copy/orders-1700000000-deadbee/",
    "tmp/postgres-copy/orders-1700000000-deadbeef0/",
    "tmp/postgres-copy/orders-1700000000-deadbeef",
    "tmp/postgres-copy/-1700000000-deadbeef/",
    "tmp/postgres-copy/nested/orders-1700000000-deadbeef/",
    "tmp/postgres-copyX/orders-1700000000-deadbeef/",
    "other/tmp/postgres-copy/orders-1700000000-deadbeef/",
    "tmp/orders-1700000000-deadbeef/",
    "tmp/postgres-copy/",
    "",
])
def test_keys_that_merely_look_similar_are_never_deleted(key: str) -> None:
    # an old epoch and no owner: would be deleted if it were a temp prefix
    assert decide(s3_uri("b", key), [], NOW, POLICY).action == "keep"
    assert decide(key, [], NOW, POLICY).action == "keep"


def test_table_filter() -> None:
    old = s3_uri("b", key_of(table="orders", epoch=1700000000))
    assert decide(old, [], NOW, ReapPolicy(table="orders")).action == "delete"
    d = decide(old, [], NOW, ReapPolicy(table="trips"))
    assert d.action == "keep" and "not trips" in d.reason
    odd = s3_uri("b", key_of(table="my_table", epoch=1700000000))
    assert decide(odd, [], NOW, ReapPolicy(table="my table")).action == "delete"


def test_decide_needs_aware_times() -> None:
    with pytest.raises(ValueError):
        decide(URI, [], NOW.replace(tzinfo=None), POLICY)


def test_decide_honours_another_root() -> None:
    key = key_of(epoch=1700000000, root="scratch/loads")
    assert decide(s3_uri("b", key), [], NOW, ReapPolicy(prefix_root="scratch/loads")).action == "delete"
    assert decide(s3_uri("b", key), [], NOW, POLICY).action == "keep"


# --- decide_staging_table ----------------------------------------------------------------------------


def test_decide_staging_table() -> None:
    name = f"loader_stage_deadbeef_{ep(NOW - 7 * H)}"
    assert decide_staging_table(name, [], NOW, POLICY).action == "delete"
    fresh = f"loader_stage_deadbeef_{ep(NOW - H)}"
    assert decide_staging_table(fresh, [], NOW, POLICY).action == "keep"
    live = rec(RunStatus.LOADING, heartbeat=NOW)
    assert decide_staging_table(name, [live], NOW, POLICY).action == "keep"
    stale = decide_staging_table(name, [rec(RunStatus.LOADING, heartbeat=NOW - H)], NOW, POLICY)
    assert stale.delete and stale.abandon
    assert decide_staging_table(name, [rec(RunStatus.FAILED, finished=NOW - H)], NOW, POLICY).action == "keep"
    assert decide_staging_table(name, [rec(RunStatus.FAILED, finished=NOW - 25 * H)], NOW, POLICY).abandon
    # "kept" is about S3 files: a finished run's staging table always goes
    done = rec(RunStatus.SUCCEEDED, finished=NOW - timedelta(seconds=5), cleanup="kept")
    assert decide_staging_table(name, [done], NOW, POLICY).action == "delete"
    # a run with another short id does not own it
    assert decide_staging_table(fresh, [rec(RunStatus.SUCCEEDED, short="abcdef01")], NOW, POLICY).action == "keep"
    for other in ("loader_stage_DEADBEEF_1700000000", "loader_stage_deadbeef_1700000000_x",
                  "xloader_stage_deadbeef_1700000000", "loader_stage_deadbeef", "orders"):
        assert decide_staging_table(other, [], NOW, POLICY).action == "keep"


# --- the report ----------------------------------------------------------------------------------------


def test_format_report_and_json() -> None:
    report = ReapReport(list_requests=3, delete_requests=1)
    report.entries = [
        ReapEntry("b", "tmp/postgres-copy/t-1700000000-deadbeef/", "delete",
                  "finished run deadbeef succeeded, cleanup failed", objects=412, bytes=3_100_000,
                  run_id="deadbeef" * 4, counted=True),
        ReapEntry("b", "tmp/postgres-copy/t-1700000001-abcdef01/", "keep", "live run abcdef01"),
        ReapEntry("b", "tmp/postgres-copy/t-1700000002-abcdef02/", "delete", "unknown prefix",
                  objects=2, bytes=10, counted=False, note="already recorded by another reaper: not counted"),
    ]
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == ("DELETE s3://b/tmp/postgres-copy/t-1700000000-deadbeef/  (412 objects, 3.1 MB) "
                        "finished run deadbeef succeeded, cleanup failed")
    assert lines[1].startswith("KEEP s3://b/tmp/postgres-copy/t-1700000001-abcdef01/  live run")
    assert "not counted" in lines[2]
    assert lines[-1] == "deleted 1 prefix (412 objects, 3.1 MB freed), kept 1; 4 S3 requests"
    data = json.loads(json.dumps(report.to_json_dict()))
    assert data["totals"] == {"deleted": 1, "objects": 412, "bytes": 3_100_000, "kept": 1, "failed": 0,
                              "requests": 4, "list_requests": 3, "delete_requests": 1}
    assert data["entries"][0]["location"] == "s3://b/tmp/postgres-copy/t-1700000000-deadbeef/"
    report.dry_run = True
    assert format_report(report).splitlines()[0].startswith("WOULD DELETE ")
    assert "nothing was deleted or recorded" in format_report(report)


def test_tables_to_visit_are_those_the_rules_would_drop() -> None:
    from loader.reaper.table_rules import tables_to_visit

    def named(r: RunRecord) -> RunRecord:
        return replace(r, staging_table=f"loader_stage_{r.run_id[:8]}_{ep(NOW - 2 * H)}")

    stale = named(rec(RunStatus.LOADING, short="00000001", heartbeat=NOW - H))
    live = named(rec(RunStatus.LOADING, short="00000002", heartbeat=NOW - timedelta(minutes=1)))
    resumable = named(rec(RunStatus.FAILED, short="00000003", finished=NOW - H))
    expired = named(rec(RunStatus.FAILED, short="00000004", finished=NOW - 25 * H))
    abandoned = named(rec(RunStatus.ABANDONED, short="00000005", finished=NOW - H))
    succeeded = named(rec(RunStatus.SUCCEEDED, short="00000006", finished=NOW - H))  # dropped at publish
    none = rec(RunStatus.ABANDONED, short="00000007", finished=NOW - H)  # never made one
    runs = [stale, live, resumable, expired, abandoned, succeeded, none]
    assert tables_to_visit(runs, NOW, POLICY) == [stale, expired, abandoned]


def test_decision_is_a_value() -> None:
    d = Decision("keep", "why")
    assert not d.delete and d.run_id is None and not d.abandon
