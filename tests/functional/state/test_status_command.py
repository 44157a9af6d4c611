"""``loader status`` over a real state store (SQLite): what was seen in issue #17, reproduced."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from loader import commands
from loader.state import StateStore

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def _store(url: str, clock: list[datetime]) -> StateStore:
    return StateStore(url, clock=lambda: clock[0])


def _new(store: StateStore, run_id: str) -> None:
    store.create_run(run_id, manifest_name="trips", manifest_hash="h", target="public.trips",
                     target_db="u@h:5432/db", method_requested="copy", write_mode="append")


def _line(table: str, run_id: str) -> list[str]:
    (line,) = [x for x in table.splitlines() if x.startswith(run_id[:12])]
    return line.split()


def test_ctrl_c_after_140000_rows_shows_none_committed(tmp_path: Any) -> None:
    url, clock = f"sqlite:///{tmp_path / 's.db'}", [T0]
    store = _store(url, clock)
    run_id = "c" * 32
    _new(store, run_id)
    store.start_staging(run_id)
    store.heartbeat(run_id, parts_loaded=14, rows=140_000)
    assert "- (140,000 in flight)" in commands.status(url, width=None)  # while it runs: in flight
    clock[0] = T0 + timedelta(seconds=20)
    store.fail(run_id, "KeyboardInterrupt: ")
    line = _line(commands.status(url, width=None), run_id)
    assert line[4:6] == ["failed", "-"] and "140,000" not in " ".join(line)
    (as_json,) = json.loads(commands.status(url, as_json=True))
    assert (as_json["rows"], as_json["rows_in_flight"]) == (None, 140_000)
    store.close()


def test_a_resumed_run_does_not_count_the_hours_it_sat_interrupted(tmp_path: Any) -> None:
    url, clock = f"sqlite:///{tmp_path / 's.db'}", [T0]
    store = _store(url, clock)
    run_id = "d" * 32
    _new(store, run_id)
    store.start_loading(run_id)
    clock[0] = T0 + timedelta(seconds=30)
    store.fail(run_id, "connection lost -> resume the run")
    clock[0] = T0 + timedelta(hours=10)
    store.resume(run_id)
    store.start_loading(run_id)
    clock[0] = T0 + timedelta(hours=10, seconds=12)
    store.succeed(run_id, rows=5)
    assert _line(commands.status(url, width=None), run_id)[-1] == "42.0"
    (as_json,) = json.loads(commands.status(url, as_json=True))
    assert as_json["seconds"] == 42.0
    store.close()
