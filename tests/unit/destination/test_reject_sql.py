"""The SQL of on_error: reject's passes and the bisection's ranges: pure, no server."""

from __future__ import annotations

import pytest

from loader.destination import reject_sql as sql
from loader.destination.bisect import split
from loader.destination.publish import cast_type, select_exprs
from loader.naming import TableRef

ROWS = sql.Rows('"n"', TableRef("s", "t"), ("id", 'we"ird'), ("c0", "c1"), ("integer", "character varying(3)"),
                row='"loader_line"')


@pytest.mark.parametrize(("pg_type", "cast"), [
    ("character varying(3)", "character varying"), ("character(2)", "bpchar"),
    ("character varying(3)[]", "character varying[]"), ("numeric(12,2)", "numeric(12,2)"),
    ("character varying", "character varying"), ("text", "text"), ('"character varying(3)"', '"character varying(3)"'),
])
def test_casts_never_cut_strings_the_column_would_refuse(pg_type: str, cast: str) -> None:
    assert cast_type(pg_type) == cast
    assert select_exprs(["a"], [pg_type]) == [f'CAST("a" AS {cast})']


def test_length_limits_are_read_from_format_type() -> None:
    assert [sql.length_limit(t) for t in ("character varying(3)", "character(12)", "character varying",
                                          "character varying(3)[]", "text")] == [3, 12, None, None, None]


def test_typed_rows_keep_the_filter_below_the_casts() -> None:
    typed = ROWS.typed()
    assert typed == ('(SELECT "loader_line" AS loader_rn, CAST("c0" AS integer) AS "id", '
                     'CAST("c1" AS character varying) AS "we""ird" FROM "n" WHERE loader_reject IS NULL OFFSET 0) '
                     "AS typed")


def test_one_pass_gives_the_first_reason_of_several() -> None:
    cases = sql.not_null(ROWS, ["id"]) + [sql.check(ROWS, "it's", "(id > 0)", ["id"])]
    query = sql.first_of(ROWS, cases)
    assert query.startswith('SELECT loader_rn, CASE WHEN "id" IS NULL THEN \'s.t: \' || '
                            '\'null value in column "id" of relation "t" violates not-null constraint; column id\' '
                            "WHEN ((id > 0)) IS FALSE THEN")
    assert "violates check constraint \"it''s\"" in query  # quotes in names stay inside the literal
    assert query.endswith('WHERE ("id" IS NULL) OR (((id > 0)) IS FALSE)')


def test_keys_are_shown_as_postgres_shows_them() -> None:
    assert sql.key_detail(["a", "b"], "already exists.") == (
        "'Key (a, b)=(' || coalesce(\"a\"::text, 'null') || ', ' || coalesce(\"b\"::text, 'null') "
        "|| ') already exists.'")
    fk = sql.missing_reference(ROWS, "t_fk", ["id"], "other.p", "p", ["pid"])
    assert 'typed."id" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM other.p r WHERE r."pid" = typed."id")' in fk


def test_reasons_are_recorded_by_the_row_column_once() -> None:
    assert sql.flag(ROWS, "SELECT 1, 'x'") == (
        'UPDATE "n" n SET loader_reject = found.reason FROM (SELECT 1, \'x\') AS found (loader_rn, reason) '
        'WHERE n."loader_line" = found.loader_rn AND n.loader_reject IS NULL')
    assert sql.pending_select(ROWS, 5, 9).endswith('WHERE loader_reject IS NULL AND "loader_line" BETWEEN 5 AND 9')


def test_input_checks_need_no_exception() -> None:  # PostgreSQL 16+
    query = sql.input_invalid(ROWS, [("id", "c0", "integer")])
    assert query == ('SELECT "loader_line", CASE WHEN NOT pg_input_is_valid("c0", \'integer\') THEN \'s.t: \' || '
                     '(pg_input_error_info("c0", \'integer\')).message || \'; column id\' END FROM "n" '
                     "WHERE loader_reject IS NULL AND ((NOT pg_input_is_valid(\"c0\", 'integer')))")


def test_a_failed_range_is_cut_in_chunks_then_halves() -> None:
    assert split(1, 10, 4) == [(1, 4, False), (5, 8, False), (9, 10, False)]
    assert split(5, 8, 4) == [(5, 6, False), (7, 8, False)]
    assert split(7, 8, 4) == [(7, 7, False), (8, 8, False)]
