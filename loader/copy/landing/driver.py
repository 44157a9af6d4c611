"""The one driver of every landing protocol (protocol.py): stage and load overlapped, then publish.

    record    what the protocol may leave behind, before it exists (the reaper's)
    stage     the Spark job starts in its thread (staging.py); its progress is the tasks done
    open      the protocol's destination
    load      each part as soon as S3 shows it (an object is visible only once complete); the
              partitions' markers, read as they appear, are checked against what was loaded
    publish   every part in and the counts agreeing: publish, then commit (never cancelled)
    abort     any failure: the staging job cancelled, the protocol's abort

An interruption cancels what the protocol runs (``cancel``): each blocked call then fails its
ordinary way and the load unwinds through ``abort``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ... import interrupt
from ...adapters.spark import group_tasks
from ...errors import DataError, LoaderError
from ...naming import TempLocation
from ...request import MethodOutcome
from ..part_reader import key_of_line
from ..resume import ResumePlan
from ..staging import StagingThread
from ..task import StagedPart, parse_marker
from .protocol import CopyRun, LandingProtocol, Published

log = logging.getLogger("loader")
POLL_SECONDS = 0.25


def land(protocol: LandingProtocol, run: CopyRun, stager: StagingThread, resumed: ResumePlan,
         out: MethodOutcome) -> Published:
    """Stage, load every part through ``protocol`` and publish; the parts and timings go to ``out``."""
    if protocol.leftover is not None:
        run.events.leftover_recorded(protocol.leftover)  # the reaper's, before it exists
    staged_before = {o["Key"] for o in run.parts.objects()} if run.attempt > 1 else set()
    loop = PartLoop(run, out, stager.job.source_of)
    sc = stager.job.spark_context
    run.progress.track(lambda: group_tasks(sc, stager.group))
    stager.start()
    t0 = time.monotonic()
    try:
        with interrupt.on_interrupt(protocol.cancel):
            try:
                landed = protocol.open(staged_before)
                loop.load_all(lambda key, size: landed[key] if key in landed else protocol.load(key, size), stager)
            except BaseException:
                stager.cancel()
                raise
            out.timings["stage"] = stager.seconds
            loop.check_all_staged(stager, resumed)
            loop.loading(staging_done=True)  # nothing to COPY (no rows): the phase still moves on
            run.progress.track(None)  # the staging job is over: what is left is COPY's
            protocol.publish(loop.rows)
        published = protocol.commit(run.events.committing)
    except BaseException:
        protocol.abort()
        raise
    finally:
        protocol.close()
    out.timings.update(published.timings)
    out.timings["load"] = time.monotonic() - t0
    log.info("COPY protocol completed successfully%s", f" ({protocol.label})" if protocol.label else "")
    return published


class PartLoop:
    """Each part loaded as it is staged; the markers checked against what was loaded."""

    def __init__(self, run: CopyRun, out: MethodOutcome,
                 source_of: Callable[[int], str | None] = lambda _partition: None) -> None:
        """``source_of``: what a partition's parts were read from (the staging job says), for refusals."""
        self.run, self.out, self.source_of = run, out, source_of
        self.loading_started = False  # the first COPY moved the run to loading
        self.rows = 0  # the rows of every part loaded (set when the parts are all in)
        self.partitions: set[int] = set()  # the partitions whose marker was read

    def load_all(self, load: Callable[[str, int], int | Future[int]], stager: StagingThread) -> set[int]:
        """Until the staging job ends and every part is in; the job succeeded: its markers are
        true, and a resume may skip their partitions. Returns the partitions staged."""
        run = self.run
        loaded: dict[str, int] = {}
        pending: dict[str, tuple[Future[int], int]] = {}
        markers: dict[int, list[StagedPart]] = {}
        while True:
            interrupt.check()
            finished = not stager.is_alive()  # read before listing: nothing can be missed
            stager.raise_if_failed()
            self._collect(pending, loaded, wait=False)
            for obj in run.parts.objects():
                key, size = obj["Key"], int(obj.get("Size", 0))
                partition = TempLocation.marker_partition(key)
                if partition is not None:
                    if partition not in markers:
                        markers[partition] = parse_marker(run.parts.read(key))
                        for part in markers[partition]:
                            run.events.part_staged(part.partition, part.seq, part.key, part.rows, part.bytes)
                elif key not in loaded and key not in pending and TempLocation.part_of(key) is not None:
                    self.loading(staging_done=finished)
                    got = self._explained(key, load, key, size)
                    if isinstance(got, Future):
                        pending[key] = (got, size)
                    else:
                        loaded[key] = got
                        self._counted(key, got, size)
            if finished:
                break
            time.sleep(POLL_SECONDS)
        self._collect(pending, loaded, wait=True)
        expected = {p.key: p.rows for parts in markers.values() for p in parts}
        if expected != loaded:
            wrong = sorted(set(expected.items()) ^ set(loaded.items()))[:3]
            raise LoaderError(f"staged parts and loaded parts of run {run.run_id} disagree: {wrong}",
                              next_step="run again: a staging task was retried with different data",
                              run_id=run.run_id, retryable=True)
        self.rows = sum(loaded.values())
        self.partitions = set(markers)
        run.parts.put(run.location.confirmation_key(), b"{}", "application/json")
        return self.partitions

    def check_all_staged(self, stager: StagingThread, resumed: ResumePlan) -> None:
        # every partition whose task ran has its marker; Spark's adaptive execution may run fewer
        # tasks than the plan has partitions (none at all for an empty source), so the tasks
        # that ran say what to expect, with those an earlier attempt staged
        run = self.run
        missing = (stager.ran | set(resumed.done)) - self.partitions
        if missing:
            raise LoaderError(f"partitions {sorted(missing)[:5]} of run {run.run_id} were never staged",
                              next_step="resume the run", run_id=run.run_id, retryable=True)
        if run.attempt > 1:
            log.info("resumed run %s (attempt %d): %d of %d parts were already staged", run.run_id,
                     run.attempt, resumed.parts_staged, self.out.parts)

    def loading(self, staging_done: bool) -> None:
        """Once, at the first COPY: the run is loading from then on, while Spark may still be
        staging the rest; ``staged`` is recorded only when the staging ended before that."""
        if self.loading_started:
            return
        self.loading_started = True
        if staging_done:
            self.run.events.staged()
        self.run.events.loading_started()
        self.run.progress.phase("loading")

    def _collect(self, pending: dict[str, tuple[Future[int], int]], loaded: dict[str, int], wait: bool) -> None:
        """The parts the workers finished (all of them, ``wait``), counted on this thread; the first
        failure is raised, named like the in-place path's."""
        for key, (future, size) in list(pending.items()):
            if not wait and not future.done():
                continue
            rows = self._explained(key, future.result)
            del pending[key]
            loaded[key] = rows
            self._counted(key, rows, size)

    def _explained(self, key: str, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` for part ``key``; a value the target refused is named by its row's key, read
        back from the part (the part is deleted with the run), else by its first columns, and by the
        file the part was read from when the staging job knows it (the direct read's unit)."""
        try:
            return call(*args)
        except DataError as exc:
            run = self.run
            ident, label = (run.error_key, "key") if run.error_key else (run.plan.names[:3], "row")
            exc.message += key_of_line(run.parts, key, exc.message, run.plan.names, ident, run.landing.pg_types,
                                       run.fmt.row_fields, label)
            part = TempLocation.part_of(key)
            source = self.source_of(part[0]) if part is not None else None
            exc.message += f" ({source})" if source else ""
            raise

    def _counted(self, key: str, rows: int, size: int) -> None:
        self.out.parts += 1
        self.out.bytes_staged += size
        self.run.progress.part_loaded(key, rows, size)
