"""Fuzzing manifests: no YAML content makes validation raise; every problem names its file.

``LOADER_FUZZ=1`` raises the number of examples from 100 to 2000.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loader.manifest import validate_paths

EXAMPLES = 2000 if os.environ.get("LOADER_FUZZ") == "1" else 100
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
PASSWORD = "fuzz-Secret-9431"

VALID: dict[str, Any] = {
    "version": 1,
    "name": "orders",
    "source": {"format": "csv", "path": "${FUZZ_DATA}/orders.csv", "options": {"header": "true"}},
    "target": {"connection": {"host": "h", "port": 5432, "database": "d", "user": "u",
                              "password": "${FUZZ_PW}"},
               "schema": "public", "table": "orders", "mode": "upsert", "key": ["id"], "create": "never"},
    "method": "copy",
    "copy": {"bucket": "b", "prefix": "tmp/x", "compression": "gzip", "server_side": "auto",
             "cleanup": True, "fallback": "none", "strip_nul": False, "rows_per_part": 10},
    "jdbc": {"batchsize": 10, "num_partitions": 2, "max_connections": 3},
    "on_error": "reject",
    "max_errors": 5,
    "reap_before_run": False,
}

KEYS = sorted({"version", "name", "source", "target", "method", "copy", "jdbc", "on_error", "max_errors",
               "format", "path", "query", "options", "connection", "schema", "table", "mode", "key",
               "create", "password", "host", "port", "bucket", "prefix", "tabel", "${X}"})
scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=20) | st.sampled_from(["${FUZZ_PW}", "${UNSET_VAR}", "upsert", "jdbc",
                                                     f"postgresql://u:{PASSWORD}@h/d", "..", ""]))
keys = st.sampled_from(KEYS) | st.text(max_size=8) | st.integers() | st.booleans()
junk = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
                    max_leaves=20)


def _check(text: str | bytes) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        old = os.environ.copy()
        os.environ.update({"FUZZ_DATA": "/data", "FUZZ_PW": PASSWORD})
        try:
            manifests, problems = validate_paths([path])
        finally:
            os.environ.clear()
            os.environ.update(old)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    assert (manifests == []) == bool(problems)
    for problem in problems:
        assert problem.startswith(str(path)), problem
        assert "internal error" not in problem, problem
        assert PASSWORD not in problem, problem
    return problems


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        assume(False)
        raise


@FUZZ
@given(junk)
def test_random_documents_give_problems_not_exceptions(doc: Any) -> None:
    _check(_dump(doc))


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_gives_problems_not_exceptions(text: str | bytes) -> None:
    _check(text)


_PATHS = [("version",), ("name",), ("source",), ("source", "format"), ("source", "path"), ("source", "options"),
          ("source", "options", "header"), ("target",), ("target", "connection"),
          ("target", "connection", "password"), ("target", "connection", "port"), ("target", "table"),
          ("target", "mode"), ("target", "key"), ("method",), ("copy",), ("copy", "prefix"),
          ("copy", "rows_per_part"), ("jdbc",), ("jdbc", "batchsize"), ("on_error",), ("max_errors",),
          ("reap_before_run",)]


@st.composite
def mutations(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_PATHS))
        node: Any = doc
        for part in path[:-1]:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            if not isinstance(node, dict):
                continue
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                node.pop(path[-1], None)
            elif action == "replace":
                secret = path[-1] == "password" or path[-1] == "connection"
                node[path[-1]] = draw(st.sampled_from([PASSWORD, {"password": PASSWORD}]) | junk
                                      if secret else junk)
            else:
                node[draw(keys)] = draw(junk)
    return doc


def test_the_valid_fuzz_base_is_valid() -> None:
    assert _check(_dump(VALID)) == []


@FUZZ
@given(mutations())
def test_mutated_valid_manifests_give_problems_not_exceptions(doc: Any) -> None:
    _check(_dump(doc))


def test_hostile_yaml() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    for text in [
        laughs,
        "target: &t {connection: *t, table: x}\nversion: 1\n",
        "target: {key: &k [*k, *k], table: t, connection: postgresql://h/d}\n",
        "[" * 5000 + "]" * 5000,
        "{a: " * 3000 + "1" + "}" * 3000,
        "version: " + "1" * 10000,
        "--- 1\n--- 2\n",
        "\x00\x01",
        "\ufeffversion: 1\n",
        "? [a, b]\n: c\n",
        "version: 1\nsource: {format: csv, path: x, options: {a: .nan, b: .inf}}\n"
        "target: {table: t, connection: postgresql://h/d}\njdbc: {batchsize: .inf}\n",
    ]:
        assert _check(text)
