"""The engine with a fake load method (httpx's MockTransport idea): record → lock → resume →
fallback → cleanup against a real PostgreSQL and S3, without Spark. Each test runs in well
under a second once the servers are up."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from loader.adapters import pg, s3
from loader.connection import ConnectionSpec
from loader.destination import ledger
from loader.engine.execute import execute
from loader.errors import DataError, Interrupted, LockHeldError, StagingError
from loader.naming import TableRef, TempLocation
from loader.options import CopyOptions, Method, WriteMode
from loader.request import LoadMethod, LoadRequest, MethodContext, MethodOutcome
from loader.state import StateStore
from loader.state.status import RunStatus

T = TableRef("public", "fake_target")


class FakeFrame:
    """All the engine reads of a DataFrame before a method runs: its schema."""

    schema = StructType([StructField("id", LongType()), StructField("v", StringType())])


class FakeMethod:
    """Reports the events a staging method reports, writes one object, then returns or fails."""

    def __init__(self, name: str = "fake", fail: BaseException | None = None,
                 fallback: LoadMethod | None = None, stages: bool = True) -> None:
        self.name, self.fail, self._fallback, self.stages = name, fail, fallback, stages
        self.contexts: list[MethodContext] = []

    @property
    def fallback(self) -> LoadMethod | None:
        return self._fallback

    def run(self, ctx: MethodContext) -> MethodOutcome:
        self.contexts.append(ctx)
        if self.stages:
            ctx.events.use_staging_area(ctx.staging_area)
            ctx.events.staging_started()
            key = ctx.staging_area.location.part_key(0, 0, ".csv")
            s3.make_client().put_object(Bucket=ctx.staging_area.bucket, Key=key, Body=b"1,a\n")
            ctx.events.part_staged(0, 0, key, 1, 4)
            ctx.events.staged()
        ctx.events.loading_started()
        if self.fail is not None:
            raise self.fail
        return MethodOutcome(rows=1, bytes_staged=4 if self.stages else 0, parts=1 if self.stages else 0,
                             timings={"load": 0.01})


def _request(spec: ConnectionSpec, bucket: str, manifest: str | None = None, **copy: Any) -> LoadRequest:
    return LoadRequest(df=FakeFrame(), spec=spec, target=T, method=Method.COPY, mode=WriteMode.APPEND,
                       copy=CopyOptions(bucket=bucket, **copy), manifest_name=manifest)


def _objects(bucket: str) -> list[str]:
    return [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, "")]


def test_success_records_each_step_and_cleans_the_location(pg_db: ConnectionSpec, bucket: str,
                                                            state_url: str) -> None:
    store, method = StateStore(state_url), FakeMethod()
    result = execute(_request(pg_db, bucket), store, methods=lambda m: method)
    run = store.get(result.run_id)
    assert (run.status, run.method_used, run.rows, run.parts_staged, run.cleanup_status) == (
        RunStatus.SUCCEEDED, "fake", 1, 1, "done")
    assert result.method == "fake" and result.temp_path == run.temp_path
    assert TempLocation.parse(run.temp_path).prefix.startswith("tmp/postgres-copy/fake_target-")
    assert _objects(bucket) == []  # the engine, not the method, deleted the prefix
    assert method.contexts[0].create_sql and "fake_target" in method.contexts[0].create_sql


def test_staging_error_falls_back_and_the_run_says_why(pg_db: ConnectionSpec, bucket: str,
                                                        state_url: str) -> None:
    store = StateStore(state_url)
    jdbc = FakeMethod("fake-jdbc", stages=False)
    copy = FakeMethod("fake-copy", fail=StagingError("S3 PutObject failed: AccessDenied"), fallback=jdbc)
    result = execute(_request(pg_db, bucket), store, methods=lambda m: copy)
    run = store.get(result.run_id)
    assert result.method == "fake-jdbc" and "AccessDenied" in (result.fallback_reason or "")
    assert (run.status, run.method_used, run.attempt) == (RunStatus.SUCCEEDED, "fake-jdbc", 2)
    assert run.fallback_reason == result.fallback_reason and result.temp_path is None
    assert _objects(bucket) == []  # what COPY staged before failing is gone


def test_fallback_none_fails_the_run_and_still_cleans(pg_db: ConnectionSpec, bucket: str,
                                                       state_url: str) -> None:
    store = StateStore(state_url)
    copy = FakeMethod(fail=StagingError("S3 down"), fallback=FakeMethod("never"))
    with pytest.raises(StagingError) as info:
        execute(_request(pg_db, bucket, fallback="none"), store, methods=lambda m: copy)
    run = store.get(info.value.run_id or "")
    assert run.status is RunStatus.FAILED and "S3 down" in (run.error or "")
    assert _objects(bucket) == [] and run.cleanup_status == "done"


def test_data_error_never_falls_back(pg_db: ConnectionSpec, bucket: str, state_url: str) -> None:
    store = StateStore(state_url)
    jdbc = FakeMethod("fake-jdbc", stages=False)
    copy = FakeMethod(fail=DataError("bad value"), fallback=jdbc)
    with pytest.raises(DataError):
        execute(_request(pg_db, bucket), store, methods=lambda m: copy)
    assert jdbc.contexts == []
    assert [r.status for r in store.list_runs()] == [RunStatus.FAILED]


def test_a_held_table_lock_abandons_the_new_run(pg_db: ConnectionSpec, bucket: str, state_url: str) -> None:
    store, method = StateStore(state_url), FakeMethod()
    with pg.table_lock(pg_db, T, "someone-else"), pytest.raises(LockHeldError):
        execute(_request(pg_db, bucket), store, methods=lambda m: method)
    assert method.contexts == [] and [r.status for r in store.list_runs()] == [RunStatus.ABANDONED]


def test_resume_reuses_the_first_attempts_location(pg_db: ConnectionSpec, bucket: str, state_url: str) -> None:
    store = StateStore(state_url)
    with pytest.raises(RuntimeError):
        execute(_request(pg_db, bucket, cleanup=False), store, methods=lambda m: FakeMethod(fail=RuntimeError("x")))
    failed = store.list_runs()[0]
    assert failed.status is RunStatus.FAILED and failed.temp_path
    again = FakeMethod()
    result = execute(_request(pg_db, bucket), store, resume=failed, methods=lambda m: again)
    assert again.contexts[0].staging_area.location == TempLocation.parse(failed.temp_path)
    assert result.run_id == failed.run_id and store.get(failed.run_id).attempt == 2


def test_resume_of_a_committed_run_finishes_it_from_the_ledger(pg_db: ConnectionSpec, bucket: str,
                                                              state_url: str) -> None:
    store = StateStore(state_url)
    with pytest.raises(RuntimeError):
        execute(_request(pg_db, bucket), store, methods=lambda m: FakeMethod(fail=RuntimeError("killed")))
    failed = store.list_runs()[0]
    conn = pg.connect(pg_db)  # as if the crash came after COMMIT: the ledger has the run
    ledger.ensure(conn, T.schema)
    with conn.cursor() as cur:
        ledger.record(cur, T.schema, T, failed.run_id, 7)
    conn.commit()
    conn.close()
    never = FakeMethod()
    result = execute(_request(pg_db, bucket), store, resume=failed, methods=lambda m: never)
    assert never.contexts == [] and result.rows == 7 and result.reason == "resumed: already committed"
    assert store.get(failed.run_id).status is RunStatus.SUCCEEDED


def test_the_table_lock_is_free_the_moment_a_run_ends(pg_db: ConnectionSpec, monkeypatch: Any) -> None:
    """Seen under load: a run right after another of the same table found the lock still held,
    because a closed connection's backend frees its locks only once it has exited. A backend
    that is slow to exit is the fault shown here: close() leaves the session alive."""
    lingering: list[Any] = []
    real_connect = pg.connect

    def slow_exit_connect(*args: Any, **kwargs: Any) -> Any:
        conn = real_connect(*args, **kwargs)

        class Lingering:
            def __getattr__(self, name: str) -> Any:
                return getattr(conn, name)

            def close(self) -> None:
                lingering.append(conn)

        return Lingering()

    monkeypatch.setattr(pg, "connect", slow_exit_connect)
    try:
        with pg.table_lock(pg_db, T, "first"):
            pass
        with pg.table_lock(pg_db, T, "next"):  # LockHeldError if the first session still held it
            pass
    finally:
        for conn in lingering:
            conn.close()


def test_a_failed_manifest_run_keeps_its_parts_for_resume_unless_the_data_failed(pg_db: ConnectionSpec, bucket: str,
                                                                                 state_url: str) -> None:
    store = StateStore(state_url)
    with pytest.raises(RuntimeError):
        execute(_request(pg_db, bucket, manifest="m"), store, methods=lambda m: FakeMethod(fail=RuntimeError("x")))
    run = store.list_runs(limit=1)[0]
    assert run.status is RunStatus.FAILED and run.cleanup_status == "kept"
    assert len(_objects(bucket)) == 1  # for `loader run --resume`; the reaper honours the resume window
    with pytest.raises(DataError):  # a resume would load the same bad value again: nothing to keep
        execute(_request(pg_db, bucket, manifest="m2"), store, methods=lambda m: FakeMethod(fail=DataError("bad")))
    assert store.list_runs(limit=1)[0].cleanup_status == "done" and len(_objects(bucket)) == 1


def test_a_keyboard_interrupt_is_recorded_as_interrupted(pg_db: ConnectionSpec, bucket: str, state_url: str) -> None:
    """Whatever raised it (a handler other than ours), the run is recorded as interrupted and the
    caller gets our error, which is still a KeyboardInterrupt."""
    store = StateStore(state_url)
    with pytest.raises(Interrupted) as info:
        execute(_request(pg_db, bucket, manifest="m"), store, methods=lambda m: FakeMethod(fail=KeyboardInterrupt()))
    assert isinstance(info.value, KeyboardInterrupt) and info.value.exit_code == 130
    run = store.get(info.value.run_id or "")
    assert run.status is RunStatus.FAILED and run.error == "interrupted (SIGINT)"
    assert str(info.value).startswith("interrupted (SIGINT); public.fake_target unchanged; 1 staged part kept for "
                                      "`loader run --resume` until ")
