"""`loader status` shows 12 characters of a run id: any unique prefix names the run (as git's short
hashes do), an ambiguous one says so, and `resume` says where to find the manifest it needs."""

from __future__ import annotations

import pytest

from loader import commands
from loader.errors import RunNotFoundError
from loader.state import StateStore


def _run(store: StateStore, run_id: str) -> None:
    store.create_run(run_id, manifest_name="trips", manifest_hash="h", target="public.trips", target_db="db",
                     method_requested="copy", write_mode="append")


def test_a_unique_prefix_names_the_run(state_url: str) -> None:
    store = StateStore(state_url)
    a, b = "aaaa1111" + "0" * 24, "aaaa2222" + "0" * 24
    _run(store, a)
    _run(store, b)
    assert store.resolve_id("aaaa1") == a and store.resolve_id(b) == b
    with pytest.raises(RunNotFoundError, match="ambiguous: aaaa11110000, aaaa22220000"):
        store.resolve_id("aaaa")
    with pytest.raises(RunNotFoundError, match="no run zz"):
        store.resolve_id("zz")
    with pytest.raises(RunNotFoundError, match="no run"):
        store.resolve_id("aaaa%")  # a LIKE wildcard is a character, not a pattern


def test_resume_without_the_manifest_folder_says_what_to_pass(state_url: str, tmp_path: object) -> None:
    store = StateStore(state_url)
    run_id = "bbbb3333" + "0" * 24
    _run(store, run_id)
    with pytest.raises(RunNotFoundError) as info:
        commands.resume("bbbb3", [str(tmp_path) + "/manifests"], state_url=state_url)
    assert "manifest 'trips'" in str(info.value) and "loader resume bbbb33330000 path/to/trips.yaml" in str(info.value)
