"""The COPY method for one run: stage to S3 from the executors and COPY the parts, overlapped,
atomically. Order of events, chosen so that nothing is ever lost track of:

1. check the bucket with one HeadBucket call;
2. record the temp prefix in the state store (before the first object exists, so a crash at any
   later point leaves a prefix the reaper can attribute);
3. choose, once each: the staging format (formats.py), who reads the source (Spark's rows, or a
   bare Parquet source's files read by pyarrow), what a resume reuses (resume.py) and how the parts
   land (landing/: in place, shadow, prepared, staging merge);
4. the driver (landing/driver.py) starts the Spark staging job in a thread and loads each part as
   it is staged, then publishes and commits with the run's ledger row;
5. the engine deletes the prefix (best effort; the reaper is the guarantee).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ..adapters import pg, pg_errors, s3
from ..adapters.staging_area import PartStore, S3Parts
from ..plan.direct_plan import DirectRead
from ..plan.typemap import ColumnPlan
from ..request import LoadMethod, MethodContext, MethodOutcome
from .direct_read import ParquetJob
from .formats import StagingFormat, choose_format
from .landing import CopyRun, choose_protocol
from .landing.driver import land
from .resume import ResumePlan, plan_resume
from .staging import StagingThread
from .task import ROWS_METADATA, FrameJob, StageConfig, local_credentials
from .transaction import use_server_side

log = logging.getLogger("loader")


class CopyMethod:
    """Stage to S3 from the executors and COPY the parts in one transaction, overlapped."""

    name = "copy"

    def __init__(self, fallback: LoadMethod | None = None, connect: pg.Connect = pg.connect) -> None:
        self._fallback, self.connect = fallback, connect

    @property
    def fallback(self) -> LoadMethod | None:
        return self._fallback

    def run(self, ctx: MethodContext) -> MethodOutcome:
        area, client = ctx.staging_area, s3.make_client()
        if not ctx.bucket_checked:
            s3.check_bucket(client, area.location.bucket)
        ctx.events.use_staging_area(area)  # recorded before the first object exists
        log.info("Using project S3 bucket for temporary staging: %s", area.location.bucket)
        req = ctx.req
        conn = self.connect(req.spec, application_name=f"loader-copy:{ctx.run_id[:8]}")
        try:
            # any PostgreSQL failure that is not the data's ends the transaction: say so once
            with pg_errors.translated(table=req.target, run_id=ctx.run_id,
                                      during=f"the load of {req.target} on {req.spec.safe_description()}"):
                return self._run(ctx, conn, S3Parts(client, area.location))
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        finally:
            conn.close()

    def _run(self, ctx: MethodContext, conn: Any, parts: PartStore) -> MethodOutcome:
        req, opts, out = ctx.req, ctx.req.copy, MethodOutcome()
        server_side = use_server_side(conn, opts.server_side, req.spec, ctx.run_id)
        # the rows land apart, in the source's types, and are cast into the target (formats.landing_types)
        cast_later = req.reject is not None or req.write.shares_table
        fmt, out.format_reason = choose_format(opts.format, ctx.plan, req.df.schema, cast_later=cast_later)
        out.staging_format = fmt.name
        log.info("%s: staging format %s (%s)", req.target, fmt.name, out.format_reason)
        landing = ColumnPlan(ctx.plan.names, fmt.landing_types(ctx.plan, req.df.schema, cast_later))
        job, out.read_reason = _staging_job(ctx, fmt, landing)
        location = ctx.staging_area.location
        run = CopyRun(spec=req.spec, target=req.target, run_id=ctx.run_id, plan=ctx.plan, landing=landing,
                      cast_later=cast_later, fmt=fmt, write=req.write, events=ctx.events, home=req.loader_schema,
                      progress=ctx.progress, connect=self.connect, parts=parts, location=location, conn=conn,
                      attempt=ctx.attempt, create_sql=ctx.create_sql, defer_indexes=req.defer_indexes,
                      error_key=ctx.error_key, allow_empty=req.allow_empty, reject=req.reject)
        protocol, path = choose_protocol(run, opts.connections, server_side)  # a refusal before anything is written
        resumed = _resume(ctx, parts, job.partitions, job.reader)
        gzip = opts.compression == "gzip"
        cfg = StageConfig(location=location, gzip=gzip, rows_per_part=opts.rows_per_part,
                          part_bytes=opts.part_mb * 1024 * 1024,
                          endpoint_url=s3.endpoint_url(), skip_partitions=resumed.done, reuse=resumed.reuse,
                          credentials=local_credentials(req.df.sparkSession),
                          encoder=fmt.encoder(landing, opts.strip_nul), extension=fmt.extension(gzip),
                          content_type=fmt.content_type)
        log.info("Writing temporary %s to %s", fmt.label, location.uri)
        ctx.events.staging_started()
        ctx.progress.phase("staging", parts_total=None)
        published = land(protocol, run, StagingThread(job, cfg, ctx.run_id), resumed, out)
        out.path_reason = "; ".join(path + published.notes)
        out.server_side = published.server_side
        out.rows, out.rows_rejected = published.rows, published.rows_rejected
        out.rows_inserted, out.rows_updated = published.rows_inserted, published.rows_updated
        out.rows_deleted = published.rows_deleted
        return out


def _staging_job(ctx: MethodContext, fmt: StagingFormat, landing: ColumnPlan) -> tuple[Any, str]:
    """What the executors stage from, and who reads the source: the Parquet files read by pyarrow
    (the runner found them readable so, plan/direct_plan.py, and binary takes the columns as they
    are), else Spark's rows."""
    req = ctx.req
    direct = req.direct
    if isinstance(direct, DirectRead) and fmt.name != "binary":
        direct = "CSV staging renders the rows in Spark"
    if isinstance(direct, DirectRead):
        read = direct.project(ctx.plan.names)
        log.info("%s: staging from the Parquet files (%s)", req.target, read.describe())
        return ParquetJob(req.df.sparkSession.sparkContext, read), read.describe()
    job = FrameJob(fmt.frame(req.df, landing, req.copy.strip_nul, target=ctx.plan))
    return job, f"read by Spark ({direct})" if direct is not None else ""


def _resume(ctx: MethodContext, parts: PartStore, n_partitions: int, reader: str) -> ResumePlan:
    """What an earlier attempt of this run staged and this one reuses (resume.py); the parts it will
    write again are deleted first, so that the load never takes an old one. ``reader``: who reads
    the source (``spark``, or ``pyarrow`` whose partitions are the files' units): an earlier attempt
    that read otherwise numbered its partitions otherwise, and nothing of it is kept."""
    location, attempt, run_id = ctx.staging_area.location, ctx.attempt, ctx.run_id
    objects = parts.objects() if attempt > 1 else []
    keys = {o["Key"] for o in objects}
    earlier = "pyarrow" if location.reader_key() in keys else "spark"
    if attempt > 1 and earlier != reader:
        log.info("resuming run %s (attempt %d): its parts were read by %s, this attempt reads by %s: "
                 "staging every part again", run_id, attempt, earlier, reader)
        parts.delete(sorted(keys))
        objects, keys = [], set()
    if reader != "spark" and location.reader_key() not in keys:
        parts.put(location.reader_key(), b'{"reader": "%s"}' % reader.encode(), "application/json")
    if attempt <= 1:
        return ResumePlan()

    def part_rows(key: str) -> int | None:
        rows = parts.metadata(key).get(ROWS_METADATA)
        return int(rows) if rows and rows.isdigit() else None

    # the rows of a partition come back in the same order only from files the runner saw unchanged
    resumed = plan_resume(objects, part_rows, by_part=ctx.req.source_fingerprint is not None)
    if resumed.stale:
        parts.delete(list(resumed.stale))
    log.info("resuming run %s (attempt %d): %d part(s) already staged (%d of %d partitions complete, "
             "%d more partly)", run_id, attempt, resumed.parts_staged, len(resumed.done), n_partitions,
             len(resumed.reuse))
    return resumed
