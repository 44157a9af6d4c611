"""Run status: a string enum and the one table of named transitions (pure, no I/O).

    pending ──► staging ─────────────────► loading ──► succeeded
       │           │  └──► staged ──────────► ▲  │
       │           │          │               │  │
       └───────────┴──────────┴───────────────┴──┴──► failed ──► pending (resume)
                                                      abandoned (reaper / operator)

What each status says is happening:

* ``staging``: the Spark job is writing parts to S3 and none has been COPYed yet;
* ``loading``: rows are going into the target: COPY starts with the first part that
  appears, while the Spark job may still be staging the rest (the two overlap), and
  JDBC runs, which have nothing to stage, go pending → loading;
* ``staged``: every part is in S3 and none was COPYed yet (the staging finished before
  the first COPY, e.g. a resume that found its parts staged); loading follows.

A resume moves a failed run, or an unfinished run whose process died, back to
pending with the attempt number raised; the staged parts it recorded are reused.
Each transition is applied by the store as one ``UPDATE ... WHERE status = :expected``
so two processes can never both move the same run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from ..options import TextEnum

#: how long a failed run stays resumable: the reaper keeps its staged parts that long after it
#: failed (``loader reap --resume-window``), and an interrupted run says until when
RESUME_WINDOW = timedelta(hours=24)


class RunStatus(TextEnum):
    PENDING = "pending"
    STAGING = "staging"
    STAGED = "staged"
    LOADING = "loading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def is_active(self) -> bool:
        """A process may be working on the run right now (or died while doing so)."""
        return self in ACTIVE

    @property
    def described(self) -> str:
        """The status as a sentence says it: "run X has succeeded", "run X is loading"."""
        return _PHRASES[self]


_PHRASES = {RunStatus.PENDING: "is pending", RunStatus.STAGING: "is staging", RunStatus.STAGED: "is staged",
            RunStatus.LOADING: "is loading", RunStatus.SUCCEEDED: "has succeeded", RunStatus.FAILED: "has failed",
            RunStatus.ABANDONED: "was abandoned"}
#: a process may be working on the run right now (or died while doing so)
ACTIVE = frozenset({RunStatus.PENDING, RunStatus.STAGING, RunStatus.STAGED, RunStatus.LOADING})
#: the attempt is over: the transition to one of these sets ``finished_at``
FINAL = frozenset(RunStatus) - ACTIVE


class Transition(NamedTuple):
    """A named move: from any of ``sources`` to ``dest``."""

    sources: frozenset[RunStatus]
    dest: RunStatus


#: THE transition table: name -> (allowed sources, destination). The store exposes one method per
#: name; ``resume`` is allowed from several sources and the store then pins the observed source
#: *and* attempt in its WHERE clause. Everything below is derived from it.
TRANSITIONS: dict[str, Transition] = {
    "start_staging": Transition(frozenset({RunStatus.PENDING}), RunStatus.STAGING),
    "finish_staging": Transition(frozenset({RunStatus.STAGING}), RunStatus.STAGED),
    "start_loading": Transition(frozenset({RunStatus.PENDING, RunStatus.STAGING, RunStatus.STAGED}),
                                RunStatus.LOADING),
    "succeed": Transition(frozenset({RunStatus.LOADING}), RunStatus.SUCCEEDED),
    "fail": Transition(ACTIVE, RunStatus.FAILED),
    "abandon": Transition(ACTIVE | {RunStatus.FAILED}, RunStatus.ABANDONED),
    "resume": Transition(ACTIVE | {RunStatus.FAILED}, RunStatus.PENDING),
}

#: status -> statuses it may move to (derived from TRANSITIONS)
ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    src: frozenset(t.dest for t in TRANSITIONS.values() if src in t.sources) for src in RunStatus
}

#: a run in one of these may be resumed (derived from TRANSITIONS)
RESUMABLE = TRANSITIONS["resume"].sources


def can_move(src: RunStatus, dst: RunStatus) -> bool:
    return dst in ALLOWED[src]
