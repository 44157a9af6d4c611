"""Run state: the status enum and its one transition table (``status``), tables and records
(``models``), the ``StateStore`` facade (``store``) over runs, transitions, parts and reaps, and
summary numbers (``metrics``)."""

from .metrics import summarize
from .models import SCHEMA_VERSION, PartRecord, ReapRecord, RunRecord
from .status import ACTIVE, ALLOWED, FINAL, RESUMABLE, TRANSITIONS, RunStatus, Transition, can_move
from .store import ENV_URL, UPDATABLE_FIELDS, StateStore, default_state_path, default_url

__all__ = [
    "ACTIVE",
    "ALLOWED",
    "ENV_URL",
    "FINAL",
    "RESUMABLE",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "UPDATABLE_FIELDS",
    "PartRecord",
    "ReapRecord",
    "RunRecord",
    "RunStatus",
    "StateStore",
    "Transition",
    "can_move",
    "default_state_path",
    "default_url",
    "summarize",
]
