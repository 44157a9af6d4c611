"""A Spark standalone master and one worker on loopback, started from the installed pyspark's own
``spark-class`` (pip's pyspark has no ``sbin/start-master.sh``): a cluster whose executors are
separate JVMs in their own working folders, as EMR's are, where ``spark.archives`` is unpacked."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark

from loader.testing.ports import free_port, wait_listening

SPARK_HOME = Path(pyspark.__file__).parent


@dataclass(frozen=True)
class Cluster:
    master_url: str
    work_dir: Path  # the worker's: one folder per application, one per executor in it


def spark_bin(name: str) -> str:
    return str(SPARK_HOME / "bin" / name)


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"Spark standalone: no {text!r} in {log}:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def standalone_cluster(root: Path, env: dict[str, str], cores: int = 1, memory: str = "1g") -> Iterator[Cluster]:
    """Master and worker; stopped (each by its own process) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    env = env | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(SPARK_HOME), "SPARK_DAEMON_MEMORY": "512m"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_log = root / "master.log"
        with open(master_log, "wb") as out:
            procs.append(subprocess.Popen(
                [spark_bin("spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(free_port())], env=env, stdout=out, stderr=out))
        wait_listening(port, timeout=60)
        work = root / "work"
        worker_log = root / "worker.log"
        with open(worker_log, "wb") as out:
            procs.append(subprocess.Popen(
                [spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                 "--work-dir", str(work), master_url], env=env, stdout=out, stderr=out))
        _wait_for(worker_log, "Successfully registered with master", procs[-1], timeout=60)
        yield Cluster(master_url, work)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

