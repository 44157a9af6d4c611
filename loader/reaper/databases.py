"""Which databases the reaper visits for JDBC staging tables, and how it logs in to each.

The state store knows which runs left a staging table behind (``staging_table`` of a run that did
not succeed) and in which database (``target_db``: ``user@host:port/database``), but never a
password. So, for each database once:

* the database of a run whose staging table the rules would drop now (``rules.tables_to_visit``);
* the database of each manifest given (``loader reap --tables manifests/``): scanned even when the
  store knows of nothing there.

Logging in: a manifest given for the same ``user@host:port/database`` lends its connection (with
its password, from its ``${VAR}``); otherwise the user from the store with libpq's own sources,
as psql would: ``PGPASSWORD``/``PGSSLMODE``, ``~/.pgpass``, a service file. A database that cannot
be reached is an error in the report (exit 1): a staging table stays behind until it is fixed.

Once a database was scanned (not a dry run), a run whose staging table is no longer there gets its
``staging_table`` cleared: the store's knowledge stays "tables that may still exist", and a database
is not visited again for a table that is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..connection import ConnectionSpec
from ..errors import LoaderError, RunNotFoundError
from .report import ReapReport
from .rules import KEEP, ReapPolicy
from .table_rules import tables_to_visit

if TYPE_CHECKING:
    from ..state.models import RunRecord
    from ..state.store import StateStore

log = logging.getLogger(__name__)


@dataclass
class Database:
    spec: ConnectionSpec
    #: the runs whose staging table brought the reaper here
    runs: list[RunRecord] = field(default_factory=list)


def databases(store: StateStore, given: Iterable[ConnectionSpec], policy: ReapPolicy,
              now: datetime | None = None) -> tuple[dict[str, Database], list[str]]:
    """Each database to visit once, by ``user@host:port/database``; and the errors of those that
    cannot even be described."""
    found: dict[str, Database] = {}
    for spec in given:
        found.setdefault(spec.safe_description(), Database(spec))
    errors: list[str] = []
    for run in tables_to_visit(store.runs_with_staging_table(), now or datetime.now(timezone.utc), policy):
        db = found.get(run.target_db)
        if db is None:
            try:
                db = found[run.target_db] = Database(ConnectionSpec.from_description(run.target_db))
            except LoaderError as exc:
                errors.append(f"run {run.run_id[:12]}: staging table {run.staging_table}: {exc}")
                continue
        db.runs.append(run)
    return found, errors


def forget_dropped(store: StateStore, db: Database, report: ReapReport) -> None:
    """Clear ``staging_table`` of the runs whose table the scan did not find or dropped."""
    if report.dry_run or report.errors:
        return
    # an entry names schema.table; a shadow's table part, like a schema, may hold dots
    still_there = [e for e in report.entries if e.action == KEEP or e.error]
    for run in db.runs:
        # a prepared append's marker names no table: its run's kept or failed transactions keep it
        if run.staging_table and not any(e.prefix.endswith("." + run.staging_table) or
                                         (e.kind == "prepared" and e.run_id == run.run_id) for e in still_there):
            try:
                store.update(run.run_id, staging_table=None)
            except RunNotFoundError:
                log.info("run %s vanished from the state store while reaping", run.run_id)
