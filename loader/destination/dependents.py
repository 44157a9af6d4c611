"""What depends on an overwrite's target by its identity (its oid), and how the shadow swap carries
each over, exactly (pure): the facts shadow_catalog.py reads, the statements shadow_sql.py runs.

    views             the definition read inside the swap before the rename, with search_path
                      empty so that every name is schema-qualified (pg_dump's way), and run
                      again after it as ``CREATE OR REPLACE VIEW`` with its options restated: the
                      same view (oid, owner, grants, comments, the views built on it), reading the
                      new table. Materialized views have no OR REPLACE: refused.
    foreign keys to   the same constraint built from its catalog parts (no text replaced in SQL)
    the table         on the referencing table against the shadow ``NOT VALID``, validated before
                      the swap (SHARE UPDATE EXCLUSIVE: the referencing table's readers and writers
                      go on), and in the swap the old one dropped and the new one renamed: from the
                      moment it exists it checks new rows against the shadow, and the old one still
                      against the old table, so no moment is unprotected.
    policies, column  recreated on the new table in the swap, each grant made by its own grantor
    privileges,       (``SET LOCAL ROLE``: the loading role must be able to act as it)
    grants
    identity columns  the new table's identity sequence (LIKE ... INCLUDING IDENTITY: the same
                      options) set to the old one's position exactly, and given its name
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..naming import TableRef, quote_ident

#: a statement and its parameters
Statement = tuple[str, tuple[object, ...]]


@dataclass(frozen=True)
class View:
    #: the view as regclass prints it with an empty search_path (schema-qualified, quoted as needed)
    name: str
    #: pg_get_viewdef(view, true) with an empty search_path
    definition: str
    #: its reloptions: security_barrier, security_invoker, check_option (OR REPLACE replaces them)
    options: tuple[str, ...] = ()
    owner: str = ""
    #: the loading role may replace it (it is its owner or a member of the owner)
    may_replace: bool = True
    materialized: bool = False


@dataclass(frozen=True)
class ReferencingKey:
    """A foreign key of another table to the target, by its catalog parts."""

    name: str
    #: the referencing table, schema-qualified
    table: str
    columns: tuple[str, ...]
    referenced: tuple[str, ...]
    #: pg_constraint's codes: confmatchtype f/p/s, confupdtype and confdeltype a/r/c/n/d
    match: str = "s"
    on_update: str = "a"
    on_delete: str = "a"
    #: ON DELETE SET NULL / SET DEFAULT (columns): the columns (PostgreSQL 15+)
    delete_set: tuple[str, ...] = ()
    deferrable: bool = False
    deferred: bool = False
    validated: bool = True
    comment: str | None = None
    #: the loading role owns the referencing table (ALTER TABLE ... ADD CONSTRAINT needs it)
    may_alter: bool = True
    partitioned: bool = False
    #: the target references itself
    self_reference: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    permissive: bool = True
    #: polcmd: r (SELECT), a (INSERT), w (UPDATE), d (DELETE), * (ALL)
    command: str = "*"
    #: role names, or ("public",)
    roles: tuple[str, ...] = ("public",)
    using: str | None = None
    check: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Identity:
    """An identity column and its sequence's position, read under the swap's lock."""

    column: str
    #: the identity sequence, schema-qualified, and its own name
    sequence: str
    name: str
    last_value: int
    is_called: bool
    #: the sequence has grants of its own (not carried: refused)
    own_grants: bool = False


@dataclass(frozen=True)
class Grant:
    grantee: str  # a role name, or PUBLIC
    privilege: str  # SELECT, INSERT, ...
    grantable: bool
    grantor: str
    #: a column privilege: the column's name
    column: str | None = None


_MATCH = {"f": "MATCH FULL", "p": "MATCH PARTIAL", "s": ""}
_ACTION = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_COMMAND = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


def _columns(names: Sequence[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def replace_view(view: View) -> Statement:
    options = f" WITH ({', '.join(view.options)})" if view.options else ""
    return f"CREATE OR REPLACE VIEW {view.name}{options} AS {view.definition.strip().rstrip(';')}", ()


def referencing_name(run_id: str, n: int) -> str:
    """The n-th foreign key to the target rebuilt against the shadow, renamed in the swap."""
    return f"loader_shadow_{run_id[:8]}_ref{n}"


def add_referencing(key: ReferencingKey, shadow: TableRef, name: str) -> Statement:
    """The foreign key ``key`` from its table to ``shadow``, NOT VALID, under ``name``."""
    delete = _ACTION[key.on_delete] + (f" ({_columns(key.delete_set)})" if key.delete_set else "")
    parts = [f"ALTER TABLE {key.table} ADD CONSTRAINT {quote_ident(name)} FOREIGN KEY ({_columns(key.columns)})",
             f"REFERENCES {shadow.quoted} ({_columns(key.referenced)})", _MATCH[key.match],
             f"ON UPDATE {_ACTION[key.on_update]}", f"ON DELETE {delete}",
             ("DEFERRABLE INITIALLY DEFERRED" if key.deferred else "DEFERRABLE") if key.deferrable else "",
             "NOT VALID"]
    return " ".join(p for p in parts if p), ()


def validate_referencing(key: ReferencingKey, name: str) -> Statement:
    return f"ALTER TABLE {key.table} VALIDATE CONSTRAINT {quote_ident(name)}", ()


def swap_referencing(key: ReferencingKey, name: str) -> list[Statement]:
    """In the swap: the old constraint goes, the one built against the shadow takes its name."""
    out: list[Statement] = [(f"ALTER TABLE {key.table} DROP CONSTRAINT {quote_ident(key.name)}", ()),
                            (f"ALTER TABLE {key.table} RENAME CONSTRAINT {quote_ident(name)} TO "
                             f"{quote_ident(key.name)}", ())]
    if key.comment is not None:
        out.append((f"COMMENT ON CONSTRAINT {quote_ident(key.name)} ON {key.table} IS %s", (key.comment,)))
    return out


def create_policy(policy: Policy, table: TableRef) -> list[Statement]:
    roles = ", ".join("PUBLIC" if r == "public" else quote_ident(r) for r in policy.roles)
    sql = (f"CREATE POLICY {quote_ident(policy.name)} ON {table.quoted} AS "
           f"{'PERMISSIVE' if policy.permissive else 'RESTRICTIVE'} FOR {_COMMAND[policy.command]} TO {roles}")
    if policy.using is not None:
        sql += f" USING ({policy.using})"
    if policy.check is not None:
        sql += f" WITH CHECK ({policy.check})"
    out: list[Statement] = [(sql, ())]
    if policy.comment is not None:
        out.append((f"COMMENT ON POLICY {quote_ident(policy.name)} ON {table.quoted} IS %s", (policy.comment,)))
    return out


def regrant(grants: Sequence[Grant], owner: str, table: TableRef) -> list[Statement]:
    """The grants on the new table, each made by its own grantor: the owner's first (as the owner,
    or a member of it: PostgreSQL records the owner), then each other grantor's as that role, in
    an order where every grantor already holds its grant option."""
    out: list[Statement] = []
    left, able = list(grants), {owner}
    while left:
        # a grantor whose grant option the ACL does not show (a superuser's): tried as the rest are,
        # and PostgreSQL refuses the swap, naming it, if that role may not give it
        ready = [g for g in left if g.grantor in able] or left
        for grantor in dict.fromkeys(g.grantor for g in ready):
            mine = [_grant(g, table) for g in ready if g.grantor == grantor]
            out += mine if grantor == owner else \
                [(f"SET LOCAL ROLE {quote_ident(grantor)}", ()), *mine, ("SET LOCAL ROLE NONE", ())]
        able |= {g.grantee for g in ready if g.grantable}
        left = [g for g in left if g not in ready]
    return out


def _grant(g: Grant, table: TableRef) -> Statement:
    grantee = "PUBLIC" if g.grantee == "PUBLIC" else quote_ident(g.grantee)
    what = f"{g.privilege} ({quote_ident(g.column)})" if g.column is not None else g.privilege
    return f"GRANT {what} ON {table.quoted} TO {grantee}{' WITH GRANT OPTION' if g.grantable else ''}", ()


def carry_identity(identity: Identity, new_sequence: str) -> list[Statement]:
    """The new table's identity sequence (``new_sequence``, schema-qualified) at the old one's
    position, exactly (under the swap's lock nobody draws from either); once the old table and its
    sequence are gone, it takes the old one's name (``rename``)."""
    return [("SELECT setval(%s::regclass, %s, %s)", (new_sequence, identity.last_value, identity.is_called))]


def rename_identity(identity: Identity, new_sequence: str) -> Statement:
    return f"ALTER SEQUENCE {new_sequence} RENAME TO {quote_ident(identity.name)}", ()
