"""examples/emr/ as the README runs it, on a local stand-in of EMR Serverless: the wheel packed
into a virtual-environment archive by ``examples/emr/pack_env.sh``, ``spark.archives=...#environment``
and ``PYSPARK_PYTHON=./environment/bin/python`` for the driver and the executors, ``spark-submit`` of
``examples/emr/loader_entry.py`` to a standalone master and worker, the manifests read from S3.

What differs from EMR, and why: the archive is a local file (this pyspark has no S3 file system;
EMR's reads s3://), the driver's folder gets the archive unpacked by the test (EMR Serverless runs
the driver in the cluster, where Spark unpacks it), and the dependencies are lent from the test
environment (``LOADER_PACK_LEND_DEPS``) instead of downloaded.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from loader.adapters import s3
from loader.adapters.spark import jdbc_jar
from loader.state import StateStore
from tests.functional.runner.test_runner import pg_url, query
from tests.helpers.dist import REPO, clean_env, deps_site_packages
from tests.helpers.standalone_spark import spark_bin, standalone_cluster

pytestmark = [pytest.mark.slow, pytest.mark.dist]
EXAMPLE = REPO / "examples" / "emr"


def test_the_emr_recipe_loads_from_s3_manifests_on_a_standalone_cluster(
        built: dict[str, Any], pg_db: Any, bucket: str, pg_conn: Any, tmp_path: Path) -> None:
    archive = tmp_path / "env.tar.gz"
    res = subprocess.run([str(EXAMPLE / "pack_env.sh"), str(built["wheel"]), str(archive)], capture_output=True,
                         text=True, timeout=300, env=clean_env(PYTHON=sys.executable,
                                                               LOADER_PACK_LEND_DEPS=deps_site_packages()))
    assert res.returncode == 0, res.stdout + res.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "bin/python" in names and "bin/loader" in names
    assert any(n.endswith("site-packages/loader/schemas/manifest.v1.json") for n in names)
    assert not any("/pyspark/" in n for n in names)  # the cluster provides pyspark

    source = tmp_path / "nation.parquet"
    pq.write_table(pa.table({"id": pa.array(range(1, 101), pa.int64()), "name": [f"n{i}" for i in range(1, 101)]}),
                   source)
    body = yaml.safe_dump({"version": 1, "name": "nation", "source": {"format": "parquet", "path": str(source)},
                           "target": {"connection": "${T_PG_URL}", "table": "nation", "mode": "overwrite"},
                           "method": "copy", "copy": {"bucket": bucket}}).encode()
    s3.make_client().put_object(Bucket=bucket, Key="manifests/nation.yaml", Body=body)

    driver = tmp_path / "driver"  # the driver's working folder, with the archive as EMR unpacks it
    with tarfile.open(archive) as tar:
        tar.extractall(driver / "environment", filter="tar")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    env = clean_env(PYSPARK_PYTHON="./environment/bin/python",  # what spark.emr-serverless.driverEnv sets
                    LOADER_STATE_URL=state, T_PG_URL=pg_url(pg_db), SPARK_LOCAL_IP="127.0.0.1", TZ="UTC")
    with standalone_cluster(tmp_path / "cluster", env) as cluster:
        submit = [
            spark_bin("spark-submit"), "--master", cluster.master_url,
            "--conf", f"spark.archives=file://{archive}#environment",
            "--conf", "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python",
            "--conf", "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
            "--conf", f"spark.emr-serverless.driverEnv.LOADER_STATE_URL={state}",
            "--conf", f"spark.jars={jdbc_jar()}",
            "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=1",
            str(EXAMPLE / "loader_entry.py"), "run", f"s3://{bucket}/manifests/",
        ]
        res = subprocess.run(submit, cwd=driver, env=env, capture_output=True, text=True, timeout=240)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
        executors = list(cluster.work_dir.glob("app-*/*/environment/bin/python"))
    assert executors, "no executor unpacked the archive: the job did not run on the cluster"
    assert query(pg_conn, "SELECT count(*), sum(id) FROM public.nation") == [(100, 5050)]
    store = StateStore(state)
    try:
        (run,) = store.list_runs()
    finally:
        store.close()
    assert (run.status.value, run.method_used, run.manifest_uri) == \
        ("succeeded", "copy", f"s3://{bucket}/manifests/nation.yaml")
