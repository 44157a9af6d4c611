"""The validated manifest: a tree of frozen dataclasses (no raw dict travels past the reader).

Field names match the manifest v1 keys (a public contract). ``CopyOptions``,
``JdbcOptions``, ``Method`` and ``WriteMode`` are the same types the library
call uses (``loader.options``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..connection import ConnectionSpec
from ..naming import TableRef, loader_schema
from ..options import CopyOptions, JdbcOptions, Method, WriteMode
from .location import display_uri

MANIFEST_VERSION = 1
#: Spark's built-in file formats: they read ``path``
FILE_FORMATS = ("parquet", "csv", "json", "orc")
#: formats with rules of their own; any other name is a Spark data source passed through
SOURCE_FORMATS = (*FILE_FORMATS, "jdbc", "table")
CREATE_CHOICES = ("if_missing", "never")
ON_ERROR_CHOICES = ("fail", "reject")


@dataclass(frozen=True)
class IncrementalSpec:
    """``source.incremental``: load only rows past the last run's high-water mark (``loader.watermark``).
    ``initial`` and ``lag`` are kept as written; their type follows the cursor column's, known once
    the source is read."""

    cursor: str
    initial: str | int | None = None
    lag: str | int | float | None = None


@dataclass(frozen=True)
class SourceSpec:
    """What Spark reads: files (``path``), a query over JDBC (``query`` + ``connection``), a table
    of Spark's catalog (``table``) or any Spark data source by name; then ``where`` and ``select``."""

    format: str
    path: str | None = None
    query: str | None = None
    #: reader options in file order, values rendered as Spark expects them (``true``/``false``)
    options: tuple[tuple[str, str], ...] = ()
    connection: ConnectionSpec | None = None
    #: format table: a table or view of Spark's catalog
    table: str | None = None
    #: Spark SQL expressions (df.selectExpr) and a condition (df.where, applied first)
    select: tuple[str, ...] = ()
    where: str | None = None
    incremental: IncrementalSpec | None = None
    #: file formats: the columns and their types as Spark DDL (``id INT, name STRING``); a value that
    #: does not parse as its type fails the load (or is rejected) instead of landing as NULL
    schema: str | None = None

    @property
    def is_jdbc(self) -> bool:
        return self.format == "jdbc"

    def options_dict(self) -> dict[str, str]:
        return dict(self.options)


@dataclass(frozen=True)
class TargetSpec:
    """The PostgreSQL table written and how."""

    connection: ConnectionSpec
    schema: str = "public"
    table: str = ""
    mode: WriteMode = WriteMode.APPEND
    key: tuple[str, ...] = ()
    create: str = "if_missing"
    #: build indexes after the rows when the table is new, overwritten or empty (index_defer)
    defer_indexes: bool = True
    #: none | add_columns: a source column the table lacks is added in the load transaction
    schema_evolution: str = "none"
    #: mode overwrite of one slice: a SQL predicate, or the columns whose values name the slices
    replace_where: str | None = None
    replace_by: tuple[str, ...] = ()
    #: auto | truncate: how a whole-table overwrite replaces the rows (destination/modes.py)
    overwrite: str = "auto"
    #: an overwrite or slice replace from an empty source may empty the table or the slice
    allow_empty: bool = False
    #: round | error: a value the column's numeric scale or range would change is rounded, or refused
    on_narrowing: str = "round"
    #: the schema of the ledger, the JDBC staging tables and loader_rejects (None: the target's)
    ledger_schema: str | None = None

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema, self.table)

    @property
    def loader_schema(self) -> str:
        """Where this target's loads keep their own tables (naming.loader_schema)."""
        return loader_schema(self.ref, self.ledger_schema)


@dataclass(frozen=True)
class Manifest:
    """One validated manifest file (one target table)."""

    name: str
    #: the path as given (or joined to the folder given), used in every message
    path: str
    #: sha256 (hex) of the file's bytes: lets a resume notice an edited manifest
    content_hash: str
    version: int
    source: SourceSpec
    target: TargetSpec
    method: Method = Method.AUTO
    copy: CopyOptions = CopyOptions()
    jdbc: JdbcOptions = JdbcOptions()
    on_error: str = "fail"
    max_errors: int | None = None
    reap_before_run: bool = False

    @property
    def uri(self) -> str:
        """Where it was read from, as the state store records it (``s3://...`` or ``file://...``)."""
        return display_uri(self.path)

    def __str__(self) -> str:
        return f"{self.name} ({self.path}) -> {self.target.ref}"
