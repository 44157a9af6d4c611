"""The commit protocol every way of landing a COPY run's parts implements, and what they share.

    open      make the destination (the load transaction, the shadow, the staging table, the
              workers' connections); say which parts an earlier attempt already landed
    load      one staged part into it, as soon as it is staged (a row count, or a future of one)
    publish   every part is in: what goes before the COMMIT (finish, build and swap, PREPARE,
              merge), with the run's ledger row
    commit    the outcome committed in the one function that commits (ledger.commit; a prepared
              append's decision, then its COMMIT PREPAREDs)
    abort     a failure before the commit: the target as it was, nothing left behind (best
              effort: a killed process leaves it to --resume or the reaper)

The driver (driver.py) runs any of them the same way; ``CopyRun`` is the one context they all
read, made once by the COPY method (copy/method.py).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...adapters import pg
from ...adapters.staging_area import PartStore
from ...connection import ConnectionSpec
from ...destination.load_transaction import LoadTransaction
from ...destination.write_modes import WriteStrategy
from ...naming import TableRef, TempLocation
from ...options import RejectPolicy
from ...plan.typemap import ColumnPlan
from ...progress import Progress
from ...request import RunEvents
from ..formats import StagingFormat


@dataclass(frozen=True)
class CopyRun:
    """What the driver and the landing protocols of one COPY run read: made once (copy/method.py)."""

    spec: ConnectionSpec
    target: TableRef
    run_id: str
    #: the target's columns and types
    plan: ColumnPlan
    #: the types the parts hold: the target's, or the source's where they are cast later
    landing: ColumnPlan
    #: the parts hold the source's types, cast into the target's when they move (reject, slices)
    cast_later: bool
    fmt: StagingFormat
    write: WriteStrategy
    events: RunEvents
    #: where the load's own tables are (target.ledger_schema, else the target's schema)
    home: str
    progress: Progress
    #: the edges: PostgreSQL connections and the run's staged parts (under ``location``)
    connect: pg.Connect
    parts: PartStore
    location: TempLocation
    #: the driver's connection (the load transaction's, the decision's, the swap's)
    conn: Any
    attempt: int = 1
    create_sql: str | None = None
    defer_indexes: bool = False
    error_key: tuple[str, ...] = ()
    allow_empty: bool = False
    reject: RejectPolicy | None = None

    def load_transaction(self) -> LoadTransaction:
        """The one load transaction of this run, on the driver's connection."""
        return LoadTransaction(self.conn, self.spec, self.target, self.plan, self.write, self.run_id,
                               create_sql=self.create_sql, defer_indexes=self.defer_indexes,
                               error_key=self.error_key, allow_empty=self.allow_empty, ledger_schema=self.home,
                               connect=self.connect)


@dataclass
class Published:
    """What ``publish`` made the target's."""

    #: the rows of every part (what the source held)
    rows: int
    rows_rejected: int = 0
    #: upsert: which were new keys, which updated existing ones; a slice replace: rows deleted
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: the parts were imported by the server (aws_s3), not streamed by this process
    server_side: bool = False
    #: what the run's reason adds about how the parts went in (a refused server-side import)
    notes: list[str] = field(default_factory=list)


class LandingProtocol(Protocol):
    @property
    def label(self) -> str:
        """How the log's last line names it ("" for in place)."""
        ...

    @property
    def leftover(self) -> str | None:
        """What the reaper must find should this process die (a staging or shadow table, a prepared
        marker), recorded before it exists; None: nothing outlives the run's transaction."""
        ...

    def open(self, staged_before: set[str]) -> dict[str, int]:
        """Make the destination; the parts an earlier attempt landed in it already (key -> rows), of
        those still staged from that attempt (``staged_before``)."""
        ...

    def load(self, key: str, size: int) -> int | Future[int]: ...

    def publish(self, rows: int) -> None:
        """Every part is in (``rows`` in all): everything up to the COMMIT (cancelled by an
        interruption, like the loads)."""
        ...

    def commit(self, before_commit: Callable[[], None]) -> Published:
        """The outcome committed (never cancelled); ``before_commit`` runs right before it (what the
        state store must hold first), after the last point where a stop leaves the target as it was."""
        ...

    def abort(self) -> None:
        """After a failure anywhere before ``publish`` returned: leave the target as it was."""
        ...

    def cancel(self) -> None:
        """An interruption: cancel the statements running for this protocol."""
        ...

    def close(self) -> None:
        """Whatever happened: the protocol's own connections and threads end."""
        ...
