"""The write modes as strategies: pure, no server."""

from __future__ import annotations

import pytest

from loader.destination.modes import write_mode
from loader.destination.write_modes import Append, Overwrite, Upsert, key_problem, truncate_refusal
from loader.errors import ConfigError
from loader.naming import TableRef
from loader.options import WriteMode

T = TableRef("s", 'we"ird')


def test_each_mode_has_one_strategy() -> None:
    assert [type(write_mode(m, ("id",))) for m in WriteMode] == [Append, Overwrite, Upsert]
    assert write_mode("upsert", ["id"]) == Upsert(("id",)) and write_mode("append") != write_mode("overwrite")


def test_upsert_needs_a_key_and_says_so_once() -> None:
    with pytest.raises(ConfigError, match="upsert needs key columns"):
        write_mode(WriteMode.UPSERT, ())
    assert key_problem("upsert", ()) and key_problem("append", ()) is None and key_problem("upsert", ("k",)) is None


def test_only_upsert_merges_and_adds_on_conflict() -> None:
    cols = ("id", 'v"x')
    assert not Append().merges and not Overwrite().merges and Upsert(("id",)).merges
    plain = 'INSERT INTO "s"."we""ird" ("id", "v""x") SELECT 1'
    assert Append().insert_sql(T, cols, "SELECT 1") == plain
    assert Overwrite().insert_sql(T, cols, "SELECT 1") == plain
    assert Upsert(("id",)).insert_sql(T, cols, "SELECT 1") == (
        plain + ' ON CONFLICT ("id") DO UPDATE SET "v""x" = EXCLUDED."v""x"')
    assert Upsert(cols).insert_sql(T, cols, "SELECT 1").endswith('ON CONFLICT ("id", "v""x") DO NOTHING')


class _Cur:
    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, sql: str, *args: object) -> None:
        self.sql.append(sql)


def test_overwrite_truncates_unless_the_table_was_created_in_the_transaction() -> None:
    cur = _Cur()
    assert Overwrite().prepare(cur, T, created=False) is True and cur.sql == ['TRUNCATE TABLE "s"."we""ird"']
    cur = _Cur()
    assert Overwrite().prepare(cur, T, created=True) is True and cur.sql == []
    assert Append().prepare(cur, T, created=False) is False and Upsert(("id",)).prepare(cur, T, created=True)
    assert cur.sql == []


def test_upsert_keeps_its_indexes() -> None:
    cur = _Cur()
    assert Upsert(("id",)).defer_indexes(cur, T, fresh=True) == (None, True) and cur.sql == []


def test_only_a_whole_table_overwrite_truncates() -> None:
    assert write_mode(WriteMode.OVERWRITE).truncates
    assert not write_mode(WriteMode.OVERWRITE, replace_where="true").truncates
    assert not write_mode(WriteMode.OVERWRITE, ("d",), replace_by=("d",)).truncates
    assert not write_mode(WriteMode.APPEND).truncates and not write_mode(WriteMode.UPSERT, ("id",)).truncates


def test_a_referenced_table_is_refused_naming_each_key_and_the_ways_round() -> None:
    target = TableRef("app", "nation")
    assert truncate_refusal(target, ()) is None
    message, step = truncate_refusal(target, ("app.customer.fk_nation (ON DELETE NO ACTION)",
                                              "app.supplier.fk_n (ON DELETE CASCADE)")) or ("", "")
    assert message.startswith("app.nation: overwrite empties the table with TRUNCATE")
    assert "app.customer.fk_nation (ON DELETE NO ACTION), app.supplier.fk_n (ON DELETE CASCADE)" in message
    assert "mode: upsert" in step and 'replace_where: "true"' in step and "ON DELETE CASCADE" in step
