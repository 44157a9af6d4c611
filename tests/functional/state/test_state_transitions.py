"""Every edge of status.ALLOWED through the store's named transitions, on SQLite and PostgreSQL.

Allowed edges must work; every other (source, destination) pair must raise
TransitionError and leave the row exactly as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import product
from typing import Any

import pytest

from loader.connection import ConnectionSpec
from loader.errors import RunNotFoundError, TransitionError
from loader.state import ALLOWED, TRANSITIONS, RunRecord, RunStatus, StateStore

S = RunStatus

#: the named transition whose destination is this status
NAME_FOR = {dest: name for name, (_, dest) in TRANSITIONS.items()}

#: transitions that bring a new run to each status
PATH: dict[RunStatus, list[str]] = {
    S.PENDING: [],
    S.STAGING: ["start_staging"],
    S.STAGED: ["start_staging", "finish_staging"],
    S.LOADING: ["start_loading"],
    S.SUCCEEDED: ["start_loading", "succeed"],
    S.FAILED: ["fail"],
    S.ABANDONED: ["abandon"],
}

ALLOWED_EDGES = sorted(((s, d) for s, ds in ALLOWED.items() for d in ds), key=str)
REFUSED_EDGES = sorted(((s, d) for s, d in product(S, S) if d not in ALLOWED[s]), key=str)


@pytest.fixture(scope="module")
def pg_module_url(pg_module_spec: ConnectionSpec) -> str:
    """One database for the whole module (each test uses its own run ids)."""
    return pg_module_spec.sqlalchemy_url()


@pytest.fixture(scope="module")
def sqlite_module_url(tmp_path_factory: Any) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.db'}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: Any) -> Iterator[StateStore]:
    url = request.getfixturevalue("sqlite_module_url" if request.param == "sqlite" else "pg_module_url")
    st = StateStore(url)
    try:
        yield st
    finally:
        st.close()


def new_run(store: StateStore) -> str:
    run_id = uuid.uuid4().hex
    store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.t",
                     target_db="u@localhost:5432/db", method_requested="auto", write_mode="append",
                     bucket="bkt", temp_path=f"s3://bkt/loader-tmp/{run_id[:8]}/")
    return run_id


def apply(store: StateStore, name: str, run_id: str, **kw: Any) -> RunRecord:
    if name == "succeed":
        return store.succeed(run_id, rows=10, **kw)
    if name == "fail":
        return store.fail(run_id, "boom", **kw)
    if name == "abandon":
        return store.abandon(run_id, "operator", **kw)
    method = getattr(store, name)
    result: RunRecord = method(run_id, **kw)
    return result


def run_in(store: StateStore, status: RunStatus) -> str:
    run_id = new_run(store)
    for name in PATH[status]:
        apply(store, name, run_id)
    assert store.get(run_id).status == status
    return run_id


def test_named_transitions_cover_exactly_the_allowed_table() -> None:
    named = {(src, dest) for srcs, dest in TRANSITIONS.values() for src in srcs}
    assert named == set(ALLOWED_EDGES)
    assert len(NAME_FOR) == len(TRANSITIONS)  # one name per destination


@pytest.mark.parametrize(("src", "dst"), ALLOWED_EDGES, ids=lambda s: str(s))
def test_allowed_edge(store: StateStore, src: RunStatus, dst: RunStatus) -> None:
    run_id = run_in(store, src)
    before = store.get(run_id)
    after = apply(store, NAME_FOR[dst], run_id)
    assert after.status == dst
    assert store.get(run_id) == after
    if dst in (S.SUCCEEDED, S.FAILED, S.ABANDONED):
        assert after.finished_at is not None and after.finished_at >= before.started_at
    if dst == S.PENDING:  # resume
        assert after.attempt == before.attempt + 1
        assert after.error is None and after.finished_at is None
    else:
        assert after.attempt == before.attempt
    if dst == S.SUCCEEDED:
        assert after.rows == 10
    if dst == S.FAILED:
        assert after.error == "boom"


@pytest.mark.parametrize(("src", "dst"), REFUSED_EDGES, ids=lambda s: str(s))
def test_refused_edge(store: StateStore, src: RunStatus, dst: RunStatus) -> None:
    run_id = run_in(store, src)
    before = store.get(run_id)
    with pytest.raises(TransitionError) as info:
        apply(store, NAME_FOR[dst], run_id)
    assert run_id in str(info.value)
    assert src.value in str(info.value)
    assert info.value.run_id == run_id
    assert store.get(run_id) == before


@pytest.mark.parametrize(("name", "stale", "actual"), [
    ("start_loading", S.PENDING, S.STAGED),
    ("start_loading", S.STAGED, S.PENDING),
    ("start_loading", S.STAGING, S.STAGED),  # COPY's first part: pinned on the staging it saw
    ("fail", S.PENDING, S.STAGING),
    ("abandon", S.LOADING, S.FAILED),
    ("resume", S.FAILED, S.LOADING),
])
def test_stale_expected_status_is_refused_by_the_update(store: StateStore, name: str, stale: RunStatus,
                                                        actual: RunStatus) -> None:
    """The caller observed ``stale`` but the row is ``actual``: the pinned UPDATE matches nothing."""
    run_id = run_in(store, actual)
    before = store.get(run_id)
    with pytest.raises(TransitionError) as info:
        apply(store, name, run_id, expected=stale)
    text = str(info.value)
    assert run_id in text and stale.value in text and actual.value in text
    assert info.value.ids["expected"] == stale.value
    assert info.value.ids["actual"] == actual.value
    assert store.get(run_id) == before


def test_resume_pins_the_attempt(store: StateStore) -> None:
    run_id = run_in(store, S.FAILED)
    first = store.resume(run_id)
    assert (first.status, first.attempt) == (S.PENDING, 2)
    # a second resume that saw the failed run at attempt 1 must lose
    with pytest.raises(TransitionError, match="attempt"):
        store.resume(run_id, expected=S.PENDING, attempt=1)
    assert store.get(run_id) == first
    # resuming what is there now (a pending run whose process died) works
    assert store.resume(run_id).attempt == 3


def test_expected_outside_the_sources_is_refused(store: StateStore) -> None:
    run_id = run_in(store, S.PENDING)
    before = store.get(run_id)
    with pytest.raises(TransitionError, match="cannot start_loading from status loading"):
        store.start_loading(run_id, expected=S.LOADING)
    assert store.get(run_id) == before


def test_transition_of_missing_run(store: StateStore) -> None:
    with pytest.raises(RunNotFoundError):
        store.start_staging("0" * 32)
    with pytest.raises(RunNotFoundError):
        store.resume("0" * 32)


def test_transitions_carry_fields(store: StateStore) -> None:
    run_id = run_in(store, S.STAGED)
    rec = store.start_loading(run_id, method_used="copy", fallback_reason=None)
    assert rec.method_used == "copy"
    rec = store.succeed(run_id, rows=7, timings={"load": 1.25}, cleanup_status="pending")
    assert (rec.rows, rec.timings, rec.cleanup_status) == (7, {"load": 1.25}, "pending")
    with pytest.raises(TypeError):
        store.fail(new_run(store), "x", status="succeeded")
