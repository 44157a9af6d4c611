"""A table with one of every kind of dependent the shadow swap carries (a view and a view on it,
a foreign key from another table, row-level security policies, column privileges, a grant made by
another role), and the catalog of those dependents, to compare before and after a load."""

from __future__ import annotations

import uuid
from typing import Any


def q(pg_conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with pg_conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else []


def _role(pg_conn: Any, name: str) -> str:
    q(pg_conn, f"DO $$BEGIN CREATE ROLE {name}; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    return name


def with_dependents(pg_conn: Any, t: str) -> None:
    """Give table ``t`` (``id bigint PRIMARY KEY, v text``, holding ids 3 and 4) its dependents."""
    roles = {k: _role(pg_conn, f"{k}_{uuid.uuid4().hex[:6]}") for k in ("editor", "reader", "web")}
    for sql in (
        f"CREATE VIEW {t}_v WITH (security_barrier) AS SELECT id, v FROM {t} WHERE id % 2 = 0 "
        "WITH CASCADED CHECK OPTION",
        f"CREATE VIEW {t}_vv AS SELECT * FROM {t}_v",  # a view on the view
        f"COMMENT ON VIEW {t}_v IS 'the website reads this'",
        f"GRANT SELECT ON {t}_v TO {roles['web']}",
        f"CREATE TABLE {t}_child (cid serial PRIMARY KEY, pid bigint NOT NULL CONSTRAINT {t}_child_fk "
        f"REFERENCES {t} (id) ON DELETE CASCADE DEFERRABLE)",
        f"INSERT INTO {t}_child (pid) VALUES (3), (4)",
        f"COMMENT ON CONSTRAINT {t}_child_fk ON {t}_child IS 'children'",
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY {t}_mine ON {t} AS RESTRICTIVE FOR SELECT TO {roles['reader']} USING (id > 0)",
        f"CREATE POLICY {t}_all ON {t} FOR ALL TO PUBLIC USING (true) WITH CHECK (v <> '')",
        f"COMMENT ON POLICY {t}_mine ON {t} IS 'readers see positive ids'",
        f"GRANT SELECT (id, v), UPDATE (v) ON {t} TO {roles['reader']}",
        f"GRANT SELECT ON {t} TO {roles['editor']} WITH GRANT OPTION",
        f"SET ROLE {roles['editor']}", f"GRANT SELECT ON {t} TO {roles['web']}", "RESET ROLE",
        f"ALTER TABLE {t} SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05)",
    ):
        q(pg_conn, sql)


def catalog(pg_conn: Any, t: str) -> dict[str, Any]:
    """Everything a dependent of ``t`` is, as the catalog says: compared before and after a load."""
    return {
        "views": q(pg_conn, "SELECT c.oid, c.relname, pg_get_viewdef(c.oid, true), c.reloptions, "
                            "pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'), c.relacl::text "
                            "FROM pg_class c WHERE c.relname IN (%s, %s) ORDER BY 2", (f"{t}_v", f"{t}_vv")),
        "child_constraints": q(pg_conn, "SELECT conname, pg_get_constraintdef(oid), convalidated, condeferrable, "
                                        "obj_description(oid, 'pg_constraint'), confrelid::regclass::text "
                                        "FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1", (f"{t}_child",)),
        "policies": q(pg_conn, "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
                               "WHERE tablename = %s ORDER BY 1", (t,)),
        "policy_comments": q(pg_conn, "SELECT polname, obj_description(oid, 'pg_policy') FROM pg_policy "
                                      "WHERE polrelid = %s::regclass ORDER BY 1", (t,)),
        "column_privileges": q(pg_conn, "SELECT grantor, grantee, column_name, privilege_type, is_grantable FROM "
                                        "information_schema.column_privileges WHERE table_name = %s "
                                        "AND grantee <> grantor ORDER BY 1, 2, 3, 4", (t,)),
        "table_privileges": q(pg_conn, "SELECT grantor, grantee, privilege_type, is_grantable FROM "
                                       "information_schema.table_privileges WHERE table_name = %s "
                                       "AND grantee <> grantor ORDER BY 1, 2, 3", (t,)),
        "table": q(pg_conn, "SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity, reloptions, "
                            "obj_description(oid, 'pg_class') FROM pg_class WHERE oid = %s::regclass", (t,)),
    }


def leftovers(pg_conn: Any, t: str) -> list[tuple[Any, ...]]:
    """What a load of ``t`` may leave: shadow and old tables, constraints rebuilt against a shadow."""
    return q(pg_conn, "SELECT relname FROM pg_class WHERE relname LIKE %s UNION ALL "
                      "SELECT conname FROM pg_constraint WHERE conname ~ '^loader_shadow_[0-9a-f]{8}_' ORDER BY 1",
             (f"{t}\\_\\_loader\\_%",))
