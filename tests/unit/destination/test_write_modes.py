"""The write modes as strategies: pure, no server."""

from __future__ import annotations

import pytest

from loader.destination.landing_rules import in_place_refusal
from loader.destination.modes import write_mode
from loader.destination.write_modes import Append, Opened, Overwrite, TruncateOverwrite, Upsert, key_problem
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
    def __init__(self, rowcount: int = 0) -> None:
        self.sql: list[str] = []
        self.rowcount = rowcount

    def execute(self, sql: str, *args: object) -> None:
        self.sql.append(sql)


def test_overwrite_deletes_the_rows_under_mvcc_unless_the_table_was_created_in_the_transaction() -> None:
    cur = _Cur(rowcount=7)
    assert Overwrite().prepare(cur, T, created=False) == Opened(False, 7) and cur.sql == ['DELETE FROM "s"."we""ird"']
    cur = _Cur()
    assert Overwrite().prepare(cur, T, created=True) == Opened(True) and cur.sql == []
    assert Append().prepare(cur, T, created=False) == Opened(False) and Upsert(("id",)).prepare(cur, T, created=True)
    assert cur.sql == []


def test_overwrite_truncates_only_when_asked() -> None:
    cur = _Cur()
    truncate = write_mode(WriteMode.OVERWRITE, overwrite="truncate")
    assert type(truncate) is TruncateOverwrite
    assert truncate.prepare(cur, T, created=False) == Opened(True) and cur.sql == ['TRUNCATE TABLE "s"."we""ird"']
    with pytest.raises(ConfigError, match="only for mode overwrite without a slice"):
        write_mode(WriteMode.OVERWRITE, overwrite="truncate", replace_where="true")
    with pytest.raises(ConfigError, match="is not one of auto, truncate"):
        write_mode(WriteMode.OVERWRITE, overwrite="drop")


def test_an_overwrite_that_deleted_rows_keeps_its_indexes_for_its_readers() -> None:
    cur = _Cur()
    assert Overwrite().defer_indexes(cur, T, Opened(False, 3)) == (None, False) and cur.sql == []


def test_upsert_keeps_its_indexes() -> None:
    cur = _Cur()
    assert Upsert(("id",)).defer_indexes(cur, T, Opened(True)) == (None, True) and cur.sql == []


def test_only_an_overwrite_asked_to_truncates() -> None:
    assert write_mode(WriteMode.OVERWRITE, overwrite="truncate").truncates
    assert not write_mode(WriteMode.OVERWRITE).truncates and write_mode(WriteMode.OVERWRITE).replaces_table
    assert not write_mode(WriteMode.OVERWRITE, replace_where="true").truncates
    assert not write_mode(WriteMode.OVERWRITE, ("d",), replace_by=("d",)).truncates
    assert not write_mode(WriteMode.APPEND).truncates and not write_mode(WriteMode.UPSERT, ("id",)).truncates


def test_a_referenced_table_is_refused_in_place_naming_each_key_and_the_ways_round() -> None:
    target = TableRef("app", "nation")
    keys = ("app.customer.fk_nation (ON DELETE NO ACTION)", "app.supplier.fk_n (ON DELETE CASCADE)")
    assert in_place_refusal(target, (), truncates=True) is None
    message, step = in_place_refusal(target, keys, truncates=True) or ("", "")
    assert message.startswith("app.nation: this overwrite empties the table with TRUNCATE")
    assert "app.customer.fk_nation (ON DELETE NO ACTION), app.supplier.fk_n (ON DELETE CASCADE)" in message
    assert "mode: upsert" in step and "copy.connections" in step and "shadow swap" in step
    message, _ = in_place_refusal(target, keys, truncates=False) or ("", "")
    assert "replaces the rows in place with DELETE" in message and "ON DELETE CASCADE" in message
