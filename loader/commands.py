"""The commands behind the CLI, as library functions (in the manner of alembic's command.py).

Each returns text (or data) for the CLI to print; none calls ``sys.exit`` or
catches our errors: that is the CLI's job.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .errors import ConfigError
from .manifest import load_manifests, validate_paths
from .runner.dry_run import dry_run as plan_all
from .runner.run import RunOptions, RunOutcome, format_summary, format_table, select
from .state import StateStore, display


def validate(paths: list[str]) -> tuple[str, bool]:
    manifests, problems = validate_paths(paths)
    if problems:
        return "\n".join(problems), False
    return "\n".join(f"ok  {m.path}: {m.name} -> {m.target.ref}" for m in manifests), True


def dry_run(paths: list[str], only: tuple[str, ...] = (), spark: Any = None, *, state_url: str | None = None,
            full_refresh: bool = False, from_value: str | None = None) -> tuple[str, bool]:
    """The plan of each manifest and every problem found without moving data (ok: none). Reads
    the source's footer or header, the target catalog, the bucket, the state store (an incremental
    manifest's mark) and, for schema_evolution add_columns, the source's schema; writes nothing."""
    from .runner.incremental import WindowChoice

    blocks: list[str] = []
    problems: list[str] = []
    store = StateStore(state_url)
    for p in plan_all(select(paths, only), store, WindowChoice(full_refresh, from_value), spark):
        table = "not checked" if not p.target_checked else "exists" if p.table_exists else \
            "will be created" if p.creates_table else "does not exist and create is 'never': the run would fail"
        lines = [
            f"manifest {p.manifest}",
            f"  source:     {p.source}" + (f" ({p.source_note})" if p.source_note else ""),
            f"  target:     {p.target} ({table})",
            f"  mode:       {p.mode}",
            *([f"  replaces:   {p.replaces}"] if p.replaces else []),
            *([f"  if empty:   {p.if_empty}"] if p.if_empty else []),
            f"  method:     {p.method} ({p.why})",
            *([f"  privileges: {p.privileges}"] if p.privileges else []),
            f"  temp root:  {p.temp_prefix_root or '-'}",
            f"  staging:    {p.staging}",
            *([f"  path:       {p.path}"] if p.path else []),
            *[("  dependents: " if i == 0 else "              ") + d for i, d in enumerate(p.dependents)],
            *([f"  add columns: {p.adds}"] if p.adds else []),
            *[f"  narrows:    {n} (on_narrowing: {p.on_narrowing})" for n in p.narrows],
            *([f"  window:     {p.window}"] if p.window != "-" else []),
        ]
        if p.create_sql:
            lines.append("  creates:    " + p.create_sql.replace("\n", "\n              "))
        lines += [f"  WARNING     {x}" for x in p.warnings]
        lines += [f"  PROBLEM     {x}" for x in p.problems]
        blocks.append("\n".join(lines))
        problems += p.problems
    tail = f"\n{len(problems)} problem(s) found (dry run: nothing was written)" if problems else \
        "\n(dry run: nothing was written)"
    return "\n".join(blocks) + tail, not problems


def run(paths: list[str], *, state_url: str | None = None, only: tuple[str, ...] = (), parallel: int = 1,
        resume: bool = False, wait: bool = False, reap_before_run: bool = False, live: bool = False,
        full_refresh: bool = False, from_value: str | None = None, spark: Any = None) -> list[RunOutcome]:
    from .runner import run as runner
    from .runner.incremental import WindowChoice

    manifests = select(paths, only)
    _check_window_choice(manifests, resume, full_refresh, from_value)
    opts = RunOptions(only=only, parallel=parallel, resume=resume, wait=wait, live_progress=live,
                      reap_before_run=reap_before_run, window=WindowChoice(full_refresh, from_value))
    return runner.run(manifests, StateStore(state_url), opts, spark=spark)


def _check_window_choice(manifests: list[Any], resume: bool, full_refresh: bool, from_value: str | None) -> None:
    flag = "--full-refresh" if full_refresh else "--from" if from_value is not None else None
    if flag is None:
        return
    if full_refresh and from_value is not None:
        raise ConfigError("--full-refresh and --from are exclusive", next_step="give one of them")
    if resume:
        raise ConfigError(f"{flag} with --resume: a resumed run loads the window it started with",
                          next_step=f"run without --resume to use {flag}")
    if not any(m.source.incremental for m in manifests):
        raise ConfigError(f"{flag}: none of these manifests is incremental (source.incremental)",
                          next_step="select an incremental manifest with --only")


def resume(run_id: str, paths: list[str], *, state_url: str | None = None, wait: bool = False,
           spark: Any = None) -> RunOutcome:
    from .runner import run as runner

    return runner.resume_run(run_id, paths, StateStore(state_url), RunOptions(wait=wait), spark=spark)


def summary_table(outcomes: list[RunOutcome]) -> str:
    text = format_summary(outcomes)
    failures = [f"{o.manifest}: {o.error}" for o in outcomes if o.error]
    return text + ("\n\nfailures:\n" + "\n".join(failures) if failures else "")


def status(state_url: str | None, *, limit: int = 20, as_json: bool = False, summary: bool = False,
           since: str | None = None, width: int | None = None) -> str:
    """The newest runs. ``width``: wrap each run's note to this many columns (None: one line each)."""
    store = StateStore(state_url)
    if summary:
        since_at = _since(since)
        data = store.summary(since_at)
        return json.dumps(data, indent=2, default=str) if as_json else format_usage(data)
    runs = store.list_runs(limit=limit)
    marks = {r.manifest_name: r for r in store.current_marks()}
    if as_json:
        # ``rows``: committed rows (None unless it succeeded); ``seconds``: the attempts' own time
        return json.dumps([_run_json(r, marks) for r in runs], indent=2)
    if not runs:
        return "no runs recorded in " + store.url_for_display
    return display.runs_table(runs, width) + (_marks_table(marks) if marks else "")


def _run_json(r: Any, marks: dict[str, Any]) -> dict[str, Any]:
    """A run as JSON; an incremental manifest's window and marks as objects, with its current mark."""
    out = r.to_json_dict()
    out["seconds"] = round(display.seconds(r), 3)
    for key in ("window_from", "high_water_mark"):
        out[key] = json.loads(out[key]) if out[key] else None
    current = marks.get(r.manifest_name)
    if current is not None:
        out["current_mark"] = {**json.loads(current.high_water_mark), "run_id": current.run_id}
    return out


def _marks_table(marks: dict[str, Any]) -> str:
    rows = []
    for name, r in sorted(marks.items()):
        mark = json.loads(r.high_water_mark)
        rows.append((name, mark["cursor"], mark["type"], str(mark["value"]), r.run_id[:12]))
    return "\n\nhigh-water marks (incremental manifests)\n" + format_table(
        ("manifest", "cursor", "type", "mark", "set by run"), rows)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    from .reaper.apply import parse_duration

    return datetime.now(timezone.utc) - parse_duration(text)


def format_usage(data: dict[str, Any]) -> str:
    lines = [f"runs: {data['runs']} (succeeded {data['succeeded']}, failed {data['failed']}, "
             f"abandoned {data['abandoned']}, active {data['active']})"]
    lines.append("by method: " + ", ".join(f"{k} {v}" for k, v in data["runs_by_method"].items()))
    lines.append(f"fallbacks: {data['fallbacks']} ({data['fallback_rate']:.0%} of runs)")
    for reason, count in data["fallback_reasons"].items():
        lines.append(f"  {count} x {reason[:100]}")
    for method, rate in data["rows_per_second_by_method"].items():
        rows = data["rows_by_method"].get(method, 0)
        lines.append(f"{method}: {rows:,} rows" + (f", {rate:,.0f} rows/s" if rate else ""))
    lines.append(f"temp bytes staged: {data['bytes_staged_total']:,}")
    return "\n".join(lines)


def doctor(paths: list[str], bucket: str | None = None) -> tuple[str, bool]:
    """What each manifest will use, checked: COPY's credentials, bucket and database for ``copy``
    and ``auto`` (where COPY not being ready only means optimized JDBC), the database alone for
    ``optimized`` and ``standard``. Ready when everything a manifest will use is."""
    from .adapters import s3
    from .options import Method
    from .plan.recommend import (
        copy_readiness,
        database_readiness,
        doctor_lines,
        get_copy_protocol_recommendation,
    )

    if not paths:
        report = get_copy_protocol_recommendation(s3_bucket=bucket)
        lines = [f"defaults: {report['method']} ({report['reason']})", *("  " + x for x in doctor_lines(report))]
        return "\n".join(lines), report["method"] == "copy"
    out: list[str] = []
    ready = True
    for m in load_manifests(paths):
        if m.method in (Method.STANDARD, Method.OPTIMIZED):
            report = database_readiness(m.target.connection)
            rights = _add_privileges(report, m, m.method)
            out.append(f"{m.name}: {m.method} (JDBC: {report['reason']}; COPY is not used, not checked)")
            out.extend("  " + line for line in doctor_lines(report))
            out.extend(_dependents(m))
            ready = ready and report["method"] == "jdbc" and rights
            continue
        b, source = s3.resolve_bucket(bucket or m.copy.bucket, "--bucket" if bucket else "manifest copy.bucket")
        report = copy_readiness(b, source, m.target.connection)
        copy_ok = report["method"] == "copy"
        # auto with COPY ready may still choose optimized JDBC for a small source: both are checked
        rights = _add_privileges(report, m, Method.OPTIMIZED if m.method is Method.AUTO and not copy_ok
                                 else m.method)
        if m.method is Method.AUTO and not copy_ok:
            db_ok = report["checks"].get("database", {}).get("ok", False) and rights
            out.append(f"{m.name}: auto -> optimized JDBC ({report['reason']})")
            out.extend("  " + line for line in doctor_lines(report, frozenset(report["checks"]) -
                                                            {"database", "privileges"}))
            out.extend(_dependents(m))
            ready = ready and db_ok
            continue
        out.append(f"{m.name}: {report['method']} ({report['reason']})")
        out.extend("  " + line for line in doctor_lines(report))
        out.extend(_dependents(m))
        ready = ready and copy_ok and rights
    return "\n".join(out), ready


def _dependents(m: Any) -> list[str]:
    """A whole-table overwrite's dependents, each with what the overwrite does to it (informational)."""
    from .runner.dry_run_path import overwrite_dependents

    return [f"  INFO dependent {line}" for line in overwrite_dependents(m)]


def _add_privileges(report: dict[str, Any], m: Any, method: Any) -> bool:
    """The role's privileges for ``m`` (runner/checks.py), as one more check of ``report``, when the
    database was reached; returns whether they are all there."""
    from .runner.checks import privileges_check

    if not report["checks"].get("database", {}).get("ok", False):
        return True  # the database check failed already and says so
    report["checks"]["privileges"] = privileges_check(m, method)
    return bool(report["checks"]["privileges"]["ok"])


def recommend(rows: int, memory_gb: float = 8, as_json: bool = False) -> str:
    """A manifest fragment (method, copy:, jdbc:) with the reason for each setting, as YAML or JSON."""
    from .plan.sizing import recommend_settings, render_json, render_yaml

    settings = recommend_settings(rows, memory_gb)
    return json.dumps(render_json(settings), indent=2) if as_json else render_yaml(settings, rows, memory_gb)


def reap(state_url: str | None, *, buckets: list[str], prefix: str, grace: str, resume_window: str,
         stale_after: str, dry_run: bool, as_json: bool,
         table_manifests: list[str] | None = None) -> tuple[str, bool]:
    from .reaper.apply import (
        ReapPolicy,
        default_buckets,
        format_report,
        parse_duration,
        reap_all_staging_tables,
    )
    from .reaper.apply import reap as do_reap

    store = StateStore(state_url)
    policy = ReapPolicy(prefix_root=prefix, grace=parse_duration(grace),
                        resume_window=parse_duration(resume_window), stale_after=parse_duration(stale_after),
                        dry_run=dry_run)
    # buckets named with --bucket must exist; the defaults (every bucket the state store has seen,
    # and the configured one) may not: a setup that never used the default bucket reaps cleanly
    defaults = [] if buckets else default_buckets(store)
    reports = [do_reap(store, buckets or defaults, policy, may_be_missing=defaults)]
    # JDBC staging tables: the databases of runs that left one (reaper/databases.py), each once; the
    # manifests given add their databases and lend their credentials
    given = [m.target.connection for m in load_manifests(table_manifests)] if table_manifests else []
    reports.extend(reap_all_staging_tables(store, policy, given))
    ok = all(r.ok for r in reports)
    if as_json:
        return json.dumps([r.to_json_dict() for r in reports], indent=2, default=str), ok
    return "\n".join(format_report(r) for r in reports), ok
