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

from ..adapters.spark_errors import NUL_ERROR_TAG, nul_error_column
from ..errors import DataError, LoaderError, StagingError
from .task import DATA_ERROR_TAG, STAGING_ERROR_TAG, StageConfig, run_staging_job


class StagingThread(threading.Thread):
    """Runs the Spark staging job; keeps its error for the driver loop to raise."""

    def __init__(self, lines: Any, cfg: StageConfig, run_id: str) -> None:
        super().__init__(name=f"loader-stage-{run_id[:8]}", daemon=True)
        self.lines, self.cfg, self.run_id = lines, cfg, run_id
        self.group = f"loader-{run_id}"
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        t0 = time.monotonic()
        sc = self.lines.sparkSession.sparkContext
        try:
            sc.setJobGroup(self.group, f"loader staging {self.run_id}", interruptOnCancel=True)
            run_staging_job(self.lines, self.cfg)
        except BaseException as exc:  # noqa: BLE001 - handed to the driver loop
            self.error = exc
        finally:
            self.seconds = time.monotonic() - t0

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise staging_failure(self.error, self.run_id)

    def cancel(self) -> None:
        """Stop the job and wait until none of its tasks can still upload. Also when the job has
        already failed (cancelled by an interruption): its tasks stop later than the job."""
        if not self.is_alive() and self.error is None:
            return  # finished staging: no task runs
        sc = self.lines.sparkSession.sparkContext
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


def staging_failure(exc: BaseException, run_id: str) -> LoaderError:
    """Classify a failed Spark staging job: NUL byte (data), S3 trouble (infra), or other."""
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
