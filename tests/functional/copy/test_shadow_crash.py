"""SIGKILL an overwrite through a shadow table (copy.connections: 2) while parts COPY into the shadow,
once its indexes are built, and right after the swap's COMMIT: the target is as it was before the
COMMIT and exactly the new rows after it, a reader never sees anything else, and then ``--resume``
finishes (each row once, the staged parts reused, no shadow left) or the reaper drops the shadow."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.copy.landing import shadow as shadow_copy
from loader.destination import shadow_swap
from loader.naming import TempLocation
from loader.state import RunStatus, StateStore
from tests.helpers.copy_setup import copy_manifest_folder, reap
from tests.helpers.crash_child import run_killed
from tests.helpers.table_reader import Reader

pytestmark = pytest.mark.slow

ROWS = 30_000
OLD = 10
MANIFEST = """\
version: 1
name: shcrash
source:
  format: parquet
  path: ${SHC_DATA}
target:
  connection: ${SHC_DB_URL}
  table: shcrash
  mode: overwrite
method: copy
copy:
  bucket: ${SHC_BUCKET}
  rows_per_part: 2000
  connections: 2
  fallback: none
"""


@pytest.fixture()
def folder(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE shcrash (id bigint PRIMARY KEY, v text NOT NULL)")
        cur.execute("CREATE INDEX shcrash_v ON shcrash (v)")
        cur.execute(f"INSERT INTO shcrash SELECT g, 'old ' || g FROM generate_series(0, {OLD - 1}) g")
        cur.execute("COMMENT ON TABLE shcrash IS 'crash me'")
    return copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="shcrash", manifest=MANIFEST,
                                rows=ROWS, env_prefix="SHC")


def _content(pg_conn: Any) -> tuple[Any, ...]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(id || ':' || v, ',' ORDER BY id)) "
                    "FROM shcrash")
        rows = cur.fetchone()
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'shcrash' ORDER BY 1")
        indexes = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT obj_description('shcrash'::regclass, 'pg_class')")
        return rows, indexes, cur.fetchone()[0]


def _shadows(pg_conn: Any) -> tuple[list[str], list[str]]:
    """The shadow (and old) tables left, and the parts loaded into a shadow."""
    with pg_conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'shcrash\\_\\_loader\\_%' ORDER BY 1")
        tables = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT to_regclass('loader_shadow_parts') IS NOT NULL")
        parts: list[str] = []
        if cur.fetchone()[0]:
            cur.execute("SELECT part FROM loader_shadow_parts WHERE part <> '' ORDER BY 1")
            parts = [r[0] for r in cur.fetchall()]
        return tables, parts


def _objects(bucket: str) -> dict[str, Any]:
    return {o["Key"]: o["LastModified"] for o in s3.iter_objects(s3.make_client(), bucket, "")}


def _crash(state_url: str, phase: str, folder: Path, pg_db: Any) -> set[tuple[Any, ...]]:
    with Reader(pg_db, "shcrash", interval=0.02) as reader:
        run_killed(state_url, phase, folder)
    return reader.seen


OLD_SEEN, NEW_SEEN = (OLD, OLD, "old 0"), (ROWS, ROWS, "row 0")


@pytest.mark.parametrize("phase", ["shadow_copying", "shadow_built", "shadow_swapped"])
def test_a_killed_shadow_overwrite_leaves_the_old_or_the_new_table_and_resumes_once(
        phase: str, folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    before = _content(pg_conn)
    seen = _crash(state_url, phase, folder, pg_db)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    assert crashed.status.is_active and crashed.staging_table  # it died mid-run, its shadow recorded
    swapped = phase == "shadow_swapped"
    tables, in_shadow = _shadows(pg_conn)
    if swapped:
        assert seen <= {OLD_SEEN, NEW_SEEN}, seen  # a reader saw the old table or the new one, nothing between
        assert _content(pg_conn)[0][:3] == (ROWS, ROWS, sum(range(ROWS)))
        assert _content(pg_conn)[1:] == before[1:]  # indexes and comment came with the swap
        assert (tables, in_shadow) == ([], [])
    else:
        assert seen == {OLD_SEEN}, seen
        assert _content(pg_conn) == before  # exactly as it was
        assert tables == [crashed.staging_table] and in_shadow
    staged = _objects(bucket)
    time.sleep(1.1)  # LastModified has whole seconds: a part written again would show

    # what the resume stages and COPYs again, seen when it is about to swap
    submitted: list[str] = []
    at_swap: dict[str, Any] = {}
    original_submit, original_swap = shadow_copy.ShadowCopy.submit, shadow_swap.ShadowTable.swap

    def submit(self: Any, key: str) -> Any:
        submitted.append(key)
        return original_submit(self, key)

    def swap(self: Any, *args: Any, **kwargs: Any) -> None:
        at_swap.update(_objects(bucket))
        original_swap(self, *args, **kwargs)

    monkeypatch.setattr(shadow_copy.ShadowCopy, "submit", submit)
    monkeypatch.setattr(shadow_swap.ShadowTable, "swap", swap)
    caplog.set_level(logging.INFO, logger="loader")
    with Reader(pg_db, "shcrash", interval=0.02) as reader:
        outcomes = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    assert outcomes[0].run_id == crashed.run_id  # the same run continued
    assert reader.seen <= {OLD_SEEN, NEW_SEEN}, reader.seen
    rows, indexes, comment = _content(pg_conn)
    assert rows[:3] == (ROWS, ROWS, sum(range(ROWS)))  # each row exactly once
    assert (indexes, comment) == (before[1], before[2])
    assert _shadows(pg_conn) == ([], [])
    run = StateStore(state_url).get(crashed.run_id)
    assert run.status is RunStatus.SUCCEEDED and run.attempt == 2
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []
    if swapped:  # the ledger said it committed: nothing was loaded again
        assert submitted == [] and at_swap == {}
        return
    parts = {k: t for k, t in staged.items() if TempLocation.part_of(k)}
    assert parts and {k: at_swap[k] for k in parts} == parts  # no staged part was written again
    if phase == "shadow_built":  # everything was staged: the resume staged nothing
        assert {k for k in at_swap if TempLocation.part_of(k)} == set(parts)
        # and the built shadow was kept: no part COPYed again, no index built again
        assert submitted == [], submitted
        assert any("resuming into shadow" in r.getMessage() and "indexes built" in r.getMessage()
                   for r in caplog.records)
    else:  # the parts already in the shadow were kept there, not COPYed again
        assert not set(in_shadow) & set(submitted), (in_shadow, submitted)
        assert any("resuming into shadow" in r.getMessage() for r in caplog.records)


def test_the_reaper_drops_a_killed_runs_shadow_that_is_not_resumed(
        folder: Path, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    before = _content(pg_conn)
    _crash(state_url, "shadow_built", folder, pg_db)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    assert _shadows(pg_conn)[0] == [crashed.staging_table]
    # while its heartbeat is fresh the run may be alive: kept
    text = reap(state_url, bucket, folder, stale_after="30m")
    assert _shadows(pg_conn)[0] == [crashed.staging_table]
    time.sleep(1.1)
    text = reap(state_url, bucket, folder, stale_after="1s")
    assert f"public.{crashed.staging_table}" in text, text
    assert _shadows(pg_conn) == ([], [])
    assert _content(pg_conn) == before
    assert StateStore(state_url).get(crashed.run_id).status is RunStatus.ABANDONED
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []
