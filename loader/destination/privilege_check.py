"""Ask PostgreSQL which of a load's privileges (privileges.py) the current role lacks.

The one edge of the privilege rules, used by ``loader doctor``, ``loader run --dry-run`` and the
run itself before any data moves (engine/prepare.py): two catalog queries, nothing written. The
role is the session's ``current_user`` (what ``SET ROLE`` or the login made it), and the answers
are PostgreSQL's own (``has_table_privilege`` and its kin), so membership in a role that holds a
privilege, ownership and superuser count as they will at load time.

INSERT, UPDATE and SELECT are asked with ``has_any_column_privilege``: a role granted them on
columns rather than the table is not refused here (a column it lacks still fails the statement,
and pg_errors names it). DELETE and TRUNCATE exist only per table.
"""

from __future__ import annotations

from typing import Any

from ..adapters import pg_errors
from ..naming import TableRef
from .ledger import ledger_ref
from .privileges import Catalog, LoadShape, Need, Report, needs
from .rejects import reject_table

_FACTS = """
SELECT current_user::text, current_database()::text,
       to_regclass(%(target)s) IS NOT NULL, to_regclass(%(ledger)s) IS NOT NULL, to_regclass(%(rejects)s) IS NOT NULL,
       ARRAY(SELECT s FROM unnest(%(schemas)s::text[]) AS s
              WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s))
"""
_COLUMN_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE"})


def read_catalog(cur: Any, shape: LoadShape) -> tuple[str, Catalog]:
    """The current role and what the database holds of the load's tables."""
    cur.execute(_FACTS, {"target": shape.target.quoted, "ledger": ledger_ref(shape.ledger_schema).quoted,
                         "rejects": reject_table(shape.ledger_schema).quoted,
                         "schemas": sorted({shape.target.schema, shape.ledger_schema})})
    role, database, table, ledger, rejects, absent = cur.fetchone()
    return role, Catalog(database=database, table_exists=table, ledger_exists=ledger, rejects_exists=rejects,
                         absent_schemas=frozenset(absent or ()))


def _probe(need: Need) -> tuple[str, tuple[str, ...]]:
    """The SQL expression (and its parameters) that is true when the role holds ``need``."""
    if need.on == "table":
        schema, _, table = need.name.partition(".")
        fn = "has_any_column_privilege" if need.privilege in _COLUMN_PRIVILEGES else "has_table_privilege"
        return f"coalesce({fn}(to_regclass(%s), %s), false)", (TableRef(schema, table).quoted, need.privilege)
    if need.on == "schema":
        return ("coalesce(has_schema_privilege((SELECT oid FROM pg_namespace WHERE nspname = %s), %s), false)",
                (need.name, need.privilege))
    return "has_database_privilege(current_database(), %s)", (need.privilege,)


def missing(cur: Any, shape: LoadShape) -> Report:
    """The privileges of ``needs(shape, ...)`` the current role lacks, each with its GRANT."""
    with pg_errors.translated(table=shape.target):
        role, catalog = read_catalog(cur, shape)
        wanted = needs(shape, catalog)
        # a missing schema is reported as such; asking about privileges on it says nothing more
        asked = [n for n in wanted if n.privilege != "EXISTS"
                 and not (n.on == "schema" and n.name in catalog.absent_schemas)]
        held: list[bool] = []
        if asked:
            probes = [_probe(n) for n in asked]
            cur.execute("SELECT " + ", ".join(sql for sql, _ in probes), [p for _, ps in probes for p in ps])
            held = [bool(v) for v in cur.fetchone()]
    lacking = {n.key for n, ok in zip(asked, held, strict=True) if not ok}
    return Report(role, tuple(n for n in wanted if n.privilege == "EXISTS" or n.key in lacking))
