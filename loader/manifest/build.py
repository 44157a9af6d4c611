"""Semantic rules and the build of the frozen ``Manifest`` from a parsed document.

Runs after the schema check on the same document, so it never trusts a shape:
every lookup is type-guarded (a wrong type was already reported by the schema)
and every problem is collected, never raised. ``${VAR}`` references expand here
(connections, ``source.path``, ``source.query``, ``source.table``, ``copy.bucket``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ..connection import ConnectionSpec, expand_env
from ..destination.modes import overwrite_problem
from ..destination.slice_modes import slice_problem
from ..destination.slices import predicate_problem
from ..destination.write_modes import key_problem
from ..errors import ConfigError
from ..naming import TableRef, check_identifier, check_prefix_root
from ..options import CopyOptions, JdbcOptions, Method, WriteMode
from ..watermark import lag_problem
from .model import (
    FILE_FORMATS,
    MANIFEST_VERSION,
    SOURCE_FORMATS,
    IncrementalSpec,
    Manifest,
    SourceSpec,
    TargetSpec,
)
from .validate import Problem

_ONLY_REFS = re.compile(r"^(?:\$\{[A-Za-z_][A-Za-z0-9_]*\})+$")
_COPY_FIELDS = ("bucket", "prefix", "compression", "server_side", "cleanup", "fallback",
                "strip_nul", "rows_per_part", "part_mb", "format", "connections")
_JDBC_FIELDS = ("batchsize", "num_partitions", "max_connections")
_MODES = tuple(m.value for m in WriteMode)


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _str(m: Mapping[str, Any], key: str) -> str | None:
    value = m.get(key)
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema counts 1.0 as an integer
    return None


def _url_password(url: str) -> str | None:
    """The password part of a URL's userinfo, without parsing anything else."""
    rest = url.split("://", 1)[1] if "://" in url else url
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" not in netloc:
        return None
    userinfo = netloc.rpartition("@")[0]
    if ":" not in userinfo:
        return None
    return userinfo.partition(":")[2]


def secrets_of(doc: Any) -> list[str]:
    """Password values in a document (literal or expanded), for scrubbing messages.

    A password written only as ``${VAR}`` references is not itself a secret (the name of a
    variable is what the user must be told when it is unset); only its value is."""
    found: list[str] = []
    if not isinstance(doc, Mapping):
        return found
    for section in ("source", "target"):
        conn = _section(doc, section).get("connection")
        raw = conn.get("password") if isinstance(conn, Mapping) else conn if isinstance(conn, str) else None
        if not isinstance(raw, str):
            continue
        for candidate in (raw, _safe_expand(raw)):
            if candidate is None:
                continue
            pw = _url_password(candidate) if isinstance(conn, str) else candidate
            if pw and not _ONLY_REFS.match(pw):
                found.extend({pw, unquote(pw)})
    return found


def _safe_expand(value: str) -> str | None:
    try:
        return expand_env(value)
    except ConfigError:
        return None


def _connection(raw: Any, where: str, problems: list[Problem]) -> ConnectionSpec | None:
    if isinstance(raw, Mapping):
        pw = raw.get("password")
        if isinstance(pw, str) and pw and not _ONLY_REFS.match(pw):
            problems.append((f"{where}.password", "a literal password is not allowed in a manifest; "
                             "write a ${VAR} reference (e.g. password: ${PGPASSWORD}) and set the "
                             "variable in the environment"))
            return None
    elif isinstance(raw, str):
        pw = _url_password(raw)
        if pw and not _ONLY_REFS.match(pw):
            problems.append((where, "the URL contains a literal password, which is not allowed in a "
                             "manifest; write a ${VAR} reference instead (e.g. "
                             "postgresql://user:${PGPASSWORD}@host/db) or leave it out and set PGPASSWORD"))
            return None
    else:
        return None  # wrong type: reported by the schema
    if any(field == where or field.startswith(where + ".") for field, _ in problems):
        return None  # its schema problems are reported already
    try:
        return ConnectionSpec.parse(raw, where)
    except ConfigError as err:
        message = str(err)
        field, sep, rest = message.partition(": ")
        if sep and field.endswith(".port"):  # the value may be a misplaced ${VAR}: not shown
            rest = "not a port number (give an integer such as 5432, or a ${VAR} holding one)"
        problems.append((field, rest) if sep and field.startswith(where) else (where, message))
    except ValueError:  # urlsplit: bad port or bracketed host
        problems.append((where, "not a valid PostgreSQL URL (check the host and port)"))
    return None


def _expand(value: str | None, where: str, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    try:
        return expand_env(value, where)
    except ConfigError as err:
        problems.append((where, str(err).partition(": ")[2] or str(err)))
        return None


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _source(doc: Mapping[str, Any], problems: list[Problem]) -> SourceSpec | None:
    if not isinstance(doc.get("source"), Mapping):
        return None
    src = _section(doc, "source")
    fmt = src.get("format")
    if isinstance(fmt, str) and fmt.lower() in SOURCE_FORMATS:
        fmt = fmt.lower()  # Spark's short names are case-insensitive; our rules go by them
    if fmt == "jdbc":
        for key, why in (("query", "the SQL query to run"), ("connection", "the database to read from")):
            if key not in src:
                problems.append(("source", f"missing required field {key!r} (format jdbc needs {why})"))
        if "path" in src:
            problems.append(("source.path", "not used with format jdbc (write a query instead)"))
    elif fmt == "table":
        if "table" not in src:
            problems.append(("source", "missing required field 'table' (format table reads a table or view of "
                                       "Spark's catalog, e.g. table: db.name)"))
        problems.extend((f"source.{key}", "not used with format table (the catalog knows where the table is)")
                        for key in ("path", "query", "connection") if key in src)
    elif isinstance(fmt, str):
        if fmt in FILE_FORMATS and "path" not in src:
            problems.append(("source", f"missing required field 'path' (format {fmt} reads files)"))
        close = difflib.get_close_matches(fmt.lower(), SOURCE_FORMATS, n=1, cutoff=0.8)
        if fmt not in SOURCE_FORMATS and close:  # a typo, not a data source Spark may have
            problems.append(("source.format", f"unknown format {fmt!r} (did you mean {close[0]!r}?)"))
        problems.extend((f"source.{key}", f"only used with format jdbc, not {fmt}")
                        for key in ("query", "connection") if key in src)
        if "table" in src:
            problems.append(("source.table", f"only used with format table, not {fmt}"))
    if "schema" in src and fmt not in FILE_FORMATS:
        problems.append(("source.schema", f"only used with file formats ({', '.join(FILE_FORMATS)}), not {fmt}"))
    options: list[tuple[str, str]] = []
    raw_options = src.get("options")
    if isinstance(raw_options, Mapping):
        options = [(str(k), _option_text(v)) for k, v in raw_options.items()
                   if isinstance(v, (str, int, float))]
    conn = _connection(src["connection"], "source.connection", problems) if "connection" in src else None
    path = _expand(_str(src, "path"), "source.path", problems)
    query = _expand(_str(src, "query"), "source.query", problems)
    table = _expand(_str(src, "table"), "source.table", problems)
    select = src.get("select")
    if not isinstance(fmt, str):
        return None
    return SourceSpec(format=fmt, path=path, query=query, options=tuple(options), connection=conn, table=table,
                      select=tuple(e for e in select if isinstance(e, str)) if isinstance(select, list) else (),
                      where=_str(src, "where"), incremental=_incremental(src, problems),
                      schema=_str(src, "schema"))


def _incremental(src: Mapping[str, Any], problems: list[Problem]) -> IncrementalSpec | None:
    raw = src.get("incremental")
    cursor = _str(raw, "cursor") if isinstance(raw, Mapping) else None
    if cursor is None or not isinstance(raw, Mapping):
        return None  # wrong shape: reported by the schema
    lag = raw.get("lag")
    problem = lag_problem(lag) if lag is not None else None
    if problem:
        problems.append(("source.incremental.lag", problem))
    initial = raw.get("initial")
    return IncrementalSpec(cursor, initial if isinstance(initial, (str, int)) and not isinstance(initial, bool)
                           else None, lag if isinstance(lag, (str, int, float)) else None)


def _target(doc: Mapping[str, Any], problems: list[Problem]) -> TargetSpec | None:
    if not isinstance(doc.get("target"), Mapping):
        return None
    tgt = _section(doc, "target")
    mode = tgt.get("mode", "append")
    # the request applies the same rule (target.write_modes.key_problem); here it names the field
    if mode in _MODES and "key" not in tgt and key_problem(mode, ()):
        problems.append(("target", "missing required field 'key' (mode upsert matches rows on the key columns)"))
    conn = _connection(tgt["connection"], "target.connection", problems) if "connection" in tgt else None
    key = tgt.get("key")
    key = key if isinstance(key, list) else []
    table = _str(tgt, "table")
    by = tuple(c for c in tgt.get("replace_by") or () if isinstance(c, str))
    if mode in _MODES and ("replace_where" in tgt or by):
        problem = slice_problem(mode, tuple(key), _str(tgt, "replace_where"), by)
        if problem is None and isinstance(tgt.get("replace_where"), str):
            problem = predicate_problem(tgt["replace_where"])
        if problem:
            problems.append(("target.replace_where" if "replace_where" in tgt else "target.replace_by", problem))
            return None
    if mode in _MODES and "overwrite" in tgt:
        problem = overwrite_problem(mode, str(tgt["overwrite"]), _str(tgt, "replace_where"), by)
        if problem:
            problems.append(("target.overwrite", problem))
            return None
    if conn is None or table is None or mode not in _MODES:
        return None
    schema = _str(tgt, "schema")
    try:  # the call's grammar: name or schema.name, a part bare or "quoted" (with "" for a quote)
        ref = TableRef.parse(table, default_schema=schema or "public")
        if schema is not None:
            check_identifier(schema, "schema name")
    except ConfigError as exc:
        problems.append(("target.table", f"{exc.message}" + (f" -> {exc.next_step}" if exc.next_step else "")))
        return None
    ledger_schema = _str(tgt, "ledger_schema")
    try:
        if ledger_schema is not None:
            check_identifier(ledger_schema, "ledger schema")
    except ConfigError as exc:
        problems.append(("target.ledger_schema", exc.message))
        return None
    if schema is not None and ref.schema != schema:
        problems.append(("target.table", f"{table!r} names schema {ref.schema!r} but target.schema is {schema!r}"))
        return None
    return TargetSpec(connection=conn, schema=ref.schema, table=ref.table,
                      mode=WriteMode(mode), key=tuple(k for k in key if isinstance(k, str)),
                      create=_str(tgt, "create") or "if_missing",
                      defer_indexes=tgt.get("defer_indexes") is not False,
                      schema_evolution=_str(tgt, "schema_evolution") or "none",
                      replace_where=_str(tgt, "replace_where"), replace_by=by,
                      allow_empty=tgt.get("allow_empty") is True, overwrite=_str(tgt, "overwrite") or "auto",
                      on_narrowing=_str(tgt, "on_narrowing") or "round", ledger_schema=ledger_schema)


def _copy(doc: Mapping[str, Any], problems: list[Problem]) -> CopyOptions:
    raw = _section(doc, "copy")
    values: dict[str, Any] = {k: raw[k] for k in _COPY_FIELDS if k in raw}
    prefix = raw.get("prefix")
    if isinstance(prefix, str) and prefix:
        try:
            values["prefix"] = check_prefix_root(prefix)
        except ConfigError:
            problems.append(("copy.prefix", f"{prefix[:60]!r} is not a usable S3 prefix root "
                             "(use something like tmp/postgres-copy: no empty, '.' or '..' parts)"))
            values.pop("prefix")
    values["bucket"] = _expand(_str(raw, "bucket"), "copy.bucket", problems)
    if "rows_per_part" in values:
        values["rows_per_part"] = _int(values["rows_per_part"])
    if values.get("connections") == "auto":
        pass
    elif "connections" in values and _int(values["connections"]) is None:
        values.pop("connections")  # its type is reported by the schema
    elif "connections" in values:
        values["connections"] = _int(values["connections"])
    if "part_mb" in values and _int(values["part_mb"]) is None:
        values.pop("part_mb")  # its type is reported by the schema
    elif "part_mb" in values:
        values["part_mb"] = _int(values["part_mb"])
    try:
        return CopyOptions(**values)
    except (TypeError, ValueError):
        return CopyOptions()


def _jdbc(doc: Mapping[str, Any]) -> JdbcOptions:
    raw = _section(doc, "jdbc")
    values: dict[str, Any] = {k: _int(raw[k]) for k in _JDBC_FIELDS if _int(raw.get(k)) is not None}
    return JdbcOptions(**values)


def build(doc: Mapping[str, Any], *, name: str, path: str, content_hash: str,
          problems: list[Problem]) -> Manifest | None:
    """Check the semantic rules, expand ``${VAR}``s and build the manifest.

    Appends to ``problems``; returns None when anything is wrong (including problems
    already in the list, e.g. from the schema)."""
    source = _source(doc, problems)
    target = _target(doc, problems)
    copy = _copy(doc, problems)
    jdbc = _jdbc(doc)
    on_error = doc.get("on_error", "fail")
    max_errors = _int(doc.get("max_errors"))
    if "max_errors" in doc and on_error == "fail":
        problems.append(("max_errors", "only used with on_error: reject"))
    method = doc.get("method", "auto")
    if source is not None and source.incremental is not None and target is not None \
            and target.mode is WriteMode.OVERWRITE and target.replace_where is None and not target.replace_by:
        problems.append(("source.incremental", "mode overwrite replaces the whole table on every run, so a run "
                         "that loads only new rows would delete the others; use target.mode append or upsert, or "
                         "replace only the slices the new rows belong to (target.replace_by)"))
    if problems or source is None or target is None or method not in tuple(m.value for m in Method):
        return None
    return Manifest(name=name, path=path, content_hash=content_hash, version=MANIFEST_VERSION,
                    source=source, target=target, method=Method(method), copy=copy, jdbc=jdbc,
                    on_error=str(on_error), max_errors=max_errors,
                    reap_before_run=bool(doc.get("reap_before_run", False)))
