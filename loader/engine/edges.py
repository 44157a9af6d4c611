"""What the engine does to the world, passed in: the I/O edge of one load.

As httpx's client takes a transport and dlt's pipeline a destination, ``execute`` takes an
``Edges``: the table lock, the target's preparation, the ledger question "did this run commit?",
the blob store that holds staged parts, and the cancellation of Spark jobs. ``real_edges()`` is
PostgreSQL, S3 and Spark; ``tests/unit/engine`` passes in-memory fakes and drives record → lock
→ resume → fallback → cleanup in milliseconds. The functional tests prove the real edges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..adapters.staging_area import BlobStore, S3Blobs
from ..connection import ConnectionSpec
from ..naming import TableRef
from ..request import LoadRequest
from .prepare import PreparedTarget


class TableLock(Protocol):
    def __call__(self, spec: ConnectionSpec, ref: TableRef, run_id: str, *, wait: bool = False,
                 shared: bool = False) -> contextlib.AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Edges:
    #: held for the whole run (pg.table_lock): a second run of the table is refused or waits
    lock: TableLock
    #: look at the target before any data moves (engine/prepare.py)
    prepare: Callable[[LoadRequest], PreparedTarget]
    #: rows the run committed, from the ledger in this schema (LoadRequest.loader_schema), or None
    #: (destination/ledger.py)
    committed_rows: Callable[[ConnectionSpec, str, str], int | None]
    blobs: BlobStore
    #: what an interruption does first: cancel the Spark jobs of this process
    cancel_jobs: Callable[[], None]


def real_edges() -> Edges:
    from ..adapters import pg, spark
    from ..destination import prepared
    from .prepare import prepare_target

    return Edges(lock=pg.table_lock, prepare=prepare_target, committed_rows=prepared.committed_rows,
                 blobs=S3Blobs(), cancel_jobs=spark.cancel_all_jobs)
