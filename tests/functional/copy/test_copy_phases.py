"""COPY's phases say what is happening: loading starts with the first COPY, while Spark may still
be staging; ``staged`` only when every part was in S3 before the first COPY.

The stager here is a stand-in (when Spark finishes relative to the driver's first listing is a
race a real job cannot be made to lose or win on demand); S3, the listing, the markers and the
loop that decides are the real ones, and the events go to the real engine and state store.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from loader.adapters import pg, s3
from loader.adapters.staging_area import S3Parts
from loader.connection import ConnectionSpec
from loader.copy.formats import CsvFormat
from loader.copy.landing import driver
from loader.copy.landing.protocol import CopyRun
from loader.engine import execute as engine
from loader.engine.edges import real_edges
from loader.naming import TableRef, TempLocation
from loader.options import CopyOptions, Method
from loader.plan.typemap import ColumnPlan
from loader.request import LoadRequest, MethodOutcome
from loader.state import StateStore
from loader.state.status import RunStatus


class _Frame:
    schema = StructType([StructField("id", LongType())])


class _Stager:
    """Alive for the first ``alive_polls`` looks, then finished."""

    def __init__(self, alive_polls: int) -> None:
        self.left = alive_polls

    def is_alive(self) -> bool:
        self.left -= 1
        return self.left >= 0

    def raise_if_failed(self) -> None:
        return None


def _put_partition(bucket: str, loc: TempLocation, partition: int) -> None:
    client = s3.make_client()
    key = loc.part_key(partition, 0, ".csv")
    client.put_object(Bucket=bucket, Key=key, Body=b"1\n")
    client.put_object(Bucket=bucket, Key=loc.marker_key(partition), Body=json.dumps(
        {"partition": partition, "parts": [{"partition": partition, "seq": 0, "key": key, "rows": 1,
                                            "bytes": 2}]}).encode())


@pytest.mark.parametrize(("alive_polls", "expected"), [
    # the first part is COPYed while Spark still stages
    (1, ["staging", "loading", "COPY part-00000-0000.csv", "COPY part-00001-0000.csv"]),
    # staging ended before the first COPY
    (0, ["staging", "staged", "loading", "COPY part-00000-0000.csv", "COPY part-00001-0000.csv"]),
])
def test_loading_starts_with_the_first_copy(pg_db: ConnectionSpec, bucket: str, state_url: str,
                                            monkeypatch: pytest.MonkeyPatch, alive_polls: int,
                                            expected: list[str]) -> None:
    store = StateStore(state_url)
    req = LoadRequest(df=_Frame(), spec=pg_db, target=TableRef("public", "phases"), method=Method.COPY,
                      copy=CopyOptions(bucket=bucket))
    run_id = "ab" * 16
    store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.phases",
                     target_db=pg_db.safe_description(), method_requested="copy", write_mode="append")
    load = engine._Load(req, store, run_id, engine.method_for, real_edges())
    loc = TempLocation.new(bucket, "tmp/postgres-copy", "phases", run_id)
    plan = ColumnPlan(("id",), ("bigint",))
    seen: list[str] = [store.get(run_id).status.value]
    load.staging_started()
    seen.append(store.get(run_id).status.value)

    def recorded(event: Any) -> Any:
        def call() -> None:
            event()
            seen.append(store.get(run_id).status.value)
        return call

    monkeypatch.setattr(load, "staged", recorded(load.staged))
    monkeypatch.setattr(load, "loading_started", recorded(load.loading_started))

    def copy_part(key: str, size: int) -> int:
        seen.append("COPY " + key.rsplit("/", 1)[-1])
        return 1

    _put_partition(bucket, loc, 0)
    _put_partition(bucket, loc, 1)
    run = CopyRun(spec=pg_db, target=req.target, run_id=run_id, plan=plan, landing=plan, cast_later=False,
                  fmt=CsvFormat(), write=req.write, events=load, home="public", progress=load.progress,
                  connect=pg.connect, parts=S3Parts(s3.make_client(), loc), location=loc, conn=None)
    monkeypatch.setattr(driver, "POLL_SECONDS", 0.01)
    try:
        loop = driver.PartLoop(run, MethodOutcome())
        assert loop.load_all(copy_part, stager=_Stager(alive_polls)) == {0, 1}  # type: ignore[arg-type]
    finally:
        load.progress.done()  # its ticker thread
    assert seen[1:] == expected
    assert store.get(run_id).status is RunStatus.LOADING
    assert store.get(run_id).parts_staged == 2
