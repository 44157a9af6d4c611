import pytest

from loader.errors import ConfigError
from loader.naming import (
    TableRef,
    check_prefix_root,
    parse_prefix,
    parse_staging_table,
    prefix_table_part,
    quote_ident,
    staging_table_name,
    temp_prefix,
)


def test_temp_prefix_matches_design_document_format() -> None:
    prefix = temp_prefix("tmp/postgres-copy", "pyspark_entity", "cb94a152" + "0" * 24, now=1755563237)
    assert prefix == "tmp/postgres-copy/pyspark_entity-1755563237-cb94a152/"
    parsed = parse_prefix(prefix.split("/")[-2] + "/")
    assert parsed is not None and parsed.epoch == 1755563237 and parsed.short_id == "cb94a152"


@pytest.mark.parametrize("name", ["", "..", "a/b", "x..y", "."])
def test_table_names_that_escape_the_root_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        prefix_table_part(name)


def test_hostile_table_name_is_made_key_safe() -> None:
    assert prefix_table_part('a"; drop table x; --') == "a___drop_table_x__--"


@pytest.mark.parametrize("root", ["", "/", "a/../b", "./x", "a//b"])
def test_bad_prefix_roots_are_refused(root: str) -> None:
    with pytest.raises(ConfigError):
        check_prefix_root(root)


@pytest.mark.parametrize("name", ["x-1755563237-cb94a15/", "x-17555-cb94a152/", "x-1755563237-CB94A152/",
                                  "x-1755563237-cb94a152", "-1755563237-cb94a152/"])
def test_lookalike_prefixes_do_not_parse(name: str) -> None:
    assert parse_prefix(name) is None


def test_quoting_and_table_refs() -> None:
    assert quote_ident('a"; drop table x; --') == '"a""; drop table x; --"'
    assert TableRef.parse("t") == TableRef("public", "t")
    assert TableRef.parse('s."a.b"') == TableRef("s", "a.b")
    assert TableRef.parse('"we""ird".t').quoted == '"we""ird"."t"'
    with pytest.raises(ConfigError):
        TableRef.parse("a.b.c")


def test_staging_table_names_round_trip() -> None:
    name = staging_table_name("deadbeef" * 4, now=1700000000)
    parsed = parse_staging_table(name)
    assert parsed is not None and parsed.short_id == "deadbeef" and parsed.epoch == 1700000000
