"""Whether an overwrite may go through a shadow table, and what its swap recreates (pure).

The shadow path (shadow_swap.py) loads a copy of the target over several connections and
swaps it in with one short transaction: the new table takes the old one's name, so whatever
is tied to the old table's identity (its oid) instead of its name would be lost or left
pointing at the dropped table. ``plan_shadow`` reads the catalog facts (shadow_catalog.py, the
one reader) and decides, by kind:

recreated exactly in the swap (or on the shadow before it, where no reader can tell):
  indexes, primary key and unique and exclusion constraints (built on the shadow after the rows,
  renamed in the swap); CHECKs, NOT NULL, defaults, generated columns (``LIKE ... INCLUDING``);
  the owner; table grants made by the owner; the table's, columns', indexes' and constraints'
  comments; replica identity; row-level security switched on (without policies); sequences the
  table owns (``ALTER SEQUENCE ... OWNED BY`` the new column: the defaults already call them);
  foreign keys *from* the table: added to the shadow ``NOT VALID`` and then validated (a
  validated one) before the swap, so the swap does not scan, and the referenced rows are
  protected from the moment the constraint exists.

refused by name (the load goes in place, over one connection, with the reason recorded):
  views and materialized views on it, foreign keys *to* it, RLS policies, triggers (in place,
  COPY fires them for every row; a swap would not), rules, publications (subscribers would see a
  new table, not the rows), identity columns (a new identity sequence would start again), column
  grants, grants made by another role than the owner, statistics objects, partitioned or
  inherited tables, a tablespace of its own, a loading role that cannot give the shadow to the
  target's owner or may not create it in the target's schema, and any other object that depends on
  the table (named as PostgreSQL names it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..naming import TableRef, quote_ident, sql_name
from .index_defer import SavedIndex


@dataclass(frozen=True)
class ForeignKeyFrom:
    """A foreign key of the target to another table, as ``pg_get_constraintdef`` spells it."""

    name: str
    definition: str
    validated: bool
    comment: str | None = None


@dataclass(frozen=True)
class Grant:
    grantee: str  # a role name, or PUBLIC
    privilege: str  # SELECT, INSERT, ...
    grantable: bool
    grantor: str


@dataclass(frozen=True)
class Exclusion:
    name: str
    definition: str  # pg_get_constraintdef: EXCLUDE USING gist (...)
    comment: str | None = None


@dataclass(frozen=True)
class TargetFacts:
    """What the catalog says about the target (shadow_catalog.read_facts), by kind."""

    table: TableRef
    owner: str
    #: the loading role is the owner or a member of it (ALTER TABLE ... OWNER TO works)
    can_own: bool = True
    #: the loading role is the owner itself (the new table needs no ALTER TABLE ... OWNER TO)
    owned_by_loader: bool = True
    #: the loading role may create tables in the target's schema (the shadow is made beside it)
    may_create: bool = True
    relkind: str = "r"
    unlogged: bool = False
    own_tablespace: bool = False
    inherited: bool = False
    #: (name, type, not null, default) of each column: a change since the plan stops the swap
    columns: tuple[tuple[str, str, bool, str | None], ...] = ()
    views: tuple[str, ...] = ()
    referencing_fks: tuple[str, ...] = ()
    fks_from: tuple[ForeignKeyFrom, ...] = ()
    policies: tuple[str, ...] = ()
    rls: bool = False
    force_rls: bool = False
    triggers: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    publications: tuple[str, ...] = ()
    #: (qualified sequence, column) of the sequences the table owns (serial columns)
    owned_sequences: tuple[tuple[str, str], ...] = ()
    identity_columns: tuple[str, ...] = ()
    comment: str | None = None
    #: pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex)
    replica_identity: str = "d"
    replica_index: str | None = None
    grants: tuple[Grant, ...] = ()
    column_grants: tuple[str, ...] = ()
    indexes: tuple[SavedIndex, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    statistics: tuple[str, ...] = ()
    reloptions: tuple[str, ...] = ()
    #: anything else that depends on the table or its row type (pg_describe_object)
    other_dependents: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShadowPlan:
    """The decision: ``refusals`` empty means the shadow path; ``recreated`` says what the swap
    carries over (for ``--dry-run`` and the log)."""

    refusals: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()
    facts: TargetFacts | None = field(default=None, compare=False)

    @property
    def possible(self) -> bool:
        return not self.refusals

    def reason(self, connections: int) -> str:
        if self.refusals:
            return "in place over 1 connection: the shadow path is refused (" + "; ".join(self.refusals) + ")"
        kept = ", ".join(self.recreated) or "nothing else"
        return f"through a shadow table over {connections} connections, one short swap (recreates: {kept})"


def _names(what: str, names: Sequence[str]) -> str:
    return f"{what}: {', '.join(names)}"


def refusals(f: TargetFacts) -> list[str]:
    """Every reason the shadow path cannot keep the target as it is, each naming its objects."""
    out: list[str] = []
    if f.relkind != "r":
        out.append("a partitioned table" if f.relkind == "p" else f"relkind {f.relkind!r} is not a plain table")
    if f.inherited:
        out.append("an inheritance parent or child")
    if f.own_tablespace:
        out.append("a tablespace of its own")
    if not f.can_own:
        out.append(f"the loading role cannot make {f.owner} the new table's owner (not a member of it)")
    if not f.may_create:
        out.append(f"the loading role may not create the shadow in schema {sql_name(f.table.schema)} (GRANT CREATE "
                   f"ON SCHEMA {sql_name(f.table.schema)} to load through it)")
    kinds = [("views or materialized views on it", f.views), ("foreign keys to it", f.referencing_fks),
             ("row-level security policies", f.policies), ("triggers (in place, COPY fires them)", f.triggers),
             ("rules", f.rules), ("publications", f.publications), ("identity columns", f.identity_columns),
             ("column privileges", f.column_grants), ("statistics objects", f.statistics),
             ("other dependent objects", f.other_dependents)]
    out += [_names(what, names) for what, names in kinds if names]
    foreign = sorted({g.grantor for g in f.grants if g.grantor != f.owner})
    if foreign:
        out.append(_names("grants made by roles other than the owner", foreign))
    return out


def recreated(f: TargetFacts) -> list[str]:
    """What the shadow path carries over, in words."""
    out = [f"owner {f.owner}"]
    if f.indexes:
        out.append("indexes " + ", ".join(ix.constraint or ix.name for ix in f.indexes))
    if f.exclusions:
        out.append("exclusion constraints " + ", ".join(x.name for x in f.exclusions))
    if f.grants:
        out.append(f"{len(f.grants)} grant(s)")
    if f.comment is not None or any(ix.index_comment or ix.constraint_comment for ix in f.indexes):
        out.append("comments")
    for fk in f.fks_from:
        how = "NOT VALID, then validated before the swap" if fk.validated else "NOT VALID, as it was"
        out.append(f"foreign key {fk.name} ({how})")
    if f.owned_sequences:
        out.append("owned sequences " + ", ".join(s for s, _ in f.owned_sequences))
    if f.replica_identity != "d":
        out.append("replica identity")
    if f.rls:
        out.append("row-level security (no policies)")
    return out


def plan_shadow(facts: TargetFacts) -> ShadowPlan:
    return ShadowPlan(tuple(refusals(facts)), tuple(recreated(facts)), facts)


def swap_blockers(planned: TargetFacts, fresh: TargetFacts) -> list[str]:
    """Read again under the swap's lock: what changed since the plan that the shadow does not
    have. A dependent that appeared is a refusal now; a changed index or column set means the
    shadow was built for another table."""
    out = refusals(fresh)
    if fresh.columns != planned.columns:
        out.append("the target's columns changed since the load started")
    if {ix.definition for ix in fresh.indexes} != {ix.definition for ix in planned.indexes} or \
            fresh.exclusions != planned.exclusions:
        out.append("the target's indexes changed since the load started")
    if {(fk.name, fk.definition) for fk in fresh.fks_from} != {(fk.name, fk.definition) for fk in planned.fks_from}:
        out.append("the target's foreign keys changed since the load started")
    return out


_INDEX_DEF = re.compile(r'^CREATE (?P<unique>UNIQUE )?INDEX (?:"(?:[^"]|"")+"|\S+) ON (?:ONLY )?.+? (?P<rest>USING .*)$',
                        re.S)


def index_on_shadow(definition: str, name: str, shadow: str) -> str:
    """``pg_get_indexdef`` of a target's index, as an index ``name`` on the quoted ``shadow``: the
    shadow's indexes carry names of their own until the swap (index names are unique per schema,
    and the target's are still taken)."""
    m = _INDEX_DEF.match(definition)
    if m is None:
        raise ValueError(f"not an index definition PostgreSQL writes: {definition[:80]!r}")
    return f"CREATE {m.group('unique') or ''}INDEX {quote_ident(name)} ON {shadow} {m.group('rest')}"


def shadow_object_name(run_id: str, n: int) -> str:
    """The n-th index or constraint built on run ``run_id``'s shadow, renamed in the swap."""
    return f"loader_shadow_{run_id[:8]}_{n}"
