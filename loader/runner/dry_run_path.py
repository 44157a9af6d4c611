"""The dry run's word on how a manifest with copy.connections > 1 will load: through a shadow table
over N connections, or in place over one, and why. The run decides with the same two functions
(destination/shadow_plan.py: ``path_before_catalog`` without the catalog, ``plan_path`` from the
target's catalog facts), so the dry run and the run cannot disagree on the rules; what only the run
knows (the columns the source matches, a table created meanwhile) it decides again."""

from __future__ import annotations

from ..adapters import pg
from ..destination.shadow_catalog import read_facts
from ..destination.shadow_plan import ShadowPlan, path_before_catalog, plan_path
from ..errors import LoaderError
from ..manifest import Manifest
from ..options import Method


def planned_path(m: Manifest, *, copy_possible: bool, exists: bool, adds: str) -> str:
    """The path and its reason ("" with one connection, or no COPY: nothing to choose); ``adds`` is
    the dry run's ``add columns`` line (columns a new source brings send the load in place)."""
    connections = m.copy.connections
    if connections <= 1 or not copy_possible:
        return ""
    # method auto decides between COPY and JDBC from the source's size, which a dry run does not read
    when = "if COPY is chosen: " if m.method is Method.AUTO else ""
    reason = path_before_catalog(connections, overwrite=m.target.mode == "overwrite",
                                 shares_table=m.target.replace_where is not None or bool(m.target.replace_by),
                                 reject=m.on_error == "reject")
    if reason is not None:
        return when + reason
    if not exists:
        return when + plan_path(None, ()).reason(connections)
    if adds and not adds.startswith("none"):
        return when + ShadowPlan((f"schema_evolution adds columns: {adds}",)).reason(connections)
    try:
        conn = pg.connect(m.target.connection)
    except LoaderError:
        return "not checked (the target cannot be reached)"  # target.connection's problem is reported already
    try:
        with conn.cursor() as cur:
            facts = read_facts(cur, m.target.ref)
    finally:
        conn.close()
    names = [c[0] for c in facts.columns] if facts is not None else []
    return when + plan_path(facts, names).reason(connections)
