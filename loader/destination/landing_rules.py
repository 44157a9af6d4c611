"""The rules by which a COPY load keeps one connection or takes its write strategy's protocol over
N, each pure, each giving its reason in the words the log, the run's reason and the dry run show
(landing_choice.py asks them in order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ..naming import TableRef, sql_name
from .shadow_plan import ShadowPlan, TargetFacts, plan_shadow


class Path(NamedTuple):
    """Over how many connections the rows land (1: the single load transaction), and what the
    log, the run's reason and the dry run say of it."""

    connections: int
    reason: str


ONE = "over 1 connection"
IN_PLACE_ONE = "in place over 1 connection"
REJECT_KEEPS_ONE = "on_error: reject sets rows aside in the load transaction"
#: the whole-table overwrite's two paths in place
UNDER_MVCC = ("in place over 1 connection, its rows replaced under MVCC (DELETE, then COPY, in one transaction: "
              "readers read the old rows until the COMMIT)")
TRUNCATED = ("in place over 1 connection with TRUNCATE (target.overwrite: truncate): readers wait from the "
             "TRUNCATE to the COMMIT")


#: a whole-table overwrite of a table this big goes through the shadow by default (copy.connections:
#: auto): in place, its TRUNCATE holds every reader from the first row to the COMMIT; below it the
#: wait is short and the shadow's own steps (create, build, swap) are most of what it would save
#: (the measurements: bench/README.md, "connections auto")
AUTO_SHADOW_BYTES = 64 * 1024 * 1024
#: connection slots the server must keep free beyond the shadow's second connection
AUTO_SPARE_SLOTS = 3


def auto_connections(*, whole_overwrite: bool, table_bytes: int | None, free_slots: int | None,
                     referenced: bool = False) -> tuple[int, str]:
    """What ``copy.connections: auto`` means for this load, and why: 2 (the shadow path) for a
    whole-table overwrite of an existing table of AUTO_SHADOW_BYTES or more, or of one that foreign
    keys reference (in place its rows could not be replaced: write_modes.in_place_refusal), on a
    server with slots to spare, else 1. Appends, upserts and slice replaces stay on 1 by default: on
    2 shared cores their N-connection paths gained nothing or lost (bench/README.md), and they have
    no reader to spare."""
    if not whole_overwrite:
        return 1, "copy.connections auto: 1 (more by default only for a whole-table overwrite)"
    if table_bytes is None:
        return 1, "copy.connections auto: 1 (the table is created by the load: nobody reads it)"
    size = f"{table_bytes // 2**20:,} MiB"
    if table_bytes < AUTO_SHADOW_BYTES and not referenced:
        return 1, f"copy.connections auto: 1 (the table holds {size}, under {AUTO_SHADOW_BYTES // 2**20} MiB)"
    if free_slots is not None and free_slots < 1 + AUTO_SPARE_SLOTS:
        return 1, f"copy.connections auto: 1 (the server has {free_slots} connection slot(s) free)"
    if table_bytes < AUTO_SHADOW_BYTES:
        return 2, ("copy.connections auto: 2 (foreign keys reference the table: the shadow swap rebuilds them, in "
                   "place its rows could not be replaced)")
    return 2, f"copy.connections auto: 2 (the table holds {size}: through a shadow, readers keep reading)"


def path_before_catalog(connections: int, *, overwrite: bool, shares_table: bool, reject: bool) -> str | None:
    """Why an overwrite goes in place without reading the catalog (None: read it and ``plan_path``).
    One connection is the in-place path exactly, and the way to keep an overwrite in place."""
    if connections <= 1:
        return f"{IN_PLACE_ONE} (copy.connections: 1)"
    if not overwrite or shares_table:
        return f"{IN_PLACE_ONE}: only mode overwrite goes through a shadow table"
    if reject:
        return f"{IN_PLACE_ONE}: {REJECT_KEEPS_ONE}"
    return None


def plan_path(facts: TargetFacts | None, names: Sequence[str]) -> ShadowPlan:
    """The shadow plan for a load of columns ``names`` into the target ``facts`` describes (None:
    it does not exist yet, and is created in the load transaction, where nobody waits for it)."""
    if facts is None:
        return ShadowPlan(("the target is new (created in the load transaction)",))
    have = {c[0] for c in facts.columns}
    missing = [n for n in names if n not in have]
    if missing:
        return ShadowPlan((f"schema_evolution adds columns: {', '.join(missing)}",), facts=facts)
    return plan_shadow(facts)


def plan_prepared(connections: int, *, append: bool, creates: bool, adds_columns: bool, reject: bool,
                  max_prepared: int | None) -> Path:
    """Whether an append goes over ``connections`` prepared transactions, and why (not).

    ``max_prepared`` is the server's max_prepared_transactions (None: not known, as in a dry run
    that could not connect). PostgreSQL's and RDS's default, 0, allows none: one connection.
    A new table or new columns are made in the load transaction, which N connections cannot
    share; rejects are set aside inside one transaction."""
    if connections <= 1:
        return Path(1, f"{ONE} (copy.connections: 1)")
    if not append:
        return Path(1, f"{ONE}: only mode append loads over prepared transactions")
    if creates or adds_columns:
        what = "the table is created" if creates else "schema_evolution adds columns"
        return Path(1, f"{ONE}: {what} in the load transaction")
    if reject:
        return Path(1, f"{ONE}: {REJECT_KEEPS_ONE}")
    if max_prepared is None:
        return Path(connections, f"over {connections} prepared transactions if the server's "
                                 "max_prepared_transactions allows (not checked)")
    if max_prepared < connections:
        if max_prepared < 2:
            return Path(1, f"{ONE}: the server's max_prepared_transactions is {max_prepared} (set it to "
                           f"{connections} or more in postgresql.conf or the RDS parameter group, and "
                           "restart, to load over copy.connections)")
        connections = max_prepared
    return Path(connections, f"over {connections} connections, each prepared (PREPARE TRANSACTION), "
                             "committed together once the ledger records the run")


def plan_landing(connections: int, *, merges: bool, reject: bool, may_create: bool | None, schema: str) -> Path:
    """Whether a merging load (upsert, slice replace) lands its rows over ``connections``, and why
    (not). ``may_create``: whether the role may create the staging table in ``schema``, the
    ledger's (None: not known, as in a dry run that could not connect)."""
    if connections <= 1:
        return Path(1, f"{ONE} (copy.connections: 1)")
    if not merges:
        return Path(1, f"{ONE}: only an upsert or a slice replace lands in a staging table")
    if reject:
        return Path(1, f"{ONE}: {REJECT_KEEPS_ONE}")
    if may_create is False:
        return Path(1, f"{ONE}: the role may not create the staging table in schema {sql_name(schema)} "
                       f"(GRANT CREATE ON SCHEMA {sql_name(schema)}, or set target.ledger_schema, to land "
                       "over copy.connections)")
    checked = "" if may_create else " if the role may create it (not checked)"
    return Path(connections, f"over {connections} connections into an UNLOGGED staging table in schema "
                             f"{sql_name(schema)}{checked}, then merged in one transaction")


def in_place_refusal(target: TableRef, referencing: Sequence[str], *, truncates: bool) -> tuple[str, str] | None:
    """Why a whole-table overwrite in place cannot replace ``target``'s rows and what to do (None: it
    can), for the run and the dry run alike, where foreign keys of other tables reference it:
    PostgreSQL refuses to TRUNCATE it, and a DELETE of its rows would be refused by a NO ACTION key
    for every row still referenced, or cascade into the referencing rows (ON DELETE CASCADE). The
    shadow swap rebuilds those keys against the new rows instead (dependents.py)."""
    if not referencing:
        return None
    fks = ", ".join(referencing)
    how = ("empties the table with TRUNCATE (target.overwrite: truncate), which PostgreSQL refuses for a table "
           "that foreign keys reference" if truncates else
           "replaces the rows in place with DELETE, which the foreign keys that reference the table would refuse "
           "(NO ACTION) or cascade into their rows (ON DELETE CASCADE)")
    return (f"{target}: this overwrite {how}: {fks}",
            "load with method: copy and copy.connections: auto or 2 (the shadow swap rebuilds the foreign keys "
            "against the new rows; --dry-run says whether it can), or with mode: upsert and key: the primary key "
            "(updates the rows in place)")
