"""Manifests: schema rules, semantic rules, messages, secrets, the frozen model (pure, no database)."""

from __future__ import annotations

import copy as copylib
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from loader.connection import ConnectionSpec
from loader.errors import ConfigError, ManifestError
from loader.manifest import (
    Manifest,
    SourceSpec,
    TargetSpec,
    load_manifest,
    load_manifests,
    load_schema,
    validate_paths,
)
from loader.naming import TableRef
from loader.options import CopyOptions, JdbcOptions, Method, WriteMode

REPO = Path(__file__).resolve().parents[3]
BASE: dict[str, Any] = {
    "version": 1,
    "source": {"format": "parquet", "path": "/data/orders.parquet"},
    "target": {"connection": "postgresql://loader@db.example:5432/shop", "table": "orders"},
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a scratch folder (relative paths in messages) without PG* leaking in."""
    monkeypatch.chdir(tmp_path)
    for var in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)


def write(name: str, content: Any) -> str:
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(text, encoding="utf-8")
    return name


def with_(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes; a value of DELETE removes the key."""
    doc = copylib.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


DELETE = object()


def problems_of(content: Any, name: str = "orders.yaml") -> list[str]:
    manifests, problems = validate_paths([write(name, content)])
    assert (manifests == []) == bool(problems)
    return problems


# --- the valid case and the model ------------------------------------------------


def test_minimal_manifest_builds_a_frozen_tree_with_defaults() -> None:
    path = write("orders.yaml", BASE)
    manifests, problems = validate_paths([path])
    assert problems == []
    (m,) = manifests
    assert m.name == "orders" and m.path == "orders.yaml" and m.version == 1
    assert m.content_hash == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert m.source == SourceSpec(format="parquet", path="/data/orders.parquet", query=None, options=(),
                                  connection=None)
    assert m.target.connection == ConnectionSpec(host="db.example", port=5432, database="shop", user="loader")
    assert (m.target.schema, m.target.table, m.target.mode, m.target.key, m.target.create) == (
        "public", "orders", WriteMode.APPEND, (), "if_missing")
    assert m.target.defer_indexes is True and m.target.on_narrowing == "round"
    assert m.target.ref == TableRef("public", "orders")
    assert m.target.ledger_schema is None and m.target.loader_schema == "public"  # the target's, as before
    assert m.method is Method.AUTO and m.copy == CopyOptions() and m.jdbc == JdbcOptions()
    assert (m.on_error, m.max_errors, m.reap_before_run) == ("fail", None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.target.table = "x"  # type: ignore[misc]
    hash(m)  # frozen all the way down: hashable


def test_every_field_given(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {
        "version": 1,
        "name": "orders_full",
        "source": {"format": "csv", "path": "/d/o.csv",
                   "options": {"header": True, "sep": ";", "samplingRatio": 0.5, "maxColumns": 10}},
        "target": {"connection": {"host": "h", "port": 6543, "database": "d", "user": "u",
                                  "password": "${ORDERS_PW}", "sslmode": "require"},
                   "schema": "sales", "table": "orders", "mode": "upsert", "key": ["id", "day"],
                   "create": "never", "defer_indexes": False, "on_narrowing": "error",
                   "ledger_schema": "loader"},
        "method": "copy",
        "copy": {"bucket": "b", "prefix": "/tmp/x/", "compression": "none", "server_side": "always",
                 "cleanup": False, "fallback": "none", "strip_nul": True, "rows_per_part": 1000},
        "jdbc": {"batchsize": 5000, "num_partitions": 4, "max_connections": 2},
        "on_error": "reject",
        "max_errors": 0,
        "reap_before_run": True,
    }
    monkeypatch.setenv("ORDERS_PW", "s3cr3t-value")
    m = load_manifest(write("orders.yaml", doc))
    assert m.name == "orders_full"
    assert m.source.options == (("header", "true"), ("sep", ";"), ("samplingRatio", "0.5"), ("maxColumns", "10"))
    assert m.target.connection.password == "s3cr3t-value" and m.target.connection.sslmode == "require"
    assert m.target.ref == TableRef("sales", "orders") and m.target.key == ("id", "day")
    assert m.target.mode is WriteMode.UPSERT and m.target.create == "never"
    assert m.target.defer_indexes is False and m.target.on_narrowing == "error"
    assert m.target.ledger_schema == "loader" and m.target.loader_schema == "loader"
    assert m.method is Method.COPY
    assert m.copy == CopyOptions(bucket="b", prefix="tmp/x", compression="none", server_side="always",
                                 cleanup=False, fallback="none", strip_nul=True, rows_per_part=1000)
    assert m.jdbc == JdbcOptions(batchsize=5000, num_partitions=4, max_connections=2)
    assert (m.on_error, m.max_errors, m.reap_before_run) == ("reject", 0, True)


def test_jdbc_source(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = with_(source={"format": "jdbc", "query": "select * from t where d > '${SINCE}'",
                        "connection": {"host": "src", "database": "crm", "user": "ro"}})
    monkeypatch.setenv("SINCE", "2024-01-01")
    (m,), problems = validate_paths([write("orders.yaml", doc)])
    assert problems == []
    assert m.source.query == "select * from t where d > '2024-01-01'" and m.source.path is None
    assert m.source.connection == ConnectionSpec(host="src", database="crm", user="ro")


def test_schema_ships_as_package_data_and_is_draft_2020_12() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == json.loads((REPO / "schemas" / "manifest.v1.json").read_text())


# --- the exact message format ------------------------------------------------------


def test_message_format_is_file_field_message(tmp_path: Path) -> None:
    write("manifests/orders.yaml", with_(target__mode="upsrt"))
    _, problems = validate_paths(["manifests/orders.yaml"])
    assert problems == ["manifests/orders.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert"]
    _, problems = validate_paths(["manifests"])
    assert problems == ["manifests/orders.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert"]


def test_load_manifests_raises_manifest_error_with_every_problem() -> None:
    write("a.yaml", with_(method="fast", on_error="ignore"))
    with pytest.raises(ManifestError) as info:
        load_manifests(["a.yaml"])
    assert info.value.problems == [
        "a.yaml: method: 'fast' is not one of auto, copy, optimized, standard",
        "a.yaml: on_error: 'ignore' is not one of fail, reject",
    ]
    assert info.value.exit_code == 2


# --- enums -------------------------------------------------------------------------

ENUMS = [
    ("target__schema_evolution", "drop_columns", "target.schema_evolution", "none, add_columns"),
    ("target__mode", "merge", "target.mode", "append, overwrite, upsert"),
    ("target__create", "always", "target.create", "if_missing, never"),
    ("target__on_narrowing", "truncate", "target.on_narrowing", "round, error"),
    ("method", "bulk", "method", "auto, copy, optimized, standard"),
    ("copy__compression", "zstd", "copy.compression", "gzip, none"),
    ("copy__server_side", "sometimes", "copy.server_side", "auto, always, never"),
    ("copy__fallback", "standard", "copy.fallback", "optimized, none"),
    ("on_error", "skip", "on_error", "fail, reject"),
]


@pytest.mark.parametrize(("key", "bad", "field", "choices"), ENUMS)
def test_each_enum(key: str, bad: str, field: str, choices: str) -> None:
    assert problems_of(with_(**{key: bad})) == [f"orders.yaml: {field}: {bad!r} is not one of {choices}"]


def test_enum_with_a_non_string() -> None:
    assert problems_of(with_(target__mode=3)) == ["orders.yaml: target.mode: 3 is not one of append, overwrite, upsert"]


def test_sslmode_enum_in_connection_mapping() -> None:
    conn = {"host": "h", "user": "u", "database": "d", "sslmode": "yes"}
    assert problems_of(with_(target__connection=conn)) == [
        "orders.yaml: target.connection.sslmode: a string is not one of "
        "disable, allow, prefer, require, verify-ca, verify-full"]


@pytest.mark.parametrize("version", [2, "1", 0, True])
def test_unsupported_version(version: Any) -> None:
    (problem,) = problems_of(with_(version=version))
    assert problem.startswith("orders.yaml: version: unsupported manifest version ")


# --- unknown keys ------------------------------------------------------------------

UNKNOWN = [
    ("methd", "auto", "methd: unknown key 'methd' (did you mean 'method'?)"),
    ("source__fromat", "csv", "source.fromat: unknown key 'fromat' (did you mean 'format'?)"),
    ("source__option", {}, "source.option: unknown key 'option' (did you mean 'options'?)"),
    ("target__tabel", "x", "target.tabel: unknown key 'tabel' (did you mean 'table'?)"),
    ("target__keys", ["id"], "target.keys: unknown key 'keys' (did you mean 'key'?)"),
    ("copy__bucekt", "b", "copy.bucekt: unknown key 'bucekt' (did you mean 'bucket'?)"),
    ("copy__strip_null", True, "copy.strip_null: unknown key 'strip_null' (did you mean 'strip_nul'?)"),
    ("jdbc__batch_size", 10, "jdbc.batch_size: unknown key 'batch_size' (did you mean 'batchsize'?)"),
    ("jdbc__max_connection", 1, "jdbc.max_connection: unknown key 'max_connection' (did you mean 'max_connections'?)"),
    ("reap_before", True, "reap_before: unknown key 'reap_before' (did you mean 'reap_before_run'?)"),
    ("colour", "blue", "colour: unknown key 'colour'"),
]


@pytest.mark.parametrize(("key", "value", "message"), UNKNOWN)
def test_each_unknown_key_with_did_you_mean(key: str, value: Any, message: str) -> None:
    assert problems_of(with_(**{key: value})) == [f"orders.yaml: {message}"]


def test_unknown_key_in_connection_mapping() -> None:
    conn = {"hots": "h", "user": "u", "database": "d"}
    assert problems_of(with_(target__connection=conn)) == [
        "orders.yaml: target.connection.hots: unknown key 'hots' (did you mean 'host'?)"]


def test_several_unknown_keys_in_one_mapping_are_each_reported() -> None:
    problems = problems_of(with_(target__tabel="x", target__mod="append"))
    assert problems == ["orders.yaml: target.mod: unknown key 'mod' (did you mean 'mode'?)",
                        "orders.yaml: target.tabel: unknown key 'tabel' (did you mean 'table'?)"]


# --- missing required fields ---------------------------------------------------------

MISSING = [
    ("version", "orders.yaml: missing required field 'version'"),
    ("source", "orders.yaml: missing required field 'source'"),
    ("target", "orders.yaml: missing required field 'target'"),
    ("source__format", "orders.yaml: source: missing required field 'format'"),
    ("target__table", "orders.yaml: target: missing required field 'table'"),
    ("target__connection", "orders.yaml: target: missing required field 'connection'"),
    ("source__path", "orders.yaml: source: missing required field 'path' (format parquet reads files)"),
]


@pytest.mark.parametrize(("key", "message"), MISSING)
def test_each_missing_required_field(key: str, message: str) -> None:
    assert problems_of(with_(**{key: DELETE})) == [message]


def test_jdbc_source_needs_query_and_connection() -> None:
    assert problems_of(with_(source={"format": "jdbc"})) == [
        "orders.yaml: source: missing required field 'query' (format jdbc needs the SQL query to run)",
        "orders.yaml: source: missing required field 'connection' (format jdbc needs the database to read from)",
    ]


def test_jdbc_only_fields_with_a_file_format_and_path_with_jdbc() -> None:
    problems = problems_of(with_(source__query="select 1", source__connection="postgresql://h/d"))
    assert problems == ["orders.yaml: source.query: only used with format jdbc, not parquet",
                        "orders.yaml: source.connection: only used with format jdbc, not parquet"]
    problems = problems_of(with_(source={"format": "jdbc", "path": "/x", "query": "q",
                                         "connection": "postgresql://h/d"}))
    assert problems == ["orders.yaml: source.path: not used with format jdbc (write a query instead)"]


def test_upsert_without_key() -> None:
    assert problems_of(with_(target__mode="upsert")) == [
        "orders.yaml: target: missing required field 'key' (mode upsert matches rows on the key columns)"]


def test_duplicate_and_empty_key_columns() -> None:
    assert problems_of(with_(target__mode="upsert", target__key=["id", "day", "id"])) == [
        "orders.yaml: target.key: 'id' is listed more than once"]
    assert problems_of(with_(target__mode="upsert", target__key=[])) == [
        "orders.yaml: target.key: must not be empty"]
    assert problems_of(with_(target__key=["id", ""])) == ["orders.yaml: target.key[1]: must not be empty"]


# --- wrong types and bounds ------------------------------------------------------------

TYPES = [
    ("jdbc__batchsize", "abc", "jdbc.batchsize: expected an integer, got 'abc'"),
    ("jdbc__num_partitions", 2.5, "jdbc.num_partitions: expected an integer, got 2.5"),
    ("jdbc__max_connections", True, "jdbc.max_connections: expected an integer, got true"),
    ("copy__rows_per_part", "many", "copy.rows_per_part: expected an integer, got 'many'"),
    ("copy__cleanup", "yes please", "copy.cleanup: expected true or false, got 'yes please'"),
    ("copy__strip_nul", 1, "copy.strip_nul: expected true or false, got 1"),
    ("copy__bucket", 12, "copy.bucket: expected a string, got 12"),
    ("copy__prefix", ["a"], "copy.prefix: expected a string, got a list"),
    ("reap_before_run", "no", "reap_before_run: expected true or false, got 'no'"),
    ("target__defer_indexes", "yes", "target.defer_indexes: expected true or false, got 'yes'"),
    ("name", 5, "name: expected a string, got 5"),
    ("source", "s3://x", "source: expected a mapping, got 's3://x'"),
    ("target", ["a"], "target: expected a mapping, got a list"),
    ("copy", True, "copy: expected a mapping, got true"),
    ("jdbc", None, "jdbc: expected a mapping, got null"),
    ("source__path", 7, "source.path: expected a string, got 7"),
    ("source__options", "header", "source.options: expected a mapping, got 'header'"),
    ("source__options__header", [1], "source.options.header: expected a string, a number or true or false, got a list"),
    ("target__table", 42, "target.table: expected a string, got 42"),
    ("target__schema", {"a": 1}, "target.schema: expected a string, got a mapping"),
    ("target__key", "id", "target.key: expected a list, got 'id'"),
    ("target__key", ["id", 3], "target.key[1]: expected a string, got 3"),
    ("target__connection", ["h"], "target.connection: expected a string or a mapping, got a list"),
    ("target__connection", 5432, "target.connection: expected a string or a mapping, got an integer"),
    ("max_errors", "ten", "max_errors: expected an integer, got 'ten'"),
]


@pytest.mark.parametrize(("key", "value", "message"), TYPES)
def test_each_wrong_type(key: str, value: Any, message: str) -> None:
    doc = with_(**{key: value})
    if key == "max_errors":
        doc["on_error"] = "reject"
    assert problems_of(doc) == [f"orders.yaml: {message}"]


BOUNDS = [
    ("jdbc__batchsize", 0, "jdbc.batchsize: must be at least 1, got 0"),
    ("jdbc__max_connections", -3, "jdbc.max_connections: must be at least 1, got -3"),
    ("copy__rows_per_part", 0, "copy.rows_per_part: must be at least 1, got 0"),
    ("target__table", "", "target.table: must not be empty"),
    ("name", "", "name: must not be empty"),
]


@pytest.mark.parametrize(("key", "value", "message"), BOUNDS)
def test_bounds(key: str, value: Any, message: str) -> None:
    assert problems_of(with_(**{key: value})) == [f"orders.yaml: {message}"]


def test_max_errors_bounds_and_needs_reject() -> None:
    assert problems_of(with_(on_error="reject", max_errors=-1)) == [
        "orders.yaml: max_errors: must be at least 0, got -1"]
    assert problems_of(with_(max_errors=5)) == ["orders.yaml: max_errors: only used with on_error: reject"]


def test_port_out_of_range_and_not_a_number() -> None:
    conn = {"host": "h", "user": "u", "database": "d", "port": 70000}
    assert problems_of(with_(target__connection=conn)) == [
        "orders.yaml: target.connection.port: must be at most 65535, got an integer"]
    conn["port"] = "fivefour"
    assert problems_of(with_(target__connection=conn)) == [
        "orders.yaml: target.connection.port: not a port number (give an integer such as 5432, "
        "or a ${VAR} holding one)"]


def test_bad_url_scheme_and_port() -> None:
    assert problems_of(with_(target__connection="mysql://u@h/d"))[0].startswith(
        "orders.yaml: target.connection: URL scheme 'mysql' is not PostgreSQL")
    assert problems_of(with_(target__connection="postgresql://u@h:port/d")) == [
        "orders.yaml: target.connection: not a valid PostgreSQL URL (check the host and port)"]


def test_copy_prefix_must_be_a_sane_root() -> None:
    assert problems_of(with_(copy__prefix="tmp/../etc")) == [
        "orders.yaml: copy.prefix: 'tmp/../etc' is not a usable S3 prefix root "
        "(use something like tmp/postgres-copy: no empty, '.' or '..' parts)"]


def test_misplaced_url_does_not_echo_its_password() -> None:
    url = f"postgresql://loader:{PASSWORD}@db/shop"
    problems = problems_of(with_(target=url, copy={"bucket": url}, method=url))
    assert len(problems) == 2 and not any(PASSWORD in p for p in problems)
    assert "orders.yaml: target: expected a mapping, got 'postgresql://loader:***@db/shop'" in problems


def test_non_string_keys_are_reported() -> None:
    text = "version: 1\n1: x\ntarget:\n  true: y\n  table: t\n  connection: postgresql://h/d\n" \
           "source: {format: orc, path: /x}\n"
    assert problems_of(text) == [
        "orders.yaml: key 1 is not a string (keys are field names)",
        "orders.yaml: target: key true is not a string (keys are field names)",
    ]


def test_integer_like_floats_are_integers() -> None:
    (m,), _ = validate_paths([write("orders.yaml", with_(jdbc={"batchsize": 100.0}))])
    assert m.jdbc.batchsize == 100 and isinstance(m.jdbc.batchsize, int)


# --- secrets -------------------------------------------------------------------------------

PASSWORD = "Tr0ub4dor&3"


def test_literal_password_in_mapping_is_refused_without_echoing_it() -> None:
    conn = {"host": "h", "user": "u", "database": "d", "password": PASSWORD}
    problems = problems_of(with_(target__connection=conn, method="nope"))
    assert "orders.yaml: target.connection.password: a literal password is not allowed in a manifest; " \
           "write a ${VAR} reference (e.g. password: ${PGPASSWORD}) and set the variable in the environment" \
           in problems
    assert len(problems) == 2
    assert not any(PASSWORD in p for p in problems)


def test_literal_password_in_url_is_refused_without_echoing_it() -> None:
    url = f"postgresql://loader:{PASSWORD}@db:5432/shop"
    problems = problems_of(with_(target__connection=url, target__tabel="x"))
    assert any(p.startswith("orders.yaml: target.connection: the URL contains a literal password") and
               "${" in p for p in problems)
    assert not any(PASSWORD in p for p in problems)


def test_literal_password_in_jdbc_source_connection() -> None:
    doc = with_(source={"format": "jdbc", "query": "select 1",
                        "connection": {"host": "h", "password": PASSWORD}})
    problems = problems_of(doc)
    assert [p.split(": ")[1] for p in problems] == ["source.connection.password"]
    assert not any(PASSWORD in p for p in problems)


@pytest.mark.parametrize("pw", [12345678, 3.25, True, ["x"], {"a": "b"}])
def test_non_string_password_is_refused_without_echo(pw: Any) -> None:
    conn = {"host": "h", "user": "u", "database": "d", "password": pw}
    problems = problems_of(with_(target__connection=conn))
    assert problems and all("target.connection.password" in p for p in problems)
    assert not any(str(pw) in p for p in problems if not isinstance(pw, bool))


def test_password_from_env_var_is_used_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PW", PASSWORD)
    monkeypatch.setenv("DB_URL", f"postgresql://loader:{PASSWORD}@db/shop")
    ok = with_(target__connection={"host": "h", "user": "u", "database": "d", "password": "${DB_PW}"})
    assert load_manifest(write("orders.yaml", ok)).target.connection.password == PASSWORD
    assert load_manifest(write("orders.yaml", with_(target__connection="${DB_URL}"))).target.connection.password \
        == PASSWORD
    url_ref = with_(target__connection="postgresql://loader:${DB_PW}@db/shop")
    assert load_manifest(write("orders.yaml", url_ref)).target.connection.password == PASSWORD
    # with errors around: still no password in any message
    bad = with_(target__connection="${DB_URL}", target__mode="x", source__path="${NOPE}")
    problems = problems_of(bad)
    assert len(problems) == 2
    monkeypatch.setenv("DB_URL", f"mysql://loader:{PASSWORD}@db/shop")
    problems += problems_of(with_(target__connection="${DB_URL}"))
    monkeypatch.setenv("DB_URL", f"postgresql://loader:{PASSWORD}@db:notaport/shop")
    problems += problems_of(with_(target__connection="${DB_URL}"))
    assert len(problems) == 4
    assert not any(PASSWORD in p for p in problems), problems


def test_password_from_pgpassword_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    m = load_manifest(write("orders.yaml", BASE))
    assert m.target.connection.password == PASSWORD
    assert PASSWORD not in repr(m) and PASSWORD not in str(m)


# --- ${VAR} expansion ---------------------------------------------------------------------


def test_env_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA", "/srv/data")
    monkeypatch.setenv("DB_HOST", "pg.internal")
    monkeypatch.setenv("BUCKET", "my-bucket")
    doc = with_(source__path="${DATA}/orders/*.parquet",
                target__connection={"host": "${DB_HOST}", "database": "shop", "user": "u"},
                copy={"bucket": "${BUCKET}"})
    m = load_manifest(write("orders.yaml", doc))
    assert m.source.path == "/srv/data/orders/*.parquet"
    assert m.target.connection.host == "pg.internal"
    assert m.copy.bucket == "my-bucket"


def test_missing_env_var_names_file_and_field() -> None:
    doc = with_(source__path="${NO_SUCH_DATA}/x.parquet", target__connection="${NO_SUCH_URL}",
                copy={"bucket": "${NO_SUCH_BUCKET}"})
    problems = problems_of(doc)
    assert [p.split(" -> ")[0] for p in problems] == [
        "orders.yaml: source.path: environment variable NO_SUCH_DATA is not set",
        "orders.yaml: target.connection: environment variable NO_SUCH_URL is not set",
        "orders.yaml: copy.bucket: environment variable NO_SUCH_BUCKET is not set",
    ]
    conn = {"host": "${NO_SUCH_HOST}", "database": "d"}
    (problem,) = problems_of(with_(target__connection=conn))
    assert problem.startswith("orders.yaml: target.connection.host: environment variable NO_SUCH_HOST is not set")



@pytest.mark.parametrize("conn", [{"host": "h", "user": "u", "password": "${NO_SUCH_PW}"},
                                  "postgresql://u:${NO_SUCH_PW}@h/db"])
def test_unset_password_variable_is_named_not_masked(conn: Any) -> None:
    """The name of a variable is not a secret: the user must be told which one to set."""
    (problem,) = problems_of(with_(target__connection=conn))
    assert "environment variable NO_SUCH_PW is not set" in problem
    assert "remove the ${NO_SUCH_PW} reference" in problem and "***" not in problem


# --- files, YAML, folders --------------------------------------------------------------------


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = "version: 1\nsource:\n  format: [csv\ntarget: {}\n"
    (problem,) = problems_of(text, "bad.yaml")
    assert problem.startswith("bad.yaml:4:7: YAML syntax error: ")
    (problem,) = problems_of("version: 1\n  source: x\n", "bad2.yaml")
    assert problem == "bad2.yaml:2:9: YAML syntax error: mapping values are not allowed here"


def test_yaml_error_does_not_echo_the_offending_line() -> None:
    text = f"version: 1\ntarget:\n  connection:\n    password: \"{PASSWORD}\n"
    (problem,) = problems_of(text)
    assert PASSWORD not in problem and "YAML syntax error" in problem


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("42\n", "an integer"), ("just text\n", "a string")])
def test_non_mapping_file(text: str, got: str) -> None:
    assert problems_of(text) == [
        f"orders.yaml: a manifest must be a mapping of fields (version: 1, source: ..., target: ...), got {got}"]


def test_empty_file_and_missing_path() -> None:
    assert problems_of("# nothing\n") == [
        "orders.yaml: the file is empty; expected a manifest (version, source, target, ...)"]
    assert validate_paths(["nope.yaml"]) == ([], ["nope.yaml: no such file or folder"])
    Path("empty").mkdir()
    assert validate_paths(["empty"]) == ([], ["empty: no *.yaml or *.yml manifests in this folder"])


def test_huge_numbers_and_odd_yaml_types() -> None:
    assert problems_of("version: " + "9" * 5000 + "\n")[0].startswith("orders.yaml")
    huge = with_(jdbc={"batchsize": 10**200})
    assert load_manifest(write("orders.yaml", huge)).jdbc.batchsize == 10**200
    problems = problems_of("version: 1\nname: 2024-01-01\nsource: !!binary aGVsbG8=\n"
                           "target: !!set {a, b}\n")
    # an unquoted date stays the text written (no YAML timestamps): a valid name
    assert problems == ["orders.yaml: source: expected a mapping, got a bytes",
                        "orders.yaml: target: expected a mapping, got a set"]
    problems = problems_of("version: 1\nsource: !!python/object:os.system {}\n")
    assert problems[0].startswith("orders.yaml:2:9: YAML syntax error: could not determine a constructor")


def test_folder_reports_every_file_at_once_and_skips_other_files() -> None:
    write("m/a.yaml", with_(target__mode="upsrt"))
    write("m/b.yml", with_(source__format="parqet", target__tabel="t"))
    write("m/c.yaml", "version: [1\n")
    write("m/good.yaml", BASE)
    write("m/notes.txt", "not a manifest")
    write("m/sub/deep.yaml", "garbage: [")
    manifests, problems = validate_paths(["m"])
    assert [m.name for m in manifests] == ["good"]
    assert problems == [
        "m/a.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert",
        "m/b.yml: target.tabel: unknown key 'tabel' (did you mean 'table'?)",
        "m/b.yml: source.format: unknown format 'parqet' (did you mean 'parquet'?)",
        "m/c.yaml:2:1: YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)",
    ]


def test_duplicate_names_across_manifests() -> None:
    write("m/a.yaml", with_(name="orders"))
    write("m/b.yaml", with_(name="orders"))
    write("m/orders.yaml", BASE)
    manifests, problems = validate_paths(["m"])
    assert [m.path for m in manifests] == ["m/a.yaml"]
    assert problems == [
        "m/b.yaml: name: manifest name 'orders' is already used by m/a.yaml (names must be unique)",
        "m/orders.yaml: name: manifest name 'orders' is already used by m/a.yaml (names must be unique)",
    ]


def test_same_file_given_twice_is_read_once() -> None:
    write("m/a.yaml", BASE)
    manifests, problems = validate_paths(["m", "m/a.yaml", "./m/a.yaml"])
    assert problems == [] and len(manifests) == 1


def test_single_path_argument_is_accepted() -> None:
    write("a.yaml", BASE)
    assert [m.name for m in load_manifests("a.yaml")] == ["a"]
    assert [m.name for m in load_manifests(Path("a.yaml"))] == ["a"]


# --- the shipped examples ----------------------------------------------------------------------


def test_example_manifests_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADER_DEMO_DATA", "/tmp/demo-data")
    monkeypatch.setenv("LOADER_DEMO_DATABASE_URL", "postgresql://loader@127.0.0.1:55432/demo")
    manifests = load_manifests([REPO / "manifests"])
    by_name: dict[str, Manifest] = {m.name: m for m in manifests}
    assert sorted(by_name) == ["calendar", "customers", "entity", "entity_geoparquet", "entity_reload", "events",
                               "orders", "sessions", "trips"]
    assert by_name["entity"].target.replace_by == ("dataset",) and by_name["entity"].target.create == "never"
    assert by_name["entity_reload"].target.replace_where == "dataset = 'conservation-area'"
    assert by_name["entity_geoparquet"].target.replace_where == "dataset = 'tree-preservation-zone'"
    assert by_name["orders"].source.incremental is not None
    trips, customers, events = by_name["trips"], by_name["customers"], by_name["events"]
    assert trips.source == SourceSpec("parquet", "/tmp/demo-data/trips.parquet")
    assert trips.target.mode is WriteMode.OVERWRITE and trips.method is Method.COPY
    assert trips.target.ref == TableRef("public", "trips")
    assert customers.source.format == "csv" and ("header", "true") in customers.source.options
    assert customers.source.path == "/tmp/demo-data/customers.csv"
    assert customers.target.mode is WriteMode.UPSERT and customers.target.key == ("customer_id",)
    assert customers.method is Method.AUTO
    assert events.source == SourceSpec("json", "/tmp/demo-data/events.json")
    assert events.target.mode is WriteMode.APPEND and events.method is Method.OPTIMIZED
    for m in manifests:
        assert isinstance(m.target, TargetSpec)
        assert m.target.connection == ConnectionSpec(host="127.0.0.1", port=55432, database="demo", user="loader")


def test_example_manifests_without_env_name_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOADER_DEMO_DATA", raising=False)
    monkeypatch.delenv("LOADER_DEMO_DATABASE_URL", raising=False)
    manifests, problems = validate_paths([REPO / "manifests"])
    assert manifests == [] and len(problems) == 18  # two ${VAR}s in each of the nine examples
    assert all("environment variable LOADER_DEMO_" in p for p in problems)


def test_bad_examples_folder_reports_everything_at_once() -> None:
    _, problems = validate_paths([REPO / "tests" / "data" / "manifests_bad"])
    bad = REPO / "tests" / "data" / "manifests_bad"
    assert problems == [
        f"{bad}/list.yaml: a manifest must be a mapping of fields (version: 1, source: ..., target: ...), "
        "got a list",
        f"{bad}/orders.yaml: jdbc.batchsize: expected an integer, got 'abc'",
        f"{bad}/orders.yaml: method: 'fast' is not one of auto, copy, optimized, standard",
        f"{bad}/orders.yaml: target: missing required field 'table'",
        f"{bad}/orders.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert",
        f"{bad}/orders.yaml: target.tabel: unknown key 'tabel' (did you mean 'table'?)",
        f"{bad}/secret.yaml: target.connection.password: a literal password is not allowed in a manifest; "
        "write a ${VAR} reference (e.g. password: ${PGPASSWORD}) and set the variable in the environment",
        f"{bad}/syntax.yaml:5:7: YAML syntax error: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence)",
    ]
    assert not any("hunter2-literal" in p for p in problems)


# --- slice replace ------------------------------------------------------------------


def test_a_slice_replace_is_read_from_the_target() -> None:
    manifests, problems = validate_paths([write("entity.yaml", with_(
        target__mode="overwrite", target__replace_where="dataset = 'conservation-area'"))])
    assert problems == [] and manifests[0].target.replace_where == "dataset = 'conservation-area'"
    manifests, problems = validate_paths([write("entity.yaml", with_(target__mode="overwrite",
                                                                      target__replace_by=["dataset"]))])
    assert problems == [] and manifests[0].target.replace_by == ("dataset",)


@pytest.mark.parametrize("changes, field, words", [
    ({"target__mode": "append", "target__replace_where": "dataset = 'a'"}, "target.replace_where",
     "need mode overwrite"),
    ({"target__mode": "overwrite", "target__replace_where": "dataset = 'a'; DELETE FROM entity"},
     "target.replace_where", "';'"),
    ({"target__mode": "overwrite", "target__replace_where": "dataset IN (SELECT 1)"}, "target.replace_where",
     "SELECT"),
    ({"target__mode": "overwrite", "target__replace_where": "x", "target__replace_by": ["dataset"]},
     "target.replace_where", "give one"),
    ({"target__mode": "overwrite", "target__replace_by": []}, "target.replace_by", ""),
    ({"target__mode": "overwrite", "target__replace_where": 5}, "target.replace_where", ""),
])
def test_a_slice_replace_that_cannot_work_names_its_field(changes: dict[str, Any], field: str, words: str) -> None:
    found = problems_of(with_(**changes))
    assert any(f": {field}" in p and words in p for p in found), found


@pytest.mark.parametrize("text", [
    "version: 1\ntarget: {connection: ${DW_URL}, table: orders}\n",
    "version: 1\nsource:\n  columns: [${COL}, b]\n",
])
def test_unquoted_reference_in_flow_style_hints_at_quoting(text: str) -> None:
    """The README's flow-style examples were invalid as pasted; the bare YAML message did not say why."""
    (problem,) = problems_of(text, "flow.yaml")
    assert problem.startswith("flow.yaml:")
    assert "YAML syntax error" in problem and "must be quoted" in problem and '"${DW_URL}"' in problem


def test_quoted_reference_in_flow_style_is_read() -> None:
    text = 'version: 1\ntarget: {connection: "${DW_URL}", table: orders}\n'
    assert not any("YAML syntax error" in p for p in problems_of(text, "flow.yaml"))


def test_other_flow_errors_get_no_quoting_hint() -> None:
    (problem,) = problems_of("version: 1\ntarget: {table: orders\n", "flow.yaml")
    assert "YAML syntax error" in problem and "must be quoted" not in problem


def test_readme_yaml_examples_parse_as_pasted() -> None:
    """Every ```yaml block of the README is valid YAML (the flow-style ones once were not)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        list(yaml.safe_load_all(block))  # raises on the unquoted ${...} inside {}


def test_a_ledger_schema_postgresql_would_cut_is_refused_with_its_field() -> None:
    problems = problems_of(with_(target__ledger_schema="x" * 70))
    assert any("target.ledger_schema" in p and "70 bytes" in p for p in problems), problems


@pytest.mark.parametrize("value", ["many", 0, 65, True])
def test_copy_connections_is_a_count_or_auto(value: Any) -> None:
    assert problems_of(with_(copy__connections=value)) == [
        f"orders.yaml: copy.connections: expected an integer from 1 to 64 or 'auto', got "
        f"{'true' if value is True else repr(value)}"]
    assert problems_of(with_(copy__connections="auto")) == []
    assert problems_of(with_(copy__connections=3)) == []


def test_copy_connections_defaults_to_auto_and_the_call_takes_it_too() -> None:
    from loader.options import copy_options

    assert CopyOptions().connections == "auto"
    assert copy_options({"connections": "auto"}).connections == "auto"
    assert copy_options({"connections": 2}).connections == 2
    with pytest.raises(ConfigError, match=r"copy.connections: 'two' is not a whole number >= 1 or 'auto'"):
        copy_options({"connections": "two"})
