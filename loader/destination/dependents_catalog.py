"""The reader of what depends on the target by its oid (dependents.py's facts): its views, the
foreign keys to it, its policies, its table and column grants and who may re-grant them, its
identity columns. Part of shadow_catalog.read_facts, under its empty search_path: every name and
expression comes back schema-qualified, as pg_dump reads them."""

from __future__ import annotations

from typing import Any

from .dependents import Grant, Identity, Policy, ReferencingKey, View

_VIEWS_SQL = """
SELECT DISTINCT v.oid::regclass::text, v.relkind = 'm', pg_get_userbyid(v.relowner),
       pg_has_role(current_user, v.relowner, 'USAGE'), coalesce(v.reloptions, '{}'),
       CASE WHEN v.relkind = 'v' THEN pg_get_viewdef(v.oid, true) END
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %(oid)s
  AND r.ev_class <> %(oid)s ORDER BY 1
"""

_COLUMNS_OF = ("ARRAY(SELECT a.attname FROM unnest(c.{keys}) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
               "ON a.attrelid = c.{rel} AND a.attnum = k.n ORDER BY k.i)")

_REFERENCING_SQL = f"""
SELECT c.conname, c.conrelid::regclass::text, {_COLUMNS_OF.format(keys="conkey", rel="conrelid")},
       {_COLUMNS_OF.format(keys="confkey", rel="confrelid")}, c.confmatchtype, c.confupdtype, c.confdeltype,
       {{delete_set}}, c.condeferrable, c.condeferred, c.convalidated, obj_description(c.oid, 'pg_constraint'),
       pg_has_role(current_user, t.relowner, 'USAGE'), t.relkind = 'p', c.conrelid = c.confrelid
FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
WHERE c.confrelid = %(oid)s AND c.contype = 'f' AND c.conparentid = 0 ORDER BY 2, 1
"""
#: ON DELETE SET NULL (columns) came with PostgreSQL 15
_DELETE_SET = {True: _COLUMNS_OF.format(keys="confdelsetcols", rel="conrelid"), False: "'{}'::name[]"}

_POLICIES_SQL = """
SELECT p.polname, p.polpermissive, p.polcmd,
       CASE WHEN p.polroles = '{0}' THEN ARRAY['public']::name[]
            ELSE ARRAY(SELECT pg_get_userbyid(r) FROM unnest(p.polroles) r ORDER BY 1) END,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid), obj_description(p.oid, 'pg_policy')
FROM pg_policy p WHERE p.polrelid = %(oid)s ORDER BY 1
"""

# the table's ACL, then each column's; the owner's own entries are the owner's whatever happens
_GRANTS_SQL = """
SELECT NULL::name, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, x.privilege_type,
       x.is_grantable, pg_get_userbyid(x.grantor)
FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = %(oid)s AND x.grantee <> c.relowner
UNION ALL
SELECT a.attname, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, x.privilege_type,
       x.is_grantable, pg_get_userbyid(x.grantor)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid, aclexplode(a.attacl) x
WHERE c.oid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped AND x.grantee <> c.relowner
ORDER BY 1 NULLS FIRST, 2, 3
"""

#: the grantors the loading role may act as (SET ROLE: PostgreSQL 16 asks for the SET option)
_ACTS_AS_SQL = """
SELECT r.rolname FROM pg_roles r
WHERE r.rolname = ANY(%(grantors)s) AND pg_has_role(current_user, r.oid, %(mode)s) ORDER BY 1
"""

_IDENTITIES_SQL = """
SELECT a.attname, s.oid::regclass::text, s.relname,
       EXISTS (SELECT 1 FROM aclexplode(s.relacl) x WHERE x.grantee <> s.relowner)
FROM pg_attribute a
JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum
                AND d.classid = 'pg_class'::regclass AND d.deptype = 'i'
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
WHERE a.attrelid = %(oid)s AND a.attidentity <> '' ORDER BY a.attnum
"""


def read_dependents(cur: Any, args: dict[str, Any], owner: str) -> dict[str, Any]:
    """The dependents of the table ``args['oid']`` (owned by ``owner``), as TargetFacts' fields."""
    cur.execute("SELECT current_setting('server_version_num')::int")
    version = int(cur.fetchone()[0])
    cur.execute(_VIEWS_SQL, args)
    views = tuple(View(name, definition or "", tuple(options), view_owner, bool(may), bool(materialized))
                  for name, materialized, view_owner, may, options, definition in cur.fetchall())
    cur.execute(_REFERENCING_SQL.format(delete_set=_DELETE_SET[version >= 150000]), args)
    referencing = tuple(
        ReferencingKey(name, table, tuple(cols), tuple(ref), match, upd, dele, tuple(dset or ()), bool(deferrable),
                       bool(deferred), bool(validated), comment, bool(may), bool(partitioned), bool(itself))
        for name, table, cols, ref, match, upd, dele, dset, deferrable, deferred, validated, comment, may,
        partitioned, itself in cur.fetchall())
    cur.execute(_POLICIES_SQL, args)
    policies = tuple(Policy(name, bool(permissive), cmd, tuple(roles), using, check, comment)
                     for name, permissive, cmd, roles, using, check, comment in cur.fetchall())
    cur.execute(_GRANTS_SQL, args)
    grants = tuple(Grant(grantee, privilege, bool(grantable), grantor, column)
                   for column, grantee, privilege, grantable, grantor in cur.fetchall())
    others = sorted({g.grantor for g in grants if g.grantor != owner})
    acts_as: tuple[str, ...] = ()
    if others:
        cur.execute(_ACTS_AS_SQL, {"grantors": others, "mode": "SET" if version >= 160000 else "MEMBER"})
        acts_as = tuple(r[0] for r in cur.fetchall())
    cur.execute(_IDENTITIES_SQL, args)
    identities = []
    for column, sequence, name, own_grants in cur.fetchall():
        cur.execute(f"SELECT last_value, is_called FROM {sequence}")
        last, called = cur.fetchone()
        identities.append(Identity(column, sequence, name, int(last), bool(called), bool(own_grants)))
    return {"views": views, "referencing": referencing, "policies": policies, "grants": grants,
            "acts_as": acts_as, "identities": tuple(identities)}
