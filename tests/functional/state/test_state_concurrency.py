"""Concurrent transitions on one run: exactly one winner, everyone else gets TransitionError.

Threads share one StateStore (one engine, pooled connections); processes
(multiprocessing, spawn) each open their own store on the same URL. Both on
SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from loader.errors import TransitionError
from loader.state import RunStatus, StateStore

N_THREADS = 8
N_PROCS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: Any) -> str:
    """A store URL of its own per test: SQLite file, or a PostgreSQL schema."""
    return str(request.getfixturevalue("state_url" if request.param == "sqlite" else "pg_schema_url"))


@pytest.fixture()
def store(url: str) -> Iterator[StateStore]:
    st = StateStore(url)
    try:
        yield st
    finally:
        st.close()


def new_run(store: StateStore) -> str:
    run_id = uuid.uuid4().hex
    store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.t",
                     target_db="u@localhost:5432/db", method_requested="copy", write_mode="append")
    return run_id


def attempt(store: StateStore, op: str, run_id: str, seen: tuple[str, int]) -> str:
    """Run one transition; 'won', 'lost' (TransitionError) or the unexpected error's repr."""
    try:
        if op == "resume":
            store.resume(run_id, expected=seen[0], attempt=seen[1])
        elif op == "start_loading":
            store.start_loading(run_id)
        else:  # pragma: no cover
            raise ValueError(op)
        return "won"
    except TransitionError:
        return "lost"
    except Exception as exc:  # pragma: no cover - reported by the assertion
        return repr(exc)


def race_threads(store: StateStore, op: str, run_id: str, n: int) -> list[str]:
    rec = store.get(run_id)
    seen = (rec.status.value, rec.attempt)
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        outcome = attempt(store, op, run_id, seen)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _proc_worker(url: str, tasks: list[tuple[str, str, tuple[str, int]]], barrier: Any, out: Any) -> None:
    """Each task is one race: all processes wait at the barrier, then try the transition."""
    store = StateStore(url)
    try:
        store.ensure_schema()  # connect and check the schema before the first race
        for i, (op, run_id, seen) in enumerate(tasks):
            barrier.wait(timeout=60)
            out.put((i, attempt(store, op, run_id, seen)))
    finally:
        store.close()


def race_processes(url: str, store: StateStore, races: list[tuple[str, str]], n: int) -> list[list[str]]:
    """Run each (op, run_id) race among n spawned processes; outcomes per race."""
    tasks = []
    for op, run_id in races:
        rec = store.get(run_id)
        tasks.append((op, run_id, (rec.status.value, rec.attempt)))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=_proc_worker, args=(url, tasks, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results: list[list[str]] = [[] for _ in races]
    for _ in range(n * len(races)):
        i, outcome = out.get(timeout=120)
        results[i].append(outcome)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def test_threads_resume_once(store: StateStore) -> None:
    run_id = new_run(store)
    store.fail(run_id, "boom")
    results = race_threads(store, "resume", run_id, N_THREADS)
    assert sorted(results) == ["lost"] * (N_THREADS - 1) + ["won"]
    rec = store.get(run_id)
    assert (rec.status, rec.attempt, rec.error) == (RunStatus.PENDING, 2, None)


def test_threads_resume_of_unfinished_run_once(store: StateStore) -> None:
    """A run whose process died while loading: all resumers saw (loading, 1)."""
    run_id = new_run(store)
    store.start_loading(run_id)
    results = race_threads(store, "resume", run_id, N_THREADS)
    assert sorted(results) == ["lost"] * (N_THREADS - 1) + ["won"]
    assert store.get(run_id).attempt == 2


def test_threads_start_loading_once(store: StateStore) -> None:
    run_id = new_run(store)
    store.start_staging(run_id)
    store.finish_staging(run_id)
    results = race_threads(store, "start_loading", run_id, N_THREADS)
    assert sorted(results) == ["lost"] * (N_THREADS - 1) + ["won"]
    assert store.get(run_id).status == RunStatus.LOADING


def test_threads_start_loading_from_pending_once(store: StateStore) -> None:
    """start_loading has two sources: the store reads the status and pins it."""
    run_id = new_run(store)
    results = race_threads(store, "start_loading", run_id, N_THREADS)
    assert sorted(results) == ["lost"] * (N_THREADS - 1) + ["won"]
    assert store.get(run_id).status == RunStatus.LOADING


def test_processes_race_once(url: str, store: StateStore) -> None:
    """Separate processes (spawn), each with its own store: resume, then start_loading."""
    failed = new_run(store)
    store.fail(failed, "boom")
    staged = new_run(store)
    store.start_staging(staged)
    store.finish_staging(staged)
    resumes, loads = race_processes(url, store, [("resume", failed), ("start_loading", staged)], N_PROCS)
    assert sorted(resumes) == ["lost"] * (N_PROCS - 1) + ["won"]
    assert sorted(loads) == ["lost"] * (N_PROCS - 1) + ["won"]
    rec = store.get(failed)
    assert (rec.status, rec.attempt) == (RunStatus.PENDING, 2)
    assert store.get(staged).status == RunStatus.LOADING


def test_threads_record_parts_concurrently(store: StateStore) -> None:
    """Counters stay right when parts are recorded from many threads at once."""
    run_id = new_run(store)
    store.start_staging(run_id)
    barrier = threading.Barrier(N_THREADS)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            for j in range(5):
                store.record_part(run_id, i * 5 + j, f"k/{i}/{j}", 10, 100)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    rec = store.get(run_id)
    assert (rec.parts_staged, rec.bytes_staged) == (N_THREADS * 5, N_THREADS * 5 * 100)


def test_concurrent_first_use_creates_the_schema_once(url: str) -> None:
    """Several stores opening a fresh database at once: one creates the tables, nobody fails."""
    n = 6
    stores = [StateStore(url) for _ in range(n)]
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def work(st: StateStore) -> None:
        barrier.wait()
        try:
            assert st.list_runs() == []
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    run_id = new_run(stores[0])
    assert stores[-1].get(run_id).run_id == run_id
    for st in stores:
        st.close()
