"""Ctrl-C and SIGTERM during a COPY load: one line, exit 130/143, the run recorded as interrupted, the
target unchanged, the staged parts kept; then ``--resume`` loads every row exactly once from them."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.adapters import s3
from loader.errors import Interrupted, LoaderError
from loader.naming import TempLocation
from loader.state import StateStore
from tests.helpers.copy_setup import copy_manifest_folder
from tests.helpers.ctrl_c import sigint_on_third_part_read

pytestmark = pytest.mark.slow

ROWS = 40_000
MANIFEST = """\
version: 1
name: slowpoke
source:
  format: parquet
  path: ${INTR_DATA}
target:
  connection: ${INTR_DB_URL}
  table: slowpoke
  mode: append
method: copy
copy:
  bucket: ${INTR_BUCKET}
  rows_per_part: 2000
  fallback: none
"""


@pytest.fixture()
def slow_setup(spark: Any, pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="slowpoke", manifest=MANIFEST,
                                  rows=ROWS, env_prefix="INTR")
    # 1,000-row Arrow batches: 2,000-row parts, five per partition, twenty in all
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.sql.execution.arrow.maxRecordsPerBatch=1000 pyspark-shell")
    return folder


def _parts(bucket: str) -> list[str]:
    keys = [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, "")]
    return [k for k in keys if TempLocation.part_of(k) is not None]  # parts, not markers or reader.json


def _interrupt(folder: Path, state_url: str, bucket: str, sig: int) -> subprocess.CompletedProcess[str]:
    """Start the CLI in a process group of its own, and signal the group once parts are staged."""
    child = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_child", "0.3", "-q", "--state-url",
                              state_url, "run", str(folder)], env=dict(os.environ), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(_parts(bucket)) < 6 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(child.pid, sig)
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


# Lines the JVM prints at its start, before the loader runs (the launcher's, not ours)
JVM_START = ("WARNING: Using incubator modules", "NativeCodeLoader", "Using Spark's default log4j profile",
             "Setting default log level", "To adjust logging level")


def _ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not any(s in line for s in JVM_START)]


# SIGTERM goes to the whole process group, as Airflow and systemd send it: the JVM ends too
@pytest.mark.parametrize("sig, code, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_during_copy_load_then_resume(sig: int, code: int, name: str, slow_setup: Path, spark: Any,
                                             pg_conn: Any, bucket: str, state_url: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    done = _interrupt(slow_setup, state_url, bucket, sig)
    assert done.returncode == code, done.stderr[-3000:]
    lines = _ours(done.stderr)
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"interrupted ({name}); public.slowpoke unchanged; ")
    assert "staged parts kept for `loader run --resume` until " in lines[0]
    assert "Traceback" not in done.stderr and "Py4J" not in done.stderr and "py4j" not in done.stderr

    run = StateStore(state_url).list_runs(limit=1)[0]
    assert run.status == "failed" and run.error == f"interrupted ({name})"
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('slowpoke')")
        assert cur.fetchone()[0] is None  # created in the load transaction, rolled back with it
    kept = _parts(bucket)
    assert kept and f"{len(kept)} staged parts kept" in lines[0]
    if sig == signal.SIGTERM:
        return  # the resume is the same as after SIGINT

    caplog.set_level(logging.INFO, logger="loader")
    outcomes = commands.run([str(slow_setup)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"] and outcomes[0].run_id == run.run_id
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM slowpoke")
        assert cur.fetchone() == (ROWS, ROWS, sum(range(ROWS)))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"resuming run {run.run_id}")]
    assert said and f"(attempt 2): {len(kept)} part(s) already staged" in said[0], said
    assert _parts(bucket) == []  # cleaned up after the successful resume


def test_library_call_interrupted_inside_copy_raises_interrupted_and_records_it(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT delivered while psycopg2's copy_expert reads a part (where a KeyboardInterrupt used to
    turn into "COPY from stdin failed ... check the server"): write_to_postgres raises Interrupted."""
    from pyspark.sql import functions as F

    from loader.copy import part_reader

    original = sigint_on_third_part_read(monkeypatch)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        df = spark.range(12_000, numPartitions=2).select(F.col("id"), F.col("id").cast("string").alias("v"))
        handler_before = signal.getsignal(signal.SIGINT)
        params = pg_db.as_params() | {"table": "lib_t"}
        with pytest.raises(Interrupted) as info:
            write_to_postgres(df, params, method="copy", temp_s3_bucket=bucket, state_url=state_url,
                              rows_per_part=2000)
        stop = info.value
        assert isinstance(stop, KeyboardInterrupt) and isinstance(stop, LoaderError) and stop.exit_code == 130
        assert str(stop).startswith("interrupted (SIGINT); public.lib_t unchanged (run ")
        run = StateStore(state_url).get(stop.run_id or "")
        assert run.status == "failed" and run.error == "interrupted (SIGINT)"
        with pg_conn.cursor() as cur:
            cur.execute("SELECT to_regclass('lib_t')")
            assert cur.fetchone()[0] is None
        assert _parts(bucket) == []  # a library call has no --resume: its parts are deleted at once
        assert signal.getsignal(signal.SIGINT) is handler_before  # PySpark's handler is given back
        # the interruption is forgotten once the call returned: the next call in this process loads
        monkeypatch.setattr(part_reader.PartStream, "read", original)
        assert write_to_postgres(df, params, method="copy", temp_s3_bucket=bucket, state_url=state_url).rows == 12_000
        # and a failure of the next call is its own: a missing bucket still falls back (an interruption
        # left behind would have stopped it instead)
        fell_back = write_to_postgres(df, params, method="copy", temp_s3_bucket="no-such-bucket-after-intr",
                                      state_url=state_url)
        assert fell_back.method == "optimized" and "no-such-bucket-after-intr" in (fell_back.fallback_reason or "")
        assert StateStore(state_url).get(fell_back.run_id).status == "succeeded"
        with pg_conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM lib_t")
            assert cur.fetchone()[0] == 24_000
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


@pytest.mark.parametrize("method", ["optimized", "standard"])
def test_library_call_interrupted_during_a_jdbc_write(method: str, spark: Any, pg_db: Any, pg_conn: Any,
                                                     state_url: str) -> None:
    """SIGINT while the driver waits in py4j for Spark's JDBC job: the job is cancelled, Interrupted is
    raised and recorded, the target is not created and no staging table is left behind."""
    import threading

    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    @F.udf(LongType())
    def slow(x):  # type: ignore[no-untyped-def]  # about 8 s per partition: the signal lands in the job
        time.sleep(0.002)
        return x

    df = spark.range(4_000, numPartitions=2).select(slow(F.col("id")).alias("id"))
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(Interrupted) as info:
            write_to_postgres(df, pg_db.as_params() | {"table": f"jdbc_{method}"}, method=method,
                              state_url=state_url)
    finally:
        timer.cancel()
    run = StateStore(state_url).get(info.value.run_id or "")
    assert (run.status, run.error, run.rows) == ("failed", "interrupted (SIGINT)", None)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'jdbc\\_%%' OR relname LIKE 'loader\\_stage\\_%%'")
        assert cur.fetchone()[0] == 0  # neither the target nor a staging table


def test_a_stop_during_staging_then_resume_loads_every_row(spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                                           state_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: Ctrl-C while Spark staged, then --resume loaded 1,790,000 of 3,000,000 rows. Spark's
    cancelled tasks saw their input end as if complete and wrote markers listing only the parts they
    got to; the resume skipped those partitions. Markers count only once the staging job succeeded."""
    from pyspark.sql import functions as F

    from loader.copy.landing.in_place import InPlace
    from loader.engine.execute import execute
    from loader.naming import TableRef
    from loader.options import CopyOptions, Method
    from loader.request import LoadRequest

    rows = 400_000
    path = str(tmp_path / "src.parquet")
    spark.range(rows, numPartitions=2).select(F.col("id"), F.sha2(F.col("id").cast("string"), 256).alias("v")) \
        .write.parquet(path)
    original, loaded = InPlace.load, []

    def load_then_stop(self: Any, key: str, size: int) -> int:
        loaded.append(key)
        if len(loaded) == 2:  # Ctrl-C while the tasks are still staging the rest
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)
        return original(self, key, size)

    req = LoadRequest(df=spark.read.parquet(path), spec=pg_db, target=TableRef("public", "staged_stop"),
                      method=Method.COPY, copy=CopyOptions(bucket=bucket, rows_per_part=5_000, fallback="none"),
                      manifest_name="staged_stop", source_fingerprint="the same files")
    store = StateStore(state_url)
    monkeypatch.setattr(InPlace, "load", load_then_stop)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        with pytest.raises(Interrupted) as info:
            execute(req, store)
        monkeypatch.setattr(InPlace, "load", original)
        run = store.get(info.value.run_id or "")
        assert run.status == "failed" and run.cleanup_status == "kept"
        result = execute(req, store, resume=run)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert result.rows == rows
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM staged_stop")
        assert cur.fetchone() == (rows, rows, 0, rows - 1)


def test_ctrl_c_with_parallel_loads_stops_them_all_and_starts_no_other(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--parallel 2 over three manifests: a Ctrl-C while two load stops both (each recorded as
    interrupted, its table unchanged), the third never starts, and one Interrupted says so."""
    from pyspark.sql import functions as F

    from loader.copy.landing.in_place import InPlace

    path = tmp_path / "src.parquet"
    spark.range(60_000, numPartitions=2).select(F.col("id"), F.col("id").cast("string").alias("v")) \
        .write.parquet(str(path))
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name in ("par_a", "par_b", "par_c"):
        (folder / f"{name}.yaml").write_text(
            MANIFEST.replace("slowpoke", name).replace("${INTR_DATA}", str(path)))
    monkeypatch.setenv("INTR_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv("INTR_BUCKET", bucket)
    original, started, sent = InPlace.load, set(), []

    def load_then_stop(self: Any, key: str, size: int) -> int:
        started.add(self.run.target.table)
        if len(started) == 2 and not sent:  # both loads are in their transactions: one Ctrl-C
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        return original(self, key, size)

    monkeypatch.setattr(InPlace, "load", load_then_stop)
    with pytest.raises(Interrupted) as info:
        commands.run([str(folder)], state_url=state_url, parallel=2, spark=spark)
    assert str(info.value).startswith("interrupted (SIGINT)")
    runs = StateStore(state_url).list_runs(limit=10)
    assert sorted(r.manifest_name for r in runs) == sorted(started) and len(started) == 2  # no third
    assert all((r.status.value, r.error) == ("failed", "interrupted (SIGINT)") for r in runs), runs
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'par\\_%%' AND relkind = 'r'")
        assert cur.fetchone()[0] == 0  # created in the load transactions: rolled back with them
