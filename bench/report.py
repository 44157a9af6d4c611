"""results.json (raw figures), results.md (the table) and chart.png (rows/s per method).

Every ratio to "the limit" is to the binary limit, the method ``limit``: server-side
``COPY t FROM '<file>' (FORMAT binary)``. results.json files written before the binary limit
(no ``limit`` key at the top) had the CSV server COPY as ``limit``; they are rendered with
the header ``of limit (CSV)``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

HEADER = ("| method | mode | rows | s median | s min | s max | rows/s | x standard | {of} "
          "| peak py MB | peak JVM MB | load1 | checksum |")
RULE = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


def summarize(rec: dict[str, Any]) -> None:
    """Median/min/max and rows/s from the repetitions that finished."""
    secs = rec["seconds"]
    if secs:
        rec["median_s"] = statistics.median(secs)
        rec["min_s"], rec["max_s"] = min(secs), max(secs)
        rec["rows_per_s"] = rec["rows"] / rec["median_s"] if rec["median_s"] > 0 else None
    else:
        rec["median_s"] = rec["min_s"] = rec["max_s"] = rec["rows_per_s"] = None


def limit_format(results: dict[str, Any]) -> str:
    """'binary' for runs since the binary limit, else 'csv'."""
    return (results.get("limit") or {}).get("format", "csv")


def ratio_header(results: dict[str, Any]) -> str:
    return "of binary limit" if limit_format(results) == "binary" else "of limit (CSV)"


def pin_text(pinned: dict[str, Any] | None) -> str:
    if not pinned:
        return "not pinned: PostgreSQL, Spark, the S3 server and the driver share all CPUs"
    text = (f"PostgreSQL on CPU {pinned['postgres_cpu']}; Spark (JVM and Python workers), the S3 server and the "
            f"benchmark's own process on CPU {pinned['client_cpu']} (taskset), imitating separate machines")
    check = pinned.get("check_at_end")
    if check:
        text += "; affinity read back at the end: " + ", ".join(
            f"{g} {c['processes']} processes on CPU {','.join(map(str, c['cpus'])) or '-'}"
            for g, c in check.items() if c["processes"])
    return text


def add_ratios(records: list[dict[str, Any]]) -> None:
    """x standard and fraction of the limit (method ``limit``: the binary limit), within each dataset."""
    by_ds: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        by_ds.setdefault(r["dataset"], {})[r["method"]] = r
    for r in records:
        peers = by_ds[r["dataset"]]
        std = peers.get("standard", {}).get("rows_per_s")
        lim = peers.get("limit", {}).get("rows_per_s")
        rps = r.get("rows_per_s")
        r["x_standard"] = rps / std if rps and std else None
        r["of_limit"] = rps / lim if rps and lim else None


def _f(value: Any, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _checksum_cell(rec: dict[str, Any]) -> str:
    if rec.get("skipped"):
        return "skipped: " + rec["skipped"].replace("|", "/").replace("\n", " ")[:160]
    if rec.get("error"):
        return "FAILED: " + rec["error"].replace("|", "/").replace("\n", " ")[:160]
    states = rec.get("checksums", [])
    if not states:
        return "n/a"
    bad = [s for s in states if s != "ok"]
    return "ok" if not bad else bad[0].replace("|", "/")[:160]


def label(rec: dict[str, Any]) -> str:
    """The method's label, plus the staging format the loader reported (LoadResult.staging_format)."""
    fmt, reader = rec.get("staging_format"), rec.get("parquet_reader")
    text = f"{rec['label']} [staged {fmt}]" if fmt else rec["label"]
    return f"{text} [read by {reader}]" if reader else text


def table(records: list[dict[str, Any]], dataset: str, of: str = "of binary limit") -> str:
    lines = [HEADER.format(of=of), RULE]
    for r in records:
        if r["dataset"] != dataset:
            continue
        lines.append(
            f"| {label(r)} | {r['mode']} | {r['rows']:,} | {_f(r['median_s'], '.2f')} | {_f(r['min_s'], '.2f')} "
            f"| {_f(r['max_s'], '.2f')} | {_f(r['rows_per_s'], ',.0f')} | {_f(r['x_standard'], '.2f')} "
            f"| {_f(r['of_limit'], '.0%')} | {_f(r.get('peak_py_mb'), '.0f')} | {_f(r.get('peak_jvm_mb'), '.0f')} "
            f"| {_f(r.get('load1'), '.1f')} | {_checksum_cell(r)} |")
    return "\n".join(lines)


def run_kind(results: dict[str, Any]) -> str:
    """'pinned' or 'not pinned', as said at the top of results.md and in the chart's title."""
    return "pinned" if results.get("pinned") else "not pinned"


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lat = (f"latency proxy: +{env['latency_ms']} ms per round trip" if env.get("latency_ms")
           else "no latency proxy (loopback)")
    binary = limit_format(results) == "binary"
    title = "# loader benchmark" + (" (PINNED run)" if results.get("pinned") else " (not pinned)")
    out = [title, "",
           f"{env['date']} - {env['cpus']} CPUs, {env['mem_gib']:.0f} GiB RAM, {env['postgres']}, "
           f"Spark {env['spark']} {env['spark_master']}, S3: {env['s3']}, {lat}", "",
           f"CPUs: {pin_text(env.get('pinned')) if results.get('pinned') else pin_text(None)}.", "",
           f"repetitions: {results['repeat']} (median shown; min and max too). "
           f"load average at start {env['loadavg_start']}, at end {env.get('loadavg_end')}.", ""]
    of = ratio_header(results)
    for ds in results["datasets"]:
        out += [f"## {ds['name']} ({ds['rows']:,} rows)", ""]
        out += [table(results["records"], ds["name"], of), ""]
    limit_text = ("The limit (`of binary limit`) is server-side `COPY t FROM '/file.bin' (FORMAT binary)` of the "
                  "same rows into the same table with its primary key (the file made untimed by the server from "
                  "the CSV); `limit-text` is the same from the CSV, `COPY t FROM '/file.csv' (FORMAT csv)`, and "
                  "`limit-text into the table without PK` that into the table without its primary key. "
                  "`limit: K connections` COPY a K-th of the binary rows each (every K-th heap block of the "
                  "source), at once, each in its own transaction (not atomic); `key built after` starts "
                  "without the primary key and builds it after the COPYs, inside the timing."
                  if binary else
                  "The limit is server-side `COPY t FROM '/file.csv' (FORMAT csv)` into the same table with its "
                  "primary key (a run from before the binary limit).")
    out += ["rows/s = rows / median seconds, wall clock around the one call (the DataFrame is read from "
            "Parquet inside it, except in the `cached DataFrame` rows, where it was cached and materialised "
            "before the clock started; the peers read the CSV or the Parquet inside it too). "
            f"x standard and {of} compare rows/s. {limit_text} "
            "`[staged X]`: the staging format the loader reported (LoadResult.staging_format). "
            "peak py MB: RSS of the benchmark's Python process (the Spark driver's Python side and the "
            "psycopg2/psycopg 3/ADBC/dlt peers); peak JVM MB: RSS of the Spark JVM plus its Python workers "
            "(psql's own memory is not counted). load1: 1-minute load average when the method started "
            "(above 2 means other work shared the 2 CPUs). checksum: count, sums and NULL/'' counts of the "
            "loaded table against the same figures computed from the Parquet with pyarrow, and the table "
            "still has its columns and primary key.", ""]
    phases = phase_lines(results["records"])
    if phases:
        out += ["## Where the loader's time goes (LoadResult.timings, medians)", ""] + phases + [""]
    waits = reader_lines(results["records"])
    if waits:
        out += ["## A reader's longest wait during an overwrite", "",
                "`SELECT 1 FROM <target> LIMIT 1` every 10 ms on an autocommit connection of its own during the "
                "timed call (overwrite methods only): in place, readers wait from the TRUNCATE to the COMMIT; "
                "through the shadow table (`connections` > 1), only for the swap.", ""] + waits + [""]
    if results.get("notes"):
        out += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(out)


def reader_lines(records: list[dict[str, Any]]) -> list[str]:
    """The overwrite methods' reader: its longest wait per repetition (bench/run.py ReaderWait)."""
    lines = []
    for r in records:
        waits = r.get("reader_max_wait_ms")
        if not waits:
            continue
        runs = r.get("reader") or []
        queries = sum(w.get("reader_queries", 0) for w in runs)
        errors = sum(w.get("reader_errors", 0) for w in runs)
        lines.append(f"- {r['dataset']}, {label(r)} {r['mode']}: longest wait {max(waits):,.1f} ms "
                     f"(per repetition: {', '.join(f'{w:,.1f}' for w in waits)} ms; {queries:,} queries"
                     + (f", {errors} failed" if errors else "") + ")")
    return lines


def phase_lines(records: list[dict[str, Any]]) -> list[str]:
    """The loader's own phase timings: for COPY, staging (Spark -> CSV -> S3) overlaps loading."""
    lines = []
    for r in records:
        extras = [e for e in r.get("extra") or [] if e and e.get("timings")]
        if not extras:
            continue
        keys = sorted({k for e in extras for k in e["timings"]})
        parts = [f"{k} {statistics.median(e['timings'].get(k, 0.0) for e in extras):.2f} s" for k in keys]
        staged = statistics.median(e.get("bytes_staged", 0) for e in extras)
        if staged:
            parts.append(f"{staged / 2**20:,.0f} MiB staged")
        total = r.get("median_s")
        lines.append(f"- {r['dataset']}, {label(r)} {r['mode']}: " + ", ".join(parts)
                     + (f" (wall {total:.2f} s)" if total else ""))
    return lines


def chart(results: dict[str, Any], path: Path) -> str:
    """Write the PNG; '' on success, else why not (matplotlib is only in the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # noqa: BLE001
        return f"chart skipped: matplotlib is not available ({type(exc).__name__})"
    datasets = [d["name"] for d in results["datasets"]]
    of = ratio_header(results)
    heights = [max(1, sum(1 for r in results["records"] if r["dataset"] == n and r.get("rows_per_s")))
               for n in datasets]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(10, 1.0 + sum(0.9 + 0.28 * h for h in heights)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, name in zip(axes[:, 0], datasets, strict=True):
        recs = [r for r in results["records"] if r["dataset"] == name and r.get("rows_per_s")]
        labels = [f"{label(r)} ({r['mode']})" if r["mode"] != "append" else label(r) for r in recs]
        values = [r["rows_per_s"] / 1000 for r in recs]
        colors = ["#444444" if r["method"] == "limit" else "#aaaaaa" if r["group"] == "limit"
                  else "#4477aa" if r["group"] == "loader" else "#cc6677" for r in recs]
        ax.barh(labels[::-1], values[::-1], color=colors[::-1])
        for y, r in enumerate(recs[::-1]):  # rows/s and the ratio to the limit at the end of each bar
            ratio = f", {r['of_limit']:.0%}" if r.get("of_limit") is not None else ""
            bad = "" if _checksum_cell(r) == "ok" else " (checksum differs)"
            ax.text(r["rows_per_s"] / 1000, y, f" {r['rows_per_s'] / 1000:,.0f}k{ratio}{bad}", va="center",
                    fontsize=7)
        limit = next((r for r in recs if r["method"] == "limit"), None)
        if limit:
            ax.axvline(limit["rows_per_s"] / 1000, color="#444444", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, max(values, default=1) * 1.35)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"thousand rows/s (median); after each bar: {of}")
        ax.tick_params(labelsize=8)
    fig.suptitle(f"loader: rows/s per method, {run_kind(results)} run (blue: loader, dark grey: the "
                 f"{'binary ' if of == 'of binary limit' else ''}limit, light grey: other server/psql COPY, "
                 "red: peers)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""


def write(results: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    why = chart(results, out / "chart.png")
    if why:
        results.setdefault("notes", []).append(why)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = markdown(results)
    (out / "results.md").write_text(md)
    return md


if __name__ == "__main__":  # re-render results.md and chart.png from results.json
    import sys

    where = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
    data = json.loads((where / "results.json").read_text())
    print(write(data, where))
