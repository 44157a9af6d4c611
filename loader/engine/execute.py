"""One load, start to finish: the code path shared by ``write_to_postgres`` and the runner.

    record run → lock table → (resume: ledger check) → prepare target → choose method
      → COPY (stage ‖ load, one transaction) ──infra failure──► optimized JDBC
      → record result → clean up the temp prefix

The run is in the state store before anything else happens, and its temp
prefix is recorded before the first object is written, so a crash at any
point leaves something the reaper and ``resume`` can find.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..adapters import pg
from ..adapters import s3 as s3a
from ..connection import ConnectionSpec
from ..copy.method import CopyJob
from ..copy.task import StagedPart
from ..errors import (
    ConfigError,
    LoaderError,
    LockHeldError,
    SchemaMismatchError,
    StagingError,
    TransitionError,
)
from ..jdbc.method import jdbc_write
from ..naming import TableRef, new_run_id, quote_ident, s3_uri, temp_prefix
from ..options import CopyOptions, JdbcOptions, Method, WriteMode
from ..plan.choose import choose_method
from ..plan.facts import copy_ready, estimate_size
from ..plan.typemap import ColumnPlan, create_table_sql, match_columns, plan_for_new_table
from ..progress import Progress
from ..redact import redact
from ..result import LoadResult
from ..state import RunRecord, StateStore
from ..state.status import RunStatus
from ..target.rejects import RejectPolicy

log = logging.getLogger("loader")


@dataclass(frozen=True)
class LoadRequest:
    df: Any
    spec: ConnectionSpec
    target: TableRef
    method: Method = Method.AUTO
    mode: WriteMode = WriteMode.APPEND
    key: tuple[str, ...] = ()
    create: str = "if_missing"
    copy: CopyOptions = field(default_factory=CopyOptions)
    jdbc: JdbcOptions = field(default_factory=JdbcOptions)
    manifest_name: str | None = None
    manifest_hash: str | None = None
    wait_for_lock: bool = False
    live_progress: bool = False
    source_fingerprint: str | None = None
    on_error: str = "fail"  # fail | reject
    max_errors: int | None = None
    #: build the target's indexes after the rows when it is new, overwritten or empty (index_defer)
    defer_indexes: bool = True

    @property
    def reject(self) -> RejectPolicy | None:
        return RejectPolicy(self.max_errors) if self.on_error == "reject" else None


def execute(req: LoadRequest, store: StateStore | None = None, resume: RunRecord | None = None) -> LoadResult:
    """Run one load, or resume the run ``resume`` (as it was observed), and return what happened."""
    if req.mode is WriteMode.UPSERT and not req.key:
        raise ConfigError(f"{req.target}: mode upsert needs key columns", next_step="pass key=['id', ...]")
    store = store or StateStore()
    run_id = resume.run_id if resume else new_run_id()
    if resume is None:
        store.create_run(run_id, manifest_name=req.manifest_name or str(req.target),
                         manifest_hash=req.manifest_hash or "", target=str(req.target),
                         target_db=req.spec.safe_description(), method_requested=str(req.method),
                         write_mode=str(req.mode))
        if req.source_fingerprint:
            store.update(run_id, source_fingerprint=req.source_fingerprint)
    try:
        # The table lock comes first: a resume must never take over a run that is still alive.
        with pg.table_lock(req.spec, req.target, run_id, wait=req.wait_for_lock):
            if resume is not None:
                # exactly one of two racing resumers wins this conditional UPDATE
                store.resume(run_id, expected=resume.status, attempt=resume.attempt)
            return _Load(req, store, run_id).run()
    except TransitionError:
        raise  # the run belongs to someone else now: record nothing on it
    except LockHeldError as exc:
        if resume is None:  # never started: not a failed run that --resume should pick up
            store.abandon(run_id, reason=redact(str(exc)))
        exc.with_ids(run_id=run_id, table=str(req.target))
        raise
    except LoaderError as exc:
        _record_failure(store, run_id, redact(str(exc)))
        exc.with_ids(run_id=run_id, table=str(req.target))
        raise
    except BaseException as exc:
        _record_failure(store, run_id, redact(f"{type(exc).__name__}: {exc}"))
        raise


def _record_failure(store: StateStore, run_id: str, text: str) -> None:
    try:
        if store.get(run_id).status.is_active:
            store.fail(run_id, error=text[:4000])
    except Exception as exc:  # the original error matters more
        log.warning("could not record the failure of run %s: %s", run_id, exc)


class _Load:
    def __init__(self, req: LoadRequest, store: StateStore, run_id: str) -> None:
        self.req, self.store, self.run_id = req, store, run_id
        self.timings: dict[str, float] = {}
        self.error_key: tuple[str, ...] = req.key
        self.progress = Progress(label=str(req.target), heartbeat=self._beat, live=req.live_progress,
                                 on_phase=self._on_phase)

    def _beat(self, phase: str, parts: int, rows: int) -> None:
        self.store.heartbeat(self.run_id, parts_loaded=parts, rows=rows)

    def _on_phase(self, phase: str) -> None:
        status = self.store.get(self.run_id).status
        if phase == "staging" and status is RunStatus.PENDING:
            self.store.start_staging(self.run_id)
        elif phase == "staged" and status is RunStatus.STAGING:
            self.store.finish_staging(self.run_id)
        elif phase == "loading" and status in (RunStatus.PENDING, RunStatus.STAGED):
            self.store.start_loading(self.run_id, expected=status)

    def run(self) -> LoadResult:
        record = self.store.get(self.run_id)
        if record.attempt > 1 and self._already_committed():
            return self._result(record.method_used or "copy", record.rows or 0, record.bytes_staged or 0,
                                record.temp_path, record.fallback_reason, "resumed: already committed")
        plan, create_sql = self._prepare_target()
        method, reason = self._choose(plan)
        self.store.update(self.run_id, reason=reason)
        log.info("%s: method %s (%s)", self.req.target, method, reason)
        if method is Method.COPY:
            return self._copy(plan, create_sql, reason, record.temp_path)
        return self._jdbc(method, plan, create_sql, reason, fallback_reason=None)

    # --- steps -------------------------------------------------------------------
    def _already_committed(self) -> bool:
        """The ledger answers whether a crashed attempt committed its data: never load twice."""
        conn = pg.connect(self.req.spec)
        try:
            with conn.cursor() as cur:
                rows = pg.ledger_lookup(cur, self.req.target, self.run_id)
        finally:
            conn.close()
        if rows is None:
            return False
        log.info("run %s already committed %s rows (ledger); finishing its record", self.run_id, rows)
        status = self.store.get(self.run_id).status
        if status is RunStatus.PENDING:
            self.store.start_loading(self.run_id, expected=status)
        self.store.succeed(self.run_id, rows=rows)
        self._cleanup(self.store.get(self.run_id).temp_path)
        return True

    def _prepare_target(self) -> tuple[ColumnPlan, str | None]:
        """Everything that can be refused is refused here, before any data moves."""
        target, schema, key = self.req.target, self.req.df.schema, self.req.key
        conn = pg.connect(self.req.spec)
        try:
            with conn.cursor() as cur:
                existing = pg.table_columns(cur, target)
                has_unique_key = bool(key) and existing is not None and pg.has_unique_index(cur, target, key)
                # named in data errors: "the key columns when the table has a key"
                self.error_key = key or (pg.primary_key_columns(cur, target) if existing is not None else ())
            # the ledger is created once, outside any load transaction: two loads committing
            # into a fresh schema at the same time must not race on CREATE TABLE
            pg.ensure_ledger_committed(conn, target)
        finally:
            conn.close()
        missing_key = [k for k in key if k not in {f.name for f in schema.fields}]
        if missing_key:
            raise SchemaMismatchError(f"{target}: key column(s) {', '.join(missing_key)} are not in the source",
                                      next_step="fix target.key / key=, or add the columns", table=str(target))
        if existing is None:
            if self.req.create == "never":
                raise ConfigError(f"table {target} does not exist and create is 'never'",
                                  next_step="create the table, or set target.create: if_missing",
                                  table=str(target))
            return plan_for_new_table(schema), create_table_sql(target, schema, key)
        if self.req.mode is WriteMode.UPSERT and not has_unique_key:
            cols = ", ".join(quote_ident(k) for k in key)
            raise SchemaMismatchError(f"{target}: upsert on ({', '.join(key)}) needs a primary key or unique "
                                      "index on exactly those columns",
                                      next_step=f"ALTER TABLE {target.quoted} ADD PRIMARY KEY ({cols})",
                                      table=str(target))
        return match_columns(target, schema, existing), None

    def _choose(self, plan: ColumnPlan) -> tuple[Method, str]:
        if self.req.method is not Method.AUTO:
            return self.req.method, "requested"
        rows, width = estimate_size(self.req.df)
        ready, why_not = copy_ready(self.req.copy)
        return choose_method(rows, width, ready, why_not)

    def _copy(self, plan: ColumnPlan, create_sql: str | None, reason: str, temp_path: str | None) -> LoadResult:
        opts = self.req.copy
        bucket, where = s3a.resolve_bucket(opts.bucket)
        if temp_path:  # a resume reuses its prefix and whatever is staged there
            prefix = temp_path.split("/", 3)[3]
        else:
            prefix = temp_prefix(opts.prefix, self.req.target.table, self.run_id)
        try:
            s3a.check_bucket(s3a.make_client(), bucket)
            log.info("Using project S3 bucket for temporary staging: %s", bucket)
            self.store.update(self.run_id, method_used="copy", bucket=bucket, temp_path=s3_uri(bucket, prefix),
                              cleanup_status="pending")
            job = CopyJob(self.req.df, self.req.spec, self.req.target, plan, self.req.mode, self.req.key,
                          self.run_id, opts, bucket, prefix, create_sql=create_sql, progress=self.progress,
                          on_part_staged=self._record_part, reject=self.req.reject, error_key=self.error_key,
                          defer_indexes=self.req.defer_indexes)
            out = job.run()
        except StagingError as exc:
            if opts.fallback == "none":
                self._cleanup(s3_uri(bucket, prefix))
                raise
            reason_text = redact(str(exc))
            log.warning("%s, falling back to optimized JDBC", reason_text)
            log.info("Falling back to optimized JDBC writer")
            self._cleanup(s3_uri(bucket, prefix))
            self._restart_for_fallback()
            return self._jdbc(Method.OPTIMIZED, plan, create_sql, reason, fallback_reason=reason_text)
        except BaseException:
            self._cleanup(s3_uri(bucket, prefix))
            raise
        self.timings.update(out.timings)
        self.store.succeed(self.run_id, rows=out.rows, bytes_staged=out.bytes_staged, timings=self.timings,
                           parts_loaded=out.parts, rows_rejected=out.rows_rejected)
        temp = s3_uri(bucket, prefix)
        self._cleanup(temp)
        method = "copy"
        return self._result(method, out.rows, out.bytes_staged, temp, None, reason,
                            server_side=out.server_side, rows_rejected=out.rows_rejected)

    def _record_part(self, part: StagedPart) -> None:
        self.store.record_part(self.run_id, part.partition * 10_000 + part.seq, part.key, part.rows, part.bytes)

    def _restart_for_fallback(self) -> None:
        status = self.store.get(self.run_id).status
        if status is not RunStatus.PENDING:
            # the COPY attempt moved the run along; a fallback is a new attempt of the same run
            self.store.resume(self.run_id)

    def _jdbc(self, method: Method, plan: ColumnPlan, create_sql: str | None, reason: str,
              fallback_reason: str | None) -> LoadResult:
        self.store.update(self.run_id, method_used=str(method), fallback_reason=fallback_reason)
        self.progress.phase("loading")
        t0 = time.monotonic()
        res = jdbc_write(self.req.df, self.req.spec, self.req.target, run_id=self.run_id, method=method,
                         mode=self.req.mode, key=self.req.key, plan=plan, create_sql=create_sql,
                         opts=self.req.jdbc,
                         on_stage_created=lambda name: self.store.update(self.run_id, staging_table=name),
                         reject=self.req.reject, strip_nul=self.req.copy.strip_nul,
                         defer_indexes=self.req.defer_indexes)
        self.timings.update(res.timings)
        self.timings.setdefault("load", time.monotonic() - t0)
        self.store.succeed(self.run_id, rows=res.rows, timings=self.timings, rows_rejected=res.rows_rejected)
        return self._result(str(method), res.rows, 0, None, fallback_reason, reason,
                            rows_rejected=res.rows_rejected)

    def _cleanup(self, temp_path: str | None) -> None:
        if not temp_path:
            return
        bucket, prefix = temp_path[5:].split("/", 1)
        if not self.req.copy.cleanup:
            log.info("Keeping temporary files at %s (cleanup disabled)", temp_path)
            self.store.update(self.run_id, cleanup_status="kept")
            return
        try:
            s3a.delete_prefix(s3a.make_client(), bucket, prefix)
        except Exception as exc:
            log.warning("Temporary files at %s could not be deleted (%s); the reaper will remove them",
                        temp_path, redact(str(exc)))
            self._safe_update(cleanup_status="failed")
            return
        log.info("Temporary files cleaned up successfully")
        self._safe_update(cleanup_status="done")

    def _safe_update(self, **fields: Any) -> None:
        try:
            self.store.update(self.run_id, **fields)
        except Exception as exc:
            log.warning("could not record cleanup of run %s: %s", self.run_id, exc)

    def _result(self, method: str, rows: int, nbytes: int, temp_path: str | None, fallback: str | None,
                reason: str, server_side: bool = False, rows_rejected: int = 0) -> LoadResult:
        self.progress.done()
        return LoadResult(method=method, rows=rows, bytes_staged=nbytes, temp_path=temp_path,
                          timings=dict(self.timings), fallback_reason=fallback, run_id=self.run_id,
                          reason=reason, server_side=server_side, rows_rejected=rows_rejected)


__all__ = ["LoadRequest", "LoadResult", "execute"]
