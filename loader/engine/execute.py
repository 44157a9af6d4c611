"""One load, start to finish: the code path shared by ``write_to_postgres`` and the runner.

    record run → lock table → (resume: ledger check) → prepare target → choose method
      → method.run(ctx)  ──StagingError──► method.fallback.run(ctx)
      → record result → delete the staging area (the method made it; the engine decides its fate)

The engine makes every run-state transition itself, when a method reports an event
(``RunEvents``), and owns fallback and cleanup; a method only loads. The run is in the
state store before anything else happens, and its temp location is recorded before the
first object is written, so a crash at any point leaves something the reaper and
``resume`` can find.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import interrupt
from ..adapters.staging_area import CleanupStatus, StagingArea
from ..copy.method import CopyMethod
from ..destination.hints import explain
from ..destination.rejects import reject_table
from ..errors import ConfigError, DataError, LoaderError, LockHeldError, StagingError, TransitionError
from ..jdbc.method import JdbcMethod
from ..naming import TempLocation, new_run_id
from ..options import Method
from ..plan.choose import choose_method
from ..plan.facts import copy_ready, estimate_size, expected_rows
from ..progress import Progress
from ..redact import redact
from ..request import LoadMethod, LoadRequest, MethodContext, MethodOutcome
from ..result import LoadResult
from ..state import RunRecord, StateStore
from ..state.status import RESUME_WINDOW, RunStatus
from .edges import Edges, real_edges

log = logging.getLogger("loader")

MethodFactory = Callable[[Method], LoadMethod]


def method_for(method: Method) -> LoadMethod:
    """The method object for a choice: COPY falls back to optimized JDBC."""
    if method is Method.COPY:
        return CopyMethod(fallback=JdbcMethod(Method.OPTIMIZED))
    return JdbcMethod(method)


def execute(req: LoadRequest, store: StateStore | None = None, resume: RunRecord | None = None,
            methods: MethodFactory = method_for, edges: Edges | None = None) -> LoadResult:
    """Run one load, or resume the run ``resume`` (as it was observed), and return what happened.
    ``methods`` builds the method object for a choice and ``edges`` is the I/O (edges.py): tests
    pass fakes of both."""
    with interrupt.guard():
        interrupt.check()  # asked to stop before this load started: record nothing
        return _execute(req, store or StateStore(), resume, methods, edges or real_edges())


def _execute(req: LoadRequest, store: StateStore, resume: RunRecord | None, methods: MethodFactory,
             edges: Edges) -> LoadResult:
    run_id = resume.run_id if resume else new_run_id()
    if resume is None:
        store.create_run(run_id, manifest_name=req.manifest_name or str(req.target),
                         manifest_hash=req.manifest_hash or "", manifest_uri=req.manifest_uri,
                         target=str(req.target),
                         target_db=req.spec.safe_description(), method_requested=str(req.method),
                         write_mode=str(req.mode))
        # a resume checks this source and loads this same window again
        recorded = {"source_fingerprint": req.source_fingerprint,
                    "window_from": req.watermark.window if req.watermark is not None else None}
        if any(recorded.values()):
            store.update(run_id, **{k: v for k, v in recorded.items() if v})
    load: _Load | None = None
    try:
        # an interruption cancels the Spark jobs; the load unwinds through its failure path
        # The table lock comes first: a resume must never take over a run that is still alive.
        with interrupt.loading(), interrupt.on_interrupt(edges.cancel_jobs), \
                edges.lock(req.spec, req.target, run_id, wait=req.wait_for_lock,
                           shared=req.write.shares_table):
            if resume is not None:
                # exactly one of two racing resumers wins this conditional UPDATE
                store.resume(run_id, expected=resume.status, attempt=resume.attempt)
            load = _Load(req, store, run_id, methods, edges)
            return load.run()
    except TransitionError:
        raise  # the run belongs to someone else now: record nothing on it
    except BaseException as exc:
        stop = interrupt.stopped_by(exc)
        if stop is None:
            _record(exc, store, run_id, req, resume)
            raise
        _record_failure(store, run_id, stop.reason)
        stop.add(_interrupted(req, store, run_id, load))
        stop.with_ids(run_id=run_id, table=str(req.target))
        raise stop from None


def _record(exc: BaseException, store: StateStore, run_id: str, req: LoadRequest, resume: RunRecord | None) -> None:
    if isinstance(exc, LockHeldError):
        if resume is None:  # never started: not a failed run that --resume should pick up
            store.abandon(run_id, reason=redact(str(exc)))
        exc.with_ids(run_id=run_id, table=str(req.target))
    elif isinstance(exc, LoaderError):
        explain(exc, req.spec, req.target, req.write)  # e.g. a duplicate key on append: mode upsert
        _record_failure(store, run_id, redact(str(exc)))
        exc.with_ids(run_id=run_id, table=str(req.target))
    else:
        _record_failure(store, run_id, redact(f"{type(exc).__name__}: {exc}"))


def _record_failure(store: StateStore, run_id: str, text: str) -> None:
    try:
        if store.get(run_id).status.is_active:
            store.fail(run_id, error=text)  # the store keeps the first line and the next step
    except Exception as exc:  # the original error matters more
        log.warning("could not record the failure of run %s: %s", run_id, exc)


def _interrupted(req: LoadRequest, store: StateStore, run_id: str, load: _Load | None) -> str:
    """What an interruption left: the target unchanged (the transaction was rolled back), and the
    staged parts kept for a resume, until the reaper may delete them."""
    text = f"{req.target} unchanged"
    kept = load.kept_parts if load is not None else None
    if kept is None:
        return text + f" (run {run_id[:12]} recorded as failed)"
    try:
        finished = store.get(run_id).finished_at
    except Exception:  # the state store's trouble is not what the user needs to read here
        finished = None
    until = f" until {(finished + RESUME_WINDOW).strftime('%Y-%m-%d %H:%M UTC')}" if finished else ""
    return text + f"; {kept} staged part{'s' if kept != 1 else ''} kept for `loader run --resume`{until}"


class _Load:
    """One attempt of one run; implements ``RunEvents`` for the methods it runs."""

    def __init__(self, req: LoadRequest, store: StateStore, run_id: str, methods: MethodFactory,
                 edges: Edges) -> None:
        self.req, self.store, self.run_id, self.methods, self.edges = req, store, run_id, methods, edges
        #: the staging area the running method reported (None: nothing staged, or already dealt with)
        self.area: StagingArea | None = None
        #: staged parts a failed attempt left for a resume (None: nothing kept)
        self.kept_parts: int | None = None
        self.progress = Progress(label=str(req.target), heartbeat=self._beat, live=req.live_progress)

    def run(self) -> LoadResult:
        record = self.store.get(self.run_id)
        self.first_attempt = record.attempt == 1
        try:
            if record.attempt > 1 and self._already_committed():
                record = self.store.get(self.run_id)  # the rows are the ledger's, not the crashed attempt's
                return self._result(record.method_used or "copy",
                                    MethodOutcome(rows=record.rows or 0, bytes_staged=record.bytes_staged or 0),
                                    record.temp_path, record.fallback_reason, "resumed: already committed")
            return self._run(record)
        finally:
            self.progress.done()  # stops its ticker, clears the live line: success or failure

    def _run(self, record: RunRecord) -> LoadResult:
        prepared = self.edges.prepare(self.req)
        self.progress.expect(expected_rows(self.req.df))
        choice, reason, bucket_checked = self._choose()
        self.store.update(self.run_id, reason=reason)
        log.info("%s: method %s (%s)", self.req.target, choice, reason)
        ctx = MethodContext(req=self.req, run_id=self.run_id, plan=prepared.plan, create_sql=prepared.create_sql,
                            error_key=prepared.error_key, events=self, staged_at=record.temp_path,
                            progress=self.progress, bucket_checked=bucket_checked, attempt=record.attempt,
                            blobs=self.edges.blobs)
        return self._run_method(self.methods(choice), ctx, reason)

    def _choose(self) -> tuple[Method, str, bool]:
        if self.req.method is not Method.AUTO:
            return self.req.method, "requested", False
        rows, width = estimate_size(self.req.df)
        ready, why_not = copy_ready(str(self.req.copy.bucket))
        method, reason = choose_method(rows, width, ready, why_not)
        return method, reason, ready  # a ready bucket was just checked: no second HeadBucket

    def _run_method(self, method: LoadMethod, ctx: MethodContext, reason: str) -> LoadResult:
        self.store.update(self.run_id, method_used=method.name)
        try:
            out = method.run(ctx)
        except StagingError as exc:
            fallback = method.fallback
            if fallback is None or self.req.copy.fallback == "none" or interrupt.requested():
                self._after_failure(exc)
                raise
            self._cleanup()
            reason_text = redact(str(exc))
            log.warning("%s, falling back to optimized JDBC", reason_text)
            log.info("Falling back to optimized JDBC writer")
            self._restart_for_fallback()
            self.first_attempt = False  # an observed mark may hold the failed job's rows: aggregate instead
            self.store.update(self.run_id, method_used=fallback.name, fallback_reason=reason_text)
            try:
                out = fallback.run(ctx)
            except ConfigError as fallback_exc:  # e.g. no JDBC driver: say why COPY needed a fallback
                fallback_exc.message = f"{reason_text}; the fallback to {fallback.name} cannot run: " \
                                       f"{fallback_exc.message}"
                raise
            return self._succeed(fallback.name, out, reason, reason_text)
        except BaseException as exc:
            self._after_failure(exc)
            raise
        return self._succeed(method.name, out, reason, None)

    def _after_failure(self, exc: BaseException) -> None:
        """Keep what a resume can use, delete the rest. A run from a manifest (``--resume`` can pick it
        up) keeps its staged parts unless the data itself failed (a resume would load the same bad
        value again); the reaper deletes them once the resume window has passed. A library call has
        no resume: its parts go at once."""
        area, self.area = self.area, None
        if area is None:
            return
        if self.req.manifest_name is None or isinstance(exc, DataError):
            self._record_cleanup(area.delete())
            return
        self.kept_parts = area.keep()
        self._record_cleanup("kept")

    def _succeed(self, method: str, out: MethodOutcome, reason: str, fallback_reason: str | None) -> LoadResult:
        if out.rows_rejected:
            log.warning("%s: %s row(s) rejected and set aside in %s (run %s)", self.req.target,
                        f"{out.rows_rejected:,}", reject_table(self.req.loader_schema), self.run_id)
        if out.rows_deleted is not None:
            what = "the table" if self.req.write.replaces_table else "the slice"
            log.info("%s: replaced %s row(s) of %s with %s", self.req.target, f"{out.rows_deleted:,}", what,
                     f"{out.rows:,}")
        temp = self.area.uri if self.area else None
        staged = {"bytes_staged": out.bytes_staged, "parts_loaded": out.parts} if temp else {}
        self.store.succeed(self.run_id, rows=out.rows, timings=out.timings, rows_rejected=out.rows_rejected,
                           rows_inserted=out.rows_inserted, rows_updated=out.rows_updated,
                           rows_deleted=out.rows_deleted, **staged)
        self._cleanup()
        if out.staging_format:  # the run's reason says how it staged, read and landed, and why
            how = "; ".join(r for r in (out.format_reason, out.read_reason, out.path_reason) if r)
            self._safe_update(reason=f"{reason}; staged as {how}")
        return self._result(method, out, temp, fallback_reason, reason)

    def _restart_for_fallback(self) -> None:
        status = self.store.get(self.run_id).status
        if status is not RunStatus.PENDING:
            # the COPY attempt moved the run along; a fallback is a new attempt of the same run
            self.store.resume(self.run_id)

    # --- RunEvents: what methods report; each is one recorded fact or transition -----
    def use_staging_area(self, area: StagingArea) -> None:
        self.area = area
        self.store.update(self.run_id, bucket=area.bucket, temp_path=area.uri, cleanup_status="pending")

    def staging_started(self) -> None:
        if self.store.get(self.run_id).status is RunStatus.PENDING:
            self.store.start_staging(self.run_id)

    def part_staged(self, partition: int, seq: int, key: str, rows: int, nbytes: int) -> None:
        self.store.record_part(self.run_id, partition * 10_000 + seq, key, rows, nbytes)

    def staged(self) -> None:
        if self.store.get(self.run_id).status is RunStatus.STAGING:
            self.store.finish_staging(self.run_id)

    def loading_started(self) -> None:
        status = self.store.get(self.run_id).status
        if status in (RunStatus.PENDING, RunStatus.STAGING, RunStatus.STAGED):
            self.store.start_loading(self.run_id, expected=status)

    def leftover_recorded(self, name: str) -> None:
        self.store.update(self.run_id, staging_table=name)

    def committing(self) -> None:
        # The mark goes in before the COMMIT: a run killed right after it is finished from the
        # ledger (_already_committed), and its mark counts once the run is succeeded.
        if self.req.watermark is not None:
            self.store.update(self.run_id, high_water_mark=self.req.watermark.mark(self.first_attempt))

    def _beat(self, phase: str, parts: int, rows: int) -> None:
        self.store.heartbeat(self.run_id, parts_loaded=parts, rows=rows)

    # --- steps ---------------------------------------------------------------------
    def _already_committed(self) -> bool:
        """The ledger answers whether a crashed attempt committed its data: never load twice."""
        rows = self.edges.committed_rows(self.req.spec, self.req.loader_schema, self.run_id)
        if rows is None:
            return False
        log.info("run %s already committed %s rows (ledger); finishing its record", self.run_id, rows)
        self.loading_started()
        self.store.succeed(self.run_id, rows=rows)
        temp_path = self.store.get(self.run_id).temp_path
        if temp_path:
            self.area = StagingArea(TempLocation.parse(temp_path), self.edges.blobs, cleanup=self.req.copy.cleanup)
            self._cleanup()
        return True

    def _cleanup(self) -> None:
        """Delete the staging area this attempt used (after a commit, before a fallback)."""
        area, self.area = self.area, None
        if area is not None:
            self._record_cleanup(area.delete())

    def _record_cleanup(self, status: CleanupStatus) -> None:
        self._safe_update(cleanup_status=status)

    def _safe_update(self, **fields: Any) -> None:
        try:
            self.store.update(self.run_id, **fields)
        except Exception as exc:
            log.warning("could not record cleanup of run %s: %s", self.run_id, exc)

    def _result(self, method: str, out: MethodOutcome, temp_path: str | None, fallback: str | None,
                reason: str) -> LoadResult:
        return LoadResult(method=method, rows=out.rows, bytes_staged=out.bytes_staged, temp_path=temp_path,
                          timings=dict(out.timings), fallback_reason=fallback, run_id=self.run_id, reason=reason,
                          server_side=out.server_side, rows_rejected=out.rows_rejected,
                          staging_format=out.staging_format, format_reason=out.format_reason,
                          read_reason=out.read_reason, path_reason=out.path_reason, rows_inserted=out.rows_inserted,
                          rows_updated=out.rows_updated, rows_deleted=out.rows_deleted)


__all__ = ["LoadRequest", "LoadResult", "execute", "method_for"]
