"""The same manifests under spark-submit on a standalone Spark cluster (master + worker from the
pyspark package, on loopback): the runner uses the cluster's session and settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loader
from loader.adapters.spark import jdbc_jar
from loader.state import StateStore
from loader.testing.ports import free_port, wait_listening

MANIFEST = """\
version: 1
name: on_cluster
source: {format: parquet, path: "${CLUSTER_DATA}"}
target: {connection: "${CLUSTER_DB_URL}", table: on_cluster, mode: overwrite}
method: copy
copy: {bucket: "${CLUSTER_BUCKET}"}
"""


def _spark_bin() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin"


@pytest.fixture()
def standalone(s3_server: Any, tmp_path: Path) -> Iterator[str]:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               SPARK_WORKER_DIR=str(tmp_path / "work"), SPARK_LOG_DIR=str(tmp_path / "logs"))
    port, ui, wui = free_port(), free_port(), free_port()
    spark_class = str(_spark_bin() / "spark-class")
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        wait_listening(port, timeout=60)
        url = f"spark://127.0.0.1:{port}"
        worker = subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2",
                                   "--memory", "2g", "--webui-port", str(wui), "--host", "127.0.0.1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield url
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


@pytest.mark.slow
def test_manifest_runs_under_spark_submit_on_a_standalone_cluster(standalone: str, spark: Any, pg_db: Any,
                                                                  pg_conn: Any, bucket: str, tmp_path: Path,
                                                                  state_url: str) -> None:
    from pyspark.sql import functions as F

    data = tmp_path / "data.parquet"
    spark.range(5000, numPartitions=3).select(F.col("id"), (F.col("id") * 2).alias("twice")) \
        .write.parquet(str(data))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "on_cluster.yaml").write_text(MANIFEST)
    env = dict(os.environ, CLUSTER_DATA=str(data), CLUSTER_BUCKET=bucket, PYSPARK_PYTHON=sys.executable,
               CLUSTER_DB_URL=pg_db.sqlalchemy_url().replace("+psycopg2", ""), SPARK_LOCAL_IP="127.0.0.1")
    entry = Path(loader.__file__).parent / "__main__.py"
    cmd = [str(_spark_bin() / "spark-submit"), "--master", standalone, "--jars", str(jdbc_jar()),
           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.sql.session.timeZone=UTC",
           "--conf", f"spark.executorEnv.PYSPARK_PYTHON={sys.executable}",
           str(entry), "--state-url", state_url, "run", str(folder)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "on_cluster" in proc.stdout and "succeeded" in proc.stdout
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(twice) FROM on_cluster")
        assert cur.fetchone() == (5000, 2 * sum(range(5000)))
    run = StateStore(state_url).list_runs(limit=1)[0]
    assert run.status == "succeeded" and run.method_used == "copy"
