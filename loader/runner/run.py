"""The manifest runner: validate → plan → load → record, for every manifest given.

Each manifest is one target table. Manifests are independent, so they may run
concurrently (``parallel``); two runs of the same table are kept apart by the
PostgreSQL advisory lock the engine takes. ``dry_run`` plans and prints only:
it reads (table existence, bucket reachability) but writes nothing anywhere.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import interrupt
from ..adapters import pg
from ..adapters import s3 as s3a
from ..copy.formats import planned_format
from ..engine.execute import execute
from ..errors import ConfigError, Interrupted, LoaderError, RunNotFoundError, SourceChangedError
from ..manifest import Manifest, load_manifests
from ..naming import new_run_id, quote_ident
from ..options import Method, WriteMode
from ..plan.choose import COPY_MIN_BYTES, COPY_MIN_ROWS, choose_method
from ..plan.facts import copy_ready
from ..plan.typemap import create_table_sql, match_columns
from ..redact import redact, register
from ..request import LoadRequest
from ..state import StateStore
from . import incremental
from .checks import Problem, check_against_source, source_shape
from .incremental import IncrementalLoad, WindowChoice
from .locate import find_run_manifest
from .sources import check_unchanged, fingerprint, read_source

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
class Plan:
    manifest: str
    source: str
    target: str
    mode: str
    method: str
    why: str
    temp_prefix_root: str | None
    creates_table: bool
    #: the target table exists now (False and not creates_table: the run will fail, create is 'never')
    table_exists: bool = True
    #: COPY's staging format as far as it can be told before the source is read
    staging: str = "-"
    #: schema_evolution add_columns: the columns the run would add (the source's schema is read)
    adds: str = ""
    #: the rows an incremental manifest's run would load
    window: str = "-"
    #: the CREATE TABLE of a table the run will create, when the source's columns are known
    create_sql: str | None = None
    #: the target database was reached (False: table_exists and creates_table say nothing)
    target_checked: bool = True
    #: how the source's columns were learnt, or why they are known only when Spark reads it
    source_note: str = ""
    #: "file: field: message" for each problem found; a dry run with any exits non-zero
    problems: tuple[str, ...] = ()


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


def dry_run(manifests: list[Manifest], store: StateStore | None = None,
            choice: WindowChoice = WindowChoice(), spark: Any = None) -> list[Plan]:
    return [_plan(m, store, choice, spark) for m in manifests]


def _plan(m: Manifest, store: StateStore | None = None, choice: WindowChoice = WindowChoice(),
          spark: Any = None) -> Plan:
    """What the run would do, and every problem that can be found without moving data."""
    problems: list[Problem] = []
    shape = source_shape(m, problems)
    columns, has_unique = _target_facts(m, problems)
    exists = columns is not None
    checked = not any(f == "target.connection" for f, _ in problems)
    if shape.schema is not None:
        check_against_source(m, shape.schema, columns, problems)
    if columns is None and m.target.create == "never" and checked:
        problems.append(("target.create", f"table {m.target.ref} does not exist and create is 'never' -> create "
                         "it, or set target.create: if_missing"))
    if exists and m.target.mode == "upsert" and not has_unique:
        problems.append(("target.key", f"upsert on ({', '.join(m.target.key)}) needs a primary key or unique index "
                         f"on exactly those columns of {m.target.ref}"))
    method, why = str(m.method), "requested in the manifest"
    copy_possible = m.method is Method.COPY
    if m.method is Method.AUTO:
        ready, why_not = copy_ready(m.copy)
        if ready:
            # The run decides from the DataFrame's size (Spark's statistics), which a dry run
            # does not compute: say so rather than guess.
            method = "copy or optimized"
            why = (f"auto: COPY via S3 is ready; chosen when the source is read: COPY above "
                   f"{COPY_MIN_ROWS:,} rows or {COPY_MIN_BYTES // (1024 * 1024)} MB or when the size is unknown, "
                   "else optimized JDBC")
            copy_possible = True
        else:
            chosen, why = choose_method(None, None, ready, why_not)
            method = str(chosen)
    source = f"jdbc query on {m.source.connection}" if m.source.is_jdbc else m.source.path or m.source.table or ""
    source += f" where {m.source.where}" if m.source.where else ""
    source += f" select {', '.join(m.source.select)}" if m.source.select else ""
    root = None
    if copy_possible:
        bucket, origin = s3a.resolve_bucket(m.copy.bucket)
        root = f"s3://{bucket}/{m.copy.prefix.strip('/')}/"
        if m.method is Method.COPY:  # auto checked it already: not ready only means optimized JDBC
            _check_bucket(bucket, "copy.bucket" if m.copy.bucket else origin, problems)
    staging = planned_format(m.copy.format, [(c.name, c.data_type) for c in columns] if columns else None,
                             reject=m.on_error == "reject") if copy_possible else "-"
    creates = checked and not exists and m.target.create == "if_missing"
    create_sql = create_table_sql(m.target.ref, shape.schema, m.target.key) if creates and shape.schema else None
    return Plan(manifest=m.name, source=f"{m.source.format} {source}", target=str(m.target.ref),
                mode=str(m.target.mode), method=method, why=why, temp_prefix_root=root,
                creates_table=creates, table_exists=exists, staging=staging, create_sql=create_sql,
                target_checked=checked,
                source_note=shape.note, problems=tuple(f"{m.path}: {f}: {msg}" for f, msg in problems),
                adds=_planned_additions(m, columns, spark),
                window=incremental.describe_planned(m, store or StateStore(), choice) if m.source.incremental else "-")


def _planned_additions(m: Manifest, columns: list[Any] | None, spark: Any) -> str:
    """What ``add_columns`` would add to an existing table: the source's schema is read (its
    footers or catalog entry, not its rows) and matched as the run will match it."""
    if m.target.schema_evolution != "add_columns":
        return ""
    if columns is None:
        return "none (the table is created from the source)"
    if spark is None:
        from ..adapters.spark import get_or_create_session

        spark = get_or_create_session()
    try:
        schema = read_source(spark, m.source, where=f"{m.path}: source").schema
        plan = match_columns(m.target.ref, schema, columns, add_columns=True)
    except LoaderError as exc:
        return f"none, the run would fail: {redact(exc.message)}"
    types = dict(zip(plan.names, plan.pg_types, strict=True))
    return ", ".join(f"{quote_ident(n)} {types[n]}" for n in plan.added) or "none (no new source column)"


def _target_facts(m: Manifest, problems: list[Problem]) -> tuple[list[Any] | None, bool]:
    """The target's columns (None: no such table) and whether the upsert key has a unique index."""
    try:
        conn = pg.connect(m.target.connection)
    except LoaderError as exc:
        problems.append(("target.connection", exc.message + (f" -> {exc.next_step}" if exc.next_step else "")))
        return None, False
    try:
        with conn.cursor() as cur:
            columns = pg.table_columns(cur, m.target.ref)
            key = m.target.key
            return columns, bool(key) and columns is not None and pg.has_unique_index(cur, m.target.ref, key)
    finally:
        conn.close()


def _check_bucket(bucket: str, origin: str, problems: list[Problem]) -> None:
    try:
        s3a.check_bucket(s3a.make_client(max_attempts=1), bucket)
    except LoaderError as exc:
        problems.append(("copy.bucket", f"bucket {bucket} ({origin}) is not usable: {exc.message} -> create it "
                         "or name another in copy.bucket (method copy would fall back to optimized JDBC)"))


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
        _ensure_ledgers(manifests)
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
            df = read_source(spark, m.source, where=f"{m.path}: source")
            window = incremental.prepare(df, m, store, resume_record, opts.window) if m.source.incremental \
                else None
            source_fingerprint = fingerprint(m.source)  # lists the source's files: may fail as well
        except LoaderError as exc:  # a run that started: recorded like any other, failed
            exc.with_ids(run_id=_record_unread(store, m, resume_record, redact(str(exc))))
            raise
        req = request_for(m, df, opts, source_fingerprint, window)
        result = execute(req, store, resume=resume_record)
    except Interrupted as exc:  # stops the whole run, not only this manifest
        if not exc.details:  # stopped before its load started
            exc.add(f"{table} not loaded")
        raise
    except LoaderError as exc:
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
    """The run to resume, or None for a new run: an incremental manifest whose source grew since
    (or whose mark a newer run moved) starts a new run from the current mark, since its window
    cannot be staged again the same way; any other manifest refuses (SourceChangedError)."""
    try:
        check_unchanged(m.source, record.source_fingerprint, record.run_id)
        if m.source.incremental:
            incremental.check_resumable(store, m, record)
    except SourceChangedError as exc:
        if not m.source.incremental:
            raise
        log.warning("%s: %s; starting a new run from the current mark instead", m.name, exc.message)
        return None
    return record


def _record_unread(store: StateStore, m: Manifest, resumed: Any, error: str) -> str | None:
    """A run whose source could not be read is in the state store too (``loader status`` shows
    every run that started); a resumed run keeps its record and its staged parts."""
    if resumed is not None:
        return None
    try:
        run_id = new_run_id()
        store.create_run(run_id, manifest_name=m.name, manifest_hash=m.content_hash, target=str(m.target.ref),
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


def _ensure_ledgers(manifests: list[Manifest]) -> None:
    """Create each target schema's ledger table up front, in its own committed transaction.

    Otherwise two loads committing concurrently into a schema without a ledger both run
    ``CREATE TABLE IF NOT EXISTS`` inside their load transactions, and the second fails with
    a unique violation on pg_type (reported as "run ... has already committed"). Best effort:
    a database that cannot be reached is reported by the load itself."""
    done: set[tuple[str, str]] = set()
    for m in manifests:
        spec, ref = m.target.connection, m.target.ref
        key = (spec.safe_description(), ref.schema)
        if key in done:
            continue
        done.add(key)
        try:
            conn = pg.connect(spec, application_name="loader:ledger", autocommit=True)
        except LoaderError:
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s)", (pg.ledger_ref(ref).quoted,))
                if cur.fetchone()[0] is None:
                    cur.execute("SELECT pg_advisory_lock(hashtext('loader_ledger'))")
                    pg.ensure_ledger(cur, ref)
        except Exception as exc:  # a missing schema, no CREATE privilege: the load reports it
            log.debug("%s: could not create the ledger table up front: %s", m.name, exc)
        finally:
            conn.close()


def request_for(m: Manifest, df: Any, opts: RunOptions, source_fingerprint: str | None,
                window: IncrementalLoad | None = None) -> LoadRequest:
    """The one translation of a manifest into the engine's request (an incremental run loads its
    window's rows; --full-refresh replaces the table with every row)."""
    mode = WriteMode.OVERWRITE if window is not None and window.plan.full_refresh else m.target.mode
    return LoadRequest(df=window.df if window is not None else df, spec=m.target.connection, target=m.target.ref,
                       method=m.method, mode=mode, key=m.target.key, create=m.target.create, copy=m.copy,
                       jdbc=m.jdbc, watermark=window, manifest_name=m.name, manifest_hash=m.content_hash, wait_for_lock=opts.wait,
                       live_progress=opts.live_progress, source_fingerprint=source_fingerprint,
                       on_error=m.on_error, max_errors=m.max_errors, defer_indexes=m.target.defer_indexes,
                       schema_evolution=m.target.schema_evolution)


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
    df = read_source(spark, m.source, where=f"{m.path}: source")
    window = incremental.prepare(df, m, store, record) if m.source.incremental else None
    req = request_for(m, df, opts, record.source_fingerprint, window)
    t0 = time.monotonic()
    result = execute(req, store, resume=record)
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
        bucket, _ = s3a.resolve_bucket(m.copy.bucket)
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
