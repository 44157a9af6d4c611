"""Reading a manifest's source into a DataFrame, and fingerprinting it for resumes.

File sources (parquet, csv, json, orc) are read with Spark's reader and the
manifest's options passed through; ``s3://`` and ``s3a://`` paths work where the
cluster has the connector. CSV is read as RFC 4180 unless the manifest says
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

from ..adapters.spark import translate_read_failure
from ..errors import ConfigError, SourceChangedError, SourceError, TargetConnectionError
from ..manifest import SourceSpec

#: RFC 4180 for ``format: csv``: a quote inside a quoted field is doubled, and a quoted field may
#: hold newlines. Every key can still be overridden in the manifest's ``source.options``.
CSV_DEFAULTS = {"quote": '"', "escape": '"', "multiLine": "true"}


def reader_options(source: SourceSpec) -> dict[str, str]:
    """The options Spark's reader gets: the format's defaults, then the manifest's."""
    defaults = CSV_DEFAULTS if source.format == "csv" else {}
    return {**defaults, **source.options_dict()}


def read_source(spark: Any, source: SourceSpec, where: str = "source") -> Any:
    """The DataFrame of a manifest's source."""
    if source.is_jdbc:
        conn = source.connection
        if conn is None or not source.query:
            raise ConfigError(f"{where}: a jdbc source needs query and connection")
        _check_source_connection(conn, where)
        reader = spark.read.format("jdbc").option("url", conn.jdbc_url()).option("query", source.query)
        for key, value in conn.jdbc_properties().items():
            reader = reader.option(key, value)
        return reader.options(**source.options_dict()).load()
    path = source.path or ""
    if _is_local(path) and not glob.glob(_local(path)):
        raise SourceError(f"{where}.path: {path} does not exist", next_step="check the path (and the ${VAR} it uses)")
    try:  # Spark reads the schema here, so unreadable files and illegal types fail here
        return spark.read.format(source.format).options(**reader_options(source)).load(path)
    except Exception as exc:
        raise translate_read_failure(exc, where=where, fmt=source.format, path=path) from None


def _check_source_connection(conn: Any, where: str) -> None:
    """Connect once with psycopg2 first: Spark's JDBC error only says "Couldn't connect to the
    database", while ours says what failed (password, database, host) and what to check."""
    from ..adapters import pg

    try:
        pg.connect(conn, application_name="loader:source").close()
    except TargetConnectionError as exc:
        raise TargetConnectionError(f"{where}: {exc.message}", next_step=exc.next_step,
                                    retryable=exc.retryable) from None


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def fingerprint(source: SourceSpec) -> str | None:
    """sha256 over (path, size, mtime) of every file of a local source; S3 sources use
    (key, size, ETag). None when a source cannot be fingerprinted (JDBC queries)."""
    if source.is_jdbc or not source.path:
        return None
    entries: list[str] = []
    if _is_local(source.path):
        for top in sorted(glob.glob(_local(source.path))):
            for path in _walk(top):
                st = os.stat(path)
                entries.append(f"{path}\t{st.st_size}\t{st.st_mtime_ns}")
    elif source.path.startswith(("s3://", "s3a://")):
        entries = _s3_entries(source.path)
    else:
        return None
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


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
    from ..adapters import s3 as s3a

    bucket, _, prefix = uri.split("://", 1)[1].partition("/")
    client = s3a.make_client()
    return [f"{o['Key']}\t{o['Size']}\t{o.get('ETag', '')}" for o in s3a.iter_objects(client, bucket, prefix)]


def check_unchanged(source: SourceSpec, recorded: str | None, run_id: str) -> None:
    """Refuse a resume whose source changed since its parts were staged."""
    if recorded is None:
        return
    now = fingerprint(source)
    if now is not None and now != recorded:
        raise SourceChangedError(
            f"the source {source.path} changed since run {run_id} staged it",
            next_step="start a new run (loader run without --resume); the old run's prefix is reaped",
            run_id=run_id,
        )
