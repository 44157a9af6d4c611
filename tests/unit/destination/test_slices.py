"""Slice replace without a server: what a predicate may be, slice identities, the strategies."""

from __future__ import annotations

import pytest

from loader.destination.modes import write_mode
from loader.destination.slice_modes import ReplaceBy, ReplaceWhere, slice_problem
from loader.destination.slices import incoming, normalized, predicate_problem, slice_text
from loader.destination.write_modes import Overwrite
from loader.errors import ConfigError
from loader.naming import TableRef
from loader.options import WriteMode


@pytest.mark.parametrize("predicate", [
    "dataset = 'conservation-area'",
    "dataset IN ('a', 'b') AND start_date >= DATE '2020-01-01'",
    "true",
    "extract(year from start_date) = 2020",
    "entry_date > '2020-01-01'::timestamp with time zone",
    "name = 'it''s; -- not a comment'",           # inside a literal, ; and -- are text
    '"Dataset" = \'x\'',                          # a quoted column name
    "coalesce(typology, '') <> 'geography'",
    "ST_Intersects(geometry, ST_MakeEnvelope(0, 0, 1, 1, 4326))",
])
def test_plain_boolean_expressions_are_accepted(predicate: str) -> None:
    assert predicate_problem(predicate) is None


@pytest.mark.parametrize("predicate, words", [
    ("dataset = 'a'; DROP TABLE entity", "';'"),
    ("dataset = 'a' -- and the rest", "comment"),
    ("dataset = 'a' /* x */", "comment"),
    ("dataset IN (SELECT dataset FROM other)", "SELECT"),
    ("dataset = ANY (VALUES ('a'))", "VALUES"),
    ("dataset IN (TABLE other)", "TABLE"),
    ("dataset = $1", "'$'"),
    ("dataset = $$a$$", "'$'"),
    ("dataset = 'a') OR (true", "parentheses"),
    ("(dataset = 'a'", "parentheses"),
    ("dataset = 'a", "unterminated"),
    ("   ", "empty"),
    ("dataset = E'\\x27'", "backslash"),
])
def test_anything_else_is_refused_saying_why(predicate: str, words: str) -> None:
    problem = predicate_problem(predicate)
    assert problem is not None and words in problem


def test_the_lock_identity_of_a_predicate_folds_case_and_spaces_outside_literals() -> None:
    assert normalized("Dataset  =\n'Conservation Area'") == normalized("dataset = 'Conservation Area'")
    assert normalized("dataset = 'A'") != normalized("dataset = 'a'")


def test_a_null_slice_is_not_the_string_null() -> None:
    assert slice_text((None,)) != slice_text(("None",)) != slice_text(("\\N",))
    assert slice_text(("a", None)) != slice_text(("a", "")) and slice_text((1,)) == slice_text(("1",))


def test_incoming_rows_read_as_the_target_reads() -> None:
    sql = incoming('"loader_upsert_1"', TableRef("public", "entity"), ["dataset", "geometry"],
                   ['CAST("c_1" AS text)', '"c_2"'])
    assert sql == ('(SELECT CAST("c_1" AS text) AS "dataset", "c_2" AS "geometry" FROM "loader_upsert_1") '
                   'AS "entity"')


def test_the_strategies_are_chosen_once_from_the_mode_and_the_slice() -> None:
    where = write_mode(WriteMode.OVERWRITE, replace_where="dataset = 'a'")
    by = write_mode("overwrite", replace_by=["dataset"])
    assert isinstance(where, ReplaceWhere) and isinstance(by, ReplaceBy)
    assert where.merges and where.shares_table and not where.needs_unique_key
    assert type(write_mode(WriteMode.OVERWRITE)) is Overwrite and not Overwrite.shares_table
    assert where == write_mode("overwrite", replace_where="dataset = 'a'") != write_mode(
        "overwrite", replace_where="dataset = 'b'")
    assert by != write_mode("overwrite", replace_by=["dataset", "prefix"])


@pytest.mark.parametrize("mode, where, by, words", [
    ("append", "dataset = 'a'", (), "need mode overwrite"),
    ("upsert", None, ("dataset",), "need mode overwrite"),
    ("overwrite", "dataset = 'a'", ("dataset",), "give one"),
])
def test_slices_need_overwrite_and_one_way_to_name_them(mode: str, where: str | None, by: tuple[str, ...],
                                                        words: str) -> None:
    problem = slice_problem(mode, ("id",) if mode == "upsert" else (), where, by)
    assert problem is not None and words in problem
    with pytest.raises(ConfigError, match=words):
        write_mode(mode, ("id",) if mode == "upsert" else (), replace_where=where, replace_by=by)


def test_a_bad_predicate_is_refused_when_the_request_is_built() -> None:
    with pytest.raises(ConfigError, match="SELECT"):
        write_mode("overwrite", replace_where="dataset IN (SELECT 1)")
    with pytest.raises(ConfigError, match="twice"):
        write_mode("overwrite", replace_by=["dataset", "dataset"])
