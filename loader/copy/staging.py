"""The COPY method's Spark staging job, run in a background thread, and its failures.

The driver loop (copy_method.CopyJob) loads parts while this thread's job
stages them. On failure the job is cancelled and this module waits until no
task can still upload (so cleanup really is the end of the prefix), and the
error is classified: a NUL byte is the data's fault, S3 trouble is
infrastructure (the COPY method falls back to JDBC), anything else is the job's.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..adapters.spark_errors import translate_staging_failure
from .task import StageConfig


class StagingThread(threading.Thread):
    """Runs the Spark staging job; keeps its error for the driver loop to raise."""

    def __init__(self, job: Any, cfg: StageConfig, run_id: str) -> None:
        """``job``: task.FrameJob or direct_read.ParquetJob (``spark_context``, ``run(cfg)``)."""
        super().__init__(name=f"loader-stage-{run_id[:8]}", daemon=True)
        self.job, self.cfg, self.run_id = job, cfg, run_id
        self.group = f"loader-{run_id}"
        self.error: BaseException | None = None
        self.seconds = 0.0
        #: the partitions whose task ran (each reports itself), once the job has succeeded
        self.ran: set[int] = set()

    def run(self) -> None:
        t0 = time.monotonic()
        sc = self.job.spark_context
        try:
            sc.setJobGroup(self.group, f"loader staging {self.run_id}", interruptOnCancel=True)
            self.ran = {int(r["partition"]) for r in self.job.run(self.cfg)}
        except BaseException as exc:  # noqa: BLE001 - handed to the driver loop
            self.error = exc
        finally:
            self.seconds = time.monotonic() - t0

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise translate_staging_failure(self.error, self.run_id)

    def cancel(self) -> None:
        """Stop the job and wait until none of its tasks can still upload. Also when the job has
        already failed (cancelled by an interruption): its tasks stop later than the job."""
        if not self.is_alive() and self.error is None:
            return  # finished staging: no task runs
        sc = self.job.spark_context
        try:
            sc.cancelJobGroup(self.group)
        except Exception:  # noqa: BLE001 - a JVM that is gone (SIGTERM to the process group) runs nothing
            return
        self.join(timeout=120)
        _wait_until_tasks_stop(sc, self.group)


def _wait_until_tasks_stop(sc: Any, group: str, timeout: float = 60.0) -> None:
    """No executor may upload after we clean up. The job ends as soon as it is cancelled, but
    its tasks stop later, and a task's Python worker can finish an upload in flight until Spark
    destroys it (``spark.python.task.killTimeout`` after the kill). So wait for the tasks, then
    for that timeout. Only on the failure path."""
    tracker = sc.statusTracker()
    deadline = time.monotonic() + timeout
    try:
        stages = [s for j in tracker.getJobIdsForGroup(group) if (info := tracker.getJobInfo(j)) is not None
                  for s in info.stageIds]
        while time.monotonic() < deadline:
            active = sum(i.numActiveTasks for s in stages if (i := tracker.getStageInfo(s)) is not None)
            if not active:
                break
            time.sleep(0.1)
        kill_timeout = sc.getConf().get("spark.python.task.killTimeout", "2s")
        seconds = float(kill_timeout[:-2]) / 1000 if kill_timeout.endswith("ms") else float(kill_timeout.rstrip("s"))
    except Exception:  # the tracker is a courtesy: fall back to the default kill timeout
        seconds = 2.0
    time.sleep(min(seconds, 30.0) + 0.5)
