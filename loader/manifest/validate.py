"""JSON Schema validation of a parsed manifest, with messages written for people.

Every error is a ``(field, message)`` pair: ``field`` is the dotted path
(``target.mode``, ``target.key[1]``; ``""`` for the top level) and the reader
prefixes the file. jsonschema's raw messages are replaced for the common cases
(enum, unknown key, missing field, wrong type, bounds). Values under a
``connection`` are never echoed: they may hold a password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ..options import did_you_mean

SCHEMA_FILE = "manifest.v1.json"

Problem = tuple[str, str]

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def load_schema() -> dict[str, Any]:
    """The manifest v1 JSON Schema (shipped as package data under ``loader/schemas``)."""
    return dict(_schema())


@lru_cache(maxsize=1)
def _schema() -> Mapping[str, Any]:
    text = (resources.files("loader") / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def field_path(parts: Iterable[Any]) -> str:
    """``('target', 'key', 1)`` -> ``target.key[1]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_URL_PASSWORD = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")


def show(value: Any, limit: int = 60) -> str:
    """A short, safe rendering of a value for a message (never raises; URL passwords masked)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (str, int, float)):
        if isinstance(value, str):
            value = _URL_PASSWORD.sub(r"\1***@", value)
        try:
            text = repr(value)
        except ValueError:  # an int too long for str()
            return "a very large number"
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return f"a {type(value).__name__}"


def _secret_path(path: Sequence[Any]) -> bool:
    return "connection" in path or "password" in path


def _got(value: Any, path: Sequence[Any]) -> str:
    if _secret_path(path) and not isinstance(value, (Mapping, list, tuple)):
        return _type_word(value)
    return show(value)


def _type_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return show(value)


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_WORDS.get(n, n) for n in names]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _message(err: ValidationError) -> list[Problem]:
    path = list(err.absolute_path)
    where = field_path(path)
    inst = err.instance
    kind = err.validator
    value = err.validator_value
    if kind == "additionalProperties" and isinstance(inst, Mapping):
        known = sorted(err.schema.get("properties", {}))
        return [(field_path([*path, k]), f"unknown key {show(k)}{did_you_mean(str(k), known)}")
                for k in inst if k not in known]
    if kind == "required" and isinstance(inst, Mapping):
        return [(where, f"missing required field {r!r}") for r in value if r not in inst]
    if kind == "enum":
        if path == ["version"]:
            return [(where, f"unsupported manifest version {show(inst)} (this loader reads version 1)")]
        return [(where, f"{_got(inst, path)} is not one of {', '.join(str(v) for v in value)}")]
    if kind == "type" and path[-1:] == ["password"]:
        return [(where, "expected a ${VAR} reference (a literal password is not allowed in a manifest)")]
    if kind == "type":
        return [(where, f"expected {_expected(value)}, got {_got(inst, path)}")]
    if kind == "minimum":
        return [(where, f"must be at least {value}, got {_got(inst, path)}")]
    if kind == "maximum":
        return [(where, f"must be at most {value}, got {_got(inst, path)}")]
    if kind == "pattern" and path == ["source", "format"]:
        return [(where, f"{show(inst)} is not a Spark data source name (a letter, then letters, digits, "
                        "'_', '.' or '-')")]
    if kind in ("minLength", "minItems"):
        return [(where, "must not be empty")]
    if kind == "uniqueItems" and isinstance(inst, list):
        seen: list[Any] = []
        dups: list[str] = []
        for item in inst:
            if item in seen and show(item) not in dups:
                dups.append(show(item))
            seen.append(item)
        return [(where, f"{d} is listed more than once") for d in dups]
    if kind == "oneOf" and not _secret_path(path):
        return [(where, f"expected {' or '.join(_alternative(v) for v in value)}, got {_got(inst, path)}")]
    if _secret_path(path):
        return [(where, f"is not valid ({kind})")]
    return [(where, err.message)]


def _alternative(schema: Mapping[str, Any]) -> str:
    """One branch of a ``oneOf`` in words: ``an integer from 1 to 64``, ``'auto'``."""
    if "const" in schema:
        return show(schema["const"])
    words = _expected(schema.get("type", "value"))
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{words} from {low} to {high}"
    return f"{words} of at least {low}" if low is not None else words


def schema_problems(document: Any) -> list[Problem]:
    """Every schema error of a parsed manifest, as ``(field, message)``, ordered by field."""
    problems: list[Problem] = []
    for err in _validator().iter_errors(document):
        problems.extend(_message(err))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p[0])
