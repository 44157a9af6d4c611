"""The reaper's rule for shadow tables (reaper/table_rules.py), pure: a dead run's shadow goes by the
staging tables' rules, a live run's never; one no run owns goes past grace by the age its comment
gives, and is kept when it has none."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from loader.naming import shadow_comment, shadow_created, shadow_table_name
from loader.reaper.table_rules import decide_shadow_table, decide_table, tables_to_visit
from loader.state import RunStatus
from tests.unit.reaper.test_rules import NOW, POLICY, H, ep, rec

RUN = rec(RunStatus.LOADING)  # the id of every rec() starts with deadbeef
NAME = shadow_table_name("orders", RUN.run_id)
OLD, YOUNG = ep(NOW - 7 * H), ep(NOW - H)


@pytest.mark.parametrize(("run", "action", "abandon", "words"), [
    (rec(RunStatus.LOADING, heartbeat=NOW - timedelta(minutes=1)), "keep", False, "live run"),
    (rec(RunStatus.STAGING, heartbeat=NOW), "keep", False, "live run"),
    (rec(RunStatus.LOADING, heartbeat=NOW - H), "delete", True, "is stale"),
    (rec(RunStatus.FAILED, finished=NOW - H), "keep", False, "resumable until"),
    (rec(RunStatus.FAILED, finished=NOW - 25 * H), "delete", True, "beyond the resume window"),
    (rec(RunStatus.ABANDONED, finished=NOW - timedelta(seconds=5)), "delete", False, "shadow table left behind"),
    (rec(RunStatus.SUCCEEDED, finished=NOW - H, cleanup="kept"), "delete", False, "shadow table left behind"),
])
def test_a_shadow_goes_by_its_runs_state_never_while_the_run_lives(run: object, action: str, abandon: bool,
                                                                   words: str) -> None:
    for created in (None, OLD, YOUNG):  # the run decides, whatever the shadow's age
        d = decide_shadow_table(NAME, created, [run], NOW, POLICY)
        assert (d.action, d.abandon) == (action, abandon), d
        assert words in d.reason


def test_a_shadow_no_run_owns_goes_past_grace_by_its_comment() -> None:
    assert decide_shadow_table(NAME, OLD, [], NOW, POLICY).action == "delete"
    young = decide_shadow_table(NAME, YOUNG, [], NOW, POLICY)
    assert young.action == "keep" and "inside grace" in young.reason
    assert decide_shadow_table(NAME, ep(NOW - 6 * H), [], NOW, POLICY).action == "keep"  # on the boundary
    unaged = decide_shadow_table(NAME, None, [], NOW, POLICY)
    assert unaged.action == "keep" and "without its creation time" in unaged.reason
    # a run with another short id does not own it
    other = rec(RunStatus.SUCCEEDED, short="abcdef01", finished=NOW - H)
    assert decide_shadow_table(NAME, YOUNG, [other], NOW, POLICY).action == "keep"


def test_only_a_shadows_exact_name_is_judged_as_one() -> None:
    for other in ("orders", "orders__loader_shadow_DEADBEEF", "orders__loader_shadow_deadbee",
                  "__loader_shadow_deadbeef", "orders__loader_shadow_deadbeef_x"):
        assert decide_shadow_table(other, OLD, [], NOW, POLICY).action == "keep", other
    # decide_table tells the kinds apart by name
    assert decide_table(NAME, [], NOW, POLICY, created=OLD).delete
    assert not decide_table(NAME, [], NOW, POLICY).delete
    assert decide_table(f"loader_stage_deadbeef_{OLD}", [], NOW, POLICY).delete


def test_the_comment_carries_the_age_and_nothing_else_parses() -> None:
    assert shadow_created(shadow_comment(RUN.run_id, now=1_700_000_000)) == 1_700_000_000
    for text in (None, "", "the table", "loader shadow of run x, created 1700000000",
                 shadow_comment(RUN.run_id, now=1_700_000_000) + " (edited)"):
        assert shadow_created(text) is None


def test_the_databases_of_dead_runs_shadows_are_visited() -> None:
    def named(r: object) -> object:
        return replace(r, staging_table=shadow_table_name("orders", r.run_id))  # type: ignore[type-var]

    stale = named(rec(RunStatus.LOADING, short="00000001", heartbeat=NOW - H))
    live = named(rec(RunStatus.LOADING, short="00000002", heartbeat=NOW))
    resumable = named(rec(RunStatus.FAILED, short="00000003", finished=NOW - H))
    abandoned = named(rec(RunStatus.ABANDONED, short="00000004", finished=NOW - H))
    assert tables_to_visit([stale, live, resumable, abandoned], NOW, POLICY) == [stale, abandoned]
