"""Spark's failures translated into ours, in one place: reading a source, a manifest's
expressions, the JDBC writer. Decided by Spark's error condition and the JDBC SQLSTATE, not by
the words of a message."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from collections.abc import Iterator

from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError, SourceError, StagingError, TargetConnectionError
from ..naming import TableRef
from .spark_read_failures import ONLY_CORRUPT_COLUMN, chain_conditions, json_not_lines, translate_read_in_job

log = logging.getLogger("loader")


#: the connector a data source name needs, for the error that says it is missing
CONNECTORS = {
    "avro": "spark.jars.packages=org.apache.spark:spark-avro_{scala}:{spark} (Spark's own external module)",
    "delta": "spark.jars.packages=io.delta:delta-spark_{scala}:<the Delta release for Spark {spark}> and "
             "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "iceberg": "spark.jars.packages=org.apache.iceberg:iceberg-spark-runtime-{minor}_{scala}:<Iceberg version> "
               "and a catalog (spark.sql.catalog.<name>=org.apache.iceberg.spark.SparkCatalog)",
}
# Spark 4 conditions, then Spark 3.5's names for avro and kafka without their module
_NO_SOURCE = ("DATA_SOURCE_NOT_FOUND", "AVRO_DATA_SOURCE_NOT_ENABLED", "_LEGACY_ERROR_TEMP_1139", "_LEGACY_ERROR_TEMP_1140")


def connector_hint(fmt: str) -> str:
    import pyspark

    spark, minor = pyspark.__version__, ".".join(pyspark.__version__.split(".")[:2])
    scala = "2.12" if spark.startswith("3.") else "2.13"  # PySpark 3.5's jars are Scala 2.12, 4.x's 2.13
    known = CONNECTORS.get(fmt.lower())
    if known:
        return "start Spark with " + known.format(spark=spark, minor=minor, scala=scala)
    return (f"check the spelling of source.format, or start Spark with the package that provides {fmt!r}: "
            "spark.jars.packages=<group>:<artifact>:<version> (--packages), or its jar in spark.jars (--jars)")


#: "Illegal Parquet type: INT64 (TIMESTAMP(NANOS,true))": Spark 4's condition, then Spark 3.5's name
_ILLEGAL_PARQUET_TYPE = ("PARQUET_TYPE_ILLEGAL", "_LEGACY_ERROR_TEMP_1173")


def translate_read_failure(exc: BaseException, *, where: str, fmt: str, path: str, field: str = "path",
                           multiline: bool = False) -> SourceError:
    """A failed ``spark.read`` as one SourceError, decided by Spark's error condition."""
    condition = _condition(exc)
    first = _first_line(exc)
    if condition in ONLY_CORRUPT_COLUMN and fmt.lower() == "json":
        return json_not_lines(path, where, multiline)
    if condition in _NO_SOURCE:
        return SourceError(f"{where}.format: Spark has no data source {fmt!r} (its connector is not on the classpath)",
                           next_step=connector_hint(fmt))
    if condition == "TABLE_OR_VIEW_NOT_FOUND":
        return SourceError(f"{where}.table: Spark's catalog has no table or view {path!r}",
                           next_step="check the name (db.name) and that this SparkSession uses the catalog "
                                     "(metastore) that holds it")
    if condition == "PATH_NOT_FOUND":
        return SourceError(f"{where}.path: {path} does not exist", next_step="check the path (and the ${VAR} it uses)")
    if {condition, *chain_conditions(exc)} & set(_ILLEGAL_PARQUET_TYPE):
        found = _nanosecond_columns(path)
        if found:
            file, columns = found
            return SourceError(
                f"{where}: {file}: column {', '.join(repr(c) for c in columns)} holds nanosecond timestamps "
                "(pandas' default for to_parquet), which Spark cannot read",
                next_step="write the file with microseconds: df.to_parquet(path, coerce_timestamps='us') "
                          "(pandas refuses if that would lose a value), or cast the column before writing")
    in_file = translate_read_in_job(exc)
    if isinstance(in_file, SourceError):  # FAILED_READ_FILE.*: the file and Spark's reason, from the cause chain
        return SourceError(f"{where}: {in_file.message}", next_step=in_file.next_step, **in_file.ids)
    if field == "table":
        return SourceError(f"{where}.table: cannot read {path!r}: {first}",
                           next_step="check the table name (db.name; quote parts with `backticks`)")
    return SourceError(f"{where}: cannot read {path} as {fmt}: {first}",
                       next_step=f"check that the files are readable {fmt} (-v shows Spark's own error)")


def translate_expression_failure(exc: BaseException, *, field: str, expr: str, columns: list[str]) -> SourceError:
    """A manifest's ``select``/``where`` expression Spark refused, by its error condition."""
    condition = _condition(exc)
    shown = ", ".join(columns[:50]) + (", ..." if len(columns) > 50 else "")
    if condition.startswith("UNRESOLVED_COLUMN"):
        return SourceError(f"{field}: {expr!r} names a column the source does not have: {_first_line(exc)}",
                           next_step=f"the source's columns: {shown} (quote a name with `backticks`)")
    return SourceError(f"{field}: {expr!r} is not a Spark SQL expression Spark can apply here"
                       f"{f' ({condition})' if condition else ''}: {_first_line(exc)}",
                       next_step=f"fix the expression; the source's columns: {shown}")


def _first_line(exc: BaseException) -> str:
    """The first line of Spark's own message: the Java one under py4j's "An error occurred while
    calling o123.load" (a py4j call id, not a reason)."""
    java = getattr(exc, "java_exception", None)
    text = str(exc)
    if java is not None:
        try:
            text = str(java.getMessage() or "") or text
        except Exception:  # not a live Java object
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]  # a ParseException starts with \n
    return (lines[0] if lines else type(exc).__name__)[:300]


def _condition(exc: BaseException) -> str:
    """Spark's error condition: on PySpark's exception, or on the Java one under a Py4JJavaError
    (an error PySpark does not convert, e.g. SparkClassNotFoundException for a missing data source)."""
    for obj in (exc, getattr(exc, "java_exception", None)):
        for name in ("getCondition", "getErrorClass"):  # Spark 4 and 3.5 call it differently
            getter = getattr(obj, name, None) if obj is not None else None
            if callable(getter):
                try:
                    value = getter()
                except Exception:  # not a SparkThrowable: no condition to learn here
                    continue
                if value:
                    return str(value)
    return ""


@contextlib.contextmanager
def quiet_analysis_logs() -> Iterator[None]:
    """PySpark 4 logs each AnalysisException it makes, Java stack and all, at ERROR on loggers of its
    own, even one the caller handles; ours says it in one line, so those loggers are off meanwhile."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # PySpark 3.5 logs nothing of the kind
        yield
        return
    loggers = [PySparkLogger.getLogger(n) for n in ("SQLQueryContextLogger", "DataFrameQueryContextLogger")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was


def _nanosecond_columns(path: str) -> tuple[str, list[str]] | None:
    """The first local Parquet file under ``path`` with nanosecond timestamps, and those columns."""
    if "://" in path and not path.startswith("file://"):
        return None  # only local files are looked into; the message then names the path
    local = path[len("file://"):] if path.startswith("file://") else path
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [local] if os.path.isfile(local) else sorted(glob.glob(os.path.join(glob.escape(local), "**", "*.parquet"),
                                                                    recursive=True))
    for file in files:
        try:
            schema = pq.read_schema(file)
        except Exception:  # not a Parquet file we can read: it is not what we are looking for
            continue
        columns = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]
        if columns:
            return file, columns
    return None



def translate_jdbc_failure(exc: BaseException, target: TableRef, spec: ConnectionSpec) -> BaseException:
    """Find the PostgreSQL error under Spark's job failure and translate it by SQLSTATE."""
    state, message = _sql_state(exc)
    if state is None:
        return translate_read_in_job(exc, table=str(target)) or exc
    if state[:2] in ("22", "23"):
        return DataError(f"{target}: PostgreSQL rejected a value while Spark wrote the staging table: "
                         f"{message}", next_step="fix the value in the source (e.g. strip NUL bytes)",
                         table=str(target))
    if state[:2] in ("08", "28"):  # connection exception, invalid authorization
        return TargetConnectionError(f"lost PostgreSQL {spec.safe_description()} during the JDBC write: "
                                     f"{message}", next_step="check the server and network, then run again")
    return exc


def _sql_state(exc: BaseException) -> tuple[str | None, str]:
    try:
        from py4j.java_gateway import is_instance_of
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        throwable = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
        for _ in range(20):  # the cause chain is short; never loop forever on a cycle
            if throwable is None or gateway is None:
                break
            if is_instance_of(gateway, throwable, "java.sql.SQLException"):
                inner = throwable.getNextException() or throwable
                text = str(inner.getMessage() or "").strip().splitlines()
                return throwable.getSQLState(), (text[0][:300] if text else "")
            throwable = throwable.getCause()
    except Exception:
        pass
    return None, ""


#: the tag of the error a NUL byte raises inside a Spark job (plan/pg_text.string_guard)
NUL_ERROR_TAG = "LOADER_NUL_BYTE"
#: starts the message of an S3 failure on an executor (copy/task.py), so the driver can tell it from others
STAGING_ERROR_TAG = "LOADER_STAGING_ERROR"
#: the same for a value the target cannot take, found while encoding
DATA_ERROR_TAG = "LOADER_DATA_ERROR"


def nul_error_column(message: str) -> str | None:
    """The column named by a NUL-byte error raised inside a Spark job, if that is what it is."""
    idx = message.find(NUL_ERROR_TAG + ":")
    if idx < 0:
        return None
    rest = message[idx + len(NUL_ERROR_TAG) + 1:]
    for stop in ("\n", "\r", " at ", ". ", "\"", "'"):
        cut = rest.find(stop)
        if cut > 0:
            rest = rest[:cut]
    return rest.strip()


def translate_staging_failure(exc: BaseException, run_id: str) -> LoaderError:
    """Classify a failed Spark staging job by the tag its task put first in the message (the only
    thing that crosses from an executor): NUL byte or a refused value (data), S3 trouble (infra),
    or other."""
    if isinstance(exc, LoaderError):
        return exc
    text = str(exc)
    column = nul_error_column(text)
    if column is not None:
        at = text.find("(partition", text.find(NUL_ERROR_TAG))
        where = text[at:].split(")", 1)[0] + ")" if at >= 0 else ""
        return DataError(f"column {column!r} contains a NUL byte (0x00), which PostgreSQL cannot store in text "
                         f"{where}".strip(),
                         next_step="clean the source, or set copy.strip_nul: true (strip_nul=True) to remove "
                                   "NUL bytes", run_id=run_id, column=column)
    first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
    if DATA_ERROR_TAG in text:  # the encoder refused a value: the data's fault, never a fallback
        detail = text[text.index(DATA_ERROR_TAG) + len(DATA_ERROR_TAG) + 2:].splitlines()[0][:500]
        return DataError(detail, run_id=run_id, next_step="fix the value in the source or widen the column")
    if STAGING_ERROR_TAG in text:  # an executor's S3 call failed (adapters.s3 translated it there)
        detail = text[text.index(STAGING_ERROR_TAG) + len(STAGING_ERROR_TAG) + 2:].splitlines()[0][:300]
        return StagingError(f"staging to S3 failed: {detail}", run_id=run_id,
                            next_step="check the S3 endpoint, bucket permissions and network")
    read_failure = translate_read_in_job(exc, run_id=run_id)
    if read_failure is not None:  # the source's reader failed under the staging job (mode: FAILFAST)
        return read_failure
    return LoaderError(f"the Spark staging job failed: {_last_python_error(text) or first}", run_id=run_id,
                       next_step="see the Spark error above; fix the source or the DataFrame")


def _last_python_error(text: str) -> str | None:
    """The exception line ('module.Error: message') of the last Python traceback in a Spark error."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line and not line[0].isspace():
            return line.strip()[:300]
    return None
