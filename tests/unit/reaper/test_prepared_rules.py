"""The reaper's rule for a prepared append's transactions (reaper/table_rules.py), pure: a live run's
are left alone, a stale run's are settled once it is marked abandoned, a failed run's at once (a
resume gains nothing from them and they hold locks), one no run owns past grace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loader.naming import parse_prepared_marker, prepared_marker
from loader.reaper.table_rules import decide_prepared, decide_table, tables_to_visit
from loader.state import RunStatus
from tests.unit.reaper.test_rules import NOW, POLICY, H, rec


@pytest.mark.parametrize(("run", "action", "abandon", "words"), [
    (rec(RunStatus.LOADING, heartbeat=NOW - timedelta(minutes=1)), "keep", False, "live run"),
    (rec(RunStatus.LOADING, heartbeat=NOW - H), "delete", True, "is stale"),
    (rec(RunStatus.FAILED, finished=NOW - timedelta(minutes=1)), "delete", False, "is failed"),
    (rec(RunStatus.ABANDONED, finished=NOW - H), "delete", False, "settled by its ledger row"),
])
def test_a_runs_prepared_transactions_go_by_its_state_never_while_it_lives(run: object, action: str,
                                                                           abandon: bool, words: str) -> None:
    for age in (None, 1.0, 10 * 3600.0):  # the run decides, whatever the age
        d = decide_prepared(run.run_id, age, [run], NOW, POLICY)  # type: ignore[attr-defined]
        assert (d.action, d.abandon) == (action, abandon), d
        assert words in d.reason


def test_one_no_run_owns_is_settled_past_grace_only() -> None:
    assert decide_prepared("ab" * 16, 7 * 3600.0, [], NOW, POLICY).action == "delete"
    assert decide_prepared("ab" * 16, 60.0, [], NOW, POLICY).action == "keep"
    assert decide_prepared("ab" * 16, None, [], NOW, POLICY).action == "keep"


def test_the_marker_brings_the_reaper_to_a_dead_runs_database_only() -> None:
    live, failed = rec(RunStatus.LOADING, heartbeat=NOW), rec(RunStatus.FAILED, finished=NOW - H)
    marker = prepared_marker(live.run_id)
    assert parse_prepared_marker(marker) == live.run_id[:8] and parse_prepared_marker("loader_stage_x") is None
    assert decide_table(marker, [failed], NOW, POLICY).action == "delete"
    live_m, failed_m = (r.__class__(**{**r.__dict__, "staging_table": marker}) for r in (live, failed))
    assert tables_to_visit([live_m, failed_m], NOW, POLICY) == [failed_m]
