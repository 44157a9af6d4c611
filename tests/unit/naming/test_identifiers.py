"""Identifiers are honoured exactly or refused with their name: PostgreSQL's grammar for table names,
and its 63-byte limit (NAMEDATALEN), which the server would otherwise apply by cutting silently."""

from __future__ import annotations

import pytest

from loader.errors import ConfigError
from loader.naming import TableRef, check_identifier


@pytest.mark.parametrize(("written", "schema", "table"), [
    ("trips", "public", "trips"),
    ("Mixed.CaseName", "Mixed", "CaseName"),  # kept exactly: always quoted in SQL
    ('"acc_q""uote"', "public", 'acc_q"uote'),
    ('s."a.b"', "s", "a.b"),
    ('"we""ird"."t"', 'we"ird', "t"),
    ('"acc_evil""; drop table acc_victim; --"', "public", 'acc_evil"; drop table acc_victim; --'),
    ("é" * 31 + "x", "public", "é" * 31 + "x"),  # 63 bytes: the most PostgreSQL keeps
])
def test_the_grammar_honours_names_exactly(written: str, schema: str, table: str) -> None:
    assert TableRef.parse(written) == TableRef(schema, table)


@pytest.mark.parametrize(("written", "says"), [
    ('acc_q"uote', 'a quote inside an unquoted part'),
    ('acc_evil"; drop table acc_victim; --', 'a quote inside an unquoted part'),
    ('"unbalanced', "never closed"),
    ('"a"b', "text after the closing quote"),
    ("a.", "empty part"),
    (".a", "empty part"),
    ("a.b.c", "more than two parts"),
    ("t" * 70, "70 bytes; PostgreSQL keeps 63"),
    ("é" * 32, "64 bytes"),
])
def test_what_the_grammar_refuses_is_named(written: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        TableRef.parse(written)
    assert says in str(info.value) and (written in str(info.value) or written[:20] in str(info.value))


def test_the_refusal_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError) as info:
        TableRef.parse('acc_q"uote')
    assert info.value.next_step and '"acc_q""uote"' in info.value.next_step


def test_every_identifier_has_the_same_limit() -> None:
    assert check_identifier("a" * 63, "column name") == "a" * 63
    with pytest.raises(ConfigError, match="column name 'a{64}' is 64 bytes.*would silently make it 'a{63}'"):
        check_identifier("a" * 64, "column name")
    with pytest.raises(ConfigError, match="schema name"):
        TableRef("s" * 64, "t")
    with pytest.raises(ConfigError, match="empty"):
        check_identifier("", "key column")
