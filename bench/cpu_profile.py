#!/usr/bin/env python
"""``make bench-profile``: where the copy method's time goes, in CPU seconds per process.

The benchmark's table says how fast each method is; this says why. It loads the
synthetic table once per step and reads, around each step, the CPU time of every
process involved (``psutil``): the Spark JVM, Spark's Python workers, the S3
server (SeaweedFS), the PostgreSQL server processes and this driver process.

Steps, each building on the one before, so the difference between two rows is
what one stage of the COPY pipeline costs, for each staging format:

1. read the Parquet in Spark (``noop`` sink);
2. binary: + select the columns the encoder gets (structs/maps as JSON); csv: + render every
   row as a CSV line in the JVM (``noop`` sinks);
3. + hand them to the Python workers through Arrow;
4. + encode there (binary: cast and pgpq; csv: the lines' bytes);
5. + upload them to S3 (no gzip, the loader's default): this is the loader's staging job;
then the limit (server ``COPY FROM 'file' (FORMAT binary)``), the text limit
(the same from the CSV), the loader's ``copy`` end to end, and ``optimized``
end to end.

The last lines compare the CPU work with the wall clock: on N cores, a load can
take no less than (its CPU seconds) / N, and no less than its longest
single-threaded chain (PostgreSQL's COPY runs in one backend).

    .venv/bin/python bench/cpu_profile.py                  # 1,000,000 rows, 3 repetitions (median)
    .venv/bin/python bench/cpu_profile.py --rows 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TZ", "UTC")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from bench import inputs, run  # noqa: E402

GROUPS = ("jvm", "py-workers", "s3", "postgres", "driver")
LIMIT = "limit: server COPY FROM file (binary)"


def cpu_by_group() -> dict[str, float]:
    """CPU seconds (user + system, children included) so far, per process group."""
    import psutil

    me = os.getpid()
    out = dict.fromkeys(GROUPS, 0.0)
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            name = p.info["name"] or ""
            cmd = " ".join(p.info["cmdline"] or [])
            if p.pid == me:
                group = "driver"
            elif name == "java":
                group = "jvm"
            elif "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
                group = "py-workers"
            elif name.startswith("weed"):
                group = "s3"
            elif name.startswith("postgres") or cmd.startswith("postgres:"):
                group = "postgres"
            else:
                continue
            t = p.cpu_times()
            out[group] += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return out


def measure(fn: Callable[[], Any], repeat: int, before: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median wall and CPU seconds per group of ``repeat`` runs (after one untimed warm-up)."""
    samples: list[dict[str, float]] = []
    for i in range(repeat + 1):
        before()
        c0, t0 = cpu_by_group(), time.perf_counter()
        fn()
        wall, c1 = time.perf_counter() - t0, cpu_by_group()
        if i:  # the first run warms the JIT and starts the Python workers
            samples.append({"wall": wall, **{g: c1[g] - c0[g] for g in GROUPS}})
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def _passthrough(encoder: Any, gzip: bool, batches: Any) -> Any:
    """The executor's work without the upload: encode each batch (format's encoder), maybe gzip."""
    import zlib

    import pyarrow as pa

    n = 0
    for batch in batches:
        data = encoder.encode(batch, 0, 0) if encoder is not None else b""
        if gzip:
            z = zlib.compressobj(1, zlib.DEFLATED, 31)
            data = z.compress(data) + z.flush()
        n += len(data)
    yield pa.RecordBatch.from_pylist([{"n": n}])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/cpu_profile.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    from loader.adapters import s3 as s3a
    from loader.copy import task as stage
    from loader.copy.formats import BinaryFormat, CsvFormat
    from loader.naming import TempLocation
    from loader.plan.typemap import plan_for_new_table
    from loader.testing.pgcluster import PgCluster
    from loader.testing.s3server import start_seaweedfs

    workdir = Path(tempfile.mkdtemp(prefix="loader-profile-"))
    os.chmod(workdir, 0o755)
    pg = s3 = spark = None
    try:
        pg = PgCluster(fast=False, settings={"max_prepared_transactions": "8"}).start()
        s3 = start_seaweedfs()
        s3.create_bucket(run.BUCKET)
        os.environ.update(s3.env())
        spark = run.spark_session("loader-profile")
        ctx = run.Ctx(pg=pg, port=pg.port, workdir=workdir, spark=spark,
                      state_url=f"sqlite:///{workdir / 'state.db'}")
        ds = inputs.finish(inputs.synthetic(spark, args.rows, workdir))
        run.binary_file(ctx, ds)
        df = spark.read.parquet(str(ds.parquet))
        plan = plan_for_new_table(df.schema)
        frames = {f.name: (f, f.frame(df, plan, False), f.encoder(plan, False)) for f in (BinaryFormat(), CsvFormat())}
        seq = iter(range(1_000_000))

        def staging(name: str) -> Callable[[], None]:
            fmt, frame, encoder = frames[name]

            def go() -> None:
                cfg = stage.StageConfig(location=TempLocation(run.BUCKET, f"profile/{next(seq)}/"), gzip=False,
                                        endpoint_url=s3a.endpoint_url(), credentials=stage.local_credentials(spark),
                                        encoder=encoder, extension=fmt.extension(False))
                stage.run_staging_job(frame, cfg)
            return go

        def method(mid: str) -> tuple[Callable[[], Any], Callable[[], None]]:
            m = run.BY_ID[mid]
            holder: dict[str, Any] = {}

            def before() -> None:
                run.setup_table(ctx, ds, m)
                holder["run"] = m.prepare(ctx, ds, inputs.TABLE)
            return (lambda: holder["run"]()), before

        steps: list[tuple[str, Callable[[], Any], Callable[[], None]]] = [
            ("1 read Parquet", lambda: df.write.format("noop").mode("overwrite").save(), lambda: None),
            ("2 binary: + columns for the encoder (JVM)",
             lambda: frames["binary"][1].write.format("noop").mode("overwrite").save(), lambda: None),
            ("3 binary: + Arrow to Python workers",
             lambda: frames["binary"][1].mapInArrow(functools.partial(_passthrough, None, False), "n long").collect(),
             lambda: None),
            ("4 binary: + encode (pgpq)", lambda: frames["binary"][1].mapInArrow(
                functools.partial(_passthrough, frames["binary"][2], False), "n long").collect(), lambda: None),
            ("5 binary: + upload = staging job", staging("binary"), lambda: None),
            ("2 csv: + render CSV lines (JVM)",
             lambda: frames["csv"][1].write.format("noop").mode("overwrite").save(), lambda: None),
            ("4 csv: + Arrow to Python workers", lambda: frames["csv"][1].mapInArrow(
                functools.partial(_passthrough, frames["csv"][2], False), "n long").collect(), lambda: None),
            ("5 csv: + upload = staging job", staging("csv"), lambda: None),
            (LIMIT, *method("limit")),
            ("limit-text: server COPY FROM file (CSV)", *method("limit-text")),
            ("copy end to end", *method("copy")),
            ("optimized end to end", *method("optimized")),
        ]
        results = []
        for label, fn, before in steps:
            print(f"[profile] {label} ...", file=sys.stderr, flush=True)
            results.append((label, measure(fn, args.repeat, before)))
        print(render(results, args.rows, os.cpu_count() or 2))
    finally:
        if spark is not None:
            spark.stop()
        if s3 is not None:
            s3.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def render(results: list[tuple[str, dict[str, float]]], rows: int, cores: int) -> str:
    head = "| step | wall s | rows/s | " + " | ".join(f"CPU {g}" for g in GROUPS) + " | CPU total | CPU/cores |"
    lines = [f"{rows:,} rows, median of the repetitions, CPU in seconds per process group, {cores} cores", "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for label, r in results:
        total = sum(r[g] for g in GROUPS)
        lines.append(f"| {label} | {r['wall']:.2f} | {rows / r['wall']:,.0f} | "
                     + " | ".join(f"{r[g]:.2f}" for g in GROUPS) + f" | {total:.2f} | {total / cores:.2f} |")
    by = dict(results)
    if "copy end to end" in by and LIMIT in by:
        copy, limit = by["copy end to end"], by[LIMIT]
        total = sum(copy[g] for g in GROUPS)
        bound = max(total / cores, copy["postgres"])
        lines += ["", f"copy: {copy['wall']:.2f} s wall for {total:.2f} CPU s; on {cores} cores it cannot take "
                      f"less than {bound:.2f} s (CPU/cores, or PostgreSQL's own {copy['postgres']:.2f} s), "
                      f"i.e. at best {limit['wall'] / bound:.0%} of the binary limit ({limit['wall']:.2f} s); "
                      f"measured {limit['wall'] / copy['wall']:.0%}."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
