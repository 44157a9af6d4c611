"""schema_evolution: add_columns adds a new source column inside the load transaction (COPY and the
JDBC publish); a failed load leaves the table as it was; a changed type and, by default, any new
column are refused before data moves, naming the column and the types."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import DataError, SchemaMismatchError

NEW = 'n"ew; col'  # a hostile name: quoted exactly, never spliced


def _columns(pg_conn: Any, table: str) -> list[tuple[str, str, bool]]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,))
        return [tuple(r) for r in cur.fetchall()]


def _rows(pg_conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with pg_conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def _setup(pg_conn: Any, ddl: str, insert: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(ddl)
        cur.execute(insert)
    pg_conn.commit()


@pytest.mark.parametrize(("method", "mode"), [("copy", "append"), ("optimized", "upsert")])
def test_add_columns_adds_the_new_source_columns(method: str, mode: str, spark: Any, pg_db: Any, pg_conn: Any,
                                                 bucket: str, state_url: str) -> None:
    _setup(pg_conn, "CREATE TABLE ev (id bigint PRIMARY KEY, v text)", "INSERT INTO ev VALUES (1, 'old')")
    first = 1 if mode == "upsert" else 3  # upsert updates the old row, new column included
    df = spark.createDataFrame([(first, "one", Decimal("1.50"), ["a"]), (2, "two", None, None)],
                               f"id long, v string, `{NEW}` decimal(10,2), tags array<string>")
    result = write_to_postgres(df, pg_db.as_params(), method=method, table="ev", mode=mode, key=["id"],
                               temp_s3_bucket=bucket, state_url=state_url, schema_evolution="add_columns")
    assert result.method == method and result.rows == 2
    assert _columns(pg_conn, "ev") == [("id", "bigint", False), ("v", "text", True),
                                       (NEW, "numeric(10,2)", True), ("tags", "text[]", True)]
    got = _rows(pg_conn, f'SELECT id, v, "{NEW.replace(chr(34), chr(34) * 2)}", tags FROM ev ORDER BY id')
    old = [(1, "old", None, None)] if mode == "append" else []  # the rows already there: NULL in the new ones
    assert got == sorted([*old, (first, "one", Decimal("1.50"), ["a"]), (2, "two", None, None)])


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_a_failed_load_adds_no_column(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                      state_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loader")
    _setup(pg_conn, "CREATE TABLE ev (id bigint, u uuid)",
           "INSERT INTO ev VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')")
    before = _columns(pg_conn, "ev")
    df = spark.createDataFrame([(2, "not-a-uuid", "x")], "id long, u string, extra string")
    with pytest.raises(DataError):
        write_to_postgres(df, pg_db.as_params(), method=method, table="ev", temp_s3_bucket=bucket,
                          state_url=state_url, schema_evolution="add_columns", fallback="none")
    assert "public.ev: adding column(s) 'extra' text" in caplog.messages  # it was added, then rolled back
    assert _columns(pg_conn, "ev") == before
    assert _rows(pg_conn, "SELECT id FROM ev") == [(1,)]


def test_a_changed_type_is_refused_naming_the_column_and_both_types(spark: Any, pg_db: Any, pg_conn: Any,
                                                                    state_url: str) -> None:
    _setup(pg_conn, "CREATE TABLE ev (id bigint, amount integer)", "INSERT INTO ev VALUES (1, 5)")
    df = spark.createDataFrame([(2, True, "x")], "id long, amount boolean, extra string")
    with pytest.raises(SchemaMismatchError) as info:
        write_to_postgres(df, pg_db.as_params(), method="optimized", table="ev", state_url=state_url,
                          schema_evolution="add_columns")
    assert "column 'amount': source type boolean cannot load into integer" in str(info.value)
    assert "'extra'" not in str(info.value)  # that one would have been added; nothing was
    assert [c[0] for c in _columns(pg_conn, "ev")] == ["id", "amount"]


def test_none_refuses_the_new_column_and_says_how_to_allow_it(spark: Any, pg_db: Any, pg_conn: Any,
                                                              state_url: str) -> None:
    _setup(pg_conn, "CREATE TABLE ev (id bigint)", "INSERT INTO ev VALUES (1)")
    df = spark.createDataFrame([(2, "x")], "id long, extra string")
    with pytest.raises(SchemaMismatchError) as info:
        write_to_postgres(df, pg_db.as_params(), method="optimized", table="ev", state_url=state_url)
    assert "source column 'extra' is not in the table" in str(info.value)
    assert "schema_evolution: add_columns" in (info.value.next_step or "")
    assert [c[0] for c in _columns(pg_conn, "ev")] == ["id"]
