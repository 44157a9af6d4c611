"""Which privileges a load needs, and the GRANT that gives each one (pure).

A role that may write into a table is not always one that may create tables next to it (the
usual RDS setup: an ETL role with INSERT, UPDATE, DELETE, TRUNCATE on its tables and CREATE only
in one ``loader`` schema). What a load touches, by write mode and method:

* the target table: INSERT always; DELETE to overwrite it (its rows replaced under MVCC) or to
  replace a slice, TRUNCATE instead with ``target.overwrite: truncate``; UPDATE to
  upsert; SELECT where the loader reads it (an overwrite's "did it hold rows" check unless
  ``allow_empty``, a slice's rows, upsert's ``ON CONFLICT ... RETURNING``, ``on_error: reject``'s
  key checks). A table the load creates is the role's own: it needs nothing but CREATE;
* the target's schema: USAGE; CREATE only when the table must be created;
* the ledger schema (``target.ledger_schema``, else the target's): USAGE; CREATE when the
  ledger does not exist yet, for the JDBC methods' per-run staging table, and for a missing
  ``loader_rejects``; INSERT and SELECT on an existing ledger, INSERT on existing rejects;
* the database: TEMPORARY where rows land in a TEMP table first (COPY's upsert, slice and
  reject landing; ``replace_by``'s slice list; reject's numbered rows).

``needs`` decides from the load's shape and what the catalog holds (both plain values), so the
dry run, ``doctor`` and the run itself (engine/prepare.py) ask the same question;
``privilege_check.missing`` asks PostgreSQL which of these the current role lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..errors import PrivilegeError
from ..naming import TableRef, sql_name
from ..options import Method, WriteMode
from .ledger import LEDGER_TABLE
from .rejects import REJECT_TABLE

_KINDS = {"table": "TABLE", "schema": "SCHEMA", "database": "DATABASE"}
@dataclass(frozen=True)
class LoadShape:
    """What a load will do, as far as privileges go (from a request or a manifest)."""

    target: TableRef
    #: resolved (naming.loader_schema): where the ledger, staging tables and rejects live
    ledger_schema: str
    mode: WriteMode = WriteMode.APPEND
    #: AUTO: what COPY and the optimized JDBC it may choose or fall back to need together
    method: Method = Method.COPY
    #: a slice replace: "where" (replace_where) or "by" (replace_by); "" for the whole table
    slice: str = ""
    reject: bool = False
    allow_empty: bool = False
    create: str = "if_missing"
    #: target.overwrite: truncate (a whole-table overwrite by TRUNCATE instead of DELETE)
    truncate: bool = False


def slice_kind(replace_where: str | None, replace_by: object) -> str:
    """``LoadShape.slice`` of a request's or a manifest's replace_where / replace_by."""
    return "where" if replace_where is not None else "by" if replace_by else ""


@dataclass(frozen=True)
class Catalog:
    """What the database holds now (read by privilege_check.py)."""

    database: str
    table_exists: bool
    ledger_exists: bool
    rejects_exists: bool = False
    #: schemas the load names that do not exist (a ledger_schema nobody created yet)
    absent_schemas: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Need:
    """One privilege on one object (``on``: table, schema or database), and why the load needs it."""

    privilege: str
    on: str
    name: str  # schema.table, schema or database, as PostgreSQL stores it
    why: str
    #: another way out than the GRANT
    instead: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.privilege, self.on, self.name

    def object_sql(self) -> str:
        if self.on == "table":
            schema, _, table = self.name.partition(".")
            return f"{sql_name(schema)}.{sql_name(table)}"
        return sql_name(self.name)

    def fix(self, role: str) -> str:
        if self.privilege == "EXISTS":  # the schema itself is missing
            return f"CREATE SCHEMA {sql_name(self.name)} AUTHORIZATION {sql_name(role)}"
        return f"GRANT {self.privilege} ON {_KINDS[self.on]} {self.object_sql()} TO {sql_name(role)}"

    def missing(self) -> str:
        what = f"schema {self.name} does not exist" if self.privilege == "EXISTS" else \
            f"{self.privilege} on {self.on} {self.name}"
        return f"missing: {what} ({self.why})"

    def describe(self, role: str) -> str:
        return f"{self.missing()} — {self.fix(role)}" + (f"; or {self.instead}" if self.instead else "")


def needs(shape: LoadShape, catalog: Catalog) -> tuple[Need, ...]:
    """Every privilege the load needs, each once (reasons joined), in the order it meets them."""
    if shape.method is Method.AUTO:
        both = [*needs(replace(shape, method=Method.COPY), catalog),
                *needs(replace(shape, method=Method.OPTIMIZED), catalog)]
        return _merged(replace(n, why=n.why.replace("optimized", "auto's optimized JDBC")) for n in both)
    target, home, out = shape.target, shape.ledger_schema, []
    # a missing target schema is the target's own refusal (typemap.missing_schema_refusal, said by
    # the run and the dry run alike); a missing ledger schema of its own is said here
    if home != target.schema and home in catalog.absent_schemas:
        out.append(Need("EXISTS", "schema", home, "the load's tables go there"))
    out.append(Need("USAGE", "schema", target.schema, f"to reach {target}"))
    if not catalog.table_exists:
        if shape.create == "if_missing":
            out.append(Need("CREATE", "schema", target.schema, f"{target} does not exist and is created"))
    else:
        out.extend(_table_needs(shape))
    out.extend(_ledger_needs(shape, catalog))
    temp = _temp_reason(shape)
    if temp:
        out.append(Need("TEMPORARY", "database", catalog.database, temp))
    return _merged(out)


def _table_needs(shape: LoadShape) -> list[Need]:
    t, mode = str(shape.target), shape.mode
    out = [Need("INSERT", "table", t, f"{mode} inserts the rows")]
    if mode is WriteMode.OVERWRITE and shape.slice:
        out += [Need("DELETE", "table", t, "the slice's old rows are deleted"),
                Need("SELECT", "table", t, "the slice's rows are found by reading the table")]
    elif mode is WriteMode.OVERWRITE:
        out.append(Need("TRUNCATE", "table", t, "overwrite empties the table with TRUNCATE (target.overwrite: truncate)")
                   if shape.truncate else
                   Need("DELETE", "table", t, "overwrite deletes the old rows (under MVCC: readers keep reading)"))
        if not shape.allow_empty:
            out.append(Need("SELECT", "table", t, "overwrite checks whether the table held rows, so that an "
                            "empty source cannot empty it", instead="set target.allow_empty: true"))
    elif mode is WriteMode.UPSERT:
        out += [Need("UPDATE", "table", t, "upsert updates the rows whose key exists"),
                Need("SELECT", "table", t, "upsert's ON CONFLICT reads the key and counts the rows it updated")]
    if shape.reject:
        out.append(Need("SELECT", "table", t, "on_error: reject compares the rows with the table's keys"))
    return out


def _ledger_needs(shape: LoadShape, catalog: Catalog) -> list[Need]:
    home = shape.ledger_schema
    other = "set target.ledger_schema to a schema the role may create in"
    out = [Need("USAGE", "schema", home, "the loader's own tables are there")]
    ledger = f"{home}.{LEDGER_TABLE}"
    if catalog.ledger_exists:
        out += [Need("INSERT", "table", ledger, "every load records its run in the ledger"),
                Need("SELECT", "table", ledger, "a resume asks the ledger whether its run committed")]
    else:
        out.append(Need("CREATE", "schema", home, f"the ledger {ledger} does not exist", instead=other))
    if shape.method in (Method.OPTIMIZED, Method.STANDARD):
        out.append(Need("CREATE", "schema", home, f"{shape.method} writes through a per-run staging table "
                        f"{home}.loader_stage_*", instead=other))
    if shape.reject:
        rejects = f"{home}.{REJECT_TABLE}"
        out.append(Need("INSERT", "table", rejects, "rejected rows are recorded there") if catalog.rejects_exists
                   else Need("CREATE", "schema", home, f"rejected rows go to {rejects}, which does not exist",
                             instead=other))
    return out


def _temp_reason(shape: LoadShape) -> str:
    if shape.reject:
        return "on_error: reject numbers the rows in a TEMP table"
    if shape.slice == "by":
        return "replace_by lists the slices in a TEMP table"
    if shape.method is Method.COPY and (shape.mode is WriteMode.UPSERT or shape.slice):
        return f"COPY lands the {'upsert' if shape.mode is WriteMode.UPSERT else 'slice'}'s rows in a TEMP table"
    return ""


def _merged(wanted: Iterable[Need]) -> tuple[Need, ...]:
    seen: dict[tuple[str, str, str], Need] = {}
    for n in wanted:
        had = seen.get(n.key)
        if had is None:
            seen[n.key] = n
        elif n.why not in had.why:
            seen[n.key] = replace(had, why=f"{had.why}; {n.why}", instead=had.instead or n.instead)
    return tuple(seen.values())


@dataclass(frozen=True)
class Report:
    """The privileges the current role lacks for one load."""

    role: str
    missing: tuple[Need, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    def lines(self) -> list[str]:
        return [n.describe(self.role) for n in self.missing]

    def error(self, target: TableRef) -> PrivilegeError:
        grants = "; ".join(dict.fromkeys(n.fix(self.role) for n in self.missing))
        others = sorted({n.instead for n in self.missing if n.instead})
        return PrivilegeError(f"{target}: role {self.role} lacks what this load needs, nothing was loaded: "
                              + " | ".join(n.missing() for n in self.missing),
                              next_step=grants + "".join(f"; or {o}" for o in others), table=str(target),
                              sqlstate="42501")
