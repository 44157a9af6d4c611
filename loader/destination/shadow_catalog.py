"""The one reader of the catalog facts the shadow path decides on (shadow_plan.TargetFacts).

Read once before the load (the plan) and once more inside the swap, under its lock (what
appeared since stops the swap; grants and comments given since are carried over). Always with an
empty search_path for the rest of the transaction, so that every name and expression it reads
(views' definitions, keys', policies', indexes') comes back schema-qualified and the plan and the
swap read the same text; the swap's statements then run under it too.
"""

from __future__ import annotations

from typing import Any

from ..naming import TableRef
from .dependents_catalog import read_dependents
from .index_defer import SavedIndex
from .shadow_plan import Exclusion, ForeignKeyFrom, TargetFacts

_TABLE_SQL = """
SELECT c.oid, c.reltype, pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'MEMBER'),
       c.relkind, c.relpersistence = 'u', c.reltablespace <> 0,
       EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = c.oid OR inhparent = c.oid),
       c.relrowsecurity, c.relforcerowsecurity, obj_description(c.oid, 'pg_class'), c.relreplident,
       coalesce(c.reloptions, '{}'), has_schema_privilege(c.relnamespace, 'CREATE'),
       pg_get_userbyid(c.relowner) = current_user
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""

_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""

_NAMES_SQL = {
    "rules": "SELECT rulename FROM pg_rewrite WHERE ev_class = %(oid)s AND rulename <> '_RETURN' ORDER BY 1",
    "triggers": "SELECT tgname FROM pg_trigger WHERE tgrelid = %(oid)s AND NOT tgisinternal ORDER BY 1",
    "publications": "SELECT pubname FROM pg_publication_tables WHERE schemaname = %(schema)s "
                    "AND tablename = %(table)s ORDER BY 1",
    "statistics": "SELECT stxnamespace::regnamespace::text || '.' || stxname FROM pg_statistic_ext "
                  "WHERE stxrelid = %(oid)s ORDER BY 1",
}

_FKS_FROM_SQL = """
SELECT conname, pg_get_constraintdef(oid), convalidated, obj_description(oid, 'pg_constraint')
FROM pg_constraint WHERE conrelid = %(oid)s AND contype = 'f' AND confrelid <> %(oid)s ORDER BY conname
"""

_EXCLUSIONS_SQL = """
SELECT conname, pg_get_constraintdef(oid), obj_description(oid, 'pg_constraint')
FROM pg_constraint WHERE conrelid = %(oid)s AND contype = 'x' ORDER BY conname
"""

_OWNED_SEQUENCES_SQL = """
SELECT d.objid::regclass::text, a.attname FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %(oid)s
  AND d.deptype = 'a' ORDER BY 1
"""

# the table's own indexes (exclusion constraints' apart: they are rebuilt as constraints)
_INDEXES_SQL = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname, con.contype,
       coalesce(con.condeferrable, false), coalesce(con.condeferred, false), i.indisclustered,
       obj_description(i.indexrelid, 'pg_class'), obj_description(con.oid, 'pg_constraint'), i.indisreplident
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                             AND con.contype IN ('p', 'u')
WHERE i.indrelid = %(oid)s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid AND x.contype = 'x')
ORDER BY con.contype NULLS LAST, ic.relname
"""

# anything else that hangs on the table or its row type: a function taking it, a column of its type
_OTHER_SQL = """
SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d
WHERE ((d.refclassid = 'pg_class'::regclass AND d.refobjid = %(oid)s)
       OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = %(type)s))
  AND d.deptype IN ('n', 'a')
  AND d.classid NOT IN ('pg_rewrite'::regclass, 'pg_trigger'::regclass, 'pg_policy'::regclass,
                        'pg_attrdef'::regclass, 'pg_statistic_ext'::regclass, 'pg_publication_rel'::regclass)
  AND NOT (d.classid = 'pg_constraint'::regclass
           AND d.objid IN (SELECT oid FROM pg_constraint WHERE conrelid = %(oid)s OR confrelid = %(oid)s))
  AND NOT (d.classid = 'pg_class'::regclass
           AND d.objid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %(oid)s
                           UNION ALL SELECT oid FROM pg_class WHERE relkind = 'S'))
ORDER BY 1
"""


def read_facts(cur: Any, target: TableRef) -> TargetFacts | None:
    """The target's facts, or None when it does not exist."""
    cur.execute("SELECT set_config('search_path', '', true)")
    cur.execute(_TABLE_SQL, (target.quoted,))
    row = cur.fetchone()
    if row is None:
        return None
    oid, rowtype, owner, can_own, relkind, unlogged, own_space, inherited, rls, force, comment, replident, \
        reloptions, may_create, owned = row
    args = {"oid": oid, "type": rowtype, "schema": target.schema, "table": target.table}
    cur.execute(_COLUMNS_SQL, args)
    cols = cur.fetchall()
    names = {}
    for kind, sql in _NAMES_SQL.items():
        cur.execute(sql, args)
        names[kind] = tuple(r[0] for r in cur.fetchall())
    cur.execute(_FKS_FROM_SQL, args)
    fks = tuple(ForeignKeyFrom(*r) for r in cur.fetchall())
    cur.execute(_EXCLUSIONS_SQL, args)
    exclusions = tuple(Exclusion(*r) for r in cur.fetchall())
    cur.execute(_OWNED_SEQUENCES_SQL, args)
    sequences = tuple((r[0], r[1]) for r in cur.fetchall())
    cur.execute(_INDEXES_SQL, args)
    ix_rows = cur.fetchall()
    indexes = tuple(SavedIndex(name=r[0], definition=r[1], constraint=r[2], constraint_type=r[3], deferrable=r[4],
                               deferred=r[5], clustered=r[6], index_comment=r[7], constraint_comment=r[8])
                    for r in ix_rows)
    replica_index = next((r[2] or r[0] for r in ix_rows if r[9]), None)
    cur.execute(_OTHER_SQL, args)
    others = tuple(r[0] for r in cur.fetchall())
    return TargetFacts(
        table=target, owner=owner, can_own=bool(can_own), owned_by_loader=bool(owned), may_create=bool(may_create),
        relkind=relkind, unlogged=bool(unlogged),
        own_tablespace=bool(own_space), inherited=bool(inherited),
        columns=tuple((c[0], c[1], bool(c[2]), c[3]) for c in cols),
        fks_from=fks, rls=bool(rls), force_rls=bool(force), triggers=names["triggers"], rules=names["rules"],
        publications=names["publications"], owned_sequences=sequences,
        comment=comment, replica_identity=replident, replica_index=replica_index,
        indexes=indexes, exclusions=exclusions, statistics=names["statistics"], reloptions=tuple(reloptions),
        other_dependents=others, **read_dependents(cur, args, owner))
