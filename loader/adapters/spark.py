"""The Spark edge: finding or starting a SparkSession, job groups, the JDBC driver (its failures are
translated in ``spark_errors.py``).

On a cluster (spark-submit, EMR Serverless) the active session is used as it
is, or made from spark-submit's settings (only the session time zone is set, to
UTC), so the cluster's settings win. Only outside spark-submit (a laptop, the
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

from ..errors import ConfigError

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


def under_spark_submit() -> bool:
    """True when spark-submit (EMR Serverless, a standalone or YARN cluster) started this Python: it
    hands the JVM it started to PySpark through PYSPARK_GATEWAY_PORT, with the cluster's settings."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def get_or_create_session(app_name: str = "loader", master: str | None = None,
                          shuffle_partitions: int = 4, extra_conf: dict[str, str] | None = None) -> Any:
    """The active SparkSession, or a new local one sized for a laptop."""
    session = active_session()
    if session is not None:
        return session
    from pyspark.sql import SparkSession

    if under_spark_submit():
        # the cluster's master, driver address, jars and name stand: a local master or a driver
        # bound to 127.0.0.1 would run the job on the driver alone, or leave executors unable to call back
        session = (SparkSession.builder.config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
        session.sparkContext.setLogLevel(os.environ.get("LOADER_SPARK_LOG_LEVEL", "ERROR"))
        return session
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
