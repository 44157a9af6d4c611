"""What a load returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoadResult:
    """The outcome of one ``write_to_postgres`` call or manifest run.

    ``method`` is the method actually used ("copy", "optimized" or "standard"):
    after a fallback it differs from the one asked for, and ``fallback_reason``
    says why. ``timings`` holds seconds per phase (stage, load, ...).
    """

    method: str
    rows: int
    bytes_staged: int
    temp_path: str | None
    run_id: str = ""
    #: why this method (``auto``'s choice, or "requested"); after a fallback, ``fallback_reason`` too
    reason: str = ""
    fallback_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    server_side: bool = False
    #: rows set aside in <schema>.loader_rejects (``on_error="reject"``)
    rows_rejected: int = 0
    #: how COPY staged the rows: "binary" or "csv" (None for the JDBC methods)
    staging_format: str | None = None
    #: why that format (e.g. "csv: column 'id' (uuid: ...)")
    format_reason: str = ""
    #: COPY: who read the source ("read by pyarrow from 3 Parquet file(s) ...", "read by Spark (...)")
    read_reason: str = ""
    #: COPY: how the rows landed and why ("loaded through a shadow table over 2 connections ...")
    path_reason: str = ""
    #: upsert: of ``rows``, those whose key was new and those that updated an existing row
    #: (None for append and overwrite, and for upsert with ``on_error="reject"``)
    rows_inserted: int | None = None
    rows_updated: int | None = None
    #: a slice replace (``replace_where``/``replace_by``): the old rows of the slice it deleted
    rows_deleted: int | None = None

    @property
    def seconds(self) -> float:
        return sum(v for k, v in self.timings.items() if k in ("stage", "load")) if self.timings else 0.0
