#!/usr/bin/env python
"""``make bench``: the loader's methods against the limit and its peers, end to end, on one machine.

One PostgreSQL cluster (default durability settings), one SeaweedFS S3 server
and one Spark ``local[2]`` for the whole run. Every repetition of every method
loads the same rows into a freshly created, identically defined table (same
DDL, primary key included, then CHECKPOINT, all untimed); the clock covers
only the load call; the table is then checksummed against the source. The
limit is the server's own binary ``COPY t FROM 'file' (FORMAT binary)``; every
ratio is against it.

    .venv/bin/python bench/run.py                      # 1M and 5M rows, TPC-H SF1, peers, 3 repetitions
    .venv/bin/python bench/run.py --pin --out bench/out/pinned   # the same, PostgreSQL on its own CPU
    .venv/bin/python bench/run.py --rows 1000000 --repeat 3 --no-tpch
    .venv/bin/python bench/run.py --smoke --out /tmp/x  # 3,000 rows, a few methods, < 2 min
    .venv/bin/python bench/run.py --latency-ms 10      # through a proxy adding 10 ms per round trip

See bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `loader` importable
    sys.path.insert(0, str(ROOT))
# ... and the same `loader` in Spark's Python workers (started by the JVM, which inherits this environment),
# not whatever an editable install elsewhere points at
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                          if p and p != str(ROOT)]])

os.environ.setdefault("TZ", "UTC")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from bench import inputs, peers, pin, report  # noqa: E402
from bench.inputs import TABLE, Dataset  # noqa: E402
from bench.methods import BUCKET, BY_ID, METHODS, PEERS, SMOKE_METHODS, Method  # noqa: E402


# --- context --------------------------------------------------------------------
@dataclass
class Ctx:
    pg: Any
    port: int  # where the methods connect: PostgreSQL, or the latency proxy in front of it
    workdir: Path
    spark: Any = None
    state_url: str = ""
    dlt_runs: int = 0
    last_extra: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], Any]] = field(default_factory=list)  # after each repetition (unpersist)
    notes: list[str] = field(default_factory=list)  # said once in results.md

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def clean_up(self) -> None:
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception as exc:  # noqa: BLE001
                log(f"  cleanup failed: {type(exc).__name__}: {exc}")

    def conn_params(self) -> dict[str, Any]:
        return {**self.pg.conn_params(), "port": self.port}

    def url(self) -> str:
        from loader.testing.pgcluster import SUPERUSER_PASSWORD

        return f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def psycopg2_kwargs(self) -> dict[str, Any]:
        p = self.conn_params()
        return {"host": p["host"], "port": p["port"], "dbname": p["database"], "user": p["user"],
                "password": p["password"]}

    def admin(self) -> Any:
        """Direct (never proxied) autocommit connection for setup and checksums."""
        import psycopg2

        p = self.pg.conn_params()
        conn = psycopg2.connect(host=p["host"], port=p["port"], dbname=p["database"], user=p["user"],
                                password=p["password"])
        conn.autocommit = True
        return conn

    def checkpoint(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("CHECKPOINT")
        finally:
            conn.close()


# --- a reader during an overwrite -------------------------------------------------
READER_QUERY = f"SELECT 1 FROM {TABLE} LIMIT 1"


class ReaderWait(threading.Thread):
    """A reader of the target during an overwrite: ``READER_QUERY`` every 10 ms on its own autocommit
    connection (direct, never proxied); ``max_wait_ms`` is its longest wait (in place: the TRUNCATE's
    lock until COMMIT; the shadow path: the swap)."""

    def __init__(self, ctx: Ctx) -> None:
        super().__init__(daemon=True, name="bench-reader")
        self.conn = ctx.admin()  # connected before the clock starts
        self.halt = threading.Event()
        self.max_wait_ms = 0.0
        self.queries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                while not self.halt.is_set():
                    t0 = time.perf_counter()
                    try:
                        cur.execute(READER_QUERY)
                        cur.fetchall()
                    except Exception as exc:  # noqa: BLE001 - counted, the reader goes on
                        self.errors.append(f"{type(exc).__name__}: {exc}".strip()[:200])
                    self.max_wait_ms = max(self.max_wait_ms, (time.perf_counter() - t0) * 1000)
                    self.queries += 1
                    self.halt.wait(0.01)
        finally:
            self.conn.close()

    def finish(self) -> dict[str, Any]:
        self.halt.set()
        self.join(timeout=60)
        return {"reader_max_wait_ms": round(self.max_wait_ms, 1), "reader_queries": self.queries,
                "reader_errors": len(self.errors)}


# --- memory ---------------------------------------------------------------------
class MemorySampler(threading.Thread):
    """Peak RSS of this process and of the Spark JVM (with its Python workers), every 100 ms."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(name="bench-memory", daemon=True)
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self.interval = interval
        self.lock = threading.Lock()
        self.py_peak = self.jvm_peak = 0
        self.stopped = threading.Event()

    def _jvm_rss(self) -> int:
        total = 0
        try:
            for child in self.me.children(recursive=True):
                if child.name() != "java":
                    continue
                total += child.memory_info().rss
                for sub in child.children(recursive=True):
                    try:
                        total += sub.memory_info().rss
                    except self.psutil.Error:
                        pass
        except self.psutil.Error:
            pass
        return total

    def sample(self) -> None:
        py, jvm = self.me.memory_info().rss, self._jvm_rss()
        with self.lock:
            self.py_peak, self.jvm_peak = max(self.py_peak, py), max(self.jvm_peak, jvm)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def reset(self) -> None:
        with self.lock:
            self.py_peak = self.jvm_peak = 0
        self.sample()

    def peaks_mb(self) -> tuple[float, float]:
        self.sample()
        with self.lock:
            return self.py_peak / 2**20, self.jvm_peak / 2**20


# --- one method ------------------------------------------------------------------
def setup_table(ctx: Ctx, ds: Dataset, m: Method) -> None:
    conn = ctx.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS public.{TABLE} CASCADE")
            cur.execute(ds.ddl(TABLE, with_pk=m.with_pk and not m.key_after))
            if m.check:
                cur.execute(f"ALTER TABLE public.{TABLE} ADD {m.check}")
            if m.prefill:
                src = ds.csv if m.prefill == "full" else ds.half_csv
                cur.execute(f"COPY public.{TABLE} FROM %s (FORMAT csv)", (str(src),))
                cur.execute(f"VACUUM ANALYZE public.{TABLE}")
            cur.execute("CHECKPOINT")  # each repetition starts without the previous one's dirty buffers
    finally:
        conn.close()


def checksum(ctx: Ctx, ds: Dataset) -> dict[str, str]:
    conn = ctx.admin()
    try:
        with conn.cursor() as cur:
            cur.execute(ds.checksum_sql(TABLE))
            row = cur.fetchone()
    finally:
        conn.close()
    return {c.name: inputs.num(v) for c, v in zip(ds.checks, row, strict=True)}


def table_shape(ctx: Ctx, ds: Dataset, m: Method) -> str:
    """'' when the loaded table is still the one the benchmark created (the same columns, the primary
    key when it had one), else what changed: like for like, nobody may drop the key or add columns."""
    conn = ctx.admin()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (f"public.{TABLE}",))
            cols = cur.fetchone()[0] or []
            cur.execute("SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
                        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                        "WHERE i.indrelid = %s::regclass AND i.indisprimary", (f"public.{TABLE}",))
            pk = cur.fetchone()[0] or []
    finally:
        conn.close()
    problems = []
    want_cols = [n for n, _ in ds.columns]
    if cols != want_cols:
        problems.append(f"columns {cols} instead of {want_cols}")
    want_pk = sorted(ds.key) if m.with_pk else []
    if sorted(pk) != want_pk:
        problems.append(f"primary key {pk or 'none'} instead of {want_pk or 'none'}")
    return "; ".join(problems)


def run_method(ctx: Ctx, ds: Dataset, m: Method, repeat: int, sampler: MemorySampler | None) -> dict[str, Any]:
    rec: dict[str, Any] = {"dataset": ds.name, "method": m.id, "label": m.label, "group": m.group,
                           "mode": m.mode, "rows": ds.rows, "with_pk": m.with_pk, "seconds": [], "rows_loaded": [],
                           "checksums": [], "checksum_figures": [], "extra": [], "error": None, "skipped": None}
    py_peak = jvm_peak = 0.0
    loads = []
    expected = ds.expected if m.keep is None else inputs.expected_checksum(ds, keep=m.keep)
    for i in range(repeat):
        try:
            setup_table(ctx, ds, m)
            runner = m.prepare(ctx, ds, TABLE)
            ctx.last_extra = {}
            loads.append(os.getloadavg()[0])
            if sampler:
                sampler.reset()
            # overwrite methods only: the others' timing has no reader beside it
            reader = ReaderWait(ctx) if m.mode == "overwrite" else None
            if reader:
                reader.start()
            t0 = time.perf_counter()
            try:
                rows = runner()
            finally:
                seconds = time.perf_counter() - t0
                if reader:
                    waited = reader.finish()
            if reader:
                rec.setdefault("reader_max_wait_ms", []).append(waited["reader_max_wait_ms"])
                rec.setdefault("reader", []).append(waited)
            if sampler:
                py, jvm = sampler.peaks_mb()
                py_peak, jvm_peak = max(py_peak, py), max(jvm_peak, jvm)
            got = checksum(ctx, ds)
            shape = table_shape(ctx, ds, m)
        except peers.PeerUnavailable as exc:
            rec["skipped"] = str(exc)
            ctx.note(f"{m.id} skipped: {exc}")
            log(f"  {m.id}: skipped, {exc}")
            break
        except Exception as exc:  # noqa: BLE001 - recorded in the report, the run goes on
            rec["error"] = f"{type(exc).__name__}: {exc}".strip()
            rec["traceback"] = traceback.format_exc()[-4000:]
            log(f"  {m.id} repetition {i + 1}: FAILED {rec['error'][:300]}")
            break
        finally:
            ctx.clean_up()
        state = inputs.compare(expected, got)
        if shape:
            state = (state if state != "ok" else "differs:") + " table " + shape
        rec["seconds"].append(seconds)
        rec["rows_loaded"].append(rows)
        rec["checksums"].append(state)
        rec["checksum_figures"].append(got)
        rec["extra"].append(ctx.last_extra)
        log(f"  {m.id:<15} rep {i + 1}/{repeat}: {seconds:8.2f} s  {ds.rows / seconds:12,.0f} rows/s  "
            f"checksum {state}")
    if sampler:
        rec["peak_py_mb"], rec["peak_jvm_mb"] = py_peak or None, jvm_peak or None
    rec["load1"] = sum(loads) / len(loads) if loads else None
    formats = sorted({e["staging_format"] for e in rec["extra"] if e and e.get("staging_format")})
    if formats:
        rec["staging_format"] = ",".join(formats)
    readers = sorted({e["parquet_reader"] for e in rec["extra"] if e and e.get("parquet_reader")})
    if readers:  # the manifest runner's row: who read the Parquet (plan/direct_plan.py decides)
        rec["parquet_reader"] = ",".join(readers)
    report.summarize(rec)
    return rec


def reject_notes(records: list[dict[str, Any]]) -> list[str]:
    """copy-reject against the same load with nothing to reject (issue #17: at most 3x)."""
    by = {(r["dataset"], r["method"]): r for r in records if r.get("seconds")}
    notes = []
    for (dataset, method), rec in by.items():
        clean = by.get((dataset, "copy-reject-clean"))
        if method != "copy-reject" or clean is None:
            continue
        median = rec["median_s"] / clean["median_s"]
        rejected = sorted({e.get("rows_rejected") for e in rec["extra"]})
        notes.append(f"{dataset}: copy-reject ({', '.join(map(str, rejected))} row(s) rejected) took {median:.2f}x "
                     f"the time of copy-reject-clean (medians).")
    return notes


def warm_up(ctx: Ctx, workdir: Path, methods: list[Method]) -> None:
    """One untimed load per loader method: a long-running job's JVM is warm, a fresh one is not,
    and without this the first method in the table pays for everybody's warm-up."""
    if not methods:
        return
    log("bench: warm-up, 200,000 rows per loader method (untimed) ...")
    wdir = workdir / "warmup"
    wdir.mkdir(exist_ok=True)
    ds = inputs.finish(inputs.synthetic(ctx.spark, 200_000, wdir))
    for m in methods:
        setup_table(ctx, ds, m)
        try:
            m.prepare(ctx, ds, TABLE)()
        finally:
            ctx.clean_up()


_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# --- the run -----------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1000000,5000000", help="synthetic sizes, comma separated")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per method (median reported)")
    p.add_argument("--tpch", action=argparse.BooleanOptionalAction, default=True,
                   help="TPC-H lineitem SF1 via tpchgen-cli (default on)")
    p.add_argument("--tpch-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--methods", default="", help="subset, comma separated: " + ", ".join(BY_ID))
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                   help="the peers: psycopg2, pgpq + psycopg 3, ADBC, dlt, direct Spark JDBC (default on)")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="put a TCP proxy adding this many ms per round trip in front of PostgreSQL")
    p.add_argument("--pin", action="store_true",
                   help="PostgreSQL on one CPU, Spark, the S3 server and this process on another (taskset): "
                        "imitates separate machines (EMR -> RDS); the results say so")
    p.add_argument("--smoke", action="store_true",
                   help="3,000 rows, 1 repetition, no TPC-H, no warm-up: " + ", ".join(SMOKE_METHODS)
                        + " (peers whose package is missing are skipped with a note)")
    p.add_argument("--out", default=str(ROOT / "bench" / "out"), help="where results.* and chart.png go")
    p.add_argument("--keep", action="store_true", help="keep the work directory (Parquet, CSV) afterwards")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                   help="one untimed load of 200,000 rows per loader method first (default on), so the "
                        "first method timed does not pay for the JVM's JIT and Python worker start-up")
    args = p.parse_args(argv)
    if args.smoke:
        args.rows, args.repeat, args.tpch, args.warmup = "3000", 1, False, False
        args.methods = args.methods or ",".join(SMOKE_METHODS)
    chosen = [m.strip() for m in args.methods.split(",") if m.strip()] or [m.id for m in METHODS]
    unknown = [m for m in chosen if m not in BY_ID]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(BY_ID)}")
    if not args.peers:
        chosen = [m for m in chosen if m not in PEERS]
    args.method_list = [BY_ID[m] for m in chosen]
    args.sizes = [int(float(s)) for s in args.rows.split(",") if s.strip()]
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def environment(ctx: Ctx, s3_kind: str, latency: float) -> dict[str, Any]:
    try:
        import psutil

        mem_gib = psutil.virtual_memory().total / 2**30
    except ImportError:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    conn = ctx.admin()
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        settings = {}
        for name in ("shared_buffers", "max_wal_size", "fsync", "synchronous_commit", "wal_level",
                     "checkpoint_timeout"):
            cur.execute(f"SHOW {name}")
            settings[name] = cur.fetchone()[0]
    conn.close()
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
            "mem_gib": mem_gib, "postgres": f"PostgreSQL {version}",
            "postgres_settings": settings, "spark": ctx.spark.version, "spark_master": ctx.spark.sparkContext.master,
            "python": platform.python_version(), "s3": s3_kind, "latency_ms": latency,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def binary_file(ctx: Ctx, ds: Dataset) -> None:
    """The binary limit's input (untimed): the CSV's rows in binary COPY format, via the server."""
    conn = ctx.admin()
    try:
        inputs.write_binary(ds, conn)
    finally:
        conn.close()


def spark_session(name: str) -> Any:
    """The benchmark's Spark: local[2], 2g driver, Parquet timestamps in microseconds."""
    from loader.adapters.spark import get_or_create_session

    return get_or_create_session(name, master="local[2]", shuffle_partitions=2,
                                 extra_conf={"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
                                             "spark.driver.memory": "2g"})


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: stop PostgreSQL, SeaweedFS and Spark


def prepare_datasets(ctx: Ctx, args: argparse.Namespace, workdir: Path, notes: list[str]) -> list[Dataset]:
    """The inputs of the run: the synthetic sizes, then TPC-H lineitem when asked and available."""
    datasets: list[Dataset] = []
    for n in args.sizes:
        t0 = time.monotonic()
        log(f"bench: preparing synthetic input, {n:,} rows (Parquet + CSV + binary COPY file) ...")
        ds = inputs.finish(inputs.synthetic(ctx.spark, n, workdir))
        binary_file(ctx, ds)
        ds.prep_seconds = time.monotonic() - t0
        datasets.append(ds)
    if args.tpch:
        t0 = time.monotonic()
        log(f"bench: generating TPC-H lineitem SF{args.tpch_scale:g} with tpchgen-cli ...")
        tpch, why = inputs.tpch_lineitem(workdir, args.tpch_scale)
        if tpch is None:
            notes.append(why)
            log(f"bench: {why}")
        else:
            datasets.append(inputs.finish(tpch))
            binary_file(ctx, tpch)
            tpch.prep_seconds = time.monotonic() - t0
    else:
        notes.append("TPC-H lineitem not run (--no-tpch).")
    return datasets


def run_notes(records: list[dict[str, Any]]) -> list[str]:
    """What the table's reader needs to know about the rows it shows."""
    notes = reject_notes(records)
    if any(r["method"].endswith("-cached") for r in records):
        notes.append("The `cached DataFrame` rows `.cache()` the DataFrame read from the Parquet and "
                     "materialise it (`count()`) before the clock starts; the other loader rows read the "
                     "Parquet inside the timed call.")
    if any(r["method"].startswith("dlt") for r in records):
        notes.append("dlt loads into the same pre-created table (dataset public, the table's primary key as a "
                     "primary_key hint); it adds no columns for Arrow input (the checksum column also checks the "
                     "table's columns and primary key after every load). Its parquet format goes through ADBC "
                     "(adbc-driver-postgresql).")
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()

    from loader.testing import aws_s3_standin
    from loader.testing.pgcluster import PgCluster
    from loader.testing.s3server import ACCESS_KEY, REGION, SECRET_KEY, start_seaweedfs

    workdir = Path(tempfile.mkdtemp(prefix="loader-bench-"))
    os.chmod(workdir, 0o755)  # the PostgreSQL server user reads the CSV files in here
    notes: list[str] = []
    pg = s3 = proxy = None
    pinned: dict[str, Any] | None = None
    ctx: Ctx | None = None
    records: list[dict[str, Any]] = []
    datasets: list[Dataset] = []
    failed = False
    try:
        if args.pin:
            db_cpu, client_cpu = pin.choose_cpus()
            pin.taskset(os.getpid(), client_cpu)  # before anything starts: what we start inherits it
            pinned = {"postgres_cpu": db_cpu, "client_cpu": client_cpu}
            log(f"bench: --pin: this process (and so Spark, its workers, SeaweedFS) on CPU {client_cpu}, "
                f"PostgreSQL on CPU {db_cpu}")
        log("bench: starting PostgreSQL (default durability settings) and SeaweedFS ...")
        pg = PgCluster(fast=False, settings={"max_prepared_transactions": "8"}).start()
        if pinned is not None:
            pinned["postgres_processes_at_start"] = pin.pin_tree(pin.postmaster_pid(pg), pinned["postgres_cpu"])
        s3 = start_seaweedfs()
        if pinned is not None and s3.proc is not None:
            pin.pin_tree(s3.proc.pid, pinned["client_cpu"])
        s3.create_bucket(BUCKET)
        os.environ.update(s3.env())  # before Spark starts: its Python workers inherit it
        port = pg.port
        if args.latency_ms > 0:
            from bench.proxy import LatencyProxy

            proxy = LatencyProxy("127.0.0.1", pg.port, args.latency_ms).start()
            port = proxy.port
            notes.append(f"All PostgreSQL connections of the methods went through a TCP proxy adding "
                         f"{args.latency_ms:g} ms per round trip; S3 traffic did not.")
        ctx = Ctx(pg=pg, port=port, workdir=workdir, state_url=f"sqlite:///{workdir / 'state.db'}")
        admin = ctx.admin()
        aws_s3_standin.install(admin, s3.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION)
        admin.close()
        log("bench: starting Spark local[2] ...")
        ctx.spark = spark_session("loader-bench")
        if pinned is not None:  # the JVM inherited the client CPU; say so explicitly, every thread
            for child in pin.descendants(os.getpid()):
                if pin.proc_name(child) == "java":
                    pin.pin_tree(child, pinned["client_cpu"])
        env = environment(ctx, "SeaweedFS on loopback", args.latency_ms)
        env["pinned"] = pinned
        sampler: MemorySampler | None = None
        try:
            sampler = MemorySampler()
            sampler.start()
        except ImportError:
            notes.append("psutil is not installed: no memory figures")

        datasets += prepare_datasets(ctx, args, workdir, notes)

        if args.warmup:
            warm_up(ctx, workdir, [m for m in args.method_list if m.group == "loader"])
            notes.append("Before the timed runs, every loader method loaded 200,000 rows once, untimed (JIT and "
                         "Python worker warm-up; --no-warmup skips it).")
        for ds in datasets:
            log(f"bench: {ds.name}: {ds.rows:,} rows, CSV {ds.csv.stat().st_size / 2**20:,.0f} MiB")
            for m in args.method_list:
                if ds.kind not in m.kinds:
                    continue
                rec = run_method(ctx, ds, m, args.repeat, sampler)
                records.append(rec)
                if rec["skipped"]:
                    continue
                if m.group != "peer" and (rec["error"] or any(s != "ok" for s in rec["checksums"])):
                    failed = True
        report.add_ratios(records)
        env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        if pinned is not None:
            pinned["check_at_end"] = pin.check(pg, s3.proc.pid if s3.proc is not None else None)
            notes.append("PINNED: " + report.pin_text(pinned))
        notes += ctx.notes + run_notes(records)
        if sampler:
            sampler.stopped.set()
        results = {"environment": env, "repeat": args.repeat, "sizes": args.sizes,
                   "latency_ms": args.latency_ms, "smoke": args.smoke, "pinned": pinned is not None,
                   "limit": {"method": "limit", "format": "binary",
                             "statement": "COPY t FROM '<file>' (FORMAT binary)"},
                   "datasets": [{"name": d.name, "kind": d.kind, "rows": d.rows, "expected_checksum": d.expected,
                                 "csv_bytes": d.csv.stat().st_size,
                                 "binary_bytes": d.binary.stat().st_size if d.binary else None,
                                 "prep_seconds": d.prep_seconds}
                                for d in datasets],
                   "records": records, "notes": notes,
                   "wall_seconds": time.monotonic() - t_start}
        md = report.write(results, out)
        print(md)
        log(f"bench: wrote {out / 'results.md'}, {out / 'results.json'}"
            + ("" if not (out / "chart.png").exists() else f", {out / 'chart.png'}")
            + f" in {time.monotonic() - t_start:.0f} s")
    finally:
        if ctx is not None and ctx.spark is not None:
            try:
                ctx.spark.stop()
            except Exception:  # noqa: BLE001
                pass
        if proxy is not None:
            proxy.stop()
        if s3 is not None:
            s3.stop()
        if pg is not None:
            pg.stop()
        if args.keep:
            log(f"bench: inputs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
