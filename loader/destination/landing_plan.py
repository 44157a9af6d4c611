"""Upsert and slice replace over N connections, all or nothing: the decision, pure (issue 26).

Their rows land first in a relation of the load's own, and one statement merges them into the
target (a slice: DELETE the slice, INSERT the rows; an upsert: INSERT ... ON CONFLICT). Over one
connection that relation is a TEMP table, which only its own session can see. Over N it is the
run's UNLOGGED staging table (staging_table.py), which the N workers fill part by part, each part
committed: no reader looks at it, so that costs no atomicity. Then the driver's one load
transaction merges, writes the ledger row and drops the staging table: readers see every old row
until that COMMIT and every new one after it, with no window between (unlike the prepared
append's commits, prepared_plan.py).

Why not the append's two-phase commit: a slice replace deletes rows whose keys its new rows
reuse, and the unique check of one connection's INSERT waits for the DELETE of another, which
commits only once every connection is prepared: a deadlock PostgreSQL cannot see. An upsert's
conflicts on the same key across connections would wait the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..naming import sql_name


@dataclass(frozen=True)
class LandingPath:
    #: connections the rows land over; 1: the TEMP table of the single load transaction
    connections: int
    #: what the log, the run's reason and the dry run say
    reason: str


def plan_landing(connections: int, *, merges: bool, reject: bool, may_create: bool | None,
                 schema: str) -> LandingPath:
    """Whether a merging load (upsert, slice replace) lands its rows over ``connections``, and why
    (not). ``may_create``: whether the role may create the staging table in ``schema``, the
    ledger's (None: not known, as in a dry run that could not connect)."""
    one = "over 1 connection"
    if connections <= 1:
        return LandingPath(1, f"{one} (copy.connections: 1)")
    if not merges:
        return LandingPath(1, f"{one}: only an upsert or a slice replace lands in a staging table")
    if reject:
        return LandingPath(1, f"{one}: on_error: reject sets rows aside in the load transaction")
    if may_create is False:
        return LandingPath(1, f"{one}: the role may not create the staging table in schema {sql_name(schema)} "
                              f"(GRANT CREATE ON SCHEMA {sql_name(schema)}, or set target.ledger_schema, to land "
                              "over copy.connections)")
    checked = "" if may_create else " if the role may create it (not checked)"
    return LandingPath(connections, f"over {connections} connections into an UNLOGGED staging table in schema "
                                    f"{sql_name(schema)}{checked}, then merged in one transaction")
