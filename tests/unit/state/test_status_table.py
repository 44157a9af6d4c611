"""The one transition table (``status.TRANSITIONS``) and what is derived from it: pure, no store."""

from __future__ import annotations

from itertools import product

from loader.state.status import ACTIVE, ALLOWED, FINAL, RESUMABLE, TRANSITIONS, RunStatus, Transition, can_move

S = RunStatus


def test_allowed_is_the_table_read_by_source() -> None:
    # written out by hand: what the state machine in status.py's docstring draws
    assert ALLOWED == {
        S.PENDING: {S.STAGING, S.LOADING, S.FAILED, S.ABANDONED, S.PENDING},
        S.STAGING: {S.STAGED, S.LOADING, S.FAILED, S.ABANDONED, S.PENDING},
        S.STAGED: {S.LOADING, S.FAILED, S.ABANDONED, S.PENDING},
        S.LOADING: {S.SUCCEEDED, S.FAILED, S.ABANDONED, S.PENDING},
        S.FAILED: {S.PENDING, S.ABANDONED},
        S.SUCCEEDED: set(),
        S.ABANDONED: set(),
    }


def test_every_edge_is_one_named_transition() -> None:
    for src, dst in product(S, S):
        names = [n for n, t in TRANSITIONS.items() if src in t.sources and t.dest is dst]
        assert len(names) == (1 if dst in ALLOWED[src] else 0), (src, dst, names)
        assert can_move(src, dst) is (dst in ALLOWED[src])


def test_transitions_unpack_as_sources_and_destination() -> None:
    sources, dest = TRANSITIONS["start_loading"]
    assert (sources, dest) == ({S.PENDING, S.STAGING, S.STAGED}, S.LOADING)
    assert all(isinstance(t, Transition) for t in TRANSITIONS.values())


def test_derived_sets() -> None:
    assert ACTIVE == {S.PENDING, S.STAGING, S.STAGED, S.LOADING}
    assert FINAL == {S.SUCCEEDED, S.FAILED, S.ABANDONED} and not ACTIVE & FINAL
    assert RESUMABLE == ACTIVE | {S.FAILED} == TRANSITIONS["resume"].sources
    assert all(not ALLOWED[s] for s in FINAL - {S.FAILED})  # succeeded and abandoned are the end
    assert all(s.is_active is (s in ACTIVE) for s in S)
