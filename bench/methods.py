"""The methods ``make bench`` measures: the loader's own calls, the limits and the peers, each with
the table it loads into (bench/README.md explains every id)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import peers
from bench.inputs import Dataset

BUCKET = "loader-bench"
Runner = Callable[[], int]
Prepare = Callable[[Any, Dataset, str], Runner]


# --- methods --------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    id: str
    label: str
    group: str  # loader | limit | peer
    prepare: Prepare
    mode: str = "append"
    with_pk: bool = True
    prefill: str | None = None  # full | half: the table holds these rows before the timed load
    kinds: tuple[str, ...] = ("synthetic", "tpch")
    #: the table is created without its primary key and the method builds it (timed)
    key_after: bool = False
    check: str = ""  # a table constraint added to the DDL (copy-reject: one that some rows break)
    keep: Callable[[Any], Any] | None = None  # Arrow batch -> mask of the rows that land (default: all)


#: copy-reject's CHECK refuses one row in 10,000 (0.01%: 30 rows of 300,000; ids 0, 10000, ...)
REJECT_EVERY = 10_000


def kept_by_reject_check(batch: Any) -> Any:
    import pyarrow.compute as pc

    ids = batch.column("id")
    return pc.not_equal(pc.subtract(ids, pc.multiply(pc.divide(ids, REJECT_EVERY), REJECT_EVERY)), 0)


def loader_call(method: str, mode: str = "append", *, cached: bool = False, staging_format: str | None = None,
                **opts: Any) -> Prepare:
    """``write_to_postgres`` on a DataFrame read from the Parquet. Not ``cached``: the DataFrame is lazy,
    the files are read inside the timed call (as a job on EMR would). ``cached``: ``.cache()``d and
    materialised before the clock starts, so the timed call starts from rows in Spark's memory."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        from loader import write_to_postgres

        call_opts = dict(opts)
        if staging_format is not None:
            call_opts["staging_format"] = staging_format
        df = ctx.spark.read.parquet(str(ds.parquet))  # lazy: the files are read inside the timed call
        if cached:
            df = df.cache()
            df.count()  # materialise every partition of the cache, untimed
            ctx.cleanups.append(lambda: df.unpersist(blocking=True))

        def run() -> int:
            res = write_to_postgres(df, ctx.conn_params(), method=method, temp_s3_bucket=BUCKET,
                                    table=f"public.{table}", mode=mode,
                                    key=list(ds.key) if mode == "upsert" else None, create="never",
                                    state_url=ctx.state_url, **call_opts)
            if res.method != method:
                raise RuntimeError(f"asked for {method}, the loader used {res.method}: {res.fallback_reason}")
            want_server = opts.get("server_side")
            if want_server and res.server_side != (want_server == "always"):
                raise RuntimeError(f"server_side={want_server} but the result says server_side={res.server_side}")
            ctx.last_extra = {"timings": res.timings, "bytes_staged": res.bytes_staged,
                              "path": next((p[len("loaded "):] for p in (res.path_reason or "").split("; ")
                                           if p.startswith("loaded ")), ""),
                              "server_side": res.server_side, "cached": cached,
                              "rows_rejected": getattr(res, "rows_rejected", 0)}
            got_format = getattr(res, "staging_format", None)
            if got_format is not None:
                ctx.last_extra["staging_format"] = got_format
            if staging_format is not None:
                ctx.last_extra["staging_format_asked"] = staging_format
            return res.rows
        return run
    return prepare


def _manifest_folder(ctx: Any, ds: Dataset, table: str, method: str, mode: str, connections: int) -> Any:
    """A folder with one manifest: the Parquet files, bare, into ``table`` (the runner's calls)."""
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="bench-manifest-", dir=ctx.workdir))
    (folder / f"{table}.yaml").write_text(
        f"version: 1\nname: bench-{table}\nsource:\n  format: parquet\n  path: {ds.parquet}\n"
        f"target:\n  connection: ${{LOADER_BENCH_URL}}\n  table: public.{table}\n  mode: {mode}\n"
        f"  create: never\nmethod: {method}\ncopy:\n  bucket: {BUCKET}\n  fallback: none\n"
        f"  server_side: never\n  connections: {connections}\n")
    return folder


def _outcome_rows(ctx: Any, outcome: Any) -> int:
    """The run's rows; its timings, path and reader into ``ctx.last_extra`` for the report."""
    from loader.state import StateStore

    if outcome.status != "succeeded":
        raise RuntimeError(f"the run failed: {outcome.error}")
    record = StateStore(ctx.state_url).get(outcome.run_id)
    reason = record.reason or ""
    ctx.last_extra = {"timings": record.timings, "path": reason.rpartition("; loaded ")[2],
                      "parquet_reader": "pyarrow" if "read by pyarrow" in reason else "spark",
                      "server_side": False, "cached": False}
    staged = reason.partition("staged as ")[2].split(":", 1)[0].split(" ", 1)[0]
    if staged in ("binary", "csv"):
        ctx.last_extra["staging_format"] = staged
    return int(outcome.rows or 0)


def runner_call(method: str, mode: str = "append", connections: int = 1) -> Prepare:
    """The manifest runner over the Parquet files (``loader run``, in process): a bare Parquet source,
    which the COPY method stages from the files read by pyarrow (plan/direct_plan.py) where Spark's
    reader would hand over the same batches. The run's reason says which reader it took."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        import os

        from loader import commands

        folder = _manifest_folder(ctx, ds, table, method, mode, connections)

        def run() -> int:
            os.environ["LOADER_BENCH_URL"] = ctx.url()
            [outcome] = commands.run([str(folder)], state_url=ctx.state_url, spark=ctx.spark)
            return _outcome_rows(ctx, outcome)
        return run
    return prepare


def resume_call(mode: str = "overwrite", connections: int = 1) -> Prepare:
    """The load alone, parts already staged: the issue's "e.g. a resume". Untimed, a first attempt
    stages every part, COPYs them (into the shadow, which it also builds) and fails at the step
    before its COMMIT; the run keeps its parts for a resume and the target is as it was. Timed:
    ``loader resume``, which stages nothing again and loads the kept parts."""
    def prepare(ctx: Any, ds: Dataset, table: str) -> Runner:
        import os

        from loader import commands
        from loader.engine import execute
        from loader.errors import LoaderError

        folder = _manifest_folder(ctx, ds, table, "copy", mode, connections)
        os.environ["LOADER_BENCH_URL"] = ctx.url()
        committing = execute._Load.committing

        def cut(self: Any) -> None:  # a failure of ours, with the run's id: the outcome says which to resume
            raise LoaderError("the bench cuts the first attempt here", run_id=self.run_id, retryable=True)
        execute._Load.committing = cut  # type: ignore[method-assign]
        try:
            [first] = commands.run([str(folder)], state_url=ctx.state_url, spark=ctx.spark)
        finally:
            execute._Load.committing = committing  # type: ignore[method-assign]
        if first.status == "succeeded" or "the bench cuts" not in str(first.error) or not first.run_id:
            raise RuntimeError(f"the first attempt should have been cut before its commit: {first!r}")
        ctx.checkpoint()  # the timed resume starts without the first attempt's dirty buffers

        def run() -> int:
            outcome = commands.resume(first.run_id, [str(folder)], state_url=ctx.state_url, spark=ctx.spark)
            return _outcome_rows(ctx, outcome)
        return run
    return prepare


COPY_OPTS = {"fallback": "none"}  # a failed COPY must fail here, not quietly become JDBC
METHODS = [
    Method("standard", "standard (Spark JDBC)", "loader", loader_call("standard")),
    Method("optimized", "optimized (tuned JDBC)", "loader", loader_call("optimized")),
    Method("optimized-cached", "optimized (tuned JDBC), cached DataFrame", "loader",
           loader_call("optimized", cached=True)),
    Method("optimized-nopk", "optimized (tuned JDBC), table without PK", "loader", loader_call("optimized"),
           with_pk=False, kinds=("synthetic",)),
    Method("copy", "copy (client-side)", "loader", loader_call("copy", server_side="never", **COPY_OPTS)),
    Method("copy-nogzip", "copy (client-side), compression='none'", "loader",
           loader_call("copy", server_side="never", compression="none", **COPY_OPTS)),
    Method("copy-gzip", "copy (client-side), compression='gzip'", "loader",
           loader_call("copy", server_side="never", compression="gzip", **COPY_OPTS)),
    Method("copy-csv", "copy (client-side), staging_format='csv'", "loader",
           loader_call("copy", server_side="never", staging_format="csv", **COPY_OPTS)),
    Method("copy-cached", "copy (client-side), cached DataFrame", "loader",
           loader_call("copy", server_side="never", cached=True, **COPY_OPTS)),
    Method("copy-runner", "copy, manifest runner (bare Parquet source)", "loader",
           runner_call("copy")),
    Method("copy-server", "copy (server-side, aws_s3 stand-in)", "loader",
           loader_call("copy", server_side="always", **COPY_OPTS)),
    # in place: connections=1 (the default, auto, takes the shadow for a table this size)
    Method("copy-overwrite", "copy (client-side), in place", "loader",
           loader_call("copy", "overwrite", server_side="never", connections=1, **COPY_OPTS), mode="overwrite",
           prefill="full", kinds=("synthetic",)),
    Method("copy-overwrite-auto", "copy overwrite, connections=auto (the default)", "loader",
           loader_call("copy", "overwrite", server_side="never", **COPY_OPTS), mode="overwrite", prefill="full",
           kinds=("synthetic",)),
    # issue 26: N connections, all or nothing (the path taken is in the result's path_reason)
    Method("copy-k2", "copy append, connections=2 (prepared transactions)", "loader",
           loader_call("copy", server_side="never", connections=2, **COPY_OPTS)),
    Method("copy-overwrite-k2", "copy overwrite, connections=2 (shadow table, swap)", "loader",
           loader_call("copy", "overwrite", server_side="never", connections=2, **COPY_OPTS), mode="overwrite",
           prefill="full", kinds=("synthetic",)),
    # the overwrite target is end to end from a cached DataFrame: in place, then the shadow
    Method("copy-overwrite-cached", "copy overwrite, in place, cached DataFrame", "loader",
           loader_call("copy", "overwrite", server_side="never", cached=True, connections=1, **COPY_OPTS),
           mode="overwrite", prefill="full", kinds=("synthetic",)),
    *(Method(f"copy-overwrite-k{k}-cached", f"copy overwrite, connections={k} (shadow table, swap), cached DataFrame",
             "loader", loader_call("copy", "overwrite", server_side="never", cached=True, connections=k, **COPY_OPTS),
             mode="overwrite", prefill="full", kinds=("synthetic",)) for k in (2, 4)),
    Method("copy-k4", "copy append, connections=4 (prepared transactions)", "loader",
           loader_call("copy", server_side="never", connections=4, **COPY_OPTS)),
    Method("copy-overwrite-k4", "copy overwrite, connections=4 (shadow table, swap)", "loader",
           loader_call("copy", "overwrite", server_side="never", connections=4, **COPY_OPTS), mode="overwrite",
           prefill="full", kinds=("synthetic",)),
    # the load alone (parts staged by an earlier attempt, `loader resume`): in place, then the shadow
    *(Method(f"copy-overwrite-k{k}-staged", f"copy overwrite, connections={k}, parts already staged (resume)",
             "loader", resume_call("overwrite", k), mode="overwrite", prefill="full", kinds=("synthetic",))
      for k in (1, 2, 4)),
    Method("copy-upsert", "copy (client-side)", "loader",
           loader_call("copy", "upsert", server_side="never", **COPY_OPTS), mode="upsert", prefill="half",
           kinds=("synthetic",)),
    # on_error: reject stages CSV; the same load with nothing to reject is the clean baseline
    Method("copy-reject-clean", "copy (client-side), on_error='reject', no row refused", "loader",
           loader_call("copy", server_side="never", on_error="reject", **COPY_OPTS), kinds=("synthetic",)),
    Method("copy-reject", "copy (client-side), on_error='reject', a CHECK refusing 0.01% of rows", "loader",
           loader_call("copy", server_side="never", on_error="reject", **COPY_OPTS), kinds=("synthetic",),
           check=f"CHECK (id % {REJECT_EVERY} <> 0)", keep=kept_by_reject_check),
    Method("limit", "LIMIT: server COPY FROM file (binary)", "limit", peers.server_copy_binary),
    Method("limit-text", "limit-text: server COPY FROM file (CSV)", "limit", peers.server_copy),
    Method("limit-noindex", "limit-text into the table without PK (CSV)", "limit", peers.server_copy,
           with_pk=False),
    # issue 26's parallel limits: what the server takes over K connections, with the key during
    # the COPYs or built after them (key_after: the table starts without it)
    *(Method(f"limit-k{k}", f"limit: {k} connections at once (binary)", "limit", peers.server_copy_parallel(k),
             kinds=("synthetic",)) for k in (2, 4)),
    *(Method(f"limit-k{k}-key-after", f"limit: {k} connection{'s' if k > 1 else ''} into the table "
             "without its key, key built after (binary)", "limit", peers.server_copy_parallel(k, key_after=True),
             key_after=True, kinds=("synthetic",)) for k in (1, 2, 4)),
    Method("psql-copy", "psql \\copy (CSV)", "limit", peers.psql_copy),
    Method("psycopg2", "psycopg2 copy_expert (CSV)", "peer", peers.psycopg2_copy),
    Method("pgpq-psycopg3", "pgpq + psycopg 3 (binary COPY FROM STDIN)", "peer", peers.pgpq_copy),
    Method("adbc-ingest", "ADBC adbc_ingest (append)", "peer", peers.adbc_ingest),
    Method("dlt-parquet", "dlt (parquet, ADBC)", "peer", peers.dlt_load("parquet")),
    Method("dlt-csv", "dlt (csv)", "peer", peers.dlt_load("csv")),
    Method("jdbc-direct", "Spark JDBC as shipped, direct, not atomic", "peer", peers.spark_jdbc_direct(False)),
    Method("jdbc-tuned-direct", "Spark JDBC tuned, direct, not atomic", "peer", peers.spark_jdbc_direct(True)),
    # the reference figures (150k shipped, 320k tuned) were direct writes of a 6-column table:
    # the same without a primary key, next to optimized-nopk
    Method("jdbc-direct-nopk", "Spark JDBC as shipped, direct, not atomic, no PK", "peer",
           peers.spark_jdbc_direct(False), with_pk=False, kinds=("synthetic",)),
    Method("jdbc-tuned-direct-nopk", "Spark JDBC tuned, direct, not atomic, no PK", "peer",
           peers.spark_jdbc_direct(True), with_pk=False, kinds=("synthetic",)),
]
BY_ID = {m.id: m for m in METHODS}
PEERS = ("psycopg2", "pgpq-psycopg3", "adbc-ingest", "dlt-parquet", "dlt-csv", "jdbc-direct", "jdbc-tuned-direct",
         "jdbc-direct-nopk", "jdbc-tuned-direct-nopk")
SMOKE_METHODS = ("standard", "optimized", "copy", "copy-csv", "copy-cached", "limit", "limit-text", "pgpq-psycopg3",
                 "adbc-ingest")
