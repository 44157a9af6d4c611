"""Indexes built after the rows (loader.destination.index_defer), on a real PostgreSQL and end to end.

What must hold: the table ends with exactly the indexes, constraints, comments
and CLUSTER mark it had; a duplicate key fails the load and leaves the table as
it was; a table with rows, a table somebody is using, and tables whose indexes
cannot safely be dropped keep the ordinary path. Whether the indexes were
rebuilt is visible from outside: a rebuilt index is a new relation (new oid).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import pytest

from loader import write_to_postgres
from loader.adapters import pg
from loader.connection import ConnectionSpec
from loader.destination.index_defer import claim_empty_target, drop_indexes
from loader.destination.modes import write_mode
from loader.destination.publish import publish
from loader.errors import DataError
from loader.naming import TableRef
from loader.options import WriteMode

T = TableRef("public", "target")

RICH_DDL = [
    "CREATE TABLE target (id bigint NOT NULL, code text, day date, v text, n int)",
    "ALTER TABLE target ADD CONSTRAINT target_id_pk PRIMARY KEY (id) INCLUDE (n)",
    "ALTER TABLE target ADD CONSTRAINT target_code_day_uq UNIQUE (code, day) DEFERRABLE INITIALLY DEFERRED",
    "CREATE INDEX target_lower_v ON target (lower(v)) WHERE v IS NOT NULL",
    "CREATE INDEX target_day_desc ON target USING btree (day DESC NULLS LAST) WITH (fillfactor = 70)",
    "COMMENT ON INDEX target_lower_v IS 'case-insensitive lookups'",
    "COMMENT ON CONSTRAINT target_id_pk ON target IS 'the key'",
    "ALTER TABLE target CLUSTER ON target_day_desc",
]

SNAPSHOT = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indisclustered, i.indisprimary, i.indisunique,
       con.conname, pg_get_constraintdef(con.oid), con.condeferrable, con.condeferred,
       obj_description(i.indexrelid, 'pg_class'), obj_description(con.oid, 'pg_constraint')
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
WHERE i.indrelid = 'public.target'::regclass ORDER BY ic.relname
"""


def _rows(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def _index_oids(conn: Any, table: str = "public.target") -> set[int]:
    return {r[0] for r in _rows(conn, "SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass", (table,))}


def _setup(conn: Any, statements: list[str]) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def _holds_exclusive(cur: Any, table: str = "public.target") -> bool:
    cur.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s::regclass "
                "AND mode = 'AccessExclusiveLock'", (table,))
    return bool(cur.fetchone()[0])


# --- the module on its own -------------------------------------------------------------

def test_drop_and_rebuild_restores_every_index_constraint_comment_and_cluster_mark(
        pg_db: ConnectionSpec, pg_conn: Any) -> None:
    _setup(pg_conn, RICH_DDL)
    before = _rows(pg_conn, SNAPSHOT)
    assert len(before) == 4
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE target")
            deferred = drop_indexes(cur, T)
            assert deferred is not None and len(deferred.indexes) == 4
            cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'public.target'::regclass")
            assert cur.fetchone()[0] == 0, "indexes are gone during the load"
            cur.execute("INSERT INTO target SELECT g, 'c' || g, DATE '2026-01-01' + g, "
                        "CASE WHEN g % 3 = 0 THEN NULL ELSE 'V' || g END, g FROM generate_series(1, 5000) g")
            deferred.rebuild(cur)
        conn.commit()
    finally:
        conn.close()
    assert _rows(pg_conn, SNAPSHOT) == before
    assert _rows(pg_conn, "SELECT count(*) FROM target")[0][0] == 5000
    with pytest.raises(psycopg2.errors.UniqueViolation):
        _setup(pg_conn, ["INSERT INTO target (id, code, day) VALUES (1, 'x', DATE '1999-01-01')"])


def test_duplicate_key_found_by_the_rebuild_rolls_everything_back(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    _setup(pg_conn, RICH_DDL + ["INSERT INTO target (id, code, day) VALUES (7, 'old', DATE '2020-01-01')",
                                "CREATE TABLE src (id bigint, code text, day date, v text, n int)",
                                "INSERT INTO src VALUES (1, 'a', DATE '2026-01-01', 'x', 1), "
                                "(2, 'b', DATE '2026-01-01', 'y', 2), (1, 'c', DATE '2026-01-02', 'z', 3)"])
    before, oids = _rows(pg_conn, SNAPSHOT), _index_oids(pg_conn)
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur, pytest.raises(DataError) as info:
            publish(cur, source="public.src", target=T, columns=("id", "code", "day", "v", "n"), casts=None,
                    write=write_mode(WriteMode.OVERWRITE), defer_indexes=True)
    finally:
        conn.close()  # rolled back
    assert "(id)=(1)" in str(info.value), str(info.value)
    assert _rows(pg_conn, "SELECT id, code FROM target") == [(7, "old")]
    assert _rows(pg_conn, SNAPSHOT) == before and _index_oids(pg_conn) == oids


@pytest.mark.parametrize("shape", ["fk_child", "partitioned", "exclusion", "replica_identity"])
def test_tables_whose_indexes_cannot_be_dropped_safely_keep_them(pg_db: ConnectionSpec, pg_conn: Any,
                                                                 shape: str) -> None:
    ddl = {
        "fk_child": ["CREATE TABLE target (id int PRIMARY KEY)",
                     "CREATE TABLE child (id int REFERENCES target (id))"],
        "partitioned": ["CREATE TABLE target (id int PRIMARY KEY) PARTITION BY RANGE (id)",
                        "CREATE TABLE target_p1 PARTITION OF target FOR VALUES FROM (0) TO (100)"],
        "exclusion": ["CREATE TABLE target (id int PRIMARY KEY, r int4range, EXCLUDE USING gist (r WITH &&))"],
        "replica_identity": ["CREATE TABLE target (id int NOT NULL)",
                             "CREATE UNIQUE INDEX target_id ON target (id)",
                             "ALTER TABLE target REPLICA IDENTITY USING INDEX target_id"],
    }[shape]
    _setup(pg_conn, ddl)
    oids = _index_oids(pg_conn)
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE target IN ACCESS EXCLUSIVE MODE")
            assert drop_indexes(cur, T) is None
            cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'public.target'::regclass")
            assert cur.fetchone()[0] == len(oids)
        conn.rollback()
    finally:
        conn.close()


def test_a_user_who_does_not_own_the_table_keeps_the_indexes(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    role = f"writer_{uuid.uuid4().hex[:8]}"
    _setup(pg_conn, ["CREATE TABLE target (id int PRIMARY KEY, v text)",
                     f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'",
                     f"GRANT USAGE ON SCHEMA public TO {role}",
                     f"GRANT SELECT, INSERT, TRUNCATE ON target TO {role}"])
    spec = ConnectionSpec(host=pg_db.host, port=pg_db.port, database=pg_db.database, user=role,
                          password=f"pw-{role}")
    try:
        conn = pg.connect(spec)
        try:
            with conn.cursor() as cur:
                claimed, truncated = claim_empty_target(cur, T)
                assert claimed and truncated
                assert drop_indexes(cur, T) is None  # must be owner: refused, and the transaction goes on
                cur.execute("INSERT INTO target VALUES (1, 'a')")
            conn.commit()
        finally:
            conn.close()
        assert _rows(pg_conn, "SELECT id, v FROM target") == [(1, "a")]
    finally:
        _setup(pg_conn, [f"DROP OWNED BY {role}", f"DROP ROLE {role}"])


def test_claim_refuses_a_table_with_rows_without_locking_it(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    _setup(pg_conn, ["CREATE TABLE target (id int PRIMARY KEY)", "INSERT INTO target VALUES (1)"])
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            assert claim_empty_target(cur, T) == (False, False)
            assert not _holds_exclusive(cur)
        conn.rollback()
    finally:
        conn.close()


def test_claim_of_an_empty_table_locks_it_and_truncates_for_freeze(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    _setup(pg_conn, ["CREATE TABLE target (id int PRIMARY KEY)"])
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            assert claim_empty_target(cur, T) == (True, True)
            assert _holds_exclusive(cur)
            cur.execute("COPY target FROM STDIN (FORMAT csv, FREEZE)")  # allowed only after the TRUNCATE
        conn.rollback()
    except psycopg2.Error as exc:  # COPY FROM STDIN without data: any error but the FREEZE one is fine
        assert "FREEZE" not in str(exc)
    finally:
        conn.close()


def test_claim_backs_off_at_once_when_someone_else_uses_the_empty_table(pg_db: ConnectionSpec,
                                                                        pg_conn: Any) -> None:
    _setup(pg_conn, ["CREATE TABLE target (id int PRIMARY KEY)"])
    reader = pg.connect(pg_db)
    conn = pg.connect(pg_db)
    try:
        with reader.cursor() as rcur:
            rcur.execute("SELECT count(*) FROM target")  # holds ACCESS SHARE until its transaction ends
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '5s'")
            assert claim_empty_target(cur, T) == (False, False)
            assert not _holds_exclusive(cur)
            cur.execute("INSERT INTO target VALUES (1)")  # the transaction is still usable
        conn.commit()
    finally:
        conn.close()
        reader.close()
    assert _rows(pg_conn, "SELECT id FROM target") == [(1,)]


def test_claim_does_not_truncate_a_table_with_truncate_triggers_or_a_publication(pg_db: ConnectionSpec,
                                                                                 pg_conn: Any) -> None:
    _setup(pg_conn, ["CREATE TABLE target (id int PRIMARY KEY)",
                     "CREATE TABLE audit (what text)",
                     "CREATE FUNCTION note_truncate() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$BEGIN INSERT INTO audit VALUES (TG_OP); RETURN NULL; END$$",
                     "CREATE TRIGGER t_trunc AFTER TRUNCATE ON target FOR EACH STATEMENT "
                     "EXECUTE FUNCTION note_truncate()"])
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            assert claim_empty_target(cur, T) == (True, False)
        conn.commit()
    finally:
        conn.close()
    assert _rows(pg_conn, "SELECT count(*) FROM audit") == [(0,)]


# --- end to end: COPY and JDBC ----------------------------------------------------------

def _df(spark: Any, ids: list[int]) -> Any:
    return spark.createDataFrame([(i, f"code{i}", f"v{i}") for i in ids], "id long, code string, v string")


E2E_DDL = ["CREATE TABLE target (id bigint PRIMARY KEY, code text UNIQUE, v text)",
           "CREATE INDEX target_v ON target (v)", "COMMENT ON INDEX target_v IS 'kept'"]


@pytest.mark.parametrize(("method", "mode", "prefill", "rebuilt"), [
    ("copy", "append", False, True),
    ("copy", "append", True, False),
    ("copy", "overwrite", True, False),  # its rows replaced under MVCC: readers keep its indexes
    ("copy", "truncate", True, True),
    ("copy", "overwrite", False, True),  # an empty table: as an append's
    ("optimized", "append", False, True),
    ("optimized", "overwrite", True, False),
    ("optimized", "truncate", True, True),
    ("standard", "append", True, False),
])
def test_loads_rebuild_indexes_only_when_the_target_is_empty_or_truncated(
        spark: Any, pg_db: ConnectionSpec, pg_conn: Any, bucket: str, state_url: str,
        method: str, mode: str, prefill: bool, rebuilt: bool) -> None:
    _setup(pg_conn, E2E_DDL + (["INSERT INTO target VALUES (-1, 'old', 'old')"] if prefill else []))
    before, oids = _rows(pg_conn, SNAPSHOT), _index_oids(pg_conn)
    how = {"mode": "overwrite", "overwrite": "truncate"} if mode == "truncate" else {"mode": mode}
    result = write_to_postgres(_df(spark, list(range(1, 301))), pg_db.as_params(), method=method,
                               table="public.target", temp_s3_bucket=bucket, state_url=state_url,
                               fallback="none", connections=1, **how)
    assert result.method == method and result.rows == 300
    expected = list(range(1, 301)) if mode in ("overwrite", "truncate") or not prefill else [-1, *range(1, 301)]
    assert [r[0] for r in _rows(pg_conn, "SELECT id FROM target ORDER BY id")] == expected
    assert _rows(pg_conn, SNAPSHOT) == before
    assert (_index_oids(pg_conn).isdisjoint(oids)) is rebuilt
    with pytest.raises(psycopg2.errors.UniqueViolation):
        _setup(pg_conn, ["INSERT INTO target VALUES (5, 'new', 'x')"])


def test_defer_indexes_false_keeps_them(spark: Any, pg_db: ConnectionSpec, pg_conn: Any, bucket: str,
                                        state_url: str) -> None:
    _setup(pg_conn, E2E_DDL)
    oids = _index_oids(pg_conn)
    write_to_postgres(_df(spark, [1, 2, 3]), pg_db.as_params(), method="copy", table="public.target",
                      mode="overwrite", temp_s3_bucket=bucket, state_url=state_url, defer_indexes=False)
    assert _index_oids(pg_conn) == oids
    assert _rows(pg_conn, "SELECT count(*) FROM target") == [(3,)]


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_duplicate_keys_in_an_empty_target_fail_cleanly(spark: Any, pg_db: ConnectionSpec, pg_conn: Any,
                                                        bucket: str, state_url: str, method: str) -> None:
    _setup(pg_conn, E2E_DDL)
    before, oids = _rows(pg_conn, SNAPSHOT), _index_oids(pg_conn)
    with pytest.raises(DataError) as info:
        write_to_postgres(_df(spark, [1, 2, 3, 2]), pg_db.as_params(), method=method, table="public.target",
                          temp_s3_bucket=bucket, state_url=state_url, fallback="none")
    assert "(id)=(2)" in str(info.value), str(info.value)
    assert "mode: upsert and key: [id]" in str(info.value)  # the hint names the key
    assert _rows(pg_conn, "SELECT count(*) FROM target") == [(0,)]
    assert _rows(pg_conn, SNAPSHOT) == before and _index_oids(pg_conn) == oids
