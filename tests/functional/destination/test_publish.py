"""publish(): the one atomic step, on a real PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from loader.adapters import pg
from loader.connection import ConnectionSpec
from loader.destination import ledger
from loader.destination.load_transaction import LoadTransaction
from loader.destination.modes import write_mode
from loader.errors import DataError, SchemaMismatchError, StateError
from loader.naming import TableRef, quote_ident
from loader.options import WriteMode
from loader.plan.typemap import ColumnPlan

T = TableRef("public", "target")
SRC = "public.src"


def _rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _publish(spec: ConnectionSpec, *, target: TableRef = T, source: str = SRC,
             columns: tuple[str, ...] = ("id", "v"), casts: tuple[str, ...] | None = None,
             mode: WriteMode = WriteMode.APPEND, key: tuple[str, ...] = (), run_id: str | None = None,
             commit: bool = True, allow_empty: bool = False, **slice_args: Any) -> int:
    """The rows of ``source`` into ``target`` through the load transaction every method uses."""
    conn = pg.connect(spec)
    try:
        load = LoadTransaction(conn, spec, target, ColumnPlan(columns, casts or ("text",) * len(columns)),
                               write_mode(mode, key, **slice_args), run_id or uuid.uuid4().hex,
                               allow_empty=allow_empty)
        load.begin()
        written = load.finish(load.publish(source, casts=casts))
        if commit:
            load.commit()
        return written.rows
    finally:
        conn.close()


@pytest.fixture()
def tables(pg_conn: Any) -> Any:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer PRIMARY KEY, v text)")
        cur.execute("INSERT INTO target VALUES (1, 'old1'), (2, 'old2')")
        cur.execute("CREATE TABLE src (id integer, v text)")
        cur.execute("INSERT INTO src VALUES (2, 'new2'), (3, 'new3')")
    return pg_conn


def test_append_moves_rows_exactly(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer, v text)")
        cur.execute("INSERT INTO target VALUES (1, 'old')")
        cur.execute("CREATE TABLE src (id integer, v text)")
        cur.execute("INSERT INTO src VALUES (1, 'dup ok'), (5, NULL), (6, '')")
    assert _publish(pg_db) == 3
    assert _rows(pg_conn, "SELECT id, v FROM target ORDER BY id, v") == [
        (1, "dup ok"), (1, "old"), (5, None), (6, "")]


def test_overwrite_replaces_all_rows(pg_db: ConnectionSpec, tables: Any) -> None:
    assert _publish(pg_db, mode=WriteMode.OVERWRITE) == 2
    assert _rows(tables, "SELECT id, v FROM target ORDER BY id") == [(2, "new2"), (3, "new3")]


def test_upsert_updates_existing_and_inserts_new(pg_db: ConnectionSpec, tables: Any) -> None:
    assert _publish(pg_db, mode=WriteMode.UPSERT, key=("id",)) == 2
    assert _rows(tables, "SELECT id, v FROM target ORDER BY id") == [(1, "old1"), (2, "new2"), (3, "new3")]


def test_upsert_with_only_key_columns_does_nothing_on_conflict(pg_db: ConnectionSpec, tables: Any) -> None:
    assert _publish(pg_db, mode=WriteMode.UPSERT, key=("id",), columns=("id",)) == 1
    assert _rows(tables, "SELECT id, v FROM target ORDER BY id") == [(1, "old1"), (2, "old2"), (3, None)]


def test_upsert_duplicate_key_in_source_is_a_data_error(pg_db: ConnectionSpec, tables: Any) -> None:
    with tables.cursor() as cur:
        cur.execute("INSERT INTO src VALUES (3, 'again')")
    with pytest.raises(DataError) as info:
        _publish(pg_db, mode=WriteMode.UPSERT, key=("id",))
    assert "id=3" in str(info.value) and "more than one row" in str(info.value)
    assert _rows(tables, "SELECT id, v FROM target ORDER BY id") == [(1, "old1"), (2, "old2")]


def test_upsert_without_unique_index_says_what_to_add(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer, v text)")
        cur.execute("CREATE TABLE src (id integer, v text)")
        cur.execute("INSERT INTO src VALUES (1, 'a')")
    with pytest.raises(SchemaMismatchError, match="unique index or primary key"):
        _publish(pg_db, mode=WriteMode.UPSERT, key=("id",))


def test_casts_turn_text_into_target_types(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        cur.execute("CREATE TABLE target (j jsonb, u uuid, ip inet, m mood, n numeric(38,18))")
        cur.execute("CREATE TABLE src (j text, u text, ip text, m text, n text)")
        cur.execute("""INSERT INTO src VALUES ('{"a": [1, "x"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                       '10.0.0.1/32', 'sad', '12345678901234567890.123456789012345678')""")
    cols = pg.table_columns(pg_conn.cursor(), T)
    assert cols is not None
    _publish(pg_db, columns=tuple(c.name for c in cols), casts=tuple(c.data_type for c in cols))
    row = _rows(pg_conn, "SELECT j, u::text, host(ip), m::text, n FROM target")[0]
    assert row == ({"a": [1, "x"]}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "10.0.0.1", "sad",
                   Decimal("12345678901234567890.123456789012345678"))


def test_failing_cast_rolls_back_everything_and_names_the_column(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer, n integer)")
        cur.execute("INSERT INTO target VALUES (1, 1)")
        cur.execute("CREATE TABLE src (id text, n text)")
        cur.execute("INSERT INTO src VALUES ('2', '2'), ('3', 'abc')")
    run_id = uuid.uuid4().hex
    with pytest.raises(DataError) as info:
        _publish(pg_db, columns=("id", "n"), casts=("integer", "integer"), mode=WriteMode.OVERWRITE,
                 run_id=run_id)
    assert "abc" in str(info.value) and "'n'" in str(info.value)
    assert _rows(pg_conn, "SELECT id, n FROM target") == [(1, 1)]  # the TRUNCATE rolled back too
    with pg_conn.cursor() as cur:
        assert ledger.committed_rows(cur, T.schema, run_id) is None


def test_ledger_row_is_in_the_same_transaction(pg_db: ConnectionSpec, tables: Any) -> None:
    run_id = uuid.uuid4().hex
    _publish(pg_db, run_id=run_id, mode=WriteMode.UPSERT, key=("id",), commit=False)  # closed: rolled back
    with tables.cursor() as cur:
        assert ledger.committed_rows(cur, T.schema, run_id) is None
    assert _rows(tables, "SELECT count(*) FROM target") == [(2,)]
    _publish(pg_db, run_id=run_id, mode=WriteMode.UPSERT, key=("id",))
    with tables.cursor() as cur:
        assert ledger.committed_rows(cur, T.schema, run_id) == 2


def test_not_null_violation_is_a_data_error_naming_the_column(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (id integer, v text NOT NULL)")
        cur.execute("CREATE TABLE src (id integer, v text)")
        cur.execute("INSERT INTO src VALUES (1, NULL)")
    with pytest.raises(DataError, match="column v"):
        _publish(pg_db)


def test_hostile_identifiers_work_and_drop_nothing(pg_db: ConnectionSpec, pg_conn: Any) -> None:
    evil = 'a"; drop table x; --'
    target = TableRef("public", evil)
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE x (keep integer)")
        cur.execute(f"CREATE TABLE {target.quoted} ({quote_ident(evil)} integer PRIMARY KEY, v text)")
        cur.execute(f"CREATE TABLE src ({quote_ident(evil)} text, v text)")
        cur.execute("INSERT INTO src VALUES ('7', 'seven')")
    for mode in WriteMode:
        _publish(pg_db, target=target, columns=(evil, "v"), casts=("integer", "text"), mode=mode, key=(evil,))
    assert _rows(pg_conn, f"SELECT * FROM {target.quoted}") == [(7, "seven")]
    assert _rows(pg_conn, "SELECT to_regclass('public.x') IS NOT NULL") == [(True,)]


def test_a_run_publishes_once(pg_db: ConnectionSpec, tables: Any) -> None:
    run_id = uuid.uuid4().hex
    _publish(pg_db, run_id=run_id, mode=WriteMode.UPSERT, key=("id",))
    with pytest.raises(StateError, match="already committed"):
        _publish(pg_db, run_id=run_id, mode=WriteMode.OVERWRITE)
    assert _rows(tables, "SELECT count(*) FROM target") == [(3,)]


def test_upsert_counts_inserted_and_updated(pg_db: ConnectionSpec, tables: Any) -> None:
    from loader.destination.publish import publish_counted

    conn = pg.connect(pg_db)
    try:
        with conn.cursor() as cur:
            upsert = write_mode(WriteMode.UPSERT, ("id",))
            got = publish_counted(cur, source=SRC, target=T, columns=("id", "v"), casts=None, write=upsert)
            assert (got.rows, got.inserted, got.updated) == (2, 1, 1)  # 3 is new, 2 existed
            cur.execute("UPDATE src SET id = id + 2")  # 4, 5: both new; only key columns: DO NOTHING
            got = publish_counted(cur, source=SRC, target=T, columns=("id",), casts=None, write=upsert)
            assert (got.rows, got.inserted, got.updated) == (2, 2, 0)
            got = publish_counted(cur, source=SRC, target=T, columns=("id",), casts=None, write=upsert)
            assert (got.rows, got.inserted, got.updated) == (0, 0, 0)  # DO NOTHING skipped both
            cur.execute("CREATE TABLE plain (id integer, v text)")
            got = publish_counted(cur, source=SRC, target=TableRef("public", "plain"), columns=("id", "v"),
                                  casts=None, write=write_mode(WriteMode.APPEND))
            assert (got.rows, got.inserted, got.updated) == (2, None, None)
        conn.commit()
    finally:
        conn.close()
    assert _rows(tables, "SELECT id, v FROM target ORDER BY id") == [
        (1, "old1"), (2, "new2"), (3, "new3"), (4, None), (5, None)]


@pytest.mark.parametrize("slice_args, left", [
    ({}, []),
    ({"replace_where": "v = 'old1'"}, [(2, "old2")]),
    ({"replace_by": ["v"]}, [(1, "old1"), (2, "old2")]),  # no slice in an empty source: nothing to replace
])
def test_an_empty_source_may_not_empty_the_table_or_the_slice_unless_allowed(
        pg_db: ConnectionSpec, tables: Any, slice_args: dict[str, Any], left: list[tuple[Any, ...]]) -> None:
    query = "SELECT id, v FROM target ORDER BY id"
    with tables.cursor() as cur:
        cur.execute("TRUNCATE src")
    if slice_args.get("replace_by"):  # an empty source names no slice: a no-op, never refused
        assert _publish(pg_db, mode=WriteMode.OVERWRITE, **slice_args) == 0
    else:
        with pytest.raises(DataError, match="the source is empty") as info:
            _publish(pg_db, mode=WriteMode.OVERWRITE, **slice_args)
        assert "allow_empty" in (info.value.next_step or "")
        assert _rows(tables, query) == [(1, "old1"), (2, "old2")]
        assert _publish(pg_db, mode=WriteMode.OVERWRITE, allow_empty=True, **slice_args) == 0
    assert _rows(tables, query) == left


def test_a_check_constraint_names_its_constraint_and_columns_not_another_column(
        pg_db: ConnectionSpec, pg_conn: Any) -> None:
    """Issue 25: optimized/standard said ``in column 'emp_id'`` for a CHECK on salary. A CHECK
    violation is not a cast failure: name the constraint and the columns it reads."""
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE target (emp_id integer, salary numeric CONSTRAINT salary_positive "
                    "CHECK (salary > 0))")
        cur.execute("CREATE TABLE src (emp_id text, salary text)")
        cur.execute("INSERT INTO src VALUES ('1', '10'), ('2', '-5')")
    with pytest.raises(DataError) as info:
        _publish(pg_db, columns=("emp_id", "salary"), casts=("integer", "numeric"))
    message = str(info.value)
    assert "emp_id'" not in message
    assert "salary_positive" in message and "CHECK ((salary > (0)::numeric))" in message
    assert info.value.ids["constraint"] == "salary_positive"
    assert _rows(pg_conn, "SELECT count(*) FROM target") == [(0,)]
