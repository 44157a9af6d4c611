"""`loader resume RUN_ID` without a path finds the run's manifest in manifests/ by its recorded hash
(even renamed) or name, and otherwise says exactly what to pass (a SQLite state store, no server)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from loader import commands
from loader.errors import ManifestError, RunNotFoundError
from loader.runner.locate import find_run_manifest
from loader.state import RunRecord, StateStore

TEXT = """version: 1
source: {format: parquet, path: /data/trips.parquet}
target: {connection: "postgresql://u@db/dw", table: trips}
"""


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.chdir(tmp_path)
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def _run(store: StateStore, text: str = TEXT, name: str = "trips") -> RunRecord:
    run_id = "cccc4444" + "0" * 24
    store.create_run(run_id, manifest_name=name, manifest_hash=hashlib.sha256(text.encode()).hexdigest(),
                     target="public.trips", target_db="db", method_requested="copy", write_mode="append")
    store.fail(run_id, error="boom")
    return store.get(run_id)


def test_no_path_and_no_manifests_folder_says_what_to_pass(store: StateStore) -> None:
    _run(store)
    with pytest.raises(RunNotFoundError) as info:
        commands.resume("cccc4", [], state_url=store_url(store))
    text = str(info.value)
    assert "run cccc44440000 belongs to manifest 'trips'" in text and "manifests does not exist here" in text
    assert "loader resume cccc44440000 path/to/trips.yaml" in text


def test_found_in_the_default_folder_by_hash_even_renamed(store: StateStore) -> None:
    record = _run(store)
    Path("manifests").mkdir()
    Path("manifests/other.yaml").write_text(TEXT.replace("trips.parquet", "x.parquet"))
    Path("manifests/renamed.yaml").write_text(TEXT)
    m = find_run_manifest(record, [])
    assert m.path == "manifests/renamed.yaml"


def test_found_by_name_when_edited_with_a_warning(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    record = _run(store)
    Path("manifests").mkdir()
    Path("manifests/trips.yaml").write_text(TEXT + "method: copy\n")
    with caplog.at_level(logging.WARNING, logger="loader"):
        m = find_run_manifest(record, [])
    assert m.name == "trips" and "changed since run cccc44440000 started" in caplog.text


def test_not_among_the_manifests_given(store: StateStore) -> None:
    record = _run(store)
    Path("elsewhere").mkdir()
    Path("elsewhere/other.yaml").write_text(TEXT)
    Path("elsewhere/other.yaml").write_text(TEXT.replace("trips.parquet", "y.parquet"))
    with pytest.raises(RunNotFoundError, match=r"not among the 1 manifest\(s\) in elsewhere.*"
                                               r"loader resume cccc44440000 path/to/trips.yaml"):
        find_run_manifest(record, ["elsewhere"])


def test_an_invalid_manifest_of_that_name_shows_its_problems(store: StateStore) -> None:
    record = _run(store)
    Path("manifests").mkdir()
    Path("manifests/trips.yaml").write_text(TEXT + "method: fast\n")
    with pytest.raises(ManifestError, match="method: 'fast' is not one of"):
        find_run_manifest(record, [])


def test_a_succeeded_run_reads_naturally(store: StateStore) -> None:
    run_id = "dddd5555" + "0" * 24
    store.create_run(run_id, manifest_name="trips", manifest_hash="h", target="public.trips", target_db="db",
                     method_requested="copy", write_mode="append")
    store.start_loading(run_id)
    store.succeed(run_id)
    with pytest.raises(RunNotFoundError, match=f"run {run_id} has succeeded: nothing to resume"):
        commands.resume("dddd5", [], state_url=store_url(store))


def store_url(store: StateStore) -> str:
    return f"sqlite:///{Path.cwd() / 'state.db'}"


def test_a_lost_transition_reads_naturally(store: StateStore) -> None:
    from loader.errors import TransitionError
    from loader.state import RunStatus

    run_id = "eeee6666" + "0" * 24
    store.create_run(run_id, manifest_name="trips", manifest_hash="h", target="public.trips", target_db="db",
                     method_requested="copy", write_mode="append")
    store.start_loading(run_id)
    store.succeed(run_id)
    with pytest.raises(TransitionError, match="expected status failed, but it has succeeded") as info:
        store.resume(run_id, expected=RunStatus.FAILED, attempt=1)
    assert " is succeeded" not in str(info.value)
