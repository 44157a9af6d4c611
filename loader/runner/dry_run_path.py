"""The dry run's word on how a manifest's rows will land over copy.connections: through a shadow
table, over prepared transactions, through a staging table, or over one connection, and why. It
asks the run's own chooser (destination/landing_choice.py) with the target's catalog as it is now,
so the two cannot disagree; what only the run knows (the source's rows, a table created meanwhile)
it decides again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..adapters import pg
from ..destination.landing_catalog import ConnectionCatalog
from ..destination.landing_choice import Catalog, Landing, LandingAsk, choose_connections, choose_landing
from ..destination.modes import write_mode
from ..destination.shadow_plan import TargetFacts
from ..errors import LoaderError
from ..manifest import Manifest
from ..options import Method

#: the path line when the target cannot be reached (target.connection's problem is reported already)
UNREACHABLE = "not checked (the target cannot be reached)"


@dataclass(frozen=True)
class PlannedPath:
    #: the path and its reason ("" with one connection and nothing else to choose, or no COPY)
    line: str = ""
    #: the run's refusal of it: what it says, what to do
    refusal: tuple[str, str] | None = None
    #: a whole-table overwrite's dependents, each with what happens to it
    dependents: tuple[str, ...] = ()


def planned_path(m: Manifest, *, copy_possible: bool, exists: bool, adds: tuple[str, ...],
                 catalog: Catalog | None = None) -> PlannedPath:
    """How the rows will land and why, asked of the run's chooser; ``adds``: the columns
    schema_evolution would add (they keep an append or an overwrite on one connection);
    ``catalog``: where the chooser's questions go (a connection of the dry run's own unless given)."""
    if not copy_possible:
        return PlannedPath()
    write = write_mode(m.target.mode, m.target.key, replace_where=m.target.replace_where,
                       replace_by=m.target.replace_by, overwrite=m.target.overwrite)
    ask = LandingAsk(write.parallel, m.copy.connections, reject=m.on_error == "reject", creates=not exists,
                     adds=adds, loader_schema=m.target.loader_schema, replaces_table=write.replaces_table,
                     table=m.target.ref)
    # method auto decides between COPY and JDBC from the source's size, which a dry run does not read
    when = "if COPY is chosen: " if m.method is Method.AUTO else ""
    asked = catalog if catalog is not None else _DryCatalog(m)
    try:
        planned = _planned(ask, asked)
    finally:
        if isinstance(asked, _DryCatalog):
            asked.close()
    return replace(planned, line=when + planned.line) if planned.line and planned.line != UNREACHABLE else planned


def _planned(ask: LandingAsk, catalog: Catalog) -> PlannedPath:
    try:
        try:
            connections, auto_reason = choose_connections(ask, catalog)
        except _Unreachable:
            return PlannedPath()
        if connections <= 1 and not ask.replaces_table:
            return PlannedPath()
        choice = choose_landing(ask, catalog, (connections, auto_reason))
        facts = choice.facts or (catalog.facts() if ask.replaces_table and not ask.creates else None)
    except _Unreachable:
        return PlannedPath(UNREACHABLE)
    # as the run records it (copy/landing/__init__.py): auto's reason when it chose more than one
    line = (f"{auto_reason}: " if auto_reason and connections > 1 else "") + (choice.reason or "")
    dependents = describe_dependents(facts, swapped=choice.landing is Landing.SHADOW) if facts else []
    return PlannedPath(line, choice.refusal, tuple(dependents))


class _Unreachable(Exception):
    pass


class _DryCatalog(ConnectionCatalog):
    """The chooser's questions on a connection of the dry run's own, made at the first question;
    _Unreachable if it cannot be."""

    def __init__(self, m: Manifest) -> None:
        super().__init__(None, m.target.ref)
        self.manifest = m

    def ask(self, question: Any) -> Any:
        if self.conn is None:
            try:
                self.conn = pg.connect(self.manifest.target.connection)
            except LoaderError:
                raise _Unreachable from None
        return super().ask(question)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def overwrite_dependents(m: Manifest) -> list[str]:
    """What ``loader doctor`` says of a whole-table overwrite's dependents, by the run's rules (none:
    not such a load, no such table, or nothing depends on it; the target cannot be reached: said
    by the database check already)."""
    write = write_mode(m.target.mode, m.target.key, replace_where=m.target.replace_where,
                       replace_by=m.target.replace_by, overwrite=m.target.overwrite)
    if not write.replaces_table:
        return []
    if m.method in (Method.COPY, Method.AUTO):
        return list(planned_path(m, copy_possible=True, exists=True, adds=()).dependents)
    catalog = _DryCatalog(m)  # the JDBC methods replace the rows in place
    try:
        facts = catalog.facts()
    except _Unreachable:
        return []
    finally:
        catalog.close()
    return describe_dependents(facts, swapped=False) if facts else []


def describe_dependents(f: TargetFacts, swapped: bool) -> list[str]:
    """Each object that depends on the target by its identity, and what an overwrite does to it
    (``swapped``: through the shadow swap; else in place, where each is kept as it is): for
    ``--dry-run`` and ``loader doctor``."""
    kept = "kept as it is (the rows are replaced in place)"
    out: list[str] = []
    for v in f.views:
        kind = "materialized view" if v.materialized else "view"
        how = ("refuses the swap (no CREATE OR REPLACE)" if v.materialized else
               f"refuses the swap (the loading role is not a member of its owner {v.owner})" if not v.may_replace else
               "replaced in the swap (CREATE OR REPLACE VIEW: the same view, its grants and the views on it)")
        out.append(f"{kind} {v.name}: {how if swapped or v.materialized or not v.may_replace else kept}")
    for k in f.referencing:
        how = "rebuilt against the new table NOT VALID, validated before the swap, exchanged in it" if swapped else \
            "its rows cannot be replaced in place: the overwrite is refused unless it goes through the swap"
        out.append(f"foreign key {k.table}.{k.name} to it: {how}")
    for p in f.policies:
        out.append(f"policy {p.name}: {'recreated in the swap' if swapped else kept}")
    for g in f.grants:
        what = f"{g.privilege} ({g.column})" if g.column else g.privilege
        by = "" if g.grantor == f.owner else f" as {g.grantor}"
        out.append(f"grant of {what} to {g.grantee} by {g.grantor}: {f're-granted{by} in the swap' if swapped else kept}")
    for i in f.identities:
        how = f"its new sequence takes the old one's name and position (last value {i.last_value}) in the swap"
        out.append(f"identity column {i.column}: {how if swapped else kept}")
    for name in f.triggers:
        out.append(f"trigger {name}: refuses the swap; in place it fires for each row deleted and inserted")
    for what, names in (("rule", f.rules), ("publication", f.publications), ("statistics object", f.statistics),
                        ("dependent", f.other_dependents)):
        out += [f"{what} {n}: refuses the swap; {kept}" for n in names]
    return out
