"""The statements of the shadow overwrite, built apart from running them (pure): shadow_swap.py
runs them in the order and the transactions given here.

    create   the shadow LIKE the target, with the age comment the reaper reads
    build    the target's indexes and keys under names of the shadow's own, then each foreign key
             from it and each foreign key to it, NOT VALID and validated (a transaction each)
    exchange under the swap's lock: the renames, the owner, owned sequences, identity positions,
             the views replaced, the foreign keys to it exchanged, the old table dropped, the
             indexes and constraints renamed back, grants, policies, comments, replica identity,
             row-level security (dependents.py says how each is carried)
"""

from __future__ import annotations

from typing import Any

from ..naming import SHADOW_TABLE_MARK, TableRef, quote_ident, shadow_comment
from . import dependents as dep
from .shadow_plan import TargetFacts, index_on_shadow, shadow_object_name

#: a statement and its parameters
Statement = tuple[str, tuple[Any, ...]]


def _s(sql: str, *params: Any) -> Statement:
    return sql, params


def create_statements(f: TargetFacts, shadow: TableRef, run_id: str) -> list[Statement]:
    options = f" WITH ({', '.join(f.reloptions)})" if f.reloptions else ""
    return [
        _s(f"CREATE {'UNLOGGED ' if f.unlogged else ''}TABLE {shadow.quoted} (LIKE {f.table.quoted} "
           "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING COMMENTS "
           f"INCLUDING STORAGE INCLUDING COMPRESSION){options}"),
        # its age, for the reaper (reaper/table_rules.py): the swap gives it the target's comment
        _s(f"COMMENT ON TABLE {shadow.quoted} IS %s", shadow_comment(run_id)),
    ]


def build_transactions(f: TargetFacts, shadow: TableRef, run_id: str) -> list[list[Statement]]:
    """The build, one list of statements per transaction: the indexes and keys together, then each
    foreign key apart (a referenced table's writers wait for one step at a time)."""
    table = shadow.quoted
    keys: list[Statement] = []
    for n, ix in enumerate(f.indexes):
        name = shadow_object_name(run_id, n)
        keys.append(_s(index_on_shadow(ix.definition, name, table)))  # a duplicate key: a data error
        if ix.constraint:
            kind = "PRIMARY KEY" if ix.constraint_type == "p" else "UNIQUE"
            timing = (" DEFERRABLE" + (" INITIALLY DEFERRED" if ix.deferred else "")) if ix.deferrable else ""
            keys.append(_s(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(name)} {kind} "
                           f"USING INDEX {quote_ident(name)}{timing}"))
    for n, x in enumerate(f.exclusions, start=len(f.indexes)):
        keys.append(_s(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(shadow_object_name(run_id, n))} "
                       f"{x.definition}"))
    out = [keys]
    for fk in f.fks_from:
        add = [_s(f"ALTER TABLE {table} ADD CONSTRAINT {quote_ident(fk.name)} {fk.definition} NOT VALID")]
        if fk.comment is not None:
            add.append(_s(f"COMMENT ON CONSTRAINT {quote_ident(fk.name)} ON {table} IS %s", fk.comment))
        out.append(add)
        if fk.validated:
            out.append([_s(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(fk.name)}")])
    for n, key in enumerate(f.referencing):  # last: the shorter the window both constraints check new rows
        name = dep.referencing_name(run_id, n)
        out.append([dep.add_referencing(key, shadow, name)])
        if key.validated:
            out.append([dep.validate_referencing(key, name)])
    return out


def lock_order(f: TargetFacts) -> list[str]:
    """What the swap locks, in the order readers lock them: the views it replaces (a reader through
    a view holds it while it waits for the table under it), the tables whose foreign keys it
    exchanges, the target last."""
    views = [v.name for v in f.views if not v.materialized]
    tables = list(dict.fromkeys(k.table for k in f.referencing))
    return [*views, *tables, f.table.quoted]


def old_table(shadow: TableRef) -> TableRef:
    """What the target is renamed to in the swap, for the moment before it is dropped."""
    return TableRef(shadow.schema, shadow.table.replace(SHADOW_TABLE_MARK, "__loader_old_"))


def exchange_statements(f: TargetFacts, shadow: TableRef, run_id: str, *,
                        referencing: tuple[dep.ReferencingKey, ...] = (),
                        identity_sequences: dict[str, str] | None = None) -> list[Statement]:
    """Under the swap's lock: the shadow becomes the target, with what the plan said it recreates.
    ``f`` is the catalog read under the lock; ``referencing``: the foreign keys to the target the
    build rebuilt against the shadow, in its order; ``identity_sequences``: the shadow's identity
    sequence of each identity column."""
    target = f.table
    table, schema = target.quoted, quote_ident(target.schema)
    old = old_table(shadow)
    out = [_s(f"ALTER TABLE {table} RENAME TO {quote_ident(old.table)}"),
           _s(f"ALTER TABLE {shadow.quoted} RENAME TO {quote_ident(target.table)}")]
    if not f.owned_by_loader:  # first: a sequence is OWNED BY a table of its own owner only
        out.append(_s(f"ALTER TABLE {table} OWNER TO {quote_ident(f.owner)}"))
    for seq, column in f.owned_sequences:  # else DROP would take them (and the defaults calling them)
        out.append(_s(f"ALTER SEQUENCE {seq} OWNED BY {table}.{quote_ident(column)}"))
    sequences = identity_sequences or {}
    for identity in f.identities:
        out += dep.carry_identity(identity, sequences[identity.column])
    out += [dep.replace_view(v) for v in f.views if not v.materialized]  # they read the new table from here
    for n, key in enumerate(referencing):
        out += dep.swap_referencing(key, dep.referencing_name(run_id, n))
    out.append(_s(f"DROP TABLE {old.quoted}"))  # no CASCADE: whatever still depends on it stops the swap
    out += [dep.rename_identity(i, sequences[i.column]) for i in f.identities]
    for n, ix in enumerate(f.indexes):
        name = quote_ident(shadow_object_name(run_id, n))
        if ix.constraint:
            out.append(_s(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {quote_ident(ix.constraint)}"))
            if ix.constraint_comment is not None:
                out.append(_s(f"COMMENT ON CONSTRAINT {quote_ident(ix.constraint)} ON {table} IS %s",
                              ix.constraint_comment))
        else:
            out.append(_s(f"ALTER INDEX {schema}.{name} RENAME TO {quote_ident(ix.name)}"))
        final = quote_ident(ix.constraint or ix.name)
        if ix.index_comment is not None:
            out.append(_s(f"COMMENT ON INDEX {schema}.{final} IS %s", ix.index_comment))
        if ix.clustered:
            out.append(_s(f"ALTER TABLE {table} CLUSTER ON {final}"))
    for n, x in enumerate(f.exclusions, start=len(f.indexes)):
        out.append(_s(f"ALTER TABLE {table} RENAME CONSTRAINT {quote_ident(shadow_object_name(run_id, n))} "
                      f"TO {quote_ident(x.name)}"))
        if x.comment is not None:
            out.append(_s(f"COMMENT ON CONSTRAINT {quote_ident(x.name)} ON {table} IS %s", x.comment))
    out += dep.regrant(f.grants, f.owner, target)
    for policy in f.policies:
        out += dep.create_policy(policy, target)
    out.append(_s(f"COMMENT ON TABLE {table} IS %s", f.comment))
    replica = {"n": "NOTHING", "f": "FULL"}.get(f.replica_identity)
    if replica is None and f.replica_identity == "i" and f.replica_index:
        replica = f"USING INDEX {quote_ident(f.replica_index)}"
    if replica is not None:
        out.append(_s(f"ALTER TABLE {table} REPLICA IDENTITY {replica}"))
    if f.rls:
        out.append(_s(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
    if f.force_rls:
        out.append(_s(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
    return out
