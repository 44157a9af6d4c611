"""Finding, reading and validating manifest files; every problem of every file at once.

Problems are strings ``<file>: <field>: <message>`` (``<file>: <message>`` for the
whole file, ``<file>:<line>:<column>: YAML syntax error: ...`` for YAML). No input
makes this module raise anything but ``ManifestError`` (from ``load_manifests``):
a bug shows up as an ``internal error`` problem, never as a traceback.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError
from .build import build, secrets_of
from .location import is_s3, list_s3, read_s3
from .model import Manifest
from .validate import Problem, field_path, schema_problems, show

PathLike = str | os.PathLike[str]
MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 10 * 1024 * 1024
_MAX_NODES = 100_000


class _TooBig(Exception):
    pass


def find_manifest_files(paths: PathLike | Iterable[PathLike]) -> tuple[list[str], list[str]]:
    """Expand folders and S3 prefixes (their ``*.yaml``/``*.yml``, sorted, not recursive); returns
    (files and ``s3://`` URIs, problems)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(str(path))

    for given in paths:
        if is_s3(str(given)):  # never through Path: it would fold s3:// into s3:/
            uris, s3_problems = list_s3(str(given), MANIFEST_SUFFIXES)
            problems += s3_problems
            for uri in uris:
                if uri not in seen:
                    seen.add(uri)
                    files.append(uri)
            continue
        path = Path(given)
        try:
            if path.is_dir():
                found = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES and p.is_file())
                if not found:
                    problems.append(f"{path}: no *.yaml or *.yml manifests in this folder")
                for p in found:
                    add(p)
            elif path.is_file():
                add(path)
            else:
                problems.append(f"{path}: no such file or folder")
        except (OSError, ValueError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            problems.append(f"{path}: cannot read ({reason})")
    return files, problems


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without its timestamp type: an unquoted ``2024-01-01T00:00:00Z`` stays the text
    written (PyYAML would cut nanoseconds and drop the difference between no zone and UTC)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


_QUOTE_HINT = ("; a ${VAR} reference inside {...} or [...] must be quoted, "
               "e.g. {connection: \"${DW_URL}\"} (or write the mapping one field a line)")


def _unquoted_reference_in_flow(err: yaml.MarkedYAMLError, data: bytes) -> bool:
    """Whether the parser stopped at the ``{`` of an unquoted ``${`` inside flow braces or brackets.

    In ``{connection: ${DW_URL}}`` YAML reads ``$`` as a plain value and the ``{`` after it as a new
    mapping, so its message ("expected ',' or '}', but got '{'") names neither the cause nor the fix."""
    mark = err.problem_mark
    if mark is None or not (err.context or "").startswith("while parsing a flow") or mark.column < 1:
        return False
    lines = data.decode("utf-8", "replace").splitlines()
    if mark.line >= len(lines):
        return False
    line = lines[mark.line]
    return line[mark.column - 1:mark.column + 1] == "${"


def _yaml_problem(path: str, err: yaml.YAMLError, data: bytes = b"") -> str:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        text = err.problem or err.context or "invalid YAML"
        if err.context and err.problem:
            text += f" ({err.context})"
        if _unquoted_reference_in_flow(err, data):
            text += _QUOTE_HINT
        if mark is not None:
            return f"{path}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {text}"
        return f"{path}: YAML syntax error: {text}"
    if isinstance(err, yaml.reader.ReaderError):
        return f"{path}: YAML syntax error: unreadable character at byte {err.position} ({err.reason})"
    return f"{path}: YAML syntax error: {type(err).__name__}"


def _clean(value: Any, where: list[Any], problems: list[Problem], budget: list[int]) -> Any:
    """A plain tree copy (aliases unshared, so bounded by the budget); non-string keys reported and dropped."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(k, str):
                out[k] = _clean(v, [*where, k], problems, budget)
            else:
                problems.append((field_path(where), f"key {show(k)} is not a string (keys are field names)"))
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, [*where, i], problems, budget) for i, v in enumerate(value)]
    return value


def _kind(value: Any) -> str:
    """What a value is, without showing it (a stray line may be a connection URL)."""
    if isinstance(value, bool):
        return "true or false"
    for cls, word in ((list, "a list"), (str, "a string"), (int, "an integer"), (float, "a number")):
        if isinstance(value, cls):
            return word
    return show(value)


def _read(path: str) -> tuple[bytes | None, str | None]:
    if is_s3(path):
        return read_s3(path, MAX_FILE_BYTES)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            return None, f"{path}: file is {size} bytes; a manifest is a small YAML file (at most {MAX_FILE_BYTES})"
        with open(path, "rb") as fh:
            return fh.read(), None
    except OSError as err:
        return None, f"{path}: cannot read the file ({err.strerror or type(err).__name__})"


def _render(path: str, problems: list[Problem], secrets: list[str]) -> list[str]:
    out: list[str] = []
    for field, message in problems:
        line = f"{path}: {field}: {message}" if field else f"{path}: {message}"
        for secret in secrets:
            if len(secret) >= 3:
                line = line.replace(secret, "***")
        out.append(line)
    return list(dict.fromkeys(out))


_Checked = tuple[Manifest | None, list[str], str | None]


def _check_document(raw: Any, path: str, data: bytes) -> _Checked:
    if raw is None:
        return None, [f"{path}: the file is empty; expected a manifest (version, source, target, ...)"], None
    if not isinstance(raw, Mapping):
        return None, [f"{path}: a manifest must be a mapping of fields (version: 1, source: ..., "
                      f"target: ...), got {_kind(raw)}"], None
    problems: list[Problem] = []
    try:
        doc = _clean(raw, [], problems, [_MAX_NODES])
    except (_TooBig, RecursionError):
        return None, [f"{path}: the manifest is too large or nests too deeply"], None
    secrets = secrets_of(doc)
    problems.extend(schema_problems(doc))
    name = doc["name"] if isinstance(doc.get("name"), str) and doc["name"] else Path(path).stem
    manifest = build(doc, name=name, path=path, content_hash=hashlib.sha256(data).hexdigest(),
                     problems=problems)
    return manifest, _render(path, problems, secrets), name


def _read_one(path: str) -> _Checked:
    data, problem = _read(path)
    if data is None:
        return None, [problem or f"{path}: cannot read the file"], None
    try:
        raw = yaml.load(data, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        return None, [_yaml_problem(path, err, data)], None
    except RecursionError:
        return None, [f"{path}: YAML syntax error: nested too deeply"], None
    except ValueError:  # e.g. an integer with more digits than Python converts
        return None, [f"{path}: YAML syntax error: a value cannot be read (a number with too many digits?)"], None
    try:
        return _check_document(raw, path, data)
    except RecursionError:
        return None, [f"{path}: the manifest nests too deeply"], None
    except Exception as err:  # noqa: BLE001 - the promise is problems, never a traceback
        return None, [f"{path}: internal error while validating ({type(err).__name__}); please report it"], None


def read_manifest(path: PathLike) -> tuple[Manifest | None, list[str]]:
    """Read, parse and validate one file; returns (manifest or None, problems)."""
    manifest, problems, _ = _read_one(str(path))
    return manifest, problems


def validate_paths(paths: PathLike | Iterable[PathLike]) -> tuple[list[Manifest], list[str]]:
    """Validate files and folders; returns (valid manifests, every problem of every file).

    Folders contribute their ``*.yaml``/``*.yml`` files (sorted, not recursive). Names
    (``name`` or the file's stem) must be unique across everything given."""
    files, problems = find_manifest_files(paths)
    manifests: list[Manifest] = []
    owners: dict[str, str] = {}
    for path in files:
        manifest, file_problems, name = _read_one(path)
        problems.extend(file_problems)
        if name is not None and name in owners:
            problems.append(f"{path}: name: manifest name {show(name)} is already used by "
                            f"{owners[name]} (names must be unique)")
            continue
        if name is not None:
            owners[name] = path
        if manifest is not None:
            manifests.append(manifest)
    return manifests, problems


def load_manifests(paths: PathLike | Iterable[PathLike]) -> list[Manifest]:
    """Like ``validate_paths`` but raises ``ManifestError(problems)`` if anything is wrong."""
    manifests, problems = validate_paths(paths)
    if problems:
        raise ManifestError(problems)
    return manifests


def load_manifest(path: PathLike) -> Manifest:
    """One manifest file; raises ``ManifestError`` if it is not valid."""
    manifests = load_manifests([path])
    return manifests[0]
