"""The library call existing PySpark jobs use (the design document's contract).

    write_to_postgres(df, conn_params, method="copy")

is all it takes: the bucket, the temp prefix, cleanup and the fallback to
optimized JDBC are automatic. Everything else is optional and named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import redact
from .connection import ConnectionSpec
from .engine.execute import execute
from .errors import ConfigError
from .naming import TableRef
from .options import Method, WriteMode, split_call_options, with_bucket
from .plan.geo_frame import as_postgis
from .request import LoadRequest
from .result import LoadResult
from .state import StateStore

_CREATE = ("if_missing", "never")


def write_to_postgres(
    df: Any,
    conn_params: Mapping[str, Any] | str | ConnectionSpec,
    method: str = "copy",
    temp_s3_bucket: str | None = None,
    cleanup_temp_files: bool = True,
    *,
    table: str | None = None,
    mode: str = "append",
    key: Sequence[str] | str | None = None,
    create: str = "if_missing",
    state_url: str | None = None,
    wait: bool = False,
    on_error: str = "fail",
    max_errors: int | None = None,
    defer_indexes: bool = True,
    staging_format: str | None = None,
    schema_evolution: str = "none",
    replace_where: str | None = None,
    replace_by: Sequence[str] | str | None = None,
    allow_empty: bool = False,
    overwrite: str = "auto",
    on_narrowing: str = "round",
    ledger_schema: str | None = None,
    **options: Any,
) -> LoadResult:
    """Load ``df`` into PostgreSQL and return a :class:`LoadResult`.

    ``conn_params``: a dict (host, port, database/dbname, user, password, sslmode, and
    optionally ``table``) or a ``postgresql://`` URL. ``table``: ``name`` or ``schema.name``
    (else ``conn_params["table"]``). ``method``: copy, optimized, standard or auto.
    ``mode``: append, overwrite or upsert (with ``key``). ``**options``: the manifest's
    ``copy`` and ``jdbc`` keys by name (``fallback="none"``, ``compression="none"``,
    ``server_side="never"``, ``batchsize=...``); an unknown name raises ConfigError.
    ``on_error="reject"`` loads the good rows and writes rejected ones, with the reason, to
    ``<ledger schema>.loader_rejects``; more than ``max_errors`` rejections fail the load.
    ``defer_indexes``: when the table is new, overwritten or empty, its indexes are dropped
    inside the load transaction and built once after the rows; ``False`` keeps them.
    ``staging_format`` (COPY): "auto" (binary COPY when every column has a binary encoding, else
    CSV), "binary" or "csv"; ``LoadResult.staging_format`` says which was used and why.
    ``schema_evolution``: "none" (a source column the table lacks is an error) or "add_columns"
    (it is added, nullable, in the load transaction; a changed type is still an error).
    ``replace_where`` (with ``mode="overwrite"``): replace only the rows matching this SQL predicate
    over the table's columns (every loaded row must match it); ``replace_by``: replace the slices
    (distinct values of these columns) the DataFrame holds. Both delete and insert in one
    transaction with row locks only: readers are never blocked. ``LoadResult.rows_deleted``.
    An overwrite or slice replace from an empty DataFrame that would empty the table or the slice
    is refused (nothing changes) unless ``allow_empty=True``. ``overwrite`` (``mode="overwrite"`` of the
    whole table): "auto" replaces the rows through a shadow table swapped in where it can, else in
    place under MVCC (readers keep reading either way); "truncate" empties the table with TRUNCATE
    (faster, but readers wait for the whole load). ``LoadResult.path_reason`` says which and why.
    ``on_narrowing``: a column whose values the target keeps with fewer decimals or digits (decimal(12,4)
    or a double into numeric(10,2)) is logged; "round" (default) stores them as PostgreSQL rounds the
    literal, "error" refuses the load before anything changes if a value would change.
    Spark 4's ``geometry(srid)``, ``geometry(any)`` and ``geography(srid)`` columns load into PostGIS
    ``geometry``/``geography`` columns by every method, as EWKB with each value's SRID.
    ``ledger_schema``: the schema of the loader's own tables (the ledger ``loader_ledger``, the JDBC
    staging tables, ``loader_rejects``); default the target's. Name one the role may create in when
    it may only write into the target's schema (README "Privileges").
    """
    redact.install()
    spec = ConnectionSpec.parse(conn_params)
    redact.register(spec.password)
    target = _target(table, conn_params)
    if staging_format is not None:
        options = {**options, "format": staging_format}
    copy_opts, jdbc_opts = split_call_options(options)
    copy_opts = with_bucket(copy_opts, temp_s3_bucket)
    if not cleanup_temp_files:
        copy_opts = replace(copy_opts, cleanup=False)
    keys = (key,) if isinstance(key, str) else tuple(key or ())
    if on_error not in ("fail", "reject"):
        raise ConfigError(f"on_error={on_error!r} is not one of fail, reject")
    if create not in _CREATE:
        raise ConfigError(f"create={create!r} is not one of {', '.join(_CREATE)}")
    # Spark's geometry/geography columns travel as EWKB, as a manifest source's do (plan/geo_frame.py)
    req = LoadRequest(df=as_postgis(df), spec=spec, target=target, method=_enum(Method, method, "method"),
                      mode=_enum(WriteMode, mode, "mode"), key=keys, create=create, copy=copy_opts,
                      jdbc=jdbc_opts, wait_for_lock=wait, on_error=on_error, max_errors=max_errors,
                      defer_indexes=bool(defer_indexes), schema_evolution=schema_evolution,
                      replace_where=replace_where,
                      replace_by=(replace_by,) if isinstance(replace_by, str) else tuple(replace_by or ()),
                      allow_empty=bool(allow_empty), overwrite=overwrite, on_narrowing=on_narrowing,
                      ledger_schema=ledger_schema)
    return execute(req, StateStore(state_url))


def _target(table: str | None, conn_params: Any) -> TableRef:
    name = table
    schema = "public"
    if name is None and isinstance(conn_params, Mapping):
        name = conn_params.get("table")
        schema = conn_params.get("schema") or "public"
    if not name:
        raise ConfigError("no target table given",
                          next_step="pass table='schema.table' or put 'table' in conn_params")
    return TableRef.parse(str(name), default_schema=schema)


def _enum(cls: Any, value: Any, what: str) -> Any:
    try:
        return cls(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ConfigError(f"{what}={value!r} is not one of {allowed}") from None
