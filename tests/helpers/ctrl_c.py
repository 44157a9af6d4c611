"""Ctrl-C at a chosen moment of a load in this process: SIGINT sent to itself on the third read of a
staged part (psycopg2's copy_expert reading it), as a user's Ctrl-C would arrive mid-COPY."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest


def sigint_on_third_part_read(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Patch ``PartStream.read``; returns the original, to put back for a later load in the test."""
    from loader.copy import part_reader

    original, reads = part_reader.PartStream.read, []

    def read_then_signal(self: Any, size: int = -1) -> bytes:
        reads.append(size)
        if len(reads) == 3:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        return original(self, size)

    monkeypatch.setattr(part_reader.PartStream, "read", read_then_signal)
    return original
