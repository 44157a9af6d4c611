"""Whether an overwrite may go through a shadow table, and what its swap recreates (pure).

The shadow path (shadow_swap.py) loads a copy of the target over several connections and
swaps it in with one short transaction: the new table takes the old one's name, so whatever
is tied to the old table's identity (its oid) instead of its name would be lost or left
pointing at the dropped table. ``plan_shadow`` reads the catalog facts (shadow_catalog.py, the
one reader) and decides, by kind:

recreated exactly in the swap (or on the shadow before it, where no reader can tell):
  indexes, primary key and unique and exclusion constraints (built on the shadow after the rows,
  renamed in the swap); CHECKs, NOT NULL, defaults, generated columns (``LIKE ... INCLUDING``);
  the owner; table and column grants, each by its own grantor; the table's, columns', indexes'
  and constraints' comments; replica identity; row-level security and its policies; sequences the
  table owns (``ALTER SEQUENCE ... OWNED BY`` the new column: the defaults already call them);
  identity columns (their new sequence at the old one's position); foreign keys *from* the table:
  added to the shadow ``NOT VALID`` and then validated (a validated one) before the swap; views on
  it, and the foreign keys *to* it (dependents.py says how).

refused by name (the load replaces the rows in place instead, with the reason recorded):
  materialized views on it, triggers (in place, COPY fires them for every row; a swap would not),
  rules, publications (subscribers would see a new table, not the rows), statistics objects,
  partitioned or inherited tables, a tablespace of its own, a loading role that cannot give the
  shadow to the target's owner or may not create it in the target's schema, views it may not
  replace, foreign keys to it it may not rebuild (from a table it does not own, a partitioned one,
  or the table itself), grants by roles it cannot act as, an identity sequence with grants of its
  own, and any other object that depends on the table (named as PostgreSQL names it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..naming import TableRef, quote_ident, sql_name
from .dependents import Grant, Identity, Policy, ReferencingKey, View
from .index_defer import SavedIndex


@dataclass(frozen=True)
class ForeignKeyFrom:
    """A foreign key of the target to another table, as ``pg_get_constraintdef`` spells it."""

    name: str
    definition: str
    validated: bool
    comment: str | None = None


@dataclass(frozen=True)
class Exclusion:
    """An exclusion constraint: rebuilt on the shadow as a constraint, not an index."""

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
    views: tuple[View, ...] = ()
    referencing: tuple[ReferencingKey, ...] = ()
    fks_from: tuple[ForeignKeyFrom, ...] = ()
    policies: tuple[Policy, ...] = ()
    rls: bool = False
    force_rls: bool = False
    triggers: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    publications: tuple[str, ...] = ()
    #: (qualified sequence, column) of the sequences the table owns (serial columns)
    owned_sequences: tuple[tuple[str, str], ...] = ()
    identities: tuple[Identity, ...] = ()
    comment: str | None = None
    #: pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex)
    replica_identity: str = "d"
    replica_index: str | None = None
    #: the table's and its columns' grants (but the owner's own)
    grants: tuple[Grant, ...] = ()
    #: the roles other than the owner the loading role may act as (SET ROLE): grantors it can re-grant for
    acts_as: tuple[str, ...] = ()
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
        """What the shadow path says it does (a refused plan's words are the chooser's)."""
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
    keys = f.referencing
    kinds = [("materialized views on it (no CREATE OR REPLACE)", [v.name for v in f.views if v.materialized]),
             ("views the loading role may not replace (not a member of their owner)",
              [v.name for v in f.views if not v.materialized and not v.may_replace]),
             ("foreign keys to it from tables the loading role does not own",
              [f"{k.table}.{k.name}" for k in keys if not k.may_alter and not k.self_reference]),
             ("foreign keys to it from partitioned tables (NOT VALID is not allowed there)",
              [f"{k.table}.{k.name}" for k in keys if k.partitioned and k.may_alter]),
             ("a foreign key from the table to itself", [k.name for k in keys if k.self_reference]),
             ("triggers (in place, COPY fires them)", f.triggers), ("rules", f.rules),
             ("publications", f.publications),
             ("identity sequences with grants of their own", [i.sequence for i in f.identities if i.own_grants]),
             ("statistics objects", f.statistics), ("other dependent objects", f.other_dependents)]
    out += [_names(what, names) for what, names in kinds if names]
    foreign = sorted({g.grantor for g in f.grants if g.grantor != f.owner and g.grantor not in f.acts_as})
    if foreign:
        out.append(_names("grants made by roles the loading role cannot act as", foreign))
    return out


def recreated(f: TargetFacts) -> list[str]:
    """What the shadow path carries over, in words."""
    out = [f"owner {f.owner}"]
    if f.indexes:
        out.append("indexes " + ", ".join(ix.constraint or ix.name for ix in f.indexes))
    if f.exclusions:
        out.append("exclusion constraints " + ", ".join(x.name for x in f.exclusions))
    table_grants = [g for g in f.grants if g.column is None]
    if table_grants:
        out.append(f"{len(table_grants)} grant(s)")
    if len(f.grants) > len(table_grants):
        out.append(f"{len(f.grants) - len(table_grants)} column grant(s)")
    if f.comment is not None or any(ix.index_comment or ix.constraint_comment for ix in f.indexes):
        out.append("comments")
    for fk in f.fks_from:
        how = "NOT VALID, then validated before the swap" if fk.validated else "NOT VALID, as it was"
        out.append(f"foreign key {fk.name} ({how})")
    for k in f.referencing:
        how = "rebuilt NOT VALID, then validated before the swap" if k.validated else "rebuilt NOT VALID, as it was"
        out.append(f"foreign key {k.table}.{k.name} to it ({how})")
    views = [v.name for v in f.views if not v.materialized]
    if views:
        out.append("views " + ", ".join(views) + " (replaced, the same views)")
    if f.policies:
        out.append("policies " + ", ".join(p.name for p in f.policies))
    if f.owned_sequences:
        out.append("owned sequences " + ", ".join(s for s, _ in f.owned_sequences))
    for i in f.identities:
        out.append(f"identity column {i.column} (its sequence at the same position)")
    if f.replica_identity != "d":
        out.append("replica identity")
    if f.rls:
        out.append("row-level security")
    return out


def plan_shadow(facts: TargetFacts) -> ShadowPlan:
    return ShadowPlan(tuple(refusals(facts)), tuple(recreated(facts)), facts)


def swap_blockers(planned: TargetFacts, fresh: TargetFacts) -> list[str]:
    """Read again under the swap's lock: what changed since the plan that the shadow does not
    have. A dependent that appeared is a refusal now, or one the plan did not prepare for (a view,
    a foreign key to the table, a policy: named); a changed index or column set means the shadow
    was built for another table."""
    out = refusals(fresh)
    if fresh.columns != planned.columns:
        out.append("the target's columns changed since the load started")
    if {ix.definition for ix in fresh.indexes} != {ix.definition for ix in planned.indexes} or \
            fresh.exclusions != planned.exclusions:
        out.append("the target's indexes changed since the load started")
    if {(fk.name, fk.definition) for fk in fresh.fks_from} != {(fk.name, fk.definition) for fk in planned.fks_from}:
        out.append("the target's foreign keys changed since the load started")
    for what, then, now in (("views on it", planned.views, fresh.views),
                            ("foreign keys to it", planned.referencing, fresh.referencing),
                            ("policies", planned.policies, fresh.policies)):
        came = sorted({_label(x) for x in now} - {_label(x) for x in then})
        went = sorted({_label(x) for x in then} - {_label(x) for x in now})
        if came or went:
            out.append(f"{what} changed since the load started: " +
                       "; ".join(filter(None, [f"new {', '.join(came)}" if came else "",
                                               f"gone {', '.join(went)}" if went else ""])))
    return out


def _label(x: View | ReferencingKey | Policy) -> str:
    return f"{x.table}.{x.name}" if isinstance(x, ReferencingKey) else x.name


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

