"""The COPY method for one run: stage to S3 and load with COPY, overlapped, atomically.

Order of events, chosen so that nothing is ever lost track of:

1. check the bucket with one HeadBucket call;
2. record the temp prefix in the state store (before the first object exists,
   so a crash at any later point leaves a prefix the reaper can attribute);
3. start the Spark staging job in a background thread, and on the driver open
   the one target transaction;
4. whenever a partition's marker appears in S3, COPY its parts into the open
   transaction (staging and loading overlap: on 2 cores Spark's CSV rendering
   and PostgreSQL's parsing take turns instead of waiting for each other);
5. check that every partition was loaded and the row counts add up; the load
   transaction writes the ledger row and commits;
6. delete the prefix (best effort; the reaper is the guarantee).

With ``copy.connections`` > 1 it stages the same way and loads over N connections: an overwrite
through a shadow table (shadow_method.py), an append over prepared transactions
(prepared_method.py), an upsert or a slice replace through a staging table (landing_method.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .. import interrupt
from ..adapters import pg, pg_errors, s3
from ..adapters.spark import group_tasks
from ..destination.load_transaction import LoadTransaction
from ..errors import DataError, LoaderError, StagingError
from ..naming import TempLocation
from ..options import WriteMode
from ..plan.direct_plan import DirectRead
from ..plan.typemap import ColumnPlan
from ..request import LoadMethod, MethodContext, MethodOutcome
from .direct_read import ParquetJob
from .formats import choose_format
from .landing_method import landing_connections, run_landing
from .part_reader import key_of_line
from .prepared_method import prepared_connections, run_prepared
from .resume import ResumePlan, plan_resume
from .shadow_method import choose_path, resolve_connections, run_shadow
from .staging import StagingThread
from .task import ROWS_METADATA, FrameJob, StageConfig, StagedPart, local_credentials, read_marker
from .transaction import CopyTransaction, aws_region, use_server_side

log = logging.getLogger("loader")
POLL_SECONDS = 0.25


class CopyMethod:
    """Stage to S3 from the executors and COPY the parts in one transaction, overlapped."""

    name = "copy"

    def __init__(self, fallback: LoadMethod | None = None) -> None:
        self._fallback = fallback

    @property
    def fallback(self) -> LoadMethod | None:
        return self._fallback

    def run(self, ctx: MethodContext) -> MethodOutcome:
        area, client = ctx.staging_area, s3.make_client()
        loc = area.location
        if not ctx.bucket_checked:
            s3.check_bucket(client, loc.bucket)
        ctx.events.use_staging_area(area)  # recorded before the first object exists
        log.info("Using project S3 bucket for temporary staging: %s", loc.bucket)
        return _CopyRun(ctx, loc, client).run()


class _CopyRun:
    def __init__(self, ctx: MethodContext, loc: TempLocation, client: Any) -> None:
        self.ctx, self.loc, self.client = ctx, loc, client
        self.req, self.run_id, self.plan = ctx.req, ctx.run_id, ctx.plan
        self.opts = ctx.req.copy
        self.progress = ctx.progress
        self.imported_once = False
        self.loading = False  # the first COPY moved the run to loading
        self.landing = ctx.plan  # the types the parts are encoded for (set with the format)
        self.fmt: Any = None  # the staging format (set once chosen)
        self.rows_loaded = 0  # the rows of every part loaded (set when the parts are all in)
        self.connections = 1  # copy.connections as a number (set once, shadow_method.resolve_connections)

    def run(self) -> MethodOutcome:
        req = self.req
        conn = pg.connect(req.spec, application_name=f"loader-copy:{self.run_id[:8]}")
        try:
            # any PostgreSQL failure that is not the data's ends the transaction: say so once
            with pg_errors.translated(table=req.target, run_id=self.run_id,
                                      during=f"the load of {req.target} on {req.spec.safe_description()}"):
                return self._run(conn)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        finally:
            conn.close()

    def _run(self, conn: Any) -> MethodOutcome:
        req, out = self.req, MethodOutcome()
        out.server_side = use_server_side(conn, self.opts.server_side, self.req.spec, self.run_id)
        # the rows land apart, in the source's types, and are cast into the target (formats.landing_types)
        cast_later = req.reject is not None or req.write.shares_table
        fmt, out.format_reason = choose_format(self.opts.format, self.plan, req.df.schema, cast_later=cast_later)
        out.staging_format = fmt.name
        self.fmt = fmt
        log.info("%s: staging format %s (%s)", req.target, fmt.name, out.format_reason)
        landing = ColumnPlan(self.plan.names, fmt.landing_types(self.plan, req.df.schema, cast_later))
        self.landing = landing
        job = self._staging_job(fmt, landing, out)
        n_partitions = job.partitions
        gzip = self.opts.compression == "gzip"
        resumed = self._resume_plan(n_partitions, job.reader)
        cfg = StageConfig(location=self.loc, gzip=gzip, rows_per_part=self.opts.rows_per_part,
                          part_bytes=self.opts.part_mb * 1024 * 1024,
                          endpoint_url=s3.endpoint_url(), skip_partitions=resumed.done, reuse=resumed.reuse,
                          credentials=local_credentials(req.df.sparkSession),
                          encoder=fmt.encoder(landing, self.opts.strip_nul), extension=fmt.extension(gzip),
                          content_type=fmt.content_type)
        over_n = self._over_n(conn, fmt, resumed, out, cast_later=cast_later)
        log.info("Writing temporary %s to %s", fmt.label, self.loc.uri)
        self.ctx.events.staging_started()
        self.progress.phase("staging", parts_total=None)
        stager = StagingThread(job, cfg, self.run_id)
        if over_n is not None:
            return over_n(stager)
        self.start_staging(stager)
        load = LoadTransaction(conn, req.spec, req.target, self.plan, req.write, self.run_id,
                               create_sql=self.ctx.create_sql, defer_indexes=req.defer_indexes,
                               error_key=self.ctx.error_key, allow_empty=req.allow_empty,
                               ledger_schema=req.loader_schema)
        txn = CopyTransaction(load, reject=req.reject, fmt=fmt, landing=landing.pg_types if cast_later else None)
        t0 = time.monotonic()
        # an interruption cancels the statement running on this connection (COPY, index build, merge)
        with interrupt.on_interrupt(conn.cancel):
            self.stage_and_load(lambda key, size: self._load_part(txn, key, size, out), stager, resumed, out,
                                 begin=txn.begin)
            out.rows = txn.finish()
        load.commit(before=self.ctx.events.committing)
        out.timings["load"] = time.monotonic() - t0
        out.rows_rejected = txn.rows_rejected
        if txn.written is not None:
            out.rows_inserted, out.rows_updated = txn.written.inserted, txn.written.updated
        out.rows_deleted = load.deleted
        log.info("COPY protocol completed successfully")
        return out

    def _over_n(self, conn: Any, fmt: Any, resumed: ResumePlan, out: MethodOutcome, *,
                cast_later: bool) -> Callable[[StagingThread], MethodOutcome] | None:
        """The path over N connections this load takes, decided once for its write mode (each
        decision logged and recorded with the run's reason), or None for the one load transaction."""
        req = self.req
        self.connections = resolve_connections(self, conn, out)
        if req.write.mode is WriteMode.APPEND:
            n = prepared_connections(self, conn, cast_later, out)
            return None if n <= 1 else lambda stager: run_prepared(self, conn, n, fmt, stager, resumed, out)
        if req.write.merges:
            n = landing_connections(self, conn, req.reject is not None, out)
            return None if n <= 1 else lambda stager: run_landing(self, conn, n, fmt, stager, resumed, out,
                                                                  cast_later=cast_later)
        shadow = choose_path(self, conn, cast_later, out)
        return None if shadow is None else lambda stager: run_shadow(self, conn, shadow, fmt, stager, resumed, out)

    def _staging_job(self, fmt: Any, landing: ColumnPlan, out: MethodOutcome) -> Any:
        """What the executors stage from: the Parquet files read by pyarrow (the runner found them
        readable so, direct_plan.py, and binary takes the columns as they are), else Spark's rows."""
        req = self.req
        direct = req.direct
        if isinstance(direct, DirectRead) and fmt.name != "binary":
            direct = "CSV staging renders the rows in Spark"
        if isinstance(direct, DirectRead):
            read = direct.project(self.plan.names)
            out.format_reason += f"; {read.describe()}"
            log.info("%s: staging from the Parquet files (%s)", req.target, read.describe())
            return ParquetJob(req.df.sparkSession.sparkContext, read)
        if direct is not None:
            out.format_reason += f"; read by Spark ({direct})"
        return FrameJob(fmt.frame(req.df, landing, self.opts.strip_nul, target=self.plan))

    def start_staging(self, stager: StagingThread) -> None:
        """Start the staging job, its tasks done counted as the progress, whichever path loads."""
        sc = stager.job.spark_context
        self.progress.track(lambda: group_tasks(sc, stager.group))
        stager.start()

    def stage_and_load(self, load: Callable[[str, int], int | Future[int]], stager: StagingThread,
                        resumed: ResumePlan, out: MethodOutcome, begin: Callable[[], None] | None = None) -> None:
        """``begin``, then load each part as it is staged until the staging job ends and every part
        is in; a failure of either cancels the staging job."""
        try:
            if begin is not None:
                begin()
            loaded = self._load_while_staging(load, stager, out)
            self._confirm_staged()
        except BaseException:
            stager.cancel()
            raise
        out.timings["stage"] = stager.seconds
        self._check_all_staged(stager, resumed, loaded, out)
        self._loading(staging_done=True)  # nothing to COPY (no rows): the phase still moves on
        self.progress.track(None)  # the staging job is over: what is left is COPY's

    def _check_all_staged(self, stager: StagingThread, resumed: ResumePlan, loaded: set[int],
                          out: MethodOutcome) -> None:
        # every partition whose task ran has its marker; Spark's adaptive execution may run fewer
        # tasks than the plan has partitions (none at all for an empty source), so the tasks
        # that ran say what to expect, with those an earlier attempt staged
        missing = (stager.ran | set(resumed.done)) - loaded
        if missing:
            raise LoaderError(f"partitions {sorted(missing)[:5]} of run {self.run_id} were never staged",
                              next_step="resume the run", run_id=self.run_id, retryable=True)
        if self.ctx.attempt > 1:
            log.info("resumed run %s (attempt %d): %d of %d parts were already staged", self.run_id,
                     self.ctx.attempt, resumed.parts_staged, out.parts)

    # --- pieces -----------------------------------------------------------------
    def objects(self) -> list[dict[str, Any]]:
        return sorted(s3.iter_objects(self.client, self.loc.bucket, self.loc.prefix), key=lambda o: o["Key"])

    def _confirm_staged(self) -> None:
        """The staging job succeeded: its markers are true, and a resume may skip their partitions."""
        bucket = self.loc.bucket
        s3.call("PutObject", self.client.put_object, Bucket=bucket, Key=self.loc.confirmation_key(),
                 Body=b"{}", ContentType="application/json", bucket=bucket)

    def _resume_plan(self, n_partitions: int, reader: str) -> ResumePlan:
        """What an earlier attempt of this run staged and this one reuses (resume.py); the parts it
        will write again are deleted first, so that the load never takes an old one. ``reader``: who
        reads the source (``spark``, or ``pyarrow`` whose partitions are the files' units): an earlier
        attempt that read otherwise numbered its partitions otherwise, and nothing of it is kept."""
        objects = self.objects() if self.ctx.attempt > 1 else []
        keys = {o["Key"] for o in objects}
        earlier = "pyarrow" if self.loc.reader_key() in keys else "spark"
        if self.ctx.attempt > 1 and earlier != reader:
            log.info("resuming run %s (attempt %d): its parts were read by %s, this attempt reads by %s: "
                     "staging every part again", self.run_id, self.ctx.attempt, earlier, reader)
            s3.delete_keys(self.client, self.loc.bucket, sorted(keys), s3.RequestCounter())
            objects, keys = [], set()
        if reader != "spark" and self.loc.reader_key() not in keys:
            s3.call("PutObject", self.client.put_object, Bucket=self.loc.bucket, Key=self.loc.reader_key(),
                     Body=b'{"reader": "%s"}' % reader.encode(), ContentType="application/json",
                     bucket=self.loc.bucket)
        if self.ctx.attempt <= 1:
            return ResumePlan()
        # the rows of a partition come back in the same order only from files the runner saw unchanged
        plan = plan_resume(objects, self._part_rows, by_part=self.req.source_fingerprint is not None)
        if plan.stale:
            s3.delete_keys(self.client, self.loc.bucket, list(plan.stale), s3.RequestCounter())
        log.info("resuming run %s (attempt %d): %d part(s) already staged (%d of %d partitions complete, "
                 "%d more partly)", self.run_id, self.ctx.attempt, plan.parts_staged, len(plan.done),
                 n_partitions, len(plan.reuse))
        return plan

    def _part_rows(self, key: str) -> int | None:
        head = s3.call("HeadObject", self.client.head_object, Bucket=self.loc.bucket, Key=key,
                        bucket=self.loc.bucket)
        rows = (head.get("Metadata") or {}).get(ROWS_METADATA)
        return int(rows) if rows and rows.isdigit() else None

    def _load_while_staging(self, load: Callable[[str, int], int | Future[int]], stager: StagingThread,
                            out: MethodOutcome) -> set[int]:
        """COPY each part as soon as its object exists (S3 shows an object only once complete);
        the partitions' markers, read as they appear, are checked against what was loaded.
        ``load`` gives a part's rows, or a future of them (the shadow path's workers)."""
        loaded: dict[str, int] = {}
        pending: dict[str, tuple[Future[int], int]] = {}
        markers: dict[int, list[StagedPart]] = {}
        while True:
            interrupt.check()
            finished = not stager.is_alive()  # read before listing: nothing can be missed
            stager.raise_if_failed()
            self._collect(pending, loaded, out, wait=False)
            for obj in self.objects():
                key = obj["Key"]
                partition = TempLocation.marker_partition(key)
                if partition is not None:
                    if partition not in markers:
                        markers[partition] = s3.call("GetObject", read_marker, self.client, self.loc.bucket,
                                                      key, bucket=self.loc.bucket)
                        for part in markers[partition]:
                            self.ctx.events.part_staged(part.partition, part.seq, part.key, part.rows, part.bytes)
                elif key not in loaded and key not in pending and TempLocation.part_of(key) is not None:
                    self._loading(staging_done=finished)
                    got = load(key, int(obj.get("Size", 0)))
                    if isinstance(got, Future):
                        pending[key] = (got, int(obj.get("Size", 0)))
                    else:
                        loaded[key] = got
                        self._counted(key, got, int(obj.get("Size", 0)), out)
            if finished:
                break
            time.sleep(POLL_SECONDS)
        self._collect(pending, loaded, out, wait=True)
        expected = {p.key: p.rows for parts in markers.values() for p in parts}
        if expected != loaded:
            wrong = sorted(set(expected.items()) ^ set(loaded.items()))[:3]
            raise LoaderError(f"staged parts and loaded parts of run {self.run_id} disagree: {wrong}",
                              next_step="run again: a staging task was retried with different data",
                              run_id=self.run_id, retryable=True)
        self.rows_loaded = sum(loaded.values())
        return set(markers)

    def _collect(self, pending: dict[str, tuple[Future[int], int]], loaded: dict[str, int], out: MethodOutcome,
                 wait: bool) -> None:
        """The parts the workers finished (all of them, ``wait``), counted on this thread; the first
        failure is raised, named like the in-place path's."""
        for key, (future, size) in list(pending.items()):
            if not wait and not future.done():
                continue
            try:
                rows = future.result()
            except DataError as exc:
                self._explain(exc, key)
                raise
            del pending[key]
            loaded[key] = rows
            self._counted(key, rows, size, out)

    def _loading(self, staging_done: bool) -> None:
        """Once, at the first COPY: the run is loading from then on, while Spark may still be
        staging the rest; ``staged`` is recorded only when the staging ended before that."""
        if self.loading:
            return
        self.loading = True
        if staging_done:
            self.ctx.events.staged()
        self.ctx.events.loading_started()
        self.progress.phase("loading")

    def _load_part(self, txn: CopyTransaction, key: str, size: int, out: MethodOutcome) -> int:
        try:
            return self._import(txn, key, out) if out.server_side else self._stream(txn, key)
        except DataError as exc:
            self._explain(exc, key)
            raise

    def _explain(self, exc: DataError, key: str) -> None:
        # name the row by its key, else by its first columns: the part is deleted with the run
        ident, label = (self.ctx.error_key, "key") if self.ctx.error_key else (self.plan.names[:3], "row")
        exc.message += key_of_line(self.client, self.loc.bucket, key, exc.message, self.plan.names, ident,
                                   self.landing.pg_types, self.fmt.row_fields, label)

    def _counted(self, key: str, rows: int, size: int, out: MethodOutcome) -> None:
        out.parts += 1
        out.bytes_staged += size
        self.progress.part_loaded(key, rows, size)

    def _import(self, txn: CopyTransaction, key: str, out: MethodOutcome) -> int:
        """Server-side import. If the server refuses the first binary part (an extension that does
        not pass binary to COPY), it is rolled back to its savepoint and every part is streamed by
        the client instead: the same staged parts, the same transaction, no row twice."""
        first = not self.imported_once
        may_refuse = first and txn.fmt.server_may_refuse
        try:
            rows = txn.import_server_side(self.loc.bucket, key, aws_region(), guarded=may_refuse)
        except StagingError as exc:
            if not may_refuse:
                raise
            log.warning("%s: the database refused a server-side import of binary parts (%s); the client "
                        "streams them from S3 instead", self.req.target, exc.message)
            out.server_side = False
            out.format_reason += f"; server-side import refused ({exc.message}): parts streamed by the client"
            return self._stream(txn, key)
        self.imported_once = True
        return rows

    def _stream(self, txn: CopyTransaction, key: str) -> int:
        """COPY one part from S3 through this process (client-side)."""
        bucket = self.loc.bucket
        body = s3.call("GetObject", self.client.get_object, Bucket=bucket, Key=key, bucket=bucket)["Body"]
        return txn.copy_stream(body, bucket, key)
