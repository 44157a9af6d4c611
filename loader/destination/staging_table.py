"""A run's UNLOGGED staging table ``<ledger schema>.loader_stage_<8 hex>_<epoch>``: where rows land
before the load transaction moves them into the target and drops it.

Two writers fill one: Spark's JDBC writer (jdbc/method.py), and the COPY workers of a merge
over N connections (copy/landing/staging_merge.py). It is made in a transaction of its own, so that
every writer's connection sees it; the run records its name before it exists, and the reaper
drops a dead run's by the name's rules (reaper/table_rules.py). It lives in the ledger's
schema: a role may write into the target's schema without being allowed to create tables there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import ConfigError, PrivilegeError, TargetError
from ..naming import STAGING_TABLE_PREFIX, TableRef, quote_ident, sql_name


def _autocommit(spec: ConnectionSpec, connect: pg.Connect) -> Any:
    return contextlib.closing(connect(spec, application_name="loader:staging", autocommit=True))


def create(spec: ConnectionSpec, stage: TableRef, columns_ddl: str, run_id: str, target: TableRef,
           then: Sequence[str] = (), connect: pg.Connect = pg.connect) -> None:
    """CREATE UNLOGGED TABLE ``stage`` (``columns_ddl``) with its run in its comment, and ``then``'s
    statements, committed together. A missing schema or privilege says what to do."""
    with _autocommit(spec, connect) as conn, conn.cursor() as cur:
        try:
            with pg_errors.translated(table=stage):
                cur.execute("BEGIN")
                cur.execute(f"CREATE UNLOGGED TABLE {stage.quoted} ({columns_ddl})")
                cur.execute(f"COMMENT ON TABLE {stage.quoted} IS %s", (f"loader run {run_id} -> {target}",))
                for sql in then:
                    cur.execute(sql)
                cur.execute("COMMIT")
        except TargetError as exc:
            if exc.sqlstate == pg_errors.NO_SUCH_SCHEMA:
                raise ConfigError(f"schema {stage.schema!r} does not exist in {spec.safe_description()}",
                                  next_step=f"CREATE SCHEMA {quote_ident(stage.schema)}") from None
            if exc.sqlstate == pg_errors.INSUFFICIENT_PRIVILEGE:
                raise PrivilegeError(f"{target}: user {spec.user} may not create the staging table {stage} in "
                                     f"schema {stage.schema}, nothing was loaded",
                                     next_step=f"GRANT CREATE ON SCHEMA {sql_name(stage.schema)} TO "
                                               f"{sql_name(str(spec.user))}; or set target.ledger_schema to a "
                                               "schema the role may create in", table=str(target),
                                     sqlstate=exc.sqlstate) from None
            raise


def drop_quietly(spec: ConnectionSpec, stage: TableRef, first: Sequence[str] = (),
                 connect: pg.Connect = pg.connect) -> None:
    """Best effort (``first``: what depends on it): if this fails too, the reaper finds the table
    by its name."""
    with contextlib.suppress(Exception), _autocommit(spec, connect) as conn, conn.cursor() as cur:
        for sql in first:
            cur.execute(sql)
        cur.execute(f"DROP TABLE IF EXISTS {stage.quoted}")


def drop_earlier_attempts(cur: Any, schema: str, run_id: str) -> list[str]:
    """Drop the staging tables an earlier attempt of run ``run_id`` left in ``schema`` (a killed
    process; each attempt's name has its own epoch): a resume leaves none behind. Their names."""
    cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname LIKE %s ORDER BY 1",
                (schema, f"{STAGING_TABLE_PREFIX}{run_id[:8]}\\_%"))
    names = [r[0] for r in cur.fetchall()]
    for name in names:
        cur.execute(f"DROP TABLE IF EXISTS {TableRef(schema, name).quoted}")
    return names


def may_create_in(cur: Any, schema: str) -> bool:
    """Whether the connected role may create a staging table in ``schema`` (False if it does not exist)."""
    cur.execute("SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s) "
                "THEN has_schema_privilege(%s, 'CREATE') ELSE false END", (schema, schema))
    return bool(cur.fetchone()[0])
