"""Resume by run id, refusal when the source changed since staging, and reap_before_run."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.errors import SourceChangedError
from loader.state import StateStore
from tests.functional.engine.test_crash_resume import ROWS, crash_setup  # noqa: F401 - the fixture is reused
from tests.helpers.crash_child import run_killed

pytestmark = pytest.mark.slow


def _crash(state_url: str, folder: Path, phase: str = "staged") -> str:
    run_killed(state_url, phase, folder)
    return StateStore(state_url).list_runs(limit=1)[0].run_id


def test_loader_resume_by_run_id(crash_setup: Path, spark: Any, pg_conn: Any, bucket: str,  # noqa: F811
                                 state_url: str) -> None:
    run_id = _crash(state_url, crash_setup)
    outcome = commands.resume(run_id, [str(crash_setup)], state_url=state_url, spark=spark)
    assert outcome.status == "succeeded" and outcome.run_id == run_id
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM crashy")
        assert cur.fetchone() == (ROWS, ROWS)
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


def test_a_changed_source_refuses_resume_and_run_resume_starts_a_new_run(
        crash_setup: Path, spark: Any, bucket: str, state_url: str, pg_conn: Any,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """``loader resume RUN_ID`` names one run: refused. ``loader run --resume`` (a schedule) starts
    a new run of the source as it is now and says why (issue 25)."""
    run_id = _crash(state_url, crash_setup)
    data = Path(os.environ["CRASH_DATA"])
    victim = next(p for p in sorted(data.iterdir()) if p.suffix == ".parquet")
    os.utime(victim, (time.time() + 60, time.time() + 60))  # same bytes, newer modification time
    with pytest.raises(SourceChangedError, match=run_id):
        commands.resume(run_id, [str(crash_setup)], state_url=state_url, spark=spark)
    assert StateStore(state_url).get(run_id).status.is_active  # refused: nothing moved it
    with caplog.at_level("WARNING", logger="loader"):
        outcomes = commands.run([str(crash_setup)], state_url=state_url, resume=True, spark=spark)
    assert outcomes[0].status == "succeeded" and outcomes[0].run_id != run_id, outcomes[0]
    assert f"changed since run {run_id} staged it; starting a new run of the source as it is now" in caplog.text
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM crashy")
        assert cur.fetchone() == (ROWS, ROWS)


def test_reap_before_run_removes_stale_prefixes_of_the_same_table(crash_setup: Path, spark: Any,  # noqa: F811
                                                                  bucket: str, state_url: str) -> None:
    client = s3.make_client()
    old = int(time.time()) - 2 * 86400
    mine = f"tmp/postgres-copy/crashy-{old}-0badc0de/part-00000-0000.csv.gz"
    other = f"tmp/postgres-copy/othertable-{old}-0badc0de/part-00000-0000.csv.gz"
    for key in (mine, other):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    outcomes = commands.run([str(crash_setup)], state_url=state_url, spark=spark, reap_before_run=True)
    assert outcomes[0].status == "succeeded"
    assert [o["Key"] for o in s3.iter_objects(client, bucket, "")] == [other]
