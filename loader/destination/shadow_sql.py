"""The statements of the shadow overwrite, built apart from running them (pure): shadow_swap.py
runs them in the order and the transactions given here.

    create   the shadow LIKE the target, with the age comment the reaper reads
    build    the target's indexes and keys under names of the shadow's own, then each foreign key
             NOT VALID and validated (a transaction each), then ANALYZE
    exchange under the swap's lock: the renames, the owner, owned sequences, the old table
             dropped, the indexes and constraints renamed back, grants, comments, replica identity,
             row-level security
"""

from __future__ import annotations

from typing import Any

from ..naming import SHADOW_TABLE_MARK, TableRef, quote_ident, shadow_comment
from .shadow_plan import TargetFacts, index_on_shadow, shadow_object_name

#: a statement and its parameters
Statement = tuple[str, tuple[Any, ...]]


def _s(sql: str, *params: Any) -> Statement:
    return sql, params


def create_statements(f: TargetFacts, shadow: TableRef, run_id: str) -> list[Statement]:
    options = f" WITH ({', '.join(f.reloptions)})" if f.reloptions else ""
    return [
        _s(f"CREATE {'UNLOGGED ' if f.unlogged else ''}TABLE {shadow.quoted} (LIKE {f.table.quoted} "
           "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING COMMENTS "
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
    return out


def old_table(shadow: TableRef) -> TableRef:
    """What the target is renamed to in the swap, for the moment before it is dropped."""
    return TableRef(shadow.schema, shadow.table.replace(SHADOW_TABLE_MARK, "__loader_old_"))


def exchange_statements(f: TargetFacts, shadow: TableRef, run_id: str) -> list[Statement]:
    """Under the swap's lock: the shadow becomes the target, with what the plan said it recreates."""
    target = f.table
    table, schema = target.quoted, quote_ident(target.schema)
    old = old_table(shadow)
    out = [_s(f"ALTER TABLE {table} RENAME TO {quote_ident(old.table)}"),
           _s(f"ALTER TABLE {shadow.quoted} RENAME TO {quote_ident(target.table)}")]
    if not f.owned_by_loader:  # first: a sequence is OWNED BY a table of its own owner only
        out.append(_s(f"ALTER TABLE {table} OWNER TO {quote_ident(f.owner)}"))
    for seq, column in f.owned_sequences:  # else DROP would take them (and the defaults calling them)
        out.append(_s(f"ALTER SEQUENCE {seq} OWNED BY {table}.{quote_ident(column)}"))
    out.append(_s(f"DROP TABLE {old.quoted}"))
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
    for g in f.grants:  # given as the owner (or a member of it): the owner is their grantor, as before
        grantee = "PUBLIC" if g.grantee == "PUBLIC" else quote_ident(g.grantee)
        out.append(_s(f"GRANT {g.privilege} ON {table} TO {grantee}{' WITH GRANT OPTION' if g.grantable else ''}"))
    out.append(_s(f"COMMENT ON TABLE {table} IS %s", f.comment))
    identity = {"n": "NOTHING", "f": "FULL"}.get(f.replica_identity)
    if identity is None and f.replica_identity == "i" and f.replica_index:
        identity = f"USING INDEX {quote_ident(f.replica_index)}"
    if identity is not None:
        out.append(_s(f"ALTER TABLE {table} REPLICA IDENTITY {identity}"))
    if f.rls:
        out.append(_s(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
    if f.force_rls:
        out.append(_s(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
    return out
