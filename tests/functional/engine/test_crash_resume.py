"""SIGKILL the runner at each phase, then resume: every source row exactly once, no prefix left,
the run ends succeeded (the exactly-once ledger covers a kill right after the data commit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.state import StateStore
from tests.helpers.copy_setup import copy_manifest_folder
from tests.helpers.crash_child import run_killed

ROWS = 30_000

MANIFEST = """\
version: 1
name: crashy
source:
  format: parquet
  path: ${CRASH_DATA}
target:
  connection: ${CRASH_DB_URL}
  table: crashy
  mode: append
  key: [id]
method: copy
copy:
  bucket: ${CRASH_BUCKET}
  rows_per_part: 2000
  fallback: none
"""


@pytest.fixture()
def crash_setup(spark: Any, pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="crashy", manifest=MANIFEST,
                                rows=ROWS, env_prefix="CRASH")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["staging", "staged", "loading", "committed"])
def test_sigkill_then_resume_loads_exactly_once(phase: str, crash_setup: Path, spark: Any, pg_conn: Any,
                                                bucket: str, state_url: str) -> None:
    run_killed(state_url, phase, crash_setup)
    store = StateStore(state_url)
    crashed = store.list_runs(limit=1)[0]
    assert crashed.status.is_active and crashed.temp_path  # it died mid-run
    if phase != "committed":
        with pg_conn.cursor() as cur:
            cur.execute("SELECT to_regclass('crashy')")
            if cur.fetchone()[0] is not None:
                cur.execute("SELECT count(*) FROM crashy")
                assert cur.fetchone()[0] == 0, "nothing may be visible before the commit"

    outcomes = commands.run([str(crash_setup)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    assert outcomes[0].run_id == crashed.run_id  # the same run continued
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM crashy")
        assert cur.fetchone() == (ROWS, ROWS, sum(range(ROWS)))
    run = store.get(crashed.run_id)
    assert run.status == "succeeded" and run.attempt == 2
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


SLICE_MANIFEST = MANIFEST.replace("  mode: append\n", "  mode: overwrite\n  replace_where: \"v LIKE 'row %'\"\n")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["loading", "committed"])
def test_a_slice_replace_killed_before_or_after_commit_replaces_its_slice_once(
        phase: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, tmp_path: Path, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="crashy",
                                  manifest=SLICE_MANIFEST, rows=ROWS, env_prefix="CRASH")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE crashy (id bigint PRIMARY KEY, v text)")
        cur.execute("INSERT INTO crashy SELECT g, 'row ' || g FROM generate_series(0, 99) g")  # the slice, old
        cur.execute("INSERT INTO crashy SELECT g, 'other' FROM generate_series(1000000, 1000009) g")
        cur.execute("SELECT ctid::text, xmin::text FROM crashy WHERE v = 'other' ORDER BY id")
        others = cur.fetchall()
    run_killed(state_url, phase, folder)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM crashy WHERE v LIKE 'row %'")
        assert cur.fetchone()[0] == (100 if phase == "loading" else ROWS)  # before COMMIT: as it was
    outcomes = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM crashy WHERE v LIKE 'row %'")
        assert cur.fetchone() == (ROWS, ROWS, sum(range(ROWS)))
        cur.execute("SELECT ctid::text, xmin::text FROM crashy WHERE v = 'other' ORDER BY id")
        assert cur.fetchall() == others  # the other slice was never touched
