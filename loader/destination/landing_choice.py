"""How a COPY load's rows land in the target, chosen once (pure): the one chooser the run and
``--dry-run`` both ask, so that the two cannot disagree.

There are four ways (ARCHITECTURE.md, "One commit protocol"): **in place**, in the one load
transaction over one connection; or over ``copy.connections`` > 1, by the write strategy's own
protocol (``WriteStrategy.parallel``): a whole-table overwrite through a **shadow** table swapped
in, an append over **prepared** transactions committed together, an upsert or a slice replace
through the run's UNLOGGED **staging** table merged in one transaction. Each rule below says why a
load keeps one connection, in the words the log, the run's reason and the dry run show. A
whole-table overwrite always says which of its three paths it takes: the shadow swap, its rows
replaced in place under MVCC (the default where the shadow is not taken), or TRUNCATE in place
(only when asked for: ``target.overwrite: truncate``).

What the rules need from the target's catalog they ask a ``Catalog`` (only when the answer
matters): the run asks over its own connection, the dry run over one of its own, the unit tests a
fake.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from ..naming import TableRef
from .landing_rules import (
    REJECT_KEEPS_ONE,
    TRUNCATED,
    UNDER_MVCC,
    auto_connections,
    in_place_refusal,
    path_before_catalog,
    plan_landing,
    plan_path,
    plan_prepared,
)
from .shadow_plan import ShadowPlan, TargetFacts


class Landing(enum.Enum):
    IN_PLACE = "in place"
    SHADOW = "shadow"
    PREPARED = "prepared"
    STAGING = "staging"


@dataclass(frozen=True)
class LandingAsk:
    """What the load asks for, before the catalog is read."""

    #: the write strategy's protocol over more than one connection (WriteStrategy.parallel)
    parallel: Landing
    #: copy.connections: a number, or "auto"
    connections: int | str
    #: on_error: reject (rows are set aside inside the one load transaction)
    reject: bool = False
    #: the table is created by the load
    creates: bool = False
    #: the columns schema_evolution adds
    adds: tuple[str, ...] = ()
    #: the schema of the ledger and the staging table
    loader_schema: str = "public"
    #: a whole-table overwrite (WriteStrategy.replaces_table)
    replaces_table: bool = False
    #: the target, named in a refusal
    table: TableRef | None = None


class Catalog(Protocol):
    """The questions the rules may ask of the target's database."""

    def sizing(self) -> tuple[int | None, int]:
        """The target's bytes (None: no such table) and the server's free connection slots."""
        ...

    def facts(self) -> TargetFacts | None:
        """The target's catalog facts for the shadow plan (None: no such table)."""
        ...

    def max_prepared(self) -> int: ...

    def may_create(self, schema: str) -> bool: ...

    def referencing(self) -> tuple[str, ...]:
        """The foreign keys of other tables to the target (``table.constraint``)."""
        ...


@dataclass(frozen=True)
class LandingChoice:
    landing: Landing
    connections: int
    #: what copy.connections: auto decided, and why (None: a number was given)
    auto_reason: str | None = None
    #: how the rows land and why (None: one connection asked for, nothing was chosen)
    reason: str | None = None
    #: the shadow path's catalog facts (its swap re-reads them under its lock)
    facts: TargetFacts | None = None
    #: why the load cannot land at all, and what to do (write_modes.in_place_refusal)
    refusal: tuple[str, str] | None = None


def choose_connections(ask: LandingAsk, catalog: Catalog) -> tuple[int, str | None]:
    """``copy.connections`` as a number, and auto's reason (None when a number was given)."""
    if ask.connections != "auto":
        return int(ask.connections), None
    whole = ask.parallel is Landing.SHADOW and not ask.creates
    table_bytes, free = catalog.sizing() if whole else (None, None)
    referenced = bool(catalog.referencing()) if whole and table_bytes is not None else False
    return auto_connections(whole_overwrite=whole, table_bytes=table_bytes, free_slots=free, referenced=referenced)


def choose_landing(ask: LandingAsk, catalog: Catalog,
                   resolved: tuple[int, str | None] | None = None) -> LandingChoice:
    """The way this load lands, over how many connections, and why (``resolved``: what
    ``choose_connections`` answered already)."""
    connections, auto_reason = resolved or choose_connections(ask, catalog)
    if ask.replaces_table:
        return _overwrite(ask, connections, auto_reason, catalog)
    if connections <= 1:
        return LandingChoice(Landing.IN_PLACE, 1, auto_reason)
    if ask.parallel is Landing.PREPARED:
        max_prepared = None if ask.creates or ask.adds or ask.reject else catalog.max_prepared()
        path = plan_prepared(connections, append=True, creates=ask.creates, adds_columns=bool(ask.adds),
                             reject=ask.reject, max_prepared=max_prepared)
    else:
        may_create = None if ask.reject else catalog.may_create(ask.loader_schema)
        path = plan_landing(connections, merges=True, reject=ask.reject, may_create=may_create,
                            schema=ask.loader_schema)
    landing = ask.parallel if path.connections > 1 else Landing.IN_PLACE
    return LandingChoice(landing, path.connections, auto_reason, path.reason)


def _overwrite(ask: LandingAsk, connections: int, auto_reason: str | None, catalog: Catalog) -> LandingChoice:
    """A whole-table overwrite: through the shadow where it may, else in place, its rows replaced
    under MVCC, or with TRUNCATE when asked for; in place, refused where foreign keys reference it."""
    if ask.creates:
        return LandingChoice(Landing.IN_PLACE, 1, auto_reason, "in place: the table is created by the load")
    truncates = ask.parallel is Landing.IN_PLACE  # target.overwrite: truncate
    if truncates:
        reason = TRUNCATED
    elif connections <= 1:
        reason = f"{UNDER_MVCC} ({auto_reason or 'copy.connections: 1'})"
    else:
        before = path_before_catalog(connections, overwrite=True, shares_table=False, reject=ask.reject)
        plan = ShadowPlan((REJECT_KEEPS_ONE,)) if before is not None else \
            ShadowPlan((f"schema_evolution adds columns: {', '.join(ask.adds)}",)) if ask.adds else \
            plan_path(catalog.facts(), ())
        if plan.possible and plan.facts is not None:
            return LandingChoice(Landing.SHADOW, connections, auto_reason, plan.reason(connections), plan.facts)
        reason = f"{UNDER_MVCC}: the shadow path is refused ({'; '.join(plan.refusals)})"
    refusal = in_place_refusal(ask.table, catalog.referencing(), truncates=truncates) if ask.table else None
    return LandingChoice(Landing.IN_PLACE, 1, auto_reason, reason, refusal=refusal)
