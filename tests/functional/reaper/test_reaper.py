"""The reaper against real S3 (moto, SeaweedFS), a real SQLite state store and a real PostgreSQL for
staging tables (its pure decisions: tests/unit/reaper/test_rules.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from loader.adapters import s3
from loader.connection import ConnectionSpec
from loader.naming import s3_uri, temp_prefix
from loader.reaper.apply import (
    ReapPolicy,
    ReapReport,
    default_buckets,
    format_report,
    reap,
    reap_staging_tables,
)
from loader.state import RunStatus, StateStore
from loader.testing.s3server import S3Server
from tests.unit.reaper.test_rules import ep

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
ROOT = "tmp/postgres-copy"
POLICY = ReapPolicy()  # grace 6h, resume window 24h, stale after 30m


# --- real S3 + real state store ---------------------------------------------------------------------------


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Made:
    run_id: str | None
    key: str
    objects: int


class World:
    """A state store with a hand-moved clock and a bucket to stage into."""

    def __init__(self, state_url: str, client: Any, bucket: str, now: datetime) -> None:
        self.now = now
        self.clock = Clock(now)
        self.store = StateStore(state_url, clock=self.clock)
        self.client = client
        self.bucket = bucket

    def put(self, key: str, body: bytes | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body if body is not None else key.encode())

    def put_prefix(self, key: str, objects: int) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: self.put(f"{key}part-{i:05d}.csv", f"{key}:{i}\n".encode() * (i + 1)),
                          range(objects)))

    def run(self, status: RunStatus | None, *, started_ago: timedelta = 2 * H,
            heartbeat_ago: timedelta | None = None, finished_ago: timedelta | None = None,
            cleanup: str | None = "pending", objects: int = 3, table: str = "orders",
            bucket: str | None = None) -> Made:
        """A run in ``status`` owning a prefix with ``objects`` objects (status None: no run at all)."""
        started = self.now - started_ago
        run_id = uuid.uuid4().hex
        key = temp_prefix(ROOT, table, run_id, now=started.timestamp())
        if status is None:
            self.put_prefix(key, objects)
            return Made(None, key, objects)
        s = self.store
        self.clock.now = started
        s.create_run(run_id, manifest_name="m", manifest_hash="h", target=f"public.{table}",
                     target_db="u@h:5432/db", method_requested="copy", write_mode="append")
        s.update(run_id, bucket=bucket or self.bucket, temp_path=s3_uri(bucket or self.bucket, key),
                 cleanup_status="pending")
        beat = self.now - (heartbeat_ago if heartbeat_ago is not None else timedelta(minutes=1))
        end = self.now - (finished_ago if finished_ago is not None else timedelta(minutes=1))
        if status is RunStatus.PENDING:
            self.clock.now = beat
            s.heartbeat(run_id)
        elif status in (RunStatus.STAGING, RunStatus.STAGED, RunStatus.LOADING):
            self.clock.now = beat
            s.start_staging(run_id)
            if status is not RunStatus.STAGING:
                s.finish_staging(run_id)
            if status is RunStatus.LOADING:
                s.start_loading(run_id, expected=RunStatus.STAGED)
        elif status is RunStatus.FAILED:
            s.start_staging(run_id)
            self.clock.now = end
            s.fail(run_id, "boom")
        elif status is RunStatus.SUCCEEDED:
            s.start_staging(run_id)
            s.finish_staging(run_id)
            s.start_loading(run_id, expected=RunStatus.STAGED)
            self.clock.now = end
            s.succeed(run_id, rows=1)
        elif status is RunStatus.ABANDONED:
            self.clock.now = end
            s.abandon(run_id, "operator")
        s.update(run_id, cleanup_status=cleanup)
        self.clock.now = self.now
        self.put_prefix(key, objects)
        return Made(run_id, key, objects)


def snapshot(client: Any, bucket: str) -> dict[str, tuple[bytes, str]]:
    """Every object of the bucket: key -> (body, ETag)."""
    out = {}
    for obj in s3.iter_objects(client, bucket, ""):
        got = client.get_object(Bucket=bucket, Key=obj["Key"])
        out[obj["Key"]] = (got["Body"].read(), got["ETag"])
    return out


FOREIGN_KEYS = [
    "tmp/postgres-copy/orders-123-xyz/a",
    "tmp/postgres-copy/orders-1700000000-DEADBEEF/a",
    "tmp/postgres-copyX/orders-1700000000-deadbeef/a",
    "tmp/postgres-copy/orders-1700000000-deadbeef",  # an object, not a prefix
    "other/tmp/postgres-copy/orders-1700000000-deadbeef/a",
    "tmp/postgres-copy/README",  # directly under the root
    "tmp/postgres-copy/nested/orders-1700000000-deadbeef/a",
    "tmp/postgres-copy/orders-1700000000-deadbeef0/a",
    "tmp/postgres-copy",
    "tmp/other/orders-1700000000-deadbeef/a",
    "data/trips/part-00000.parquet",
    "orders-1700000000-deadbeef/a",
]


@dataclass
class Scenario:
    world: World
    deleted: dict[str, Made]  # expected deletions by name
    kept: dict[str, Made]


def build_scenario(world: World) -> Scenario:
    w = world
    deleted = {
        "failed beyond window": w.run(RunStatus.FAILED, started_ago=40 * H, finished_ago=30 * H),
        "succeeded, cleanup failed": w.run(RunStatus.SUCCEEDED, cleanup="failed", objects=5),
        "succeeded, cleanup pending": w.run(RunStatus.SUCCEEDED, cleanup="pending"),
        "succeeded, cleanup done but objects": w.run(RunStatus.SUCCEEDED, cleanup="done", objects=2),
        "abandoned, no cleanup": w.run(RunStatus.ABANDONED, cleanup=None),
        "kept beyond window": w.run(RunStatus.SUCCEEDED, cleanup="kept", finished_ago=30 * H, started_ago=31 * H),
        "stale staging": w.run(RunStatus.STAGING, heartbeat_ago=2 * H),
        "stale pending": w.run(RunStatus.PENDING, heartbeat_ago=45 * timedelta(minutes=1)),
        "stale loading": w.run(RunStatus.LOADING, heartbeat_ago=5 * H),
        "unknown old": w.run(None, started_ago=7 * H),
    }
    # the object next to it ("...-deadbeef" without a slash) is foreign and must survive
    w.put_prefix("tmp/postgres-copy/orders-1700000000-deadbeef/", 4)
    deleted["unknown ancient"] = Made(None, "tmp/postgres-copy/orders-1700000000-deadbeef/", 4)
    kept = {
        "live loading": w.run(RunStatus.LOADING, heartbeat_ago=timedelta(minutes=2)),
        "live pending, old prefix": w.run(RunStatus.PENDING, started_ago=30 * H, heartbeat_ago=timedelta(0)),
        "failed resumable": w.run(RunStatus.FAILED, finished_ago=2 * H),
        "kept on request": w.run(RunStatus.SUCCEEDED, cleanup="kept", finished_ago=H),
        "unknown fresh": w.run(None, started_ago=H),
    }
    for key in FOREIGN_KEYS:
        w.put(key)
    return Scenario(world, deleted, kept)


@pytest.fixture()
def world(bucket: str, state_url: str) -> Iterator[World]:
    w = World(state_url, s3.make_client(), bucket, datetime.now(timezone.utc).replace(microsecond=0))
    yield w
    w.store.close()


def check_after_reap(sc: Scenario, report: ReapReport, before: dict[str, tuple[bytes, str]]) -> None:
    w = sc.world
    gone = {m.key for m in sc.deleted.values()}
    after = snapshot(w.client, w.bucket)
    assert after == {k: v for k, v in before.items() if not any(k.startswith(p) for p in gone)}
    assert report.ok, format_report(report)
    assert {e.prefix for e in report.deleted} == gone
    assert report.objects_deleted == sum(m.objects for m in sc.deleted.values())
    assert report.bytes_freed == sum(len(v[0]) for k, v in before.items() if any(k.startswith(p) for p in gone))
    kept_prefixes = {e.prefix for e in report.kept}
    assert {m.key for m in sc.kept.values()} <= kept_prefixes
    # the look-alike common prefixes are reported as kept, never deleted
    assert "tmp/postgres-copy/orders-123-xyz/" in kept_prefixes
    assert "tmp/postgres-copy/orders-1700000000-DEADBEEF/" in kept_prefixes
    reaps = {r.prefix: r for r in w.store.reaps(limit=None)}
    assert set(reaps) == gone
    for m in sc.deleted.values():
        assert reaps[m.key].objects == m.objects and reaps[m.key].run_id == m.run_id
        if m.run_id is not None:
            rec_ = w.store.get(m.run_id)
            assert rec_.cleanup_status == "done"
    for name in ("stale staging", "stale pending", "stale loading", "failed beyond window"):
        r = w.store.get(sc.deleted[name].run_id or "")
        assert r.status is RunStatus.ABANDONED and r.error and "reaper" in r.error
    assert w.store.get(sc.kept["live loading"].run_id or "").status is RunStatus.LOADING
    assert w.store.get(sc.kept["failed resumable"].run_id or "").status is RunStatus.FAILED
    assert w.store.get(sc.kept["kept on request"].run_id or "").cleanup_status == "kept"


def test_reap_deletes_exactly_the_right_prefixes(world: World) -> None:
    sc = build_scenario(world)
    before = snapshot(world.client, world.bucket)
    report = reap(world.store, [world.bucket], ReapPolicy(reaper_id="t1"), now=world.now)
    check_after_reap(sc, report, before)
    text = format_report(report)
    assert text.count("\nDELETE ") + text.startswith("DELETE ") == len(sc.deleted)
    entry = next(e for e in report.entries if e.prefix == sc.deleted["succeeded, cleanup failed"].key)
    assert "cleanup failed" in entry.reason and entry.run_id == sc.deleted["succeeded, cleanup failed"].run_id
    assert next(e for e in report.entries if e.prefix == sc.deleted["stale loading"].key).abandoned
    # a second reap finds nothing more to delete and records nothing twice
    again = reap(world.store, [world.bucket], ReapPolicy(), now=world.now)
    assert again.prefixes_deleted == 0 and again.ok
    assert len(world.store.reaps(limit=None)) == len(sc.deleted)


def test_dry_run_deletes_and_records_nothing_but_decides_the_same(world: World, state_url: str) -> None:
    sc = build_scenario(world)
    before = snapshot(world.client, world.bucket)
    statuses = {r.run_id: (r.status, r.cleanup_status) for r in world.store.list_runs(limit=None)}
    dry = reap(world.store, [world.bucket], ReapPolicy(dry_run=True), now=world.now)
    assert snapshot(world.client, world.bucket) == before
    assert world.store.reaps(limit=None) == []
    assert {r.run_id: (r.status, r.cleanup_status) for r in world.store.list_runs(limit=None)} == statuses
    assert dry.dry_run and dry.delete_requests == 0
    assert "nothing was deleted or recorded" in format_report(dry)
    assert "would be marked abandoned" in format_report(dry)
    real = reap(world.store, [world.bucket], ReapPolicy(), now=world.now)
    check_after_reap(sc, real, before)
    assert [(e.prefix, e.action, e.objects) for e in dry.entries] == [(e.prefix, e.action, e.objects)
                                                                      for e in real.entries]
    assert (dry.prefixes_deleted, dry.objects_deleted, dry.bytes_freed) == (
        real.prefixes_deleted, real.objects_deleted, real.bytes_freed)


def test_table_filter_reaps_only_that_table(world: World) -> None:
    mine = world.run(None, started_ago=7 * H, table="orders")
    other = world.run(None, started_ago=7 * H, table="trips")
    report = reap(world.store, [world.bucket], ReapPolicy(table="orders"), now=world.now)
    assert [e.prefix for e in report.entries] == [mine.key]
    left = snapshot(world.client, world.bucket)
    assert not any(k.startswith(mine.key) for k in left)
    assert sum(k.startswith(other.key) for k in left) == other.objects


def test_missing_bucket_is_reported_and_others_still_reaped(world: World) -> None:
    old = world.run(None, started_ago=7 * H)
    report = reap(world.store, ["no-such-bucket-" + uuid.uuid4().hex[:8], world.bucket], ReapPolicy(),
                  now=world.now)
    assert len(report.errors) == 1 and "no-such-bucket" in report.errors[0] and not report.ok
    assert [e.prefix for e in report.deleted] == [old.key]


def test_default_buckets(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.run(RunStatus.LOADING, bucket="seen-bucket")
    monkeypatch.setenv("PYSPARK_TEMP_S3_BUCKET", world.bucket)
    assert default_buckets(world.store) == ["seen-bucket", world.bucket]
    world.store.record_reap(world.bucket, "x/", 1, 1, "t")
    assert default_buckets(world.store) == sorted(["seen-bucket", world.bucket])


def test_two_concurrent_reapers_delete_each_prefix_once(world: World, state_url: str) -> None:
    made = [world.run(None, started_ago=7 * H, objects=1 + (i % 7) * 3) for i in range(24)]
    made += [world.run(RunStatus.SUCCEEDED, cleanup="failed", objects=4) for _ in range(6)]
    made += [world.run(RunStatus.LOADING, heartbeat_ago=2 * H, objects=5) for _ in range(6)]
    made.append(world.run(None, started_ago=7 * H, objects=1100))  # > 1 delete batch
    live = world.run(RunStatus.LOADING, objects=3)
    total = sum(m.objects for m in made)
    barrier = threading.Barrier(2)
    reports: list[ReapReport] = []
    errors: list[BaseException] = []

    def one(n: int) -> None:
        store = StateStore(state_url)
        try:
            barrier.wait()
            reports.append(reap(store, [world.bucket], ReapPolicy(reaper_id=f"r{n}"), client=s3.make_client(),
                                now=world.now))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(reports) == 2 and all(r.ok for r in reports), [format_report(r) for r in reports]
    counted = [e.prefix for r in reports for e in r.deleted]
    assert sorted(counted) == sorted(m.key for m in made)  # each prefix counted by exactly one reaper
    assert sum(r.objects_deleted for r in reports) == total
    reaps = world.store.reaps(limit=None)
    assert len(reaps) == len(made) and sum(r.objects for r in reaps) == total
    left = snapshot(world.client, world.bucket)
    assert set(left) == {f"{live.key}part-{i:05d}.csv" for i in range(3)}
    for m in made[30:36]:
        assert world.store.get(m.run_id or "").status is RunStatus.ABANDONED


def test_a_starting_run_is_never_deleted(world: World, state_url: str) -> None:
    """Runs start (record, then write objects slowly) while a reaper with grace 0 reaps in a loop:
    only ownership protects them, and it is enough because the prefix is recorded before the
    first object exists."""
    stop = threading.Event()
    reports: list[ReapReport] = []
    errors: list[BaseException] = []

    def reaper() -> None:
        store = StateStore(state_url)
        client = s3.make_client()
        try:
            while not stop.is_set():
                reports.append(reap(store, [world.bucket], ReapPolicy(grace=timedelta(0)), client=client))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            store.close()

    store = StateStore(state_url)
    thread = threading.Thread(target=reaper)
    thread.start()
    written: list[str] = []
    try:
        for _ in range(8):
            run_id = uuid.uuid4().hex
            key = temp_prefix(ROOT, "orders", run_id)
            store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.orders",
                             target_db="u@h:5432/db", method_requested="copy", write_mode="append")
            store.update(run_id, bucket=world.bucket, temp_path=s3_uri(world.bucket, key), cleanup_status="pending")
            store.start_staging(run_id)
            for i in range(4):
                part = f"{key}part-{i:05d}.csv"
                world.client.put_object(Bucket=world.bucket, Key=part, Body=b"x\n")
                written.append(part)
                store.heartbeat(run_id)
                time.sleep(0.02)
    finally:
        time.sleep(0.2)
        stop.set()
        thread.join(60)
        store.close()
    assert not errors, errors
    assert len(reports) >= 2
    assert all(e.action == "keep" for r in reports for e in r.entries), [format_report(r) for r in reports]
    assert set(snapshot(world.client, world.bucket)) == set(written)


@pytest.mark.seaweed
def test_reap_on_seaweedfs(seaweed_server: S3Server, state_url: str) -> None:
    client = seaweed_server.client()
    bucket = seaweed_server.create_bucket("reap-" + uuid.uuid4().hex[:12])
    w = World(state_url, client, bucket, datetime.now(timezone.utc).replace(microsecond=0))
    try:
        sc = build_scenario(w)
        before = snapshot(client, bucket)
        dry = reap(w.store, [bucket], ReapPolicy(dry_run=True), client=client, now=w.now)
        assert snapshot(client, bucket) == before and dry.prefixes_deleted == len(sc.deleted)
        report = reap(w.store, [bucket], ReapPolicy(), client=client, now=w.now)
        check_after_reap(sc, report, before)
    finally:
        w.store.close()


# --- staging tables in a real PostgreSQL ---------------------------------------------------------------------


def _tables(conn: Any) -> set[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relkind IN ('r', 'p', 'v') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                          AND n.nspname NOT LIKE 'pg_toast%'""")
        return {(s, t) for s, t in cur.fetchall()}


def test_reap_staging_tables(pg_db: ConnectionSpec, pg_conn: Any, state_url: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = Clock(now)
    store = StateStore(state_url, clock=clock)

    def run(status: RunStatus, beat: timedelta = timedelta(0), end: timedelta = timedelta(0)) -> str:
        run_id = uuid.uuid4().hex
        clock.now = now - 2 * H
        store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.t", target_db="d",
                         method_requested="optimized", write_mode="append")
        clock.now = now - beat
        if status is RunStatus.LOADING:
            store.start_loading(run_id, expected=RunStatus.PENDING)
        elif status is RunStatus.FAILED:
            clock.now = now - end
            store.fail(run_id, "boom")
        elif status is RunStatus.SUCCEEDED:
            store.start_loading(run_id, expected=RunStatus.PENDING)
            clock.now = now - end
            store.succeed(run_id, rows=0)
        clock.now = now
        return run_id

    fresh_epoch = ep(now - H)
    live = run(RunStatus.LOADING, beat=timedelta(minutes=1))
    stale = run(RunStatus.LOADING, beat=2 * H)
    resumable = run(RunStatus.FAILED, end=2 * H)
    failed_old = run(RunStatus.FAILED, end=30 * H)
    done = run(RunStatus.SUCCEEDED, end=timedelta(minutes=1))
    odd_schema = 'Odd "schema".x'

    def stage(rid: str, epoch: int = fresh_epoch) -> str:
        return f"loader_stage_{rid[:8]}_{epoch}"

    drop = {("public", stage(stale)), ("public", stage(failed_old)), ("public", stage(done)),
            ("public", "loader_stage_0badf00d_1700000000"), (odd_schema, "loader_stage_0badf00e_1700000000")}
    keep = {("public", stage(live)), ("public", stage(resumable)), ("public", f"loader_stage_0badf00f_{fresh_epoch}"),
            ("public", "loader_stage_DEADBEEF_1700000000"), ("public", "loader_stage_deadbeef_1700000000_x"),
            ("public", "xloader_stage_deadbeef_1700000000"), ("public", "loader_stagex_deadbeef_1700000000"),
            ("public", "orders"), (odd_schema, "orders")}
    with pg_conn.cursor() as cur:
        cur.execute('CREATE SCHEMA "Odd ""schema"".x"')
        for schema, table in drop | keep:
            q_schema = '"' + schema.replace('"', '""') + '"'
            cur.execute(f'CREATE UNLOGGED TABLE {q_schema}."{table}" (id int)')
        cur.execute("INSERT INTO public.orders VALUES (1), (2)")
        # a view with a staging table's name is not a table: never dropped
        cur.execute('CREATE VIEW public."loader_stage_0badf011_1700000000" AS SELECT 1 AS one')
    keep.add(("public", "loader_stage_0badf011_1700000000"))

    dry = reap_staging_tables(store, pg_db, ReapPolicy(dry_run=True))
    assert _tables(pg_conn) == drop | keep
    assert {tuple(e.prefix.split(".", 1)) for e in dry.deleted if "Odd" not in e.prefix} == {
        d for d in drop if d[0] == "public"}
    assert store.get(stale).status is RunStatus.LOADING

    report = reap_staging_tables(store, pg_db, ReapPolicy())
    assert report.ok, format_report(report)
    assert _tables(pg_conn) == keep
    assert report.prefixes_deleted == len(drop)
    assert all(e.kind == "table" for e in report.entries)
    assert store.get(stale).status is RunStatus.ABANDONED
    assert store.get(failed_old).status is RunStatus.ABANDONED
    assert store.get(live).status is RunStatus.LOADING
    assert store.get(resumable).status is RunStatus.FAILED
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.orders")
        assert cur.fetchone()[0] == 2
    text = format_report(report)
    assert "DROP " in text and "staging tables" in text.splitlines()[-1]
    again = reap_staging_tables(store, pg_db, ReapPolicy())
    assert again.prefixes_deleted == 0 and again.ok
    store.close()
