"""Typed options shared by the library call and the manifests.

The manifest's ``copy`` and ``jdbc`` mappings and ``write_to_postgres(**options)``
use the same names; both end up in these frozen dataclasses, so no raw dict
travels past the edge. An unknown name is an error, never silently ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any

from .errors import ConfigError

DEFAULT_BUCKET = "development-pyspark-jobs-codepackage"
DEFAULT_PREFIX_ROOT = "tmp/postgres-copy"
#: MiB of uncompressed data per staged part, unless copy.part_mb says otherwise: small enough that
#: loading starts while the rest is still being staged
DEFAULT_PART_MB = 16


class TextEnum(str, Enum):
    """An enum of words that prints as its word (Python 3.11's StrEnum; 3.10 is supported)."""

    def __str__(self) -> str:
        return str(self.value)


class Method(TextEnum):
    AUTO = "auto"
    COPY = "copy"
    OPTIMIZED = "optimized"
    STANDARD = "standard"


class WriteMode(TextEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"
    UPSERT = "upsert"


@dataclass(frozen=True)
class CopyOptions:
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX_ROOT
    compression: str = "gzip"  # gzip | none
    server_side: str = "auto"  # auto | always | never
    cleanup: bool = True
    fallback: str = "optimized"  # optimized | none
    strip_nul: bool = False
    #: a staged part closes at rows_per_part rows or part_mb MiB (uncompressed, as staged), whichever
    #: comes first: part_mb bounds a task's memory (it holds one part before uploading it) whatever
    #: the row width; rows_per_part bounds what a resume re-stages. None: only the MiB cap applies
    rows_per_part: int | None = None
    part_mb: int = DEFAULT_PART_MB
    #: staging format: binary where every column can take it (auto), or always binary / csv
    format: str = "auto"
    #: COPY over this many connections at once: an overwrite through a shadow table swapped in at the
    #: end (destination/shadow_swap.py), an append over prepared transactions, an upsert or a slice
    #: replace through a staging table; 1 is the single load transaction. ``auto`` (the default):
    #: 2 for a whole-table overwrite of a table of AUTO_SHADOW_BYTES or more, else 1
    #: (destination/landing_rules.auto_connections, measured in bench/README.md)
    connections: int | str = "auto"


#: target.schema_evolution / schema_evolution=: none (a new source column is an error) or add_columns
SCHEMA_EVOLUTION = ("none", "add_columns")
#: target.on_narrowing / on_narrowing=: round (as PostgreSQL rounds a literal) or error (refuse a value
#: the target would change, before data moves: plan/narrowing.py, engine/narrowing_check.py)
ON_NARROWING = ("round", "error")


@dataclass(frozen=True)
class RejectPolicy:
    """``on_error: reject``: rows PostgreSQL rejects are set aside, up to ``max_errors``."""

    max_errors: int | None = None  # None: no limit


@dataclass(frozen=True)
class JdbcOptions:
    batchsize: int | None = None
    num_partitions: int | None = None
    max_connections: int = 8


_CHOICES = {
    ("copy", "compression"): ("gzip", "none"),
    ("copy", "server_side"): ("auto", "always", "never"),
    ("copy", "fallback"): ("optimized", "none"),
    ("copy", "format"): ("auto", "binary", "csv"),
}


#: options that count something (rows, MiB, partitions, connections): whole numbers >= 1
_COUNTS = frozenset({"rows_per_part", "part_mb", "connections", "batchsize", "num_partitions", "max_connections"})


def did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(cls: type[Any], section: str, values: Mapping[str, Any]) -> Any:
    names = [f.name for f in fields(cls)]
    for key, value in values.items():
        if key not in names:
            raise ConfigError(
                f"unknown {section} option {key!r}{did_you_mean(key, names)}",
                next_step=f"{section} options are: {', '.join(names)}",
            )
        allowed = _CHOICES.get((section, key))
        if allowed and value not in allowed:
            raise ConfigError(f"{section}.{key}: {value!r} is not one of {', '.join(allowed)}")
        if (section, key) == ("copy", "connections") and value == "auto":
            continue
        if key in _COUNTS and value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                                     or value < 1):
            raise ConfigError(f"{section}.{key}: {value!r} is not a whole number >= 1"
                              + (" or 'auto'" if key == "connections" else ""))
    return cls(**values)


def copy_options(values: Mapping[str, Any]) -> CopyOptions:
    return _build(CopyOptions, "copy", values)


def jdbc_options(values: Mapping[str, Any]) -> JdbcOptions:
    return _build(JdbcOptions, "jdbc", values)


def split_call_options(options: Mapping[str, Any]) -> tuple[CopyOptions, JdbcOptions]:
    """Sort ``write_to_postgres(**options)`` into copy and jdbc options by name."""
    copy_names = {f.name for f in fields(CopyOptions)}
    jdbc_names = {f.name for f in fields(JdbcOptions)}
    copy_vals: dict[str, Any] = {}
    jdbc_vals: dict[str, Any] = {}
    for key, value in options.items():
        if key in copy_names:
            copy_vals[key] = value
        elif key in jdbc_names:
            jdbc_vals[key] = value
        else:
            known = sorted(copy_names | jdbc_names)
            raise ConfigError(
                f"write_to_postgres got an unknown keyword {key!r}{did_you_mean(key, known)}",
                next_step="known options: " + ", ".join(known),
            )
    return copy_options(copy_vals), jdbc_options(jdbc_vals)


def with_bucket(opts: CopyOptions, bucket: str | None) -> CopyOptions:
    return replace(opts, bucket=bucket) if bucket else opts
