"""Hostile identifiers and unreachable parts: exactly the named table and column, nothing dropped;
one clear error line for what cannot be reached."""

from __future__ import annotations

from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import ConfigError, TargetConnectionError

EVIL = 'a"; drop table x; --'


@pytest.mark.parametrize("method", ["copy", "optimized", "standard"])
def test_hostile_table_and_column_names_load_exactly_there(method: str, spark: Any, pg_db: Any, pg_conn: Any,
                                                           bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE x (keep int)")
        cur.execute("INSERT INTO x VALUES (42)")
    df = spark.createDataFrame([(1, "one"), (2, "two")], ["id", EVIL])
    result = write_to_postgres(df, pg_db.as_params(), method=method, table=f'public."{EVIL.replace(chr(34), 2 * chr(34))}"',
                               temp_s3_bucket=bucket, state_url=state_url, mode="upsert", key=["id"])
    assert result.rows == 2
    with pg_conn.cursor() as cur:
        cur.execute("SELECT keep FROM x")
        assert cur.fetchall() == [(42,)]
        cur.execute('SELECT id, "a""; drop table x; --" FROM "a""; drop table x; --" ORDER BY id')
        assert cur.fetchall() == [(1, "one"), (2, "two")]


@pytest.mark.parametrize("table", ["..", "a/b", ""])
def test_table_names_that_would_escape_the_prefix_root_are_refused(table: str, spark: Any, pg_db: Any,
                                                                  bucket: str, state_url: str) -> None:
    with pytest.raises(ConfigError):
        write_to_postgres(spark.range(1), pg_db.as_params(), method="copy", table=table, temp_s3_bucket=bucket,
                          state_url=state_url, fallback="none")


@pytest.mark.parametrize("change,expect", [
    ({"port": 1}, "cannot reach PostgreSQL"),
    ({"password": "wrong-password"}, "refused the password"),
    ({"database": "no_such_db"}, "does not exist"),
    # a role that does not exist is a refused login (PostgreSQL does not say which), not an unreachable server
    ({"user": "nobody_here"}, "refused the password for user nobody_here (a wrong password, or no such user)"),
])
def test_unreachable_postgres_gives_one_clear_line(change: dict[str, Any], expect: str, spark: Any, pg_db: Any,
                                                  state_url: str) -> None:
    params = pg_db.as_params() | change
    with pytest.raises(TargetConnectionError) as info:
        write_to_postgres(spark.range(1), params, table="t", method="optimized", state_url=state_url)
    text = str(info.value)
    assert expect in text and "\n" not in text and "wrong-password" not in text and pg_db.password not in text
