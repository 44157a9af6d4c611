"""Before any data moves: look at the target and refuse whatever can be refused.

Reads the target's columns and keys (one connection); refuses a missing schema and an overwrite
PostgreSQL could not TRUNCATE; asks whether the role holds every privilege the load needs
(destination/privilege_check.py: a missing one fails here, named with its GRANT, instead of
half-way through); has the server check a slice predicate; and returns the column plan: how the
DataFrame's columns map onto the table, or the CREATE TABLE for a table that does not exist yet. Names the columns the table keeps with fewer decimals
or digits than the source (plan/narrowing.py) and, with ``on_narrowing: error``, refuses a value
that would change (engine/narrowing_check.py: one Spark aggregate, before any data moves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..adapters import pg
from ..destination import privilege_check, slices
from ..destination.privileges import LoadShape, slice_kind
from ..errors import ConfigError, SchemaMismatchError
from ..naming import check_identifier, quote_ident
from ..options import Method
from ..plan.narrowing import narrowings
from ..plan.pg_types import parse
from ..plan.typemap import (
    PG_TYPE_KEY,
    SPATIAL,
    ColumnPlan,
    create_table_sql,
    match_columns,
    missing_schema_refusal,
    plan_for_new_table,
)
from ..request import LoadRequest
from .narrowing_check import check_values

log = logging.getLogger("loader")


@dataclass(frozen=True)
class PreparedTarget:
    plan: ColumnPlan
    #: CREATE TABLE for a new target (run inside the load transaction), else None
    create_sql: str | None
    #: key columns named in data errors: the upsert key, else the table's primary key
    error_key: tuple[str, ...]


def privilege_shape(req: LoadRequest) -> LoadShape:
    """What the request does, as the privilege rules see it. ``auto`` is checked as COPY: the
    method is chosen after this, and an optimized choice that may not create its staging table
    fails at once with the same GRANT (jdbc/method.py)."""
    return LoadShape(req.target, req.loader_schema, req.mode,
                     method=Method.COPY if req.method is Method.AUTO else req.method,
                     slice=slice_kind(req.replace_where, req.replace_by),
                     reject=req.on_error == "reject", allow_empty=req.allow_empty, create=req.create,
                     truncate=req.write.truncates)


def _check_postgis(cur: object, schema: object, target: object) -> None:
    """A geometry column (runner/spatial.py typed it) needs PostGIS on the server: refused here,
    naming the column and what to install, before anything moves."""
    spatial = [f.name for f in schema.fields  # type: ignore[attr-defined]
               if parse(str((f.metadata or {}).get(PG_TYPE_KEY, "text"))).plain in SPATIAL]
    if spatial and not pg.type_exists(cur, "geometry"):
        raise ConfigError(f"{target}: column {spatial[0]!r} is a geometry, and the server has no PostGIS",
                          next_step="install PostGIS on the server (Debian: apt-get install postgresql-<version>-"
                                    "postgis-3) and run CREATE EXTENSION postgis in the target database",
                          table=str(target))


def prepare_target(req: LoadRequest) -> PreparedTarget:
    target, schema, key = req.target, req.df.schema, req.key
    for field in schema.fields:  # a name PostgreSQL would cut or refuse, refused here with its name
        check_identifier(field.name, "column name")
    for k in key:
        check_identifier(k, "key column")
    conn = pg.connect(req.spec)
    try:
        with conn.cursor() as cur:
            existing = pg.table_columns(cur, target)
            schema_missing = existing is None and not pg.schema_exists(cur, target.schema)
            has_unique_key = bool(key) and existing is not None and pg.has_unique_index(cur, target, key)
            error_key = key or (pg.primary_key_columns(cur, target) if existing is not None else ())
            if schema_missing:  # what no GRANT fixes comes first
                refused = missing_schema_refusal(target)
                raise ConfigError(refused[0], next_step=refused[1], table=str(target))
            _check_postgis(cur, schema, target)
            report = privilege_check.missing(cur, privilege_shape(req))
            if not report.ok:
                raise report.error(target)
            if req.replace_where is not None and existing is not None:
                # before any data moves: a predicate the table cannot evaluate fails here, not after staging
                slices.validate(cur, target, req.replace_where)
                log.info("%s: replacing the rows where %s", target, req.replace_where)
    finally:
        conn.close()
    source_names = {f.name for f in schema.fields}
    missing_by = [c for c in req.replace_by if c not in source_names]
    if missing_by:
        raise SchemaMismatchError(f"{target}: replace_by column(s) {', '.join(missing_by)} are not in the source",
                                  next_step="the slices are named by the DataFrame's own columns: fix replace_by",
                                  table=str(target))
    missing_key = [k for k in key if k not in source_names]
    if missing_key:
        raise SchemaMismatchError(f"{target}: key column(s) {', '.join(missing_key)} are not in the source",
                                  next_step="fix target.key / key=, or add the columns", table=str(target))
    if existing is None:
        if req.create == "never":
            raise ConfigError(f"table {target} does not exist and create is 'never'",
                              next_step="create the table, or set target.create: if_missing", table=str(target))
        return PreparedTarget(plan_for_new_table(schema), create_table_sql(target, schema, key), error_key)
    if req.write.needs_unique_key and not has_unique_key:
        cols = ", ".join(quote_ident(k) for k in key)
        raise SchemaMismatchError(f"{target}: upsert on ({', '.join(key)}) needs a primary key or unique "
                                  "index on exactly those columns",
                                  next_step=f"ALTER TABLE {target.quoted} ADD PRIMARY KEY ({cols})",
                                  table=str(target))
    add_columns = req.schema_evolution == "add_columns"  # the ALTER runs in the load transaction (destination/evolve.py)
    plan = match_columns(target, schema, existing, add_columns)
    narrowed = narrowings(schema, {c.name: c.checked_type for c in existing})
    for n in narrowed:
        log.info("%s: column %s (on_narrowing: %s)", target, n.describe(), req.on_narrowing)
    if req.on_narrowing == "error":
        check_values(req.df, narrowed, target, tuple(k for k in error_key if k in source_names))
    return PreparedTarget(plan, None, error_key)

