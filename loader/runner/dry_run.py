"""The dry run: what each manifest's run would do, and every problem that can be found without
moving data. It reads (the source's footer or header, the target catalog, the bucket, the state
store's marks, for add_columns the source's schema) but writes nothing anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..adapters import pg, s3
from ..copy.formats import planned_format
from ..destination import slices
from ..destination.landing_rules import in_place_refusal
from ..destination.modes import write_mode
from ..errors import LoaderError
from ..manifest import Manifest
from ..naming import quote_ident
from ..options import Method
from ..plan.choose import COPY_MIN_BYTES, COPY_MIN_ROWS, choose_method
from ..plan.facts import copy_ready
from ..plan.narrowing import narrowings
from ..plan.typemap import create_table_sql, match_columns, missing_schema_refusal
from ..redact import redact
from ..state import StateStore
from . import incremental
from .checks import Problem, check_against_source, privileges, source_shape
from .dry_run_path import planned_path
from .incremental import WindowChoice
from .sources import read_source


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
    #: a slice replace: the predicate and how many rows it would delete now, or the replace_by columns
    replaces: str = ""
    #: the columns the table keeps with fewer decimals or digits than the source (plan/narrowing.py)
    narrows: tuple[str, ...] = ()
    #: what the run does with a value a narrowed column would change: round or error
    on_narrowing: str = "round"
    #: an overwrite or slice replace: what an empty source does (refused unless target.allow_empty)
    if_empty: str = ""
    #: copy.connections > 1: through a shadow table over N connections, or in place, and why
    path: str = ""
    #: a whole-table overwrite's dependents (views, foreign keys to it, ...), each with what happens to it
    dependents: tuple[str, ...] = ()
    #: whose privileges were checked and where the ledger is ("" when the database was not reached)
    privileges: str = ""
    #: "file: field: message" for each problem found; a dry run with any exits non-zero
    problems: tuple[str, ...] = ()
    #: "file: field: message" for what the run works around (a fallback): shown, exit status unchanged
    warnings: tuple[str, ...] = ()



def dry_run(manifests: list[Manifest], store: StateStore | None = None,
            choice: WindowChoice = WindowChoice(), spark: Any = None) -> list[Plan]:
    return [_plan(m, store, choice, spark) for m in manifests]


def _plan(m: Manifest, store: StateStore | None = None, choice: WindowChoice = WindowChoice(),
          spark: Any = None) -> Plan:
    """What the run would do, and every problem that can be found without moving data."""
    problems: list[Problem] = []
    warnings: list[str] = []
    shape = source_shape(m, problems)
    columns, has_unique, referencing = _target_facts(m, problems)
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
    bucket, origin = s3.resolve_bucket(m.copy.bucket)
    if m.method is Method.AUTO:
        ready, why_not = copy_ready(bucket)
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
        root = f"s3://{bucket}/{m.copy.prefix.strip('/')}/"
        if m.method is Method.COPY:  # auto checked it already: not ready only means optimized JDBC
            unusable = _check_bucket(bucket, "copy.bucket" if m.copy.bucket else origin)
            if unusable and m.copy.fallback == "optimized":
                # the run falls back to optimized JDBC on this StagingError: say that, as the run will
                method, root = "optimized", None
                why = f"copy requested, but {unusable}: the run falls back to optimized JDBC"
                copy_possible = False
                warnings.append(f"copy.bucket: {unusable} -> create it or name another in copy.bucket to load "
                                "by COPY")
            elif unusable:
                problems.append(("copy.bucket", f"{unusable} -> create it or name another in copy.bucket "
                                 "(copy.fallback is none: the run would fail)"))
    staging = planned_format(m.copy.format, [(c.name, c.data_type) for c in columns] if columns else None,
                             reject=m.on_error == "reject") if copy_possible else "-"
    creates = checked and not exists and m.target.create == "if_missing" and not any(f == "target.table" for f, _ in problems)
    rights = _privileges(m, Method.AUTO if method == "copy or optimized" else Method(method), problems) \
        if checked else ""
    create_sql = create_table_sql(m.target.ref, shape.schema, m.target.key) if creates and shape.schema else None
    adds, added = _planned_additions(m, columns, spark)
    planned = planned_path(m, copy_possible=copy_possible and checked, exists=exists, adds=added)
    refused = planned.refusal
    write = write_mode(m.target.mode, m.target.key, replace_where=m.target.replace_where,
                       replace_by=m.target.replace_by, overwrite=m.target.overwrite)
    if not copy_possible and exists and write.replaces_table:  # the JDBC methods replace the rows in place
        refused = in_place_refusal(m.target.ref, referencing, truncates=write.truncates)
    _refusal("target.mode", refused, problems)
    return Plan(manifest=m.name, source=f"{m.source.format} {source}", target=str(m.target.ref),
                mode=str(m.target.mode), method=method, why=why, temp_prefix_root=root,
                creates_table=creates, table_exists=exists, staging=staging, create_sql=create_sql,
                target_checked=checked, replaces=_planned_slice(m, exists, problems), if_empty=_if_empty(m),
                source_note=shape.note, privileges=rights, problems=tuple(f"{m.path}: {f}: {msg}" for f, msg in problems),
                warnings=tuple(f"{m.path}: {w}" for w in warnings),
                adds=adds, path=planned.line, dependents=planned.dependents,
                narrows=tuple(n.describe() for n in narrowings(shape.schema, {c.name: c.checked_type for c in columns}))
                if shape.schema is not None and columns else (), on_narrowing=m.target.on_narrowing,
                window=incremental.describe_planned(m, store or StateStore(), choice) if m.source.incremental else "-")


def _privileges(m: Manifest, method: Method, problems: list[Problem]) -> str:
    """Each privilege the run would miss is a problem, named with its GRANT (destination/privileges.py)."""
    ledger = f"ledger in schema {m.target.loader_schema}" + \
        (" (target.ledger_schema)" if m.target.ledger_schema else "")
    try:
        report = privileges(m, method)
    except LoaderError as exc:
        problems.append(("target.connection", exc.message))
        return ""
    problems.extend(("privileges", line) for line in report.lines())
    held = "holds every privilege" if report.ok else f"lacks {len(report.missing)} privilege(s)"
    return f"role {report.role} {held} a load by {method} needs; {ledger}"


def _if_empty(m: Manifest) -> str:
    """What the run does when the source holds no rows, for the modes that delete: an empty extract
    is more often a broken job than news, so it fails unless the manifest says it may empty."""
    if m.target.mode != "overwrite":
        return ""
    if m.target.replace_by:
        return "an empty source names no slice, so it replaces nothing"
    what = "the slice" if m.target.replace_where is not None else "the table"
    if m.target.allow_empty:
        return f"an empty source empties {what} (target.allow_empty: true)"
    return (f"an empty source fails the run and leaves {what} as it is (set target.allow_empty: true "
            "to let it empty)")


def _planned_additions(m: Manifest, columns: list[Any] | None, spark: Any) -> tuple[str, tuple[str, ...]]:
    """What ``add_columns`` would add to an existing table, in words and as column names: the
    source's schema is read (its footers or catalog entry, not its rows) and matched as the run
    will match it."""
    if m.target.schema_evolution != "add_columns":
        return "", ()
    if columns is None:
        return "none (the table is created from the source)", ()
    if spark is None:
        from ..adapters.spark import get_or_create_session

        spark = get_or_create_session()
    try:
        schema = read_source(spark, m.source, where=f"{m.path}: source").schema
        plan = match_columns(m.target.ref, schema, columns, add_columns=True)
    except LoaderError as exc:
        return f"none, the run would fail: {redact(exc.message)}", ()
    types = dict(zip(plan.names, plan.pg_types, strict=True))
    text = ", ".join(f"{quote_ident(n)} {types[n]}" for n in plan.added) or "none (no new source column)"
    return text, tuple(plan.added)


def _planned_slice(m: Manifest, exists: bool, problems: list[Problem]) -> str:
    """What a slice replace would delete: the server checks the predicate and counts its rows now."""
    if m.target.replace_by:
        return (f"the slices by ({', '.join(m.target.replace_by)}) that the source holds (deleted, then "
                "loaded again, in one transaction; other slices untouched)")
    if m.target.replace_where is None:
        return ""
    where = f"rows where {m.target.replace_where}"
    if not exists:
        return f"{where} (the table is new: nothing to delete)"
    try:
        conn = pg.connect(m.target.connection)
    except LoaderError:
        return where  # target.connection's problem is reported already
    try:
        with conn.cursor() as cur:
            count = slices.validate(cur, m.target.ref, m.target.replace_where, count=True)
    except LoaderError as exc:
        problems.append(("target.replace_where", exc.message + (f" -> {exc.next_step}" if exc.next_step else "")))
        return where
    finally:
        conn.close()
    return f"{where}: {count:,} row(s) now, deleted and loaded again in one transaction"


def _target_facts(m: Manifest, problems: list[Problem]) -> tuple[list[Any] | None, bool, tuple[str, ...]]:
    """The target's columns (None: no such table), whether the upsert key has a unique index, and the
    foreign keys of other tables to it."""
    try:
        conn = pg.connect(m.target.connection)
    except LoaderError as exc:
        problems.append(("target.connection", exc.message + (f" -> {exc.next_step}" if exc.next_step else "")))
        return None, False, ()
    try:
        with conn.cursor() as cur:
            columns = pg.table_columns(cur, m.target.ref)
            key = m.target.key
            if columns is None and not pg.schema_exists(cur, m.target.ref.schema):
                _refusal("target.table", missing_schema_refusal(m.target.ref), problems)
            referencing = pg.referencing_foreign_keys(cur, m.target.ref) if columns is not None else ()
            return columns, bool(key) and columns is not None and pg.has_unique_index(cur, m.target.ref, key), \
                referencing
    finally:
        conn.close()


def _refusal(field: str, refused: tuple[str, str] | None, problems: list[Problem]) -> None:
    """A refusal the run would raise before any data moves (the same function decides), as a problem."""
    if refused:
        problems.append((field, f"{refused[0]} -> {refused[1]}"))


def _check_bucket(bucket: str, origin: str) -> str | None:
    """Why the bucket cannot stage (None: it can), as the run's own check (copy/method.py) would find."""
    try:
        s3.check_bucket(s3.make_client(max_attempts=1), bucket)
    except LoaderError as exc:
        return f"bucket {bucket} ({origin}) is not usable: {exc.message}"
    return None
