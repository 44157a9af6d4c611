"""Settings for a load of a given size, each with the reason it is there (pure).

One decision, three renderings: ``get_performance_recommendations`` (flat keys that
``write_to_postgres(df, conn, **rec)`` accepts, the library's contract), a manifest fragment
(``method`` and the ``copy:`` / ``jdbc:`` sections, valid against schemas/manifest.v1.json) and
``loader recommend`` (the fragment as YAML, or JSON, with the reasons). Only settings that do what
their reason says are recommended: ``num_partitions`` is an upper bound on JDBC writers (the
DataFrame's partitions are coalesced down to it, never repartitioned up), and a staged part closes at
``rows_per_part`` rows or ``part_mb`` MiB, whichever comes first. No ``batchsize``: the row count
says nothing about the row width, and the load's width rule (~1 MiB of rows per batch) measured best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..options import DEFAULT_PART_MB, JdbcOptions
from .choose import COPY_MIN_ROWS

_DEFAULT_MAX_CONNECTIONS = JdbcOptions().max_connections
ROWS_PER_WRITER = 500_000


@dataclass(frozen=True)
class Setting:
    section: str  # "" (top level), "copy" or "jdbc": where it goes in a manifest
    key: str  # also the write_to_postgres keyword
    value: Any
    reason: str

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


def recommend_settings(row_count: int, available_memory_gb: float = 8) -> list[Setting]:
    if isinstance(row_count, bool) or not isinstance(row_count, int) or row_count < 0:
        raise ConfigError(f"row_count must be an integer >= 0, got {row_count!r}")
    if isinstance(available_memory_gb, bool) or not isinstance(available_memory_gb, int | float) \
            or not available_memory_gb > 0:
        raise ConfigError(f"available_memory_gb must be > 0, got {available_memory_gb!r}")
    copy = row_count > COPY_MIN_ROWS
    by_memory = max(1, int(available_memory_gb))
    writers = max(1, min(-(-row_count // ROWS_PER_WRITER), by_memory, _DEFAULT_MAX_CONNECTIONS))
    settings = [Setting("", "method", "copy" if copy else "optimized",
                        f"COPY above {COPY_MIN_ROWS:,} rows: it costs PostgreSQL less CPU per row than JDBC's INSERTs "
                        "and was faster from 1M rows (README, Measured speed); it needs an S3 bucket "
                        "(`loader doctor` checks) and falls back to optimized JDBC when staging fails"
                        if copy else f"{row_count:,} rows is at most {COPY_MIN_ROWS:,}: optimized JDBC starts "
                        "sooner (nothing to stage in S3) and the load is short either way")]
    if copy:
        rows_per_part = int(min(2_000_000, max(250_000, available_memory_gb * 125_000)))
        part_mb = int(min(256, max(DEFAULT_PART_MB, available_memory_gb * 8)))
        settings += [
            Setting("copy", "rows_per_part", rows_per_part,
                    f"at most {rows_per_part:,} rows per staged part, the unit a resume re-stages and COPY "
                    f"loads; a part closes at part_mb first when its rows average more than "
                    f"{part_mb * 1024 * 1024 // rows_per_part} bytes as staged"),
            Setting("copy", "part_mb", part_mb,
                    f"about {part_mb} MiB (uncompressed) per part at most: each Spark task holds one part "
                    f"in memory before uploading it; 1/128 of {available_memory_gb:g} GB, at least "
                    f"{DEFAULT_PART_MB} (the default) and at most 256"),
        ]
    settings.append(Setting(
        "jdbc", "num_partitions", writers,
        f"at most {writers} concurrent JDBC writer(s) (connections){' for the fallback' if copy else ''}: one "
        f"per {ROWS_PER_WRITER:,} rows, at most one per GB of memory and max_connections "
        f"({_DEFAULT_MAX_CONNECTIONS}); an upper bound: a DataFrame with fewer partitions writes with "
        "fewer (no shuffle is added; df.repartition(n) if you want n)"))
    return settings


def as_call_options(settings: list[Setting]) -> dict[str, Any]:
    """Flat keys for ``write_to_postgres(df, conn, **options)``."""
    return {s.key: s.value for s in settings}


def as_manifest_fragment(settings: list[Setting]) -> dict[str, Any]:
    """``method`` and the ``copy:`` / ``jdbc:`` sections of a manifest."""
    fragment: dict[str, Any] = {}
    for s in settings:
        if s.section:
            fragment.setdefault(s.section, {})[s.key] = s.value
        else:
            fragment[s.key] = s.value
    return fragment


BATCHSIZE_NOTE = "jdbc.batchsize is not set: the load chooses it from the row width (~1 MiB of rows per batch)"


def render_yaml(settings: list[Setting], row_count: int, available_memory_gb: float) -> str:
    """The fragment as YAML to paste into a manifest, the reasons as comments (valid YAML whole)."""
    import yaml

    head = f"# loader recommend --rows {row_count} --memory-gb {available_memory_gb:g}: merge into a manifest"
    body = yaml.safe_dump(as_manifest_fragment(settings), sort_keys=False).rstrip()
    why = ["# why:", *(f"#   {s.path}: {s.reason}" for s in settings), f"#   {BATCHSIZE_NOTE}"]
    return "\n".join([head, body, *why])


def render_json(settings: list[Setting]) -> dict[str, Any]:
    return {"manifest": as_manifest_fragment(settings), "write_to_postgres": as_call_options(settings),
            "reasons": {s.path: s.reason for s in settings}, "notes": [BATCHSIZE_NOTE]}
