"""The dry run's word on how a manifest with copy.connections > 1 will load: an overwrite through a
shadow table over N connections, an append over N prepared transactions, an upsert or a slice
replace through a staging table over N, or over one, and why. The run decides with the same two functions
(destination/shadow_plan.py: ``path_before_catalog`` without the catalog, ``plan_path`` from the
target's catalog facts), so the dry run and the run cannot disagree on the rules; what only the run
knows (the columns the source matches, a table created meanwhile) it decides again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..adapters import pg
from ..destination import prepared, staging_table
from ..destination.landing_plan import plan_landing
from ..destination.prepared_plan import plan_prepared
from ..destination.shadow_catalog import auto_sizing, read_facts
from ..destination.shadow_plan import ShadowPlan, auto_connections, path_before_catalog, plan_path
from ..errors import LoaderError
from ..manifest import Manifest
from ..naming import loader_schema
from ..options import Method

T = TypeVar("T")


def planned_path(m: Manifest, *, copy_possible: bool, exists: bool, adds: str) -> str:
    """The path and its reason ("" with one connection, or no COPY: nothing to choose); ``adds`` is
    the dry run's ``add columns`` line (columns a new source brings send the load in place)."""
    if not copy_possible:
        return ""
    shares_table = m.target.replace_where is not None or bool(m.target.replace_by)
    # method auto decides between COPY and JDBC from the source's size, which a dry run does not read
    when = "if COPY is chosen: " if m.method is Method.AUTO else ""
    if m.copy.connections == "auto":  # the run's rule (auto_connections) on the table as it is now
        if m.target.mode != "overwrite" or shares_table or not exists:
            return ""
        try:
            table_bytes, free = _ask(m, lambda cur: auto_sizing(cur, m.target.ref))
        except _Unreachable:
            return ""
        connections, why = auto_connections(whole_overwrite=True, table_bytes=table_bytes, free_slots=free)
        if connections <= 1:
            return ""
        when += f"{why}: "
    else:
        connections = int(m.copy.connections)
    if connections <= 1:
        return ""
    if m.target.mode == "append":
        return when + _prepared_path(m, connections, exists=exists, adds=adds)
    if m.target.mode == "upsert" or shares_table:
        return when + _landing_path(m, connections)
    reason = path_before_catalog(connections, overwrite=m.target.mode == "overwrite", shares_table=shares_table,
                                 reject=m.on_error == "reject")
    if reason is not None:
        return when + reason
    if not exists:
        return when + plan_path(None, ()).reason(connections)
    if adds and not adds.startswith("none"):
        return when + ShadowPlan((f"schema_evolution adds columns: {adds}",)).reason(connections)
    try:
        facts = _ask(m, lambda cur: read_facts(cur, m.target.ref))
    except _Unreachable:
        return UNREACHABLE
    names = [c[0] for c in facts.columns] if facts is not None else []
    return when + plan_path(facts, names).reason(connections)


#: the path line when the target cannot be reached (target.connection's problem is reported already)
UNREACHABLE = "not checked (the target cannot be reached)"


class _Unreachable(Exception):
    pass


def _ask(m: Manifest, question: Callable[[Any], T]) -> T:
    """``question`` asked of a cursor on the manifest's target; _Unreachable if it cannot connect."""
    try:
        conn = pg.connect(m.target.connection)
    except LoaderError:
        raise _Unreachable from None
    try:
        with conn.cursor() as cur:
            return question(cur)
    finally:
        conn.close()


def _prepared_path(m: Manifest, connections: int, *, exists: bool, adds: str) -> str:
    """An append's path over copy.connections, by the run's rule (plan_prepared) with the server's
    max_prepared_transactions (0 by default, RDS's too: then one connection, and how to change it)."""
    max_prepared = None
    if exists:
        try:
            max_prepared = _ask(m, prepared.max_prepared)
        except _Unreachable:
            return UNREACHABLE
    return plan_prepared(connections, append=True, creates=not exists,
                         adds_columns=bool(adds) and not adds.startswith("none"), reject=m.on_error == "reject",
                         max_prepared=max_prepared).reason


def _landing_path(m: Manifest, connections: int) -> str:
    """An upsert's or a slice replace's path over copy.connections, by the run's rule (plan_landing)
    with whether the role may create the staging table in the ledger's schema."""
    home = loader_schema(m.target.ref, m.target.ledger_schema)
    may_create = None
    if m.on_error != "reject":
        try:
            may_create = _ask(m, lambda cur: staging_table.may_create_in(cur, home))
        except _Unreachable:
            return UNREACHABLE
    return plan_landing(connections, merges=True, reject=m.on_error == "reject", may_create=may_create,
                        schema=home).reason
