"""psycopg2's exceptions become loader's by SQLSTATE, against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from loader.adapters import pg, pg_errors
from loader.connection import ConnectionSpec
from loader.errors import DataError, TargetConnectionError, TargetError
from loader.naming import TableRef

T = TableRef("public", "t")


def _raised(spec: ConnectionSpec, sql: str, **context: Any) -> BaseException:
    conn = pg.connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)")
            cur.execute("INSERT INTO t VALUES (1, 'a')")
            with pytest.raises(Exception) as info, pg_errors.translated(**context):
                cur.execute(sql)
        return info.value
    finally:
        conn.close()


def test_data_errors_name_column_and_constraint(pg_db: ConnectionSpec) -> None:
    dup = _raised(pg_db, "INSERT INTO t VALUES (1, 'b')", table=T, where="part 3")
    assert isinstance(dup, DataError) and dup.ids["sqlstate"] == "23505" and dup.ids["constraint"] == "t_pkey"
    assert "(id)=(1)" in dup.message and dup.message.endswith("in part 3")
    null = _raised(pg_db, "INSERT INTO t VALUES (2, NULL)", table=T)
    assert isinstance(null, DataError) and null.ids["column"] == "v"
    cast = _raised(pg_db, "SELECT 'x'::int", table=T)
    assert isinstance(cast, DataError) and cast.ids["sqlstate"] == "22P02"


def test_a_unique_violation_is_explained_by_the_write_mode(pg_db: ConnectionSpec) -> None:
    from loader.destination.hints import explain
    from loader.destination.modes import write_mode
    from loader.options import WriteMode

    dup = _raised(pg_db, "INSERT INTO t VALUES (1, 'b')", table=T)
    assert isinstance(dup, DataError) and "column type" not in (dup.next_step or "")
    assert "mode: upsert" in (dup.next_step or "")  # generic, before the write mode refines it
    null = _raised(pg_db, "INSERT INTO t VALUES (2, NULL)", table=T)
    assert "NOT NULL" in (null.next_step or "")
    conn = pg.connect(pg_db, autocommit=True)  # _raised's table was rolled back: make it for the lookup
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int, v text NOT NULL, CONSTRAINT t_pkey PRIMARY KEY (id))")
    finally:
        conn.close()
    explain(dup, pg_db, T, write_mode(WriteMode.APPEND))
    assert "load with mode: upsert and key: [id] (write_to_postgres(..., mode='upsert', key=['id']))" \
        in str(dup)
    explain(dup, pg_db, T, write_mode(WriteMode.OVERWRITE))
    assert "the source has more than one row with the same (id)" in str(dup)
    explain(dup, pg_db, T, write_mode(WriteMode.UPSERT, ["v"]))
    assert "unique key (id) is not the upsert key (v)" in str(dup)


def test_other_refusals_keep_their_sqlstate(pg_db: ConnectionSpec) -> None:
    schema = _raised(pg_db, "CREATE TABLE nope.x (i int)", table=T)
    assert isinstance(schema, TargetError) and schema.sqlstate == pg_errors.NO_SUCH_SCHEMA
    conflict = _raised(pg_db, "INSERT INTO t VALUES (3, 'c') ON CONFLICT (v) DO NOTHING", table=T)
    assert isinstance(conflict, TargetError) and conflict.sqlstate == pg_errors.NO_UNIQUE_INDEX_FOR_ON_CONFLICT


def test_during_a_load_anything_but_data_is_the_connections(pg_db: ConnectionSpec) -> None:
    err = _raised(pg_db, "CREATE TABLE nope.x (i int)", table=T, during="the load of t")
    assert isinstance(err, TargetConnectionError) and "during the load of t" in err.message
    assert isinstance(_raised(pg_db, "SELECT 1/0", table=T, during="x"), DataError)


def test_a_killed_backend_is_a_connection_error(pg_db: ConnectionSpec) -> None:
    err = _raised(pg_db, "SELECT pg_terminate_backend(pg_backend_pid())", table=T)
    assert isinstance(err, TargetConnectionError) and err.retryable


def test_savepoint_rolls_back_and_keeps_the_transaction_usable(pg_db: ConnectionSpec) -> None:
    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE s (id int PRIMARY KEY)")
            cur.execute("INSERT INTO s VALUES (1)")
            with pytest.raises(DataError), pg_errors.savepoint(cur, "sp", table="s"):
                cur.execute("INSERT INTO s VALUES (2)")
                cur.execute("INSERT INTO s VALUES (1)")
            cur.execute("SELECT array_agg(id) FROM s")
            assert cur.fetchone()[0] == [1]  # the 2 went with the savepoint, the 1 stayed
    finally:
        conn.close()
