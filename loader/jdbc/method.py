"""Methods ``standard`` and ``optimized``: Spark's JDBC writer, made atomic.

Spark's JDBC writer commits once per partition: a failed job leaves the
partitions that finished, and a task that committed but was retried (lost
executor, speculation) commits its rows twice. So Spark never writes into the
target. It writes into an UNLOGGED per-run staging table whose columns have
the Spark-native PostgreSQL types and positional names (``c_1``...: Spark 3.5
does not escape quotes inside column names, so a hostile name must never reach
its SQL), the row count is checked against what Spark says it wrote, and the
load transaction (destination/load_transaction.py) moves the rows into the target
and drops the staging table. A process killed half-way leaves a
``loader_stage_*`` table and an untouched target; the reaper removes the table.

``optimized`` sends strings, timestamps, dates and short decimals in compact
wire forms that an inlet view's rule decodes (codec.py explains why and how).
What each costs and gains, measured: README "JDBC: what optimized does" and
bench/README.md; batch sizes: frame.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import interrupt
from ..adapters import pg, pg_errors
from ..adapters.spark import ensure_jdbc_driver, group_tasks, job_group
from ..adapters.spark_errors import nul_error_column, translate_jdbc_failure
from ..connection import ConnectionSpec
from ..destination import staging_table
from ..destination.landing_rules import in_place_refusal
from ..destination.load_transaction import LoadTransaction
from ..destination.write_modes import WriteStrategy, Written
from ..errors import ConfigError, DataError
from ..naming import TableRef, loader_schema, quote_ident, staging_table_name
from ..options import JdbcOptions, Method, RejectPolicy
from ..plan.typemap import ColumnPlan
from ..progress import Progress
from ..request import LoadMethod, MethodContext, MethodOutcome
from . import codec as jdbc_codec
from .codec import StagedColumn
from .frame import SPARK_DEFAULT_BATCHSIZE, staging_frame, writer_settings


@dataclass(frozen=True)
class JdbcResult:
    rows: int
    staging_table: str
    timings: dict[str, float] = field(default_factory=dict)
    batchsize: int = SPARK_DEFAULT_BATCHSIZE
    num_partitions: int = 0
    rows_rejected: int = 0
    #: upsert: rows whose key was new / existed (None for the other modes and on_error: reject)
    rows_inserted: int | None = None
    rows_updated: int | None = None
    #: a slice replace: the target's rows it deleted
    rows_deleted: int | None = None


def jdbc_write(df: Any, spec: ConnectionSpec, target: TableRef, *, run_id: str, method: Method,
               write: WriteStrategy, plan: ColumnPlan, create_sql: str | None,
               opts: JdbcOptions, on_stage_created: Callable[[str], None] | None = None,
               reject: RejectPolicy | None = None, strip_nul: bool = False,
               defer_indexes: bool = False, before_publish: Callable[[], None] | None = None,
               progress: Progress | None = None, allow_empty: bool = False,
               ledger_schema: str | None = None) -> JdbcResult:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    method = Method(method)
    if method not in (Method.STANDARD, Method.OPTIMIZED):
        raise ConfigError(f"jdbc_write handles methods standard and optimized, not {method}")
    timings: dict[str, float] = {}
    started = time.monotonic()
    frame, stage_cols = staging_frame(df, plan, strip_nul, compact=method is Method.OPTIMIZED)
    # in the ledger schema (target.ledger_schema): a role may write into the target's schema
    # without being allowed to create tables there
    home = loader_schema(target, ledger_schema)
    stage = TableRef(home, staging_table_name(run_id))

    write_into = _create_stage(spec, stage, stage_cols, run_id, target)
    timings["stage_create"] = time.monotonic() - started
    try:
        if on_stage_created is not None:
            on_stage_created(stage.table)
        frame, url, options, batchsize, parts = writer_settings(frame, spec, method, opts)
        # Observed metrics merge once per successful task: "rows Spark wrote".
        obs = Observation()
        frame = frame.observe(obs, F.count(F.lit(1)).alias("rows"))
        t = time.monotonic()
        progress = progress or Progress(ticks=False)  # nobody would stop a ticker of ours
        group = f"loader-jdbc-{run_id}"
        sc = df.sparkSession.sparkContext
        # rows are not counted while Spark writes: progress is its tasks done (rows estimated from them)
        progress.track(lambda: group_tasks(sc, group), rows_exact=False)
        try:
            with job_group(df.sparkSession, group, f"loader {method} {target} (run {run_id})"):
                frame.write.mode("append").jdbc(url, write_into.quoted, properties=options)
        except Exception as exc:
            column = nul_error_column(str(exc))
            if column is not None:
                raise DataError(f"column {column!r} contains a NUL byte (0x00), which PostgreSQL cannot store "
                                "in text", next_step="clean the source, or set copy.strip_nul: true "
                                "(strip_nul=True) to remove NUL bytes", table=str(target), run_id=run_id,
                                column=column) from None
            raise translate_jdbc_failure(exc, target, spec) from exc
        timings["write"] = time.monotonic() - t

        t = time.monotonic()
        written = int(obs.get["rows"])
        progress.track(None)
        progress.set_rows(written)
        with pg_errors.translated(table=target, during="the row count check"), _connection(spec) as conn, \
                conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {stage.quoted}")
            staged = int(cur.fetchone()[0])
        if staged != written:
            # A task that committed its partition and was then run again (lost
            # executor, speculation) wrote its rows twice. Publishing would load them twice.
            raise DataError(f"{target}: staging holds {staged} rows but Spark wrote {written}; a retried "
                            "task duplicated rows, nothing was published",
                            next_step="run again; if it repeats, set spark.speculation=false",
                            retryable=True, table=str(target), run_id=run_id)
        timings["verify"] = time.monotonic() - t

        t = time.monotonic()
        progress.phase("publishing")
        published, rejected = _publish(spec, stage, target, plan, stage_cols, create_sql, write, run_id, reject,
                                       defer_indexes, before_publish, allow_empty, home)
        timings["publish"] = time.monotonic() - t
    except BaseException:
        _drop_quietly(spec, stage)
        raise
    timings["total"] = time.monotonic() - started
    return JdbcResult(published.rows, stage.table, timings, batchsize, parts, rejected, published.inserted,
                      published.updated, published.deleted)


def _connection(spec: ConnectionSpec) -> Any:
    return contextlib.closing(pg.connect(spec, application_name="loader:jdbc", autocommit=True))


def _create_stage(spec: ConnectionSpec, stage: TableRef, cols: list[StagedColumn], run_id: str,
                  target: TableRef) -> TableRef:
    """Create the staging table (and, for compact columns, its inlet view); return where Spark writes."""
    ddl = ", ".join(f"{quote_ident(c.name)} {c.pg_type}" for c in cols)
    inlet = jdbc_codec.inlet_of(stage) if any(c.compact for c in cols) else None
    staging_table.create(spec, stage, ddl, run_id, target,
                         then=jdbc_codec.inlet_ddl(stage, cols) if inlet is not None else ())
    return inlet or stage


def _drop_stage(cur: Any, stage: TableRef) -> None:
    cur.execute(_DROP_INLET.format(jdbc_codec.inlet_of(stage).quoted))  # its rule depends on the table
    cur.execute(f"DROP TABLE IF EXISTS {stage.quoted}")


_DROP_INLET = "DROP VIEW IF EXISTS {}"


def _publish(spec: ConnectionSpec, stage: TableRef, target: TableRef, plan: ColumnPlan,
             stage_cols: list[StagedColumn], create_sql: str | None, write: WriteStrategy,
             run_id: str, reject: RejectPolicy | None = None, defer_indexes: bool = False,
             before_commit: Callable[[], None] | None = None, allow_empty: bool = False,
             ledger_schema: str | None = None) -> tuple[Written, int]:
    """The staging table's rows into the target in the load transaction, which also drops the
    staging table: it is gone exactly when its rows are in."""
    names = [c.name for c in stage_cols]
    conn = pg.connect(spec, application_name=f"loader:{run_id}")
    try:
        # an interruption cancels the publish statement; nothing is committed after it
        with pg_errors.translated(table=target, during=f"the publish into {target}"), \
                interrupt.on_interrupt(conn.cancel):
            load = LoadTransaction(conn, spec, target, plan, write, run_id, create_sql=create_sql,
                                   defer_indexes=defer_indexes, allow_empty=allow_empty,
                                   ledger_schema=ledger_schema)
            cur = load.begin()
            rejected = 0
            if reject is None:
                written = load.publish(stage.quoted, casts=plan.pg_types, source_columns=names)
            else:
                written, rejected = load.publish_rejecting(stage.quoted, casts=plan.pg_types, policy=reject,
                                                           source_columns=names,
                                                           origin_sql="'staging row ' || ctid::text")
            _drop_stage(cur, stage)
            load.finish(written)
            load.commit(before=before_commit)
        return written, rejected
    finally:
        conn.close()  # closing without commit rolls back


def _drop_quietly(spec: ConnectionSpec, stage: TableRef) -> None:
    staging_table.drop_quietly(spec, stage, first=[_DROP_INLET.format(jdbc_codec.inlet_of(stage).quoted)])


class JdbcMethod:
    """``standard`` or ``optimized``: Spark's JDBC writer into a staging table, then one publish."""

    def __init__(self, method: Method) -> None:
        if method not in (Method.STANDARD, Method.OPTIMIZED):
            raise ConfigError(f"the JDBC methods are standard and optimized, not {method}")
        self.method = method
        self.name = str(method)

    @property
    def fallback(self) -> LoadMethod | None:
        return None

    def run(self, ctx: MethodContext) -> MethodOutcome:
        req = ctx.req
        ensure_jdbc_driver(req.df.sparkSession)  # before anything is written
        if req.write.replaces_table and not ctx.create_sql:
            with _connection(req.spec) as conn, conn.cursor() as cur:
                refused = in_place_refusal(req.target, pg.referencing_foreign_keys(cur, req.target),
                                           truncates=req.write.truncates)
            if refused:  # JDBC replaces the rows in place: the shadow swap is COPY's
                raise ConfigError(refused[0], next_step=refused[1], table=str(req.target))
        ctx.events.loading_started()
        ctx.progress.restart()  # after a COPY attempt, its parts are not this attempt's rows
        ctx.progress.phase("loading")
        t0 = time.monotonic()
        res = jdbc_write(req.df, req.spec, req.target, run_id=ctx.run_id, method=self.method, write=req.write,
                         plan=ctx.plan, create_sql=ctx.create_sql, opts=req.jdbc,
                         on_stage_created=ctx.events.leftover_recorded, reject=req.reject,
                         strip_nul=req.copy.strip_nul, defer_indexes=req.defer_indexes,
                         before_publish=ctx.events.committing, progress=ctx.progress,
                         allow_empty=req.allow_empty, ledger_schema=req.loader_schema)
        timings = dict(res.timings)
        timings.setdefault("load", time.monotonic() - t0)
        return MethodOutcome(rows=res.rows, rows_rejected=res.rows_rejected, timings=timings,
                             rows_inserted=res.rows_inserted, rows_updated=res.rows_updated,
                             rows_deleted=res.rows_deleted)
