"""The engine against in-memory edges (engine/edges.py): record → lock → resume → fallback →
cleanup, without PostgreSQL, S3 or Spark (the state store is a SQLite file). The functional
tests in tests/functional/engine prove the real edges do what these fakes stand for."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from loader.connection import ConnectionSpec
from loader.engine.edges import Edges
from loader.engine.execute import execute
from loader.engine.prepare import PreparedTarget
from loader.errors import DataError, Interrupted, LockHeldError, StagingError
from loader.naming import TableRef, TempLocation
from loader.options import CopyOptions, Method, WriteMode
from loader.plan.typemap import ColumnPlan
from loader.request import LoadMethod, LoadRequest, MethodContext, MethodOutcome
from loader.state import StateStore
from loader.state.status import RunStatus

T = TableRef("public", "t")
SPEC = ConnectionSpec(host="db.invalid", password="never-used")


class Frame:
    schema = StructType([StructField("id", LongType()), StructField("v", StringType())])


class World:
    """Every edge, in memory, with what was done to it."""

    def __init__(self) -> None:
        self.objects: dict[str, set[str]] = {}
        self.held: set[str] = set()
        self.committed: dict[str, int] = {}
        self.prepared = 0
        self.cancelled = 0
        self.lock_waits: list[bool] = []

    @contextlib.contextmanager
    def lock(self, spec: ConnectionSpec, ref: TableRef, run_id: str, *, wait: bool = False,
             shared: bool = False) -> Iterator[None]:
        self.lock_waits.append(wait)
        if str(ref) in self.held:
            raise LockHeldError(f"table {ref} is being loaded by another run")
        self.held.add(str(ref))
        try:
            yield
        finally:
            self.held.discard(str(ref))

    def prepare(self, req: LoadRequest) -> PreparedTarget:
        self.prepared += 1
        return PreparedTarget(ColumnPlan(("id", "v"), ("bigint", "text")), None, ())

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for k in self.objects.get(bucket, set()) if k.startswith(prefix))

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        self.objects[bucket] = {k for k in self.objects.get(bucket, set()) if not k.startswith(prefix)}

    def edges(self) -> Edges:
        return Edges(lock=self.lock, prepare=self.prepare,
                     committed_rows=lambda spec, schema, run_id: self.committed.get(run_id),
                     blobs=self, cancel_jobs=lambda: None)


class Method_:
    """Reports what a staging method reports and puts one part in the world's bucket."""

    def __init__(self, world: World, name: str = "fake", fail: BaseException | None = None,
                 fallback: LoadMethod | None = None, stages: bool = True) -> None:
        self.world, self.name, self.fail, self._fallback, self.stages = world, name, fail, fallback, stages
        self.contexts: list[MethodContext] = []

    @property
    def fallback(self) -> LoadMethod | None:
        return self._fallback

    def run(self, ctx: MethodContext) -> MethodOutcome:
        self.contexts.append(ctx)
        if self.stages:
            area = ctx.staging_area
            loc = area.location
            ctx.events.use_staging_area(area)
            ctx.events.staging_started()
            key = loc.part_key(0, 0, ".csv")
            self.world.objects.setdefault(loc.bucket, set()).add(key)
            ctx.events.part_staged(0, 0, key, 1, 4)
            ctx.events.staged()
        ctx.events.loading_started()
        if self.fail is not None:
            raise self.fail
        ctx.events.committing()
        return MethodOutcome(rows=1, bytes_staged=4 if self.stages else 0, parts=1 if self.stages else 0)


@pytest.fixture()
def store(tmp_path: Any) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def _request(manifest: str | None = None, **copy: Any) -> LoadRequest:
    return LoadRequest(df=Frame(), spec=SPEC, target=T, method=Method.COPY, mode=WriteMode.APPEND,
                       copy=CopyOptions(bucket="b", **copy), manifest_name=manifest)


def test_a_load_is_recorded_locked_prepared_and_cleaned(store: StateStore) -> None:
    world = World()
    method = Method_(world)
    result = execute(_request(), store, methods=lambda m: method, edges=world.edges())
    run = store.get(result.run_id)
    assert (run.status, run.method_used, run.rows, run.parts_staged, run.cleanup_status) == (
        RunStatus.SUCCEEDED, "fake", 1, 1, "done")
    assert world.prepared == 1 and world.lock_waits == [False] and world.held == set()
    assert TempLocation.parse(run.temp_path or "").bucket == "b"
    assert world.keys("b", "") == []  # the engine deleted the prefix, not the method


def test_cleanup_disabled_keeps_the_parts_and_says_so(store: StateStore) -> None:
    world = World()
    result = execute(_request(cleanup=False), store, methods=lambda m: Method_(world), edges=world.edges())
    run = store.get(result.run_id)
    assert (run.status, run.cleanup_status, result.temp_path) == (RunStatus.SUCCEEDED, "kept", run.temp_path)
    assert len(world.keys("b", "")) == 1


def test_a_method_that_does_not_stage_gets_no_temp_location(store: StateStore) -> None:
    world = World()
    method = Method_(world, stages=False)
    result = execute(_request(), store, methods=lambda m: method, edges=world.edges())
    run = store.get(result.run_id)
    assert run.temp_path is None and result.temp_path is None and run.cleanup_status is None


def test_a_held_lock_abandons_the_run_before_anything_runs(store: StateStore) -> None:
    world = World()
    world.held.add(str(T))
    method = Method_(world)
    with pytest.raises(LockHeldError):
        execute(_request(), store, methods=lambda m: method, edges=world.edges())
    assert method.contexts == [] and world.prepared == 0
    assert [r.status for r in store.list_runs()] == [RunStatus.ABANDONED]


def test_staging_failure_falls_back_cleans_and_says_why(store: StateStore) -> None:
    world = World()
    jdbc = Method_(world, "fake-jdbc", stages=False)
    copy = Method_(world, "fake-copy", fail=StagingError("S3 PutObject failed: AccessDenied"), fallback=jdbc)
    result = execute(_request(), store, methods=lambda m: copy, edges=world.edges())
    run = store.get(result.run_id)
    assert (result.method, run.status, run.method_used, run.attempt) == (
        "fake-jdbc", RunStatus.SUCCEEDED, "fake-jdbc", 2)
    assert "AccessDenied" in (run.fallback_reason or "") and world.keys("b", "") == []


def test_fallback_none_fails_and_still_cleans(store: StateStore) -> None:
    world = World()
    never = Method_(world, "never")
    copy = Method_(world, fail=StagingError("S3 down"), fallback=never)
    with pytest.raises(StagingError):
        execute(_request(fallback="none"), store, methods=lambda m: copy, edges=world.edges())
    run = store.list_runs()[0]
    assert never.contexts == [] and run.status is RunStatus.FAILED and run.cleanup_status == "done"
    assert world.keys("b", "") == []


def test_a_manifest_run_keeps_its_parts_for_a_resume_unless_the_data_failed(store: StateStore) -> None:
    world = World()
    with pytest.raises(RuntimeError):
        execute(_request("m"), store, methods=lambda m: Method_(world, fail=RuntimeError("killed")),
                edges=world.edges())
    kept = store.list_runs()[0]
    assert kept.cleanup_status == "kept" and len(world.keys("b", "")) == 1
    world2 = World()
    with pytest.raises(DataError):
        execute(_request("m"), store, methods=lambda m: Method_(world2, fail=DataError("bad value")),
                edges=world2.edges())
    assert world2.keys("b", "") == []  # a resume would load the same bad value again


def test_a_resume_reuses_the_first_attempts_prefix(store: StateStore) -> None:
    world = World()
    with pytest.raises(RuntimeError):
        execute(_request("m"), store, methods=lambda m: Method_(world, fail=RuntimeError("x")), edges=world.edges())
    failed = store.list_runs()[0]
    again = Method_(world)
    result = execute(_request("m"), store, resume=failed, methods=lambda m: again, edges=world.edges())
    assert again.contexts[0].staging_area.location == TempLocation.parse(failed.temp_path or "")
    assert result.run_id == failed.run_id and store.get(failed.run_id).attempt == 2


def test_a_resume_of_a_committed_run_finishes_from_the_ledger_without_loading(store: StateStore) -> None:
    world = World()
    with pytest.raises(RuntimeError):
        execute(_request("m"), store, methods=lambda m: Method_(world, fail=RuntimeError("killed after COMMIT")),
                edges=world.edges())
    failed = store.list_runs()[0]
    world.committed[failed.run_id] = 7
    never = Method_(world)
    result = execute(_request("m"), store, resume=failed, methods=lambda m: never, edges=world.edges())
    assert never.contexts == [] and world.prepared == 1  # only the first attempt prepared
    assert (result.rows, result.reason) == (7, "resumed: already committed")
    assert store.get(failed.run_id).status is RunStatus.SUCCEEDED and world.keys("b", "") == []


def test_an_interrupted_load_is_recorded_and_keeps_nothing_locked(store: StateStore) -> None:
    world = World()
    with pytest.raises(Interrupted):
        execute(_request(), store, methods=lambda m: Method_(world, fail=KeyboardInterrupt()), edges=world.edges())
    run = store.list_runs()[0]
    assert run.status is RunStatus.FAILED and world.held == set()
