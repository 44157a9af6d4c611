"""COPY staged parts into a shadow table over N connections at once (destination/shadow_swap.py).

Each part is COPYed by one worker on that worker's own connection (copy_workers.py), and committed
with its row in ``loader_shadow_parts`` in the same transaction: the shadow is invisible to
readers, so committing part by part costs no atomicity (the swap is what publishes), and a resume
knows exactly which parts are in it.
"""

from __future__ import annotations

from typing import Any

from ..connection import ConnectionSpec
from ..destination.shadow_swap import ShadowTable
from .copy_workers import CopyWorkers
from .formats import StagingFormat


class ShadowCopy(CopyWorkers):
    """``connections`` workers COPYing parts of ``bucket`` into ``shadow``."""

    into_label = "the shadow of "

    def __init__(self, spec: ConnectionSpec, shadow: ShadowTable, fmt: StagingFormat, columns: list[str],
                 connections: int, client: Any, bucket: str) -> None:
        super().__init__(spec, shadow.run_id, shadow.target, shadow.ref, fmt, columns, connections, client, bucket)
        self.shadow = shadow

    def _copied(self, conn: Any, cur: Any, key: str, rows: int) -> None:
        self.shadow.record_part(cur, key, rows)
        conn.commit()
