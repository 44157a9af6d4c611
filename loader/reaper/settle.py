"""The reaper's pass over a target database's prepared transactions (an append over N connections,
destination/prepared_plan.py): those of runs that are gone are settled, by the rules of
``table_rules.decide_prepared`` and the run's ledger row. ``abandon_then`` is apply.py's: a stale
run is marked abandoned, and the decision taken again, before anything is settled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..adapters import pg
from ..connection import ConnectionSpec
from ..destination import ledger, prepared
from ..errors import LoaderError
from .report import ReapEntry, ReapReport
from .rules import KEEP, ReapPolicy
from .table_rules import decide_prepared

if TYPE_CHECKING:
    from ..state.store import StateStore

log = logging.getLogger(__name__)


def settle_prepared(store: StateStore, conn_spec: ConnectionSpec, policy: ReapPolicy,
                    clock: Callable[[], datetime], report: ReapReport, abandon_then: Any) -> None:
    """Settle the prepared transactions of appends whose run is gone (table_rules.decide_prepared):
    committed where the run's ledger row says it decided to, else rolled back."""
    where = conn_spec.safe_description()
    try:
        conn = pg.connect(conn_spec, application_name="loader-reaper", autocommit=True)
    except LoaderError as exc:
        report.errors.append(f"prepared transactions in {where}: {exc}")
        return
    try:
        with conn.cursor() as cur:
            for gid, run_id, age in prepared.pending(cur):
                entry = ReapEntry(where, gid, KEEP, "", kind="prepared")
                report.entries.append(entry)
                d = decide_prepared(run_id, age, store.find_by_short_id(run_id[:8]), clock(), policy)
                if d.delete and d.abandon and not policy.dry_run:
                    d, entry.abandoned = abandon_then(
                        store, lambda: store.find_by_short_id(run_id[:8]),  # noqa: B023
                        lambda runs: decide_prepared(run_id, age, runs, clock(), policy), policy)  # noqa: B023
                entry.action, entry.reason, entry.run_id = d.action, d.reason, d.run_id
                if not d.delete or policy.dry_run:
                    entry.counted = d.delete
                    continue
                try:
                    commit = ledger.committed_in_database(cur, run_id) is not None
                    entry.counted = prepared.finish(cur, [gid], commit=commit) == 1
                    entry.note = "committed: its ledger row records the run" if commit else \
                        "rolled back: no ledger row records the run"
                except LoaderError as exc:
                    entry.error = str(exc)
                    log.warning("settling prepared transaction %s failed: %s", gid, exc)
    finally:
        conn.close()
