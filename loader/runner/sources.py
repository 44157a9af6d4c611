"""Reading a manifest's source into a DataFrame, and fingerprinting it for resumes.

File sources (parquet, csv, json, orc) are read with Spark's reader and the
manifest's options passed through; ``s3://`` and ``s3a://`` paths work where the
cluster has the connector. ``format: table`` reads a table or view of Spark's catalog;
any other format name goes to ``spark.read.format`` as it is (delta, iceberg, avro: the
connector must be on Spark's classpath, and the error says which package when it is not).
``where`` and ``select`` are Spark SQL on the DataFrame read. CSV is read as RFC 4180 unless the manifest says
otherwise (``CSV_DEFAULTS``): Spark's own defaults (a backslash escapes quotes, a
record is one line) silently mis-read what pandas, Excel and every RFC 4180
writer produce, shifting values and splitting a quoted newline into two rows. A JDBC source runs its query on the
source database.

The fingerprint (paths, sizes, modification times) lets a resume refuse to
reuse parts staged from a source that has changed since.
"""

from __future__ import annotations

import glob
import hashlib
import os
from typing import Any

from ..adapters.spark_errors import quiet_analysis_logs, translate_expression_failure, translate_read_failure
from ..errors import ConfigError, LoaderError, SourceChangedError, SourceError, TargetConnectionError
from ..manifest import FILE_FORMATS, SourceSpec
from . import guards
from .guards import Guarded
from .line_ends import line_sep
from .spatial import spatial

#: RFC 4180 for ``format: csv``: a quote inside a quoted field is doubled, and a quoted field may
#: hold newlines. An unquoted empty field is NULL and a quoted one (``""``, what polars and duckdb
#: write for an empty string) is the empty string: Spark's default ``nullValue`` is ``""``, which
#: makes both NULL, so it is set to a text no file holds (a NUL byte PostgreSQL refuses in text
#: anyway). Every key can still be overridden in the manifest's ``source.options``.
CSV_DEFAULTS = {"quote": '"', "escape": '"', "multiLine": "true", "nullValue": "\u0000", "emptyValue": ""}


def reader_options(source: SourceSpec, where: str = "source") -> dict[str, str]:
    """The options Spark's reader gets: the format's defaults, then the manifest's; for a local CSV
    read multi-line, the files' own line ending (``line_ends.py``: a quoted CRLF stays CRLF)."""
    if source.format != "csv":
        return source.options_dict()
    opts = {**CSV_DEFAULTS, **source.options_dict()}
    if "lineSep" not in opts and opts.get("multiLine", "").lower() == "true" and source.path:
        sep = line_sep(source.path, opts.get("quote", '"'), where)
        if sep is not None:
            opts["lineSep"] = sep
    return opts


def read_source(spark: Any, source: SourceSpec, where: str = "source") -> Any:
    """The DataFrame of a manifest's source: read, then ``where``, then ``select``."""
    with quiet_analysis_logs():
        return shape(_read(spark, source, where), source, where)


def read_guarded(spark: Any, source: SourceSpec, where: str = "source", *, reject: bool = False,
                 max_errors: int | None = None) -> Guarded:
    """``read_source`` for a load: a CSV or JSON source is strict (guards.py), its malformed records
    fail the load or, with ``reject``, come back to be set aside."""
    with quiet_analysis_logs():
        if not guards.applies(source):
            return Guarded(shape(_read(spark, source, where), source, where))
        # JSON's inference adds the corrupt-record column when a line is not JSON: ours, so it is dropped
        df = _read(spark, source, where, extra={"columnNameOfCorruptRecord": guards.CORRUPT})
        try:
            guarded = guards.check(df, source, lambda schema, extra: _read(spark, source, where, schema, extra),
                                   where, reject=reject, max_errors=max_errors)
        except LoaderError:
            raise
        except Exception as exc:
            raise translate_read_failure(exc, where=where, fmt=source.format, path=source.path or "",
                                         multiline=_multiline(source)) from None
        return Guarded(shape(guarded.df, source, where), guarded.rejects)


def _read(spark: Any, source: SourceSpec, where: str, schema: Any = None, extra: dict[str, str] | None = None) -> Any:
    """``schema`` (a StructType or DDL) replaces ``source.schema``; ``extra`` adds reader options."""
    if source.is_jdbc:
        conn = source.connection
        if conn is None or not source.query:
            raise ConfigError(f"{where}: a jdbc source needs query and connection")
        _check_source_connection(conn, where)
        reader = spark.read.format("jdbc").option("url", conn.jdbc_url()).option("query", source.query)
        for key, value in conn.jdbc_properties().items():
            reader = reader.option(key, value)
        return reader.options(**source.options_dict()).load()
    if source.format == "table":
        try:  # the catalog resolves the name here: a missing table fails here
            return spark.read.options(**source.options_dict()).table(source.table or "")
        except Exception as exc:
            raise translate_read_failure(exc, where=where, fmt="table", path=source.table or "",
                                         field="table") from None
    path = source.path or ""
    if source.format in FILE_FORMATS and _is_local(path) and not glob.glob(_local(path)):
        raise SourceError(f"{where}.path: {path} does not exist", next_step="check the path (and the ${VAR} it uses)")
    options = {**reader_options(source, where), **(extra or {})}  # its own errors name the files
    try:  # Spark reads the schema here, so unreadable files, illegal types and unknown formats fail here
        reader = spark.read.format(source.format).options(**options)
        if schema is not None or source.schema:
            reader = reader.schema(schema if schema is not None else source.schema)
        return reader.load(path) if path else reader.load()
    except Exception as exc:
        raise translate_read_failure(exc, where=where, fmt=source.format, path=path) from None


def shape(df: Any, source: SourceSpec, where: str = "source") -> Any:
    """``where`` (on the source's columns) then ``select``, analysed now, so that an unknown column or
    a bad expression is refused before anything is written, naming its field (``source.select[2]``).
    Geometry columns become EWKB typed for PostGIS first (spatial.py)."""
    df = spatial(df, source)
    if source.where:
        try:
            df = df.where(source.where)
            df.schema  # noqa: B018 - analysis is lazy under Spark Connect; this forces it
        except Exception as exc:
            raise translate_expression_failure(exc, field=f"{where}.where", expr=source.where,
                                               columns=df.columns) from None
    if source.select:
        try:
            selected = df.selectExpr(*source.select)
            selected.schema  # noqa: B018
        except Exception as exc:
            raise _failing_select(df, source.select, where, exc) from None
        df = selected
    return df


def _failing_select(df: Any, exprs: tuple[str, ...], where: str, failure: BaseException) -> SourceError:
    """Spark names the expression's text, not its place in the list: find the first that fails alone."""
    for i, expr in enumerate(exprs):
        try:
            df.selectExpr(expr).schema  # noqa: B018
        except Exception as exc:
            return translate_expression_failure(exc, field=f"{where}.select[{i}]", expr=expr, columns=df.columns)
    return translate_expression_failure(failure, field=f"{where}.select", expr=", ".join(exprs), columns=df.columns)


def _check_source_connection(conn: Any, where: str) -> None:
    """Connect once with psycopg2 first: Spark's JDBC error only says "Couldn't connect to the
    database", while ours says what failed (password, database, host) and what to check."""
    from ..adapters import pg

    try:
        pg.connect(conn, application_name="loader:source").close()
    except TargetConnectionError as exc:
        raise TargetConnectionError(f"{where}: {exc.message}", next_step=exc.next_step,
                                    retryable=exc.retryable) from None


def _multiline(source: SourceSpec) -> bool:
    return any(k.lower() == "multiline" and str(v).lower() == "true" for k, v in source.options)


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def fingerprint(source: SourceSpec) -> str | None:
    """sha256 over (path, size, mtime) of every file of a local source; S3 sources use
    (key, size, ETag); then the catalog table, ``where`` and ``select``, which decide the rows as
    much as the files do. None when there is nothing to fingerprint (a JDBC query as it is)."""
    shaped = [f"{k}\t{v}" for k, v in (("table", source.table), ("where", source.where)) if v]
    shaped += [f"select\t{e}" for e in source.select]  # only when set: older fingerprints stay valid
    entries: list[str] | None = None
    if not source.is_jdbc and source.path:
        if _is_local(source.path):
            entries = []
            for top in sorted(glob.glob(_local(source.path))):
                for path in _walk(top):
                    st = os.stat(path)
                    entries.append(f"{path}\t{st.st_size}\t{st.st_mtime_ns}")
        elif source.path.startswith(("s3://", "s3a://")):
            entries = _s3_entries(source.path)
    if entries is None and not shaped:
        return None
    return hashlib.sha256("\n".join([*(entries or []), *shaped]).encode()).hexdigest()


def _walk(top: str) -> list[str]:
    if os.path.isfile(top):
        return [top]
    found = []
    for root, _dirs, files in os.walk(top):
        for name in files:
            if not name.startswith((".", "_")):  # Spark's _SUCCESS and .crc files do not matter
                found.append(os.path.join(root, name))
    return sorted(found)


def _s3_entries(uri: str) -> list[str]:
    from ..adapters import s3

    bucket, _, prefix = uri.split("://", 1)[1].partition("/")
    client = s3.make_client()
    return [f"{o['Key']}\t{o['Size']}\t{o.get('ETag', '')}" for o in s3.iter_objects(client, bucket, prefix)]


def check_unchanged(source: SourceSpec, recorded: str | None, run_id: str) -> None:
    """Refuse a resume whose source changed since its parts were staged."""
    if recorded is None:
        return
    now = fingerprint(source)
    if now is not None and now != recorded:
        raise SourceChangedError(
            f"the source {source.path or source.table or source.format} (its files, table, where or select) "
            f"changed since run {run_id} staged it",
            next_step="start a new run (loader run without --resume); the old run's prefix is reaped",
            run_id=run_id,
        )
