"""The reaper drops the shadow tables of dead overwrites (reaper/table_rules.py), with their rows in
loader_shadow_parts, and never a live or resumable run's: real PostgreSQL and state store, the shadows
made by the load's own code (destination/shadow_swap.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from loader.connection import ConnectionSpec
from loader.destination.shadow_catalog import read_facts
from loader.destination.shadow_swap import ShadowTable
from loader.naming import TableRef, shadow_comment
from loader.reaper.apply import ReapPolicy, format_report, reap_all_staging_tables
from loader.state import RunStatus, StateStore
from tests.functional.reaper.test_reaper import Clock

H = timedelta(hours=1)


def _shadow(pg_db: ConnectionSpec, pg_conn: Any, table: str, run_id: str) -> ShadowTable:
    """``table`` with rows, and run ``run_id``'s shadow of it holding one loaded part."""
    import psycopg2

    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v text)")
        cur.execute(f"INSERT INTO {table} VALUES (1, 'old')")
        facts = read_facts(cur, TableRef("public", table))
    assert facts is not None
    shadow = ShadowTable(pg_db, TableRef("public", table), run_id, facts)
    conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
    try:
        shadow.create(conn, reuse=lambda parts: False)
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {shadow.ref.quoted} VALUES (2, 'new')")
            shadow.record_part(cur, "tmp/part-00000-00000.bin", 1)
        conn.commit()
    finally:
        conn.close()
    return shadow


def _present(pg_conn: Any) -> tuple[set[str], set[str]]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE '%\\_\\_loader\\_shadow\\_%' AND relkind = 'r'")
        tables = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT DISTINCT shadow FROM loader_shadow_parts")
        return tables, {r[0] for r in cur.fetchall()}


def test_the_reaper_drops_dead_runs_shadows_and_keeps_live_and_resumable_ones(
        pg_db: ConnectionSpec, pg_conn: Any, state_url: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = Clock(now)
    store = StateStore(state_url, clock=clock)

    def run(status: RunStatus, beat: timedelta = timedelta(0), end: timedelta = timedelta(0)) -> str:
        run_id = uuid.uuid4().hex
        clock.now = now - 2 * H
        store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.t",
                         target_db=pg_db.safe_description(), method_requested="copy", write_mode="overwrite")
        clock.now = now - beat
        store.start_loading(run_id, expected=RunStatus.PENDING)
        if status is RunStatus.FAILED:
            clock.now = now - end
            store.fail(run_id, "boom")
        clock.now = now
        return run_id

    runs = {"live": run(RunStatus.LOADING, beat=timedelta(minutes=1)), "stale": run(RunStatus.LOADING, beat=2 * H),
            "resumable": run(RunStatus.FAILED, end=2 * H), "expired": run(RunStatus.FAILED, end=30 * H)}
    shadows = {what: _shadow(pg_db, pg_conn, f"rs_{what}", rid) for what, rid in runs.items()}
    for what, rid in runs.items():  # the load records its shadow as the run's staging table
        store.update(rid, staging_table=shadows[what].ref.table)
    # shadows no run of this store owns: by the age in their comment
    for what, age in (("gone_old", 7 * H), ("gone_young", H), ("gone_unaged", None)):
        shadows[what] = _shadow(pg_db, pg_conn, f"rs_{what}", uuid.uuid4().hex)
        with pg_conn.cursor() as cur:
            comment = None if age is None else shadow_comment(shadows[what].run_id, now=(now - age).timestamp())
            cur.execute(f"COMMENT ON TABLE {shadows[what].ref.quoted} IS %s", (comment,))
    names = {what: s.ref.table for what, s in shadows.items()}
    assert _present(pg_conn) == (set(names.values()), set(names.values()))

    dry = reap_all_staging_tables(store, ReapPolicy(dry_run=True), given=[pg_db])
    assert _present(pg_conn)[0] == set(names.values())
    dropped = {"stale", "expired", "gone_old"}
    assert {e.prefix for r in dry for e in r.deleted} == {f"public.{names[w]}" for w in dropped}

    reports = reap_all_staging_tables(store, ReapPolicy(), given=[pg_db])
    assert all(r.ok for r in reports), [format_report(r) for r in reports]
    kept = {names[w] for w in names if w not in dropped}
    assert _present(pg_conn) == (kept, kept)  # the part rows went with their shadow
    assert store.get(runs["stale"]).status is RunStatus.ABANDONED
    assert store.get(runs["expired"]).status is RunStatus.ABANDONED
    assert store.get(runs["live"]).status is RunStatus.LOADING
    assert store.get(runs["resumable"]).status is RunStatus.FAILED
    # a dropped shadow is forgotten by its run; a kept one is not
    assert store.get(runs["stale"]).staging_table is None
    assert store.get(runs["live"]).staging_table == names["live"]
    with pg_conn.cursor() as cur:  # the targets were never touched
        cur.execute("SELECT count(*) FROM rs_stale UNION ALL SELECT count(*) FROM rs_gone_old")
        assert cur.fetchall() == [(1,), (1,)]
    store.close()
