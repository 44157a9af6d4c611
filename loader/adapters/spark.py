"""The Spark edge: finding or starting a SparkSession; Spark's read, expression and JDBC failures translated.

On a cluster (spark-submit, EMR Serverless) the active session is used as it
is, so the cluster's settings win. Only when there is none (a laptop, the
tests, the demo) do we start a small local one, in UTC, with the PostgreSQL
JDBC driver on the class path.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ..connection import ConnectionSpec
from ..errors import ConfigError, DataError, SourceError, TargetConnectionError
from ..naming import TableRef

DEBIAN_JDBC_JAR = "/usr/share/java/postgresql.jar"
log = logging.getLogger("loader")
#: where the JVM's own stderr lines go when LOADER_SPARK_STDERR=log (at DEBUG)
spark_log = logging.getLogger("loader.spark")


def jdbc_jar() -> str | None:
    """The PostgreSQL JDBC driver jar: $LOADER_JDBC_JAR, Debian's, or None (the cluster has it)."""
    explicit = os.environ.get("LOADER_JDBC_JAR")
    if explicit:
        return explicit
    if os.path.exists(DEBIAN_JDBC_JAR):
        return DEBIAN_JDBC_JAR
    found = sorted(glob.glob("/usr/share/java/postgresql-*.jar"))
    return found[-1] if found else None


def active_session() -> Any | None:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_or_create_session(app_name: str = "loader", master: str | None = None,
                          shuffle_partitions: int = 4, extra_conf: dict[str, str] | None = None) -> Any:
    """The active SparkSession, or a new local one sized for a laptop."""
    session = active_session()
    if session is not None:
        return session
    from pyspark.sql import SparkSession

    # Python workers must be this interpreter (it has pyarrow), not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("TZ", "UTC")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master or os.environ.get("LOADER_SPARK_MASTER", "local[2]"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.worker.reuse", "true")
    )
    jar = jdbc_jar()
    if jar:
        builder = builder.config("spark.jars", jar)
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    with _jvm_stderr(os.environ.get("LOADER_SPARK_STDERR", "inherit")):
        session = builder.getOrCreate()
    # The CLI keeps Spark's own log4j lines (stack traces of a failed read among them) off the terminal
    # unless -v: the loader's error already says what failed and what to do.
    session.sparkContext.setLogLevel(os.environ.get("LOADER_SPARK_LOG_LEVEL", "ERROR"))
    return session


@contextlib.contextmanager
def _jvm_stderr(mode: str) -> Iterator[None]:
    """Where the JVM we start writes its stderr: ``inherit`` (ours, the library's default) or ``log``
    (the CLI's default): every line to the logger ``loader.spark`` at DEBUG, so ``loader -v`` shows it.

    The JVM prints its banner ("WARNING: Using incubator modules", Spark's "Using Spark's default log4j
    profile", "Setting default log level", NativeCodeLoader's warning) to its stderr before any log4j
    setting of ours can apply, so only the stream itself can keep it off a terminal. PySpark starts the
    JVM with our file descriptor 2, so it is pointed at a pipe while the session starts; the JVM (and
    the Python workers it starts) keep the pipe, a daemon thread drains it."""
    if mode != "log":
        yield
        return
    read_fd, write_fd = os.pipe()
    threading.Thread(target=_drain, args=(read_fd,), name="loader-spark-stderr", daemon=True).start()
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)  # only the JVM keeps the write end: the drain ends when the JVM does
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _drain(fd: int) -> None:
    with open(fd, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            spark_log.debug("spark: %s", line.rstrip())


# --- progress: a job group's tasks --------------------------------------------------------
def group_tasks(sc: Any, group: str) -> tuple[int, int] | None:
    """(tasks done, tasks in all) of the jobs of ``group`` so far, from Spark's statusTracker
    (no job is run); None before the first job of the group starts."""
    tracker = sc.statusTracker()
    done = total = 0
    for job in tracker.getJobIdsForGroup(group):
        info = tracker.getJobInfo(job)
        for stage in info.stageIds if info is not None else ():
            st = tracker.getStageInfo(stage)
            if st is not None:
                done, total = done + st.numCompletedTasks, total + st.numTasks
    return (done, total) if total else None


@contextlib.contextmanager
def job_group(spark: Any, group: str, description: str) -> Iterator[None]:
    """The jobs this thread starts inside belong to ``group`` (for ``group_tasks`` and cancelling);
    the thread's previous group, if any, is restored after."""
    sc = spark.sparkContext
    keys = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
    saved = {key: sc.getLocalProperty(key) for key in keys}
    sc.setJobGroup(group, description, interruptOnCancel=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            sc.setLocalProperty(key, value)  # None removes it


# --- the JDBC driver in a session the user made ------------------------------------------
JDBC_DRIVER_CLASS = "org.postgresql.Driver"


def ensure_jdbc_driver(spark: Any) -> None:
    """Make sure ``spark`` can load the PostgreSQL JDBC driver, which the JDBC methods and COPY's
    fallback need. A session the user built without it (``SparkSession.builder.getOrCreate()``)
    gets the jar we can find ($LOADER_JDBC_JAR, Debian's): added for the executors (addJar) and to
    the driver's class loader, where Spark's JDBC writer looks it up. Otherwise one ConfigError
    that says how to start Spark with it, before anything is written."""
    if _driver_loadable(spark):
        return
    jar = jdbc_jar()
    if jar and os.path.isfile(jar) and _add_jar(spark, jar) and _driver_loadable(spark):
        log.info("added the PostgreSQL JDBC driver %s to this Spark session", jar)
        return
    raise ConfigError(f"this SparkSession cannot load the PostgreSQL JDBC driver ({JDBC_DRIVER_CLASS}), which "
                      "methods optimized and standard, and COPY's fallback, need",
                      next_step="start Spark with the driver: spark.jars=/path/to/postgresql.jar (--jars), or "
                                "spark.jars.packages=org.postgresql:postgresql:42.7.4 (--packages); or set "
                                "LOADER_JDBC_JAR to the jar (Debian: apt-get install libpostgresql-jdbc-java)")


def _driver_loadable(spark: Any) -> bool:
    try:
        spark._jvm.org.apache.spark.util.Utils.classForName(JDBC_DRIVER_CLASS, True, False)
        return True
    except Exception:  # py4j's error for ClassNotFoundException: not loadable, nothing more to learn
        return False


def _add_jar(spark: Any, jar: str) -> bool:
    try:
        spark.sparkContext._jsc.addJar(jar)
        loader = spark._jvm.Thread.currentThread().getContextClassLoader()
        loader.addURL(spark._jvm.java.io.File(jar).toURI().toURL())  # Spark's MutableURLClassLoader
        return True
    except Exception as exc:  # a class loader that takes no URL: the ConfigError says what to do
        log.debug("could not add %s to the Spark session: %s", jar, exc)
        return False


# --- Spark's failures, translated ------------------------------------------------------
#: the connector a data source name needs, for the error that says it is missing
CONNECTORS = {
    "avro": "spark.jars.packages=org.apache.spark:spark-avro_2.13:{spark} (Spark's own external module)",
    "delta": "spark.jars.packages=io.delta:delta-spark_2.13:<the Delta release for Spark {spark}> and "
             "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "iceberg": "spark.jars.packages=org.apache.iceberg:iceberg-spark-runtime-{minor}_2.13:<Iceberg version> "
               "and a catalog (spark.sql.catalog.<name>=org.apache.iceberg.spark.SparkCatalog)",
}
_NO_SOURCE = ("DATA_SOURCE_NOT_FOUND", "AVRO_DATA_SOURCE_NOT_ENABLED")


def connector_hint(fmt: str) -> str:
    import pyspark

    spark, minor = pyspark.__version__, ".".join(pyspark.__version__.split(".")[:2])
    known = CONNECTORS.get(fmt.lower())
    if known:
        return "start Spark with " + known.format(spark=spark, minor=minor)
    return (f"check the spelling of source.format, or start Spark with the package that provides {fmt!r}: "
            "spark.jars.packages=<group>:<artifact>:<version> (--packages), or its jar in spark.jars (--jars)")


def translate_read_failure(exc: BaseException, *, where: str, fmt: str, path: str, field: str = "path") -> SourceError:
    """A failed ``spark.read`` as one SourceError, decided by Spark's error condition."""
    condition = _condition(exc)
    first = _first_line(exc)
    if condition in _NO_SOURCE:
        return SourceError(f"{where}.format: Spark has no data source {fmt!r} (its connector is not on the classpath)",
                           next_step=connector_hint(fmt))
    if condition == "TABLE_OR_VIEW_NOT_FOUND":
        return SourceError(f"{where}.table: Spark's catalog has no table or view {path!r}",
                           next_step="check the name (db.name) and that this SparkSession uses the catalog "
                                     "(metastore) that holds it")
    if condition == "PATH_NOT_FOUND":
        return SourceError(f"{where}.path: {path} does not exist", next_step="check the path (and the ${VAR} it uses)")
    if condition == "PARQUET_TYPE_ILLEGAL":
        found = _nanosecond_columns(path)
        if found:
            file, columns = found
            return SourceError(
                f"{where}: {file}: column {', '.join(repr(c) for c in columns)} holds nanosecond timestamps "
                "(pandas' default for to_parquet), which Spark cannot read",
                next_step="write the file with microseconds: df.to_parquet(path, coerce_timestamps='us') "
                          "(pandas refuses if that would lose a value), or cast the column before writing")
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
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]  # a ParseException starts with \n
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
        return exc
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


def cancel_all_jobs() -> None:
    """Cancel every running Spark job of this process (what an interruption does, as PySpark's own
    Ctrl-C handler does), without starting a SparkContext when there is none. Thread-safe: called
    from the interrupt watcher while another thread waits in py4j for a job."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        return
    # SIGTERM sent to the process group also ends the JVM, which cuts PySpark's accumulator
    # connection; its server (a thread of this process) would print the EOFError's traceback
    server = getattr(sc, "_accumulatorServer", None)
    if server is not None:
        server.handle_error = lambda request, client_address: None
    sc.cancelAllJobs()
