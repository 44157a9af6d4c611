"""The manifest runner: validate → plan → load → record, for every manifest given.

Each manifest is one target table. Manifests are independent, so they may run
concurrently (``parallel``); two runs of the same table are kept apart by the
PostgreSQL advisory lock the engine takes. The dry run is in ``dry_run.py``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import interrupt
from ..adapters import s3
from ..engine.execute import execute
from ..errors import ConfigError, Interrupted, LoaderError, RunNotFoundError, SourceChangedError
from ..manifest import Manifest, load_manifests
from ..naming import new_run_id
from ..options import WriteMode
from ..plan.direct_plan import DirectRead
from ..record_lines import find_record, local_path
from ..redact import redact, register
from ..request import LoadRequest
from ..state import StateStore
from . import guards, incremental
from .guards import Guarded
from .incremental import IncrementalLoad, WindowChoice
from .line_ends import local_files
from .locate import find_run_manifest
from .parquet_scan import direct_candidate, odd_columns
from .sources import check_unchanged, fingerprint, read_guarded

log = logging.getLogger("loader")


@dataclass(frozen=True)
class RunOutcome:
    manifest: str
    table: str
    status: str
    method: str = ""
    rows: int = 0
    seconds: float = 0.0
    run_id: str = ""
    error: str = ""
    fallback_reason: str | None = None
    #: rows set aside in <schema>.loader_rejects (on_error: reject)
    rows_rejected: int = 0
    #: upsert: rows whose key was new / existed (None for the other modes)
    rows_inserted: int | None = None
    rows_updated: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RunOptions:
    only: tuple[str, ...] = ()
    parallel: int = 1
    resume: bool = False
    wait: bool = False
    live_progress: bool = False
    reap_before_run: bool = False
    #: incremental manifests: --full-refresh / --from
    window: WindowChoice = WindowChoice()


def select(paths: list[str], only: tuple[str, ...] = ()) -> list[Manifest]:
    """Load and validate every manifest (ManifestError lists all problems), then apply --only."""
    manifests = load_manifests(paths)
    for m in manifests:
        register(m.target.connection.password, m.source.connection.password if m.source.connection else None)
    if only:
        unknown = sorted(set(only) - {m.name for m in manifests})
        if unknown:
            raise ConfigError(f"--only: no manifest named {', '.join(unknown)}",
                              next_step="names: " + ", ".join(m.name for m in manifests))
        manifests = [m for m in manifests if m.name in only]
    return manifests


def run(manifests: list[Manifest], store: StateStore, opts: RunOptions, spark: Any = None) -> list[RunOutcome]:
    """Run every manifest; never raises for one manifest's failure (it is in its outcome)."""
    if spark is None:
        from ..adapters.spark import get_or_create_session

        spark = get_or_create_session()
    with interrupt.guard():  # after the session starts: PySpark sets its own SIGINT handler then
        if opts.reap_before_run or any(m.reap_before_run for m in manifests):
            _reap_tables(manifests, store)
        if opts.parallel <= 1 or len(manifests) == 1:
            return [run_one(m, store, opts, spark) for m in manifests]
        return _run_parallel(manifests, store, opts, spark)


def _run_parallel(manifests: list[Manifest], store: StateStore, opts: RunOptions, spark: Any) -> list[RunOutcome]:
    """An interruption stops every load in progress, starts no other, and reports them all at once."""
    pool = ThreadPoolExecutor(max_workers=opts.parallel, thread_name_prefix="loader-run")
    futures = [pool.submit(run_one, m, store, opts, spark) for m in manifests]
    try:
        return [f.result() for f in futures]
    except Interrupted:
        pool.shutdown(wait=True, cancel_futures=True)
        stops = [e for f in futures if not f.cancelled() and isinstance(e := f.exception(), Interrupted)]
        first = stops[0] if stops else Interrupted(interrupt.requested() or signal.SIGINT)
        for other in stops[1:]:
            for detail in other.details:
                first.add(detail)
        raise first from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _name_the_file(exc: LoaderError, m: Manifest) -> LoaderError:
    """A malformed record Spark refused without naming its file (PySpark 3.5): found in the source's
    local files, so the message names the file and line as Spark 4's does. A Parquet file Spark's
    reader refused: the columns its footer shows Spark may not read, named too."""
    file = exc.ids.get("file")
    if isinstance(file, str) and file.endswith(".parquet") and os.path.isfile(file):
        odd = odd_columns(file)
        if odd:
            return type(exc)(f"{exc.message} ({odd})", next_step=exc.next_step, **exc.ids)
    record = exc.ids.get("record")
    if not record or not m.source.path or not exc.message.startswith("the source: "):
        return exc
    found = find_record(local_files(m.source.path), record) if local_path(m.source.path) is not None else None
    if found is None:
        return exc
    return type(exc)(f"{found[0]} line {found[1]}: " + exc.message[len("the source: "):], next_step=exc.next_step,
                     **exc.ids)


def run_one(m: Manifest, store: StateStore, opts: RunOptions, spark: Any) -> RunOutcome:
    table = str(m.target.ref)
    t0 = time.monotonic()
    try:
        resume_record = None
        if opts.resume:
            resume_record = store.latest_resumable(m.name)
            if resume_record is None:
                log.info("%s: nothing to resume, starting a new run", m.name)
            else:
                resume_record = _resumable(m, store, resume_record)
        try:
            read = _read(spark, m)
            df = read.df
            window = incremental.prepare(df, m, store, resume_record, opts.window) if m.source.incremental \
                else None
            source_fingerprint = fingerprint(m.source)  # lists the source's files: may fail as well
        except LoaderError as exc:  # a run that started: recorded like any other, failed
            exc.with_ids(run_id=_record_unread(store, m, resume_record, redact(str(exc))))
            raise
        direct = direct_candidate(spark, m.source, df) if window is None else None
        req = request_for(m, df, opts, source_fingerprint, window, rejected=len(read.rejects), direct=direct)
        result = guards.set_aside(execute(req, store, resume=resume_record), m.target, read, store)
    except Interrupted as exc:  # stops the whole run, not only this manifest
        if not exc.details:  # stopped before its load started
            exc.add(f"{table} not loaded")
        raise
    except LoaderError as exc:
        exc = _name_the_file(exc, m)
        log.error("%s: %s", m.name, redact(str(exc)))
        return RunOutcome(m.name, table, "failed", seconds=time.monotonic() - t0,
                          run_id=exc.run_id or "", error=redact(str(exc)))
    except Exception as exc:
        # Not one of ours (a Spark reader error, a psycopg2 error nobody translated): this
        # manifest failed, but the others' outcomes must still be reported. The traceback is logged.
        text = redact(_first_line(exc))
        debug = log.isEnabledFor(logging.DEBUG)
        log.error("%s: unexpected error: %s%s", m.name, text, "" if debug else " (-v shows the traceback)",
                  exc_info=debug)
        return RunOutcome(m.name, table, "failed", seconds=time.monotonic() - t0, error=text)
    return RunOutcome(m.name, table, "succeeded", method=result.method, rows=result.rows,
                      seconds=time.monotonic() - t0, run_id=result.run_id,
                      fallback_reason=result.fallback_reason, rows_rejected=result.rows_rejected,
                      rows_inserted=result.rows_inserted, rows_updated=result.rows_updated)


def _resumable(m: Manifest, store: StateStore, record: Any) -> Any:
    """The run to resume, or None for a new run. ``run --resume`` is what a schedule runs: a source
    that changed since the old run staged it (or, incremental, whose mark a newer run moved) cannot
    be resumed, so a new run loads the source as it is now and the log says why; the old run is left
    to the reaper (it may still be alive: only its heartbeat going stale proves it is not), which
    deletes its staged parts. ``loader resume RUN_ID`` names one run and still refuses."""
    try:
        check_unchanged(m.source, record.source_fingerprint, record.run_id)
        if m.source.incremental:
            incremental.check_resumable(store, m, record)
    except SourceChangedError as exc:
        start = "from the current mark" if m.source.incremental else "of the source as it is now"
        log.warning("%s: %s; starting a new run %s instead (the reaper deletes run %s's staged parts)",
                    m.name, exc.message, start, record.run_id[:12])
        return None
    return record


def _record_unread(store: StateStore, m: Manifest, resumed: Any, error: str) -> str | None:
    """A run whose source could not be read is in the state store too (``loader status`` shows
    every run that started); a resumed run keeps its record and its staged parts."""
    if resumed is not None:
        return None
    try:
        run_id = new_run_id()
        store.create_run(run_id, manifest_name=m.name, manifest_hash=m.content_hash, manifest_uri=m.uri,
                         target=str(m.target.ref),
                         target_db=m.target.connection.safe_description(), method_requested=str(m.method),
                         write_mode=str(m.target.mode))
        store.fail(run_id, error=error)
        return run_id
    except Exception as exc:  # the source error is what the user needs to see
        log.warning("could not record the failed run of %s: %s", m.name, exc)
        return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:500] if lines else ''}".rstrip(": ")


def _read(spark: Any, m: Manifest) -> Guarded:
    return read_guarded(spark, m.source, where=f"{m.path}: source", reject=m.on_error == "reject",
                        max_errors=m.max_errors)


def request_for(m: Manifest, df: Any, opts: RunOptions, source_fingerprint: str | None,
                window: IncrementalLoad | None = None, rejected: int = 0,
                direct: DirectRead | str | None = None) -> LoadRequest:
    """The one translation of a manifest into the engine's request (an incremental run loads its
    window's rows; --full-refresh replaces the table with every row). ``rejected``: the source's
    malformed records already set aside, which count against ``max_errors``."""
    max_errors = None if m.max_errors is None else m.max_errors - rejected
    mode = WriteMode.OVERWRITE if window is not None and window.plan.full_refresh else m.target.mode
    return LoadRequest(df=window.df if window is not None else df, spec=m.target.connection, target=m.target.ref,
                       method=m.method, mode=mode, key=m.target.key, create=m.target.create, copy=m.copy,
                       jdbc=m.jdbc, watermark=window, manifest_name=m.name, manifest_hash=m.content_hash,
                       manifest_uri=m.uri, wait_for_lock=opts.wait,
                       live_progress=opts.live_progress, source_fingerprint=source_fingerprint,
                       on_error=m.on_error, max_errors=max_errors, defer_indexes=m.target.defer_indexes,
                       schema_evolution=m.target.schema_evolution, replace_where=m.target.replace_where,
                       replace_by=m.target.replace_by, allow_empty=m.target.allow_empty, overwrite=m.target.overwrite,
                       on_narrowing=m.target.on_narrowing, ledger_schema=m.target.ledger_schema, direct=direct)


def resume_run(run_id: str, paths: list[str], store: StateStore, opts: RunOptions,
               spark: Any = None) -> RunOutcome:
    """``loader resume RUN_ID``: find the run (any unique prefix of its id) and its manifest among
    ``paths`` (default: ``manifests/``, see locate.py), and resume it."""
    record = store.get(store.resolve_id(run_id))
    run_id = record.run_id
    if not (record.status.is_active or record.status.value == "failed"):
        raise RunNotFoundError(f"run {run_id} {record.status.described}: nothing to resume", run_id=run_id)
    m = find_run_manifest(record, paths)
    if spark is None:
        from ..adapters.spark import get_or_create_session

        spark = get_or_create_session()
    with interrupt.guard():  # after the session starts: PySpark sets its own SIGINT handler then
        return _resume_one(m, record, store, opts, spark)


def _resume_one(m: Manifest, record: Any, store: StateStore, opts: RunOptions, spark: Any) -> RunOutcome:
    run_id = record.run_id
    check_unchanged(m.source, record.source_fingerprint, run_id)
    read = _read(spark, m)
    window = incremental.prepare(read.df, m, store, record) if m.source.incremental else None
    direct = direct_candidate(spark, m.source, read.df) if window is None else None
    req = request_for(m, read.df, opts, record.source_fingerprint, window, rejected=len(read.rejects),
                      direct=direct)
    t0 = time.monotonic()
    result = guards.set_aside(execute(req, store, resume=record), m.target, read, store)
    return RunOutcome(m.name, str(m.target.ref), "succeeded", method=result.method, rows=result.rows,
                      seconds=time.monotonic() - t0, run_id=result.run_id, rows_rejected=result.rows_rejected,
                      rows_inserted=result.rows_inserted, rows_updated=result.rows_updated)


def _reap_tables(manifests: list[Manifest], store: StateStore) -> None:
    """Reap stale prefixes of these manifests' tables before loading (reap_before_run)."""
    try:
        from ..reaper.apply import ReapPolicy, reap
    except ImportError:  # pragma: no cover - the reaper ships with the package
        return
    for m in manifests:
        bucket, _ = s3.resolve_bucket(m.copy.bucket)
        try:
            reap(store, [bucket], ReapPolicy(prefix_root=m.copy.prefix, table=m.target.table))
        except LoaderError as exc:
            log.warning("%s: reaping before the run failed: %s", m.name, exc)


def format_summary(outcomes: list[RunOutcome]) -> str:
    header: tuple[str, ...] = ("manifest", "table", "method", "rows", "seconds", "rows/s", "status")
    rows: list[tuple[str, ...]] = [(o.manifest, o.table, o.method or "-", f"{o.rows:,}", f"{o.seconds:.1f}",
                                    f"{o.rows_per_second:,.0f}", o.status) for o in outcomes]
    if any(o.rows_rejected for o in outcomes):  # a column only when some run set rows aside
        header = (*header[:4], "rejected", *header[4:])
        rows = [(*r[:4], f"{o.rows_rejected:,}", *r[4:]) for r, o in zip(rows, outcomes, strict=True)]
    if any(o.rows_inserted is not None for o in outcomes):  # upsert: which rows were new, which updates
        header = (*header[:4], "inserted", "updated", *header[4:])
        rows = [(*r[:4], _count(o.rows_inserted), _count(o.rows_updated), *r[4:])
                for r, o in zip(rows, outcomes, strict=True)]
    return format_table(header, rows)


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
