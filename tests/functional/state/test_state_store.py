"""StateStore on real databases: SQLite (per-test file) and PostgreSQL (per-test database)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from loader.connection import ConnectionSpec
from loader.errors import RunNotFoundError, StateError
from loader.state import (
    ENV_URL,
    SCHEMA_VERSION,
    PartRecord,
    RunRecord,
    RunStatus,
    StateStore,
    default_state_path,
    summarize,
)
from loader.testing.ports import free_port

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: Any) -> str:
    """A store URL of its own per test: SQLite file, or a PostgreSQL schema."""
    return str(request.getfixturevalue("state_url" if request.param == "sqlite" else "pg_schema_url"))


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(url: str, clock: Clock) -> Iterator[StateStore]:
    st = StateStore(url, clock=clock)
    try:
        yield st
    finally:
        st.close()


def new_run(store: StateStore, run_id: str | None = None, manifest_name: str = "orders", **kw: Any) -> str:
    run_id = run_id or uuid.uuid4().hex
    args: dict[str, Any] = {"manifest_name": manifest_name, "manifest_hash": "sha256:abc",
                            "target": "public.orders", "target_db": "loader@db.internal:5432/dw",
                            "method_requested": "auto", "write_mode": "append"}
    args.update(kw)
    store.create_run(run_id, **args)
    return run_id


# --- runs ---------------------------------------------------------------------------------


def test_create_and_get_roundtrip(store: StateStore) -> None:
    run_id = uuid.uuid4().hex
    created = store.create_run(
        run_id, manifest_name="orders", manifest_hash="sha256:abc", target="public.orders",
        target_db="loader@db.internal:5432/dw", method_requested="copy", write_mode="overwrite",
        bucket="bkt", temp_path=f"s3://bkt/loader-tmp/{run_id[:8]}/", reason="rows > threshold",
    )
    got = store.get(run_id)
    assert got == created
    assert got.status is RunStatus.PENDING
    assert (got.attempt, got.parts_staged, got.parts_loaded, got.bytes_staged, got.rows_rejected) == (1, 0, 0, 0, 0)
    assert got.rows is None and got.finished_at is None and got.timings == {}
    assert got.started_at == T0 and got.heartbeat_at == T0
    assert got.started_at.tzinfo is not None and got.started_at.utcoffset() == timedelta(0)
    assert got.short_id == run_id[:8]

    data = got.to_json_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "pending"
    assert data["started_at"] == "2024-05-01T12:00:00+00:00"
    assert data["finished_at"] is None
    assert set(data) == {f for f in RunRecord.__dataclass_fields__}


def test_datetimes_come_back_utc_whatever_the_input_zone(url: str) -> None:
    plus2 = timezone(timedelta(hours=2))
    st = StateStore(url, clock=lambda: datetime(2024, 5, 1, 14, 30, tzinfo=plus2))
    run_id = new_run(st)
    assert st.list_runs()[0].started_at.utcoffset() == timedelta(0)
    got = st.get(run_id).started_at
    assert got == datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    assert got.utcoffset() == timedelta(0)
    st.close()


def test_postgres_session_timezone_does_not_leak(pg_db: ConnectionSpec) -> None:
    """A server/session in another zone still gives UTC datetimes back."""
    st = StateStore(pg_db.sqlalchemy_url() + "?options=-c%20timezone%3DAsia/Tokyo", clock=Clock())
    run_id = new_run(st)
    with st.engine.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar() == "Asia/Tokyo"
    got = st.get(run_id)
    assert got.started_at == T0 and got.started_at.utcoffset() == timedelta(0)
    assert st.list_runs(limit=1)[0].started_at.tzname() == "UTC"
    st.close()


def test_get_missing_run(store: StateStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run deadbeef"):
        store.get("deadbeef")


def test_duplicate_run_id(store: StateStore) -> None:
    run_id = new_run(store)
    with pytest.raises(StateError, match="already exists"):
        new_run(store, run_id)


def test_update_fields(store: StateStore) -> None:
    run_id = new_run(store)
    store.update(run_id, method_used="copy", temp_path="s3://b/p/", reason="big", fallback_reason="no bucket",
                 rows=12, bytes_staged=34, rows_rejected=1, cleanup_status="kept", source_fingerprint="fp",
                 staging_table="public._loader_stage", timings={"stage": 1.5, "load": 2}, error="e")
    got = store.get(run_id)
    assert (got.method_used, got.temp_path, got.reason, got.fallback_reason) == ("copy", "s3://b/p/", "big",
                                                                              "no bucket")
    assert (got.rows, got.bytes_staged, got.rows_rejected, got.cleanup_status) == (12, 34, 1, "kept")
    assert (got.source_fingerprint, got.staging_table, got.error) == ("fp", "public._loader_stage", "e")
    assert got.timings == {"stage": 1.5, "load": 2.0}
    assert got.status is RunStatus.PENDING

    with pytest.raises(TypeError, match="status"):
        store.update(run_id, status="succeeded")
    with pytest.raises(ValueError, match="cleanup_status"):
        store.update(run_id, cleanup_status="maybe")
    with pytest.raises(RunNotFoundError):
        store.update("nope", rows=1)


def test_heartbeat(store: StateStore, clock: Clock) -> None:
    run_id = new_run(store)
    later = clock.tick(42)
    store.heartbeat(run_id)
    got = store.get(run_id)
    assert got.heartbeat_at == later and got.started_at == T0
    store.heartbeat(run_id, parts_staged=3, parts_loaded=2, rows=99)
    got = store.get(run_id)
    assert (got.parts_staged, got.parts_loaded, got.rows_in_flight, got.rows) == (3, 2, 99, None)
    with pytest.raises(RunNotFoundError):
        store.heartbeat("nope")


def test_finished_at_and_resume_fields(store: StateStore, clock: Clock) -> None:
    run_id = new_run(store)
    clock.tick(10)
    failed = store.fail(run_id, "S3 said no")
    assert failed.finished_at == T0 + timedelta(seconds=10)
    assert failed.error == "S3 said no"
    clock.tick(5)
    resumed = store.resume(run_id)
    assert (resumed.status, resumed.attempt, resumed.error, resumed.finished_at) == (RunStatus.PENDING, 2, None,
                                                                                    None)
    assert resumed.heartbeat_at == T0 + timedelta(seconds=15)
    store.start_loading(run_id)
    done = store.succeed(run_id, rows=5)
    assert done.finished_at == clock.now and done.rows == 5
    other = new_run(store)
    gone = store.abandon(other, "operator gave up")
    assert gone.status is RunStatus.ABANDONED and gone.error == "operator gave up" and gone.finished_at


# --- parts --------------------------------------------------------------------------------


def test_record_part_idempotent_and_counters(store: StateStore) -> None:
    run_id = new_run(store)
    store.start_staging(run_id)
    for i in range(3):
        assert store.record_part(run_id, i, f"p/part-{i}.csv.gz", 100 + i, 1000 * (i + 1)) == PartRecord(
            run_id, i, f"p/part-{i}.csv.gz", 100 + i, 1000 * (i + 1), "staged")
    store.record_part(run_id, 1, "p/part-1.csv.gz", 101, 2000)  # same again
    got = store.get(run_id)
    assert (got.parts_staged, got.bytes_staged, got.parts_loaded) == (3, 6000, 0)

    store.record_part(run_id, 2, "p/part-2b.csv.gz", 50, 500)  # re-staged with other content
    got = store.get(run_id)
    assert (got.parts_staged, got.bytes_staged) == (3, 3500)
    assert [p.key for p in store.parts(run_id)] == ["p/part-0.csv.gz", "p/part-1.csv.gz", "p/part-2b.csv.gz"]

    # the parts COPYed so far are the attempt's progress: staging another part leaves them be
    store.heartbeat(run_id, parts_loaded=2)
    store.record_part(run_id, 1, "p/part-1.csv.gz", 101, 2000)
    assert store.get(run_id).parts_loaded == 2
    assert [p.status for p in store.parts(run_id)] == ["staged"] * 3

    other = new_run(store)
    store.record_part(other, 0, "q/part-0", 1, 1)
    assert store.get(run_id).parts_staged == 3
    assert len(store.parts(other)) == 1

    with pytest.raises(RunNotFoundError):
        store.record_part("nope", 0, "k", 1, 1)


# --- reaps ----------------------------------------------------------------------------------


def test_record_reap_counts_once(store: StateStore) -> None:
    run_id = new_run(store, bucket="runs-bucket")
    assert store.record_reap("bkt", "loader-tmp/abcd1234/", 3, 300, "older than 24h", run_id=run_id,
                             reaper_id="r1") is True
    assert store.record_reap("bkt", "loader-tmp/abcd1234/", 3, 300, "older than 24h", reaper_id="r2") is False
    assert store.record_reap("bkt", "loader-tmp/ffff0000/", 1, 5, "orphan") is True
    reaps = store.reaps()
    assert [r.prefix for r in reaps] == ["loader-tmp/ffff0000/", "loader-tmp/abcd1234/"]
    first = reaps[1]
    assert (first.objects, first.bytes, first.run_id, first.reaper_id) == (3, 300, run_id, "r1")
    assert json.dumps(first.to_json_dict())
    assert store.summary()["reaped"] == {"prefixes": 2, "objects": 4, "bytes": 305}
    assert store.buckets_seen() == ["bkt", "runs-bucket"]


# --- queries --------------------------------------------------------------------------------


def test_list_runs_order_and_filters(store: StateStore, clock: Clock) -> None:
    ids = []
    for i in range(5):
        clock.tick(1)
        ids.append(new_run(store, manifest_name="a" if i % 2 == 0 else "b"))
    # two runs started at the same instant: ties broken by run_id, descending
    clock.tick(1)
    same = [new_run(store, "0" * 31 + "1"), new_run(store, "0" * 31 + "2")]
    newest_first = [same[1], same[0], *reversed(ids)]
    assert [r.run_id for r in store.list_runs()] == newest_first
    assert [r.run_id for r in store.list_runs(limit=3)] == newest_first[:3]
    assert [r.run_id for r in store.list_runs(limit=None, manifest_name="a")] == [ids[4], ids[2], ids[0]]
    store.fail(ids[1], "x")
    store.start_loading(ids[3])
    assert [r.run_id for r in store.list_runs(statuses=[RunStatus.FAILED, "loading"])] == [ids[3], ids[1]]
    assert store.list_runs(manifest_name="nope") == []


def test_latest_resumable(store: StateStore, clock: Clock) -> None:
    assert store.latest_resumable("orders") is None
    old = new_run(store)
    store.fail(old, "x")
    clock.tick(1)
    done = new_run(store)
    store.start_loading(done)
    store.succeed(done, rows=1)
    latest = store.latest_resumable("orders")
    assert latest is not None and latest.run_id == old
    clock.tick(1)
    active = new_run(store)
    store.start_staging(active)
    latest = store.latest_resumable("orders")
    assert latest is not None and latest.run_id == active
    assert store.latest_resumable("other") is None


def test_find_by_short_id(store: StateStore) -> None:
    run_id = new_run(store, temp_path="s3://bkt/loader-tmp/orders/x/")
    new_run(store)
    assert [r.run_id for r in store.find_by_short_id(run_id[:8])] == [run_id]
    assert [r.run_id for r in store.find_by_short_id(run_id[:8].upper())] == [run_id]
    assert store.find_by_short_id("zz%") == []
    assert store.find_by_short_id("") == []


def test_summary_matches_hand_computed(store: StateStore, clock: Clock) -> None:
    # copy: 1000 rows in 10 s, 3000 rows in 20 s -> 4000 rows / 30 s
    a = new_run(store)
    store.update(a, method_used="copy", bytes_staged=500)
    store.start_loading(a)
    clock.tick(10)
    store.succeed(a, rows=1000)

    b = new_run(store)
    store.update(b, method_used="copy", bytes_staged=1500)
    store.start_loading(b)
    clock.tick(20)
    store.succeed(b, rows=3000)

    # jdbc after a fallback: 600 rows in 30 s
    c = new_run(store)
    store.update(c, method_used="jdbc", fallback_reason="bucket not reachable")
    store.start_loading(c)
    clock.tick(30)
    store.succeed(c, rows=600)

    # jdbc failed after a fallback
    d = new_run(store)
    store.update(d, method_used="jdbc", fallback_reason="bucket not reachable", bytes_staged=100)
    store.fail(d, "constraint")

    # another fallback reason, still running
    e = new_run(store)
    store.update(e, method_used="jdbc", fallback_reason="aws_s3 missing")
    store.start_loading(e)

    s = store.summary()
    assert s["runs"] == 5
    assert s["succeeded"] == 3 and s["failed"] == 1 and s["active"] == 1
    assert s["runs_by_method"] == {"copy": 2, "jdbc": 3}
    assert s["fallbacks"] == 3
    assert s["fallback_rate"] == pytest.approx(3 / 5)
    assert s["fallback_reasons"] == {"bucket not reachable": 2, "aws_s3 missing": 1}
    assert s["rows_total"] == 4600
    assert s["rows_by_method"] == {"copy": 4000, "jdbc": 600}
    assert s["load_seconds_by_method"] == pytest.approx({"copy": 30.0, "jdbc": 30.0})
    assert s["rows_per_second_by_method"] == pytest.approx({"copy": 4000 / 30, "jdbc": 20.0})
    assert s["bytes_staged_total"] == 2100
    assert json.dumps(s)

    # since: only runs started at or after the start of c (T0 + 30 s)
    later = store.summary(since=T0 + timedelta(seconds=30))
    assert later["runs"] == 3
    assert later["rows_by_method"] == {"jdbc": 600}
    assert summarize([])["runs"] == 0 and summarize([])["fallback_rate"] == 0.0


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_created_once_and_versioned(url: str) -> None:
    a = StateStore(url)
    run_id = new_run(a)
    b = StateStore(url)  # a second store on an existing schema
    assert b.get(run_id).run_id == run_id
    with a.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM loader_schema_version")).scalars().all() == [SCHEMA_VERSION]
    a.close()
    b.close()


def test_newer_schema_is_refused(url: str) -> None:
    a = StateStore(url)
    a.ensure_schema()
    with a.engine.begin() as conn:
        conn.execute(text("UPDATE loader_schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    a.close()
    b = StateStore(url)
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade loader"):
        b.list_runs()
    b.close()


# --- configuration and errors (SQLite) ----------------------------------------------------------


def test_default_url_honours_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path() == tmp_path / "xdg" / "loader" / "state.db"
    st = StateStore()
    assert st.url_for_display == f"sqlite:///{tmp_path / 'xdg' / 'loader' / 'state.db'}"
    new_run(st)
    assert (tmp_path / "xdg" / "loader" / "state.db").is_file()
    with sqlite3.connect(tmp_path / "xdg" / "loader" / "state.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    st.close()


def test_default_path_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_path() == tmp_path / ".local" / "state" / "loader" / "state.db"


def test_env_url_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(ENV_URL, f"sqlite:///{tmp_path / 'env' / 'other.db'}")
    st = StateStore.from_env()
    new_run(st)
    assert (tmp_path / "env" / "other.db").is_file()
    assert not (tmp_path / "xdg").exists()
    st.close()


def test_unwritable_directory_gives_state_error() -> None:
    with pytest.raises(StateError) as info:
        StateStore("sqlite:////proc/loader-state-test/sub/state.db")
    msg = str(info.value)
    assert "cannot create directory /proc/loader-state-test/sub" in msg
    assert "writable" in msg or "LOADER_STATE_URL" in msg
    assert "\n" not in msg


def test_unwritable_file_gives_state_error() -> None:
    st = StateStore("sqlite:////proc/loader-state-test.db")  # /proc exists but takes no files
    with pytest.raises(StateError) as info:
        st.list_runs()
    msg = str(info.value)
    assert "unable to open database file" in msg
    assert "/proc/loader-state-test.db" in msg and "writable" in msg
    assert "\n" not in msg
    st.close()


def test_read_only_database_file_gives_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(f"sqlite:///{path}").ensure_schema()
    ro = StateStore(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert ro.list_runs() == []  # reads work
    with pytest.raises(StateError, match="readonly|read-only|read only"):
        new_run(ro)
    ro.close()


def test_bad_urls() -> None:
    with pytest.raises(StateError, match="not a valid"):
        StateStore("not a url")
    with pytest.raises(StateError, match="not supported"):
        StateStore("mysql://u:hunter2@h/db")


# --- secrets ----------------------------------------------------------------------------------


def test_password_masked_in_display(pg_db: ConnectionSpec) -> None:
    assert pg_db.password
    st = StateStore(pg_db.sqlalchemy_url())
    assert pg_db.password not in st.url_for_display
    assert "***" in st.url_for_display
    assert pg_db.password not in repr(st)
    new_run(st)
    st.close()


def test_unreachable_postgres_error_has_no_password() -> None:
    secret = "s3cr3t-Pw-" + uuid.uuid4().hex[:6]
    spec = ConnectionSpec(host="127.0.0.1", port=free_port(), database="nodb", user="loader", password=secret)
    st = StateStore(spec.sqlalchemy_url())
    with pytest.raises(StateError) as info:
        st.list_runs()
    text_ = str(info.value) + repr(info.value.ids) + (info.value.next_step or "")
    assert secret not in text_
    assert "reachable" in text_ and f"127.0.0.1:{spec.port}/nodb" in text_
    assert info.value.retryable
    assert "\n" not in str(info.value)
    st.close()


def test_wrong_password_error_has_no_password(pg_server: ConnectionSpec) -> None:
    secret = "wr0ng-" + uuid.uuid4().hex[:8]
    spec = ConnectionSpec(host=pg_server.host, port=pg_server.port, database="postgres", user=pg_server.user,
                          password=secret)
    st = StateStore(spec.sqlalchemy_url())
    with pytest.raises(StateError) as info:
        st.get("x")
    assert secret not in str(info.value)
    assert "password authentication failed" in str(info.value)
    st.close()


def test_error_text_never_contains_the_password_even_if_the_driver_echoes_it(tmp_path: Path) -> None:
    # a SQLite URL has no password; check the scrubber on a PG store with a fake driver error instead
    secret = "echoed-Pw-1"
    st = StateStore(f"postgresql://u:{secret}@127.0.0.1:1/db")
    with pytest.raises(StateError) as info, st.db.errors("testing"):
        raise OSError(f"driver said: bad password {secret}")
    assert secret not in str(info.value)
    st.close()


# --- schema version 2: a version 1 store is migrated in place -------------------------------


def _create_v1_store(url: str) -> None:
    """The tables exactly as version 1 created them, with one finished run in them."""
    from loader.state import models

    _create_old_store(url, 1, models.V2_RUN_COLUMNS + models.V3_RUN_COLUMNS + models.V4_RUN_COLUMNS)


def _create_old_store(url: str, version: int, missing: tuple[str, ...]) -> None:
    """The tables of an older version (``loader_runs`` without the ``missing`` columns), one finished run."""
    from sqlalchemy import MetaData, Table, create_engine

    from loader.state import models

    meta = MetaData()
    old = {}
    for table in models.ALL_TABLES:
        cols = [c._copy() for c in table.columns if not (table is models.runs and c.name in missing)]
        old[table.name] = Table(table.name, meta, *cols)
    engine = create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old["loader_schema_version"].insert().values(id=1, version=version, updated_at=T0))
        conn.execute(old["loader_runs"].insert().values(
            run_id="a" * 32, manifest_name="m", manifest_hash="h", target="public.t", target_db="u@h/db",
            method_requested="copy", write_mode="append", status="succeeded", parts_staged=0, parts_loaded=0,
            rows=7, bytes_staged=0, rows_rejected=0, attempt=1, started_at=T0, heartbeat_at=T0,
            finished_at=T0 + timedelta(seconds=3), timings="{}"))
    engine.dispose()


def test_a_version_1_store_is_migrated_and_keeps_its_runs(url: str, clock: Clock) -> None:
    _create_v1_store(url)
    st = StateStore(url, clock=clock)
    try:
        old = st.get("a" * 32)
        assert (old.rows, old.rows_inserted, old.high_water_mark, old.active_seconds) == (7, None, None, 0.0)
        st.create_run("b" * 32, manifest_name="m", manifest_hash="h", target="public.t", target_db="x",
                      method_requested="copy", write_mode="upsert")
        st.start_loading("b" * 32)
        st.update("b" * 32, rows_inserted=5, rows_updated=2, high_water_mark='{"value": 3}')
        clock.tick(4)
        done = st.succeed("b" * 32, rows=7)
        assert (done.rows_inserted, done.rows_updated, done.high_water_mark) == (5, 2, '{"value": 3}')
        assert done.active_seconds == pytest.approx(4.0)
        with st.engine.connect() as conn:
            assert conn.execute(text("SELECT max(version) FROM loader_schema_version")).scalar() == SCHEMA_VERSION
    finally:
        st.close()
    again = StateStore(url, clock=clock)  # opening a migrated store again changes nothing
    try:
        assert again.get("b" * 32).rows_updated == 2
    finally:
        again.close()


def test_a_resumed_run_counts_its_attempts_not_the_time_it_sat_failed(store: StateStore, clock: Clock) -> None:
    store.create_run("c" * 32, manifest_name="m", manifest_hash="h", target="public.t", target_db="x",
                     method_requested="copy", write_mode="append")
    store.start_loading("c" * 32)
    clock.tick(10)
    store.heartbeat("c" * 32, rows=500)
    assert store.get("c" * 32).rows is None  # in flight is not committed
    assert store.get("c" * 32).rows_in_flight == 500
    store.fail("c" * 32, error="boom")
    clock.tick(3600)  # an hour before somebody resumes it
    store.resume("c" * 32)
    store.start_loading("c" * 32)
    clock.tick(5)
    done = store.succeed("c" * 32, rows=1000)
    assert done.active_seconds == pytest.approx(15.0)
    assert done.attempts_seconds() == pytest.approx(15.0)


# --- schema version 4: the manifest's URI (s3:// or file://) is recorded with each run -------------


def test_a_version_3_store_gets_the_manifest_uri_column_and_keeps_its_runs(url: str, clock: Clock) -> None:
    from sqlalchemy import create_engine, inspect

    from loader.state import models

    _create_old_store(url, 3, models.V4_RUN_COLUMNS)
    engine = create_engine(url)
    assert "manifest_uri" not in {c["name"] for c in inspect(engine).get_columns("loader_runs")}
    engine.dispose()
    st = StateStore(url, clock=clock)
    try:
        assert st.get("a" * 32).manifest_uri is None  # recorded before version 4: not known
        st.create_run("b" * 32, manifest_name="m", manifest_hash="h" * 64, target="public.t", target_db="x",
                      method_requested="copy", write_mode="append", manifest_uri="s3://bk/manifests/m.yaml")
        new = st.get("b" * 32)
        assert (new.manifest_uri, new.manifest_hash) == ("s3://bk/manifests/m.yaml", "h" * 64)
        assert new.to_json_dict()["manifest_uri"] == "s3://bk/manifests/m.yaml"
        with st.engine.connect() as conn:
            assert conn.execute(text("SELECT max(version) FROM loader_schema_version")).scalar() == 4
    finally:
        st.close()
