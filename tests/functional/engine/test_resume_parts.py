"""A resume reuses the parts an earlier attempt staged, down to single parts of a partition whose
task was stopped: only the missing parts are encoded and uploaded again, every row lands once."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.copy import transaction
from loader.naming import TempLocation
from loader.state import StateStore
from tests.functional.engine.test_crash_resume import MANIFEST, ROWS, crash_setup  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _objects(bucket: str) -> dict[str, Any]:
    return {o["Key"]: o["LastModified"] for o in s3.iter_objects(s3.make_client(), bucket, "")}


def test_resume_uploads_only_the_missing_parts_of_a_stopped_partition(
        crash_setup: Path, spark: Any, pg_conn: Any, bucket: str, state_url: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    # keep the prefix after the successful resume too, to look at what it uploaded
    (crash_setup / "crashy.yaml").write_text(MANIFEST + "  cleanup: false\n")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "500")  # 2,000-row parts: 4 per partition
    try:
        def fail(self: Any) -> int:
            raise RuntimeError("the first attempt stops after staging everything")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(transaction.CopyTransaction, "finish", fail)
            first = commands.run([str(crash_setup)], state_url=state_url, spark=spark)
        assert first[0].status == "failed"
        staged = _objects(bucket)
        parts = sorted(k for k in staged if TempLocation.part_of(k) and TempLocation.part_of(k)[0] == 0)
        assert len(parts) >= 3, sorted(staged)
        # what a task stopped after its first parts leaves: no marker, the last parts missing
        client = s3.make_client()
        marker = next(k for k in staged if TempLocation.marker_partition(k) == 0)
        gone = [marker, *parts[2:]]
        for key in gone:
            client.delete_object(Bucket=bucket, Key=key)
        before = _objects(bucket)
        time.sleep(1.1)  # LastModified has whole seconds

        caplog.set_level(logging.INFO, logger="loader")
        outcomes = commands.run([str(crash_setup)], state_url=state_url, resume=True, spark=spark)
        assert [o.status for o in outcomes] == ["succeeded"]
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM crashy")
        assert cur.fetchone() == (ROWS, ROWS, sum(range(ROWS)))
    after = _objects(bucket)
    assert set(after) == set(staged)  # the same keys: the missing parts and the marker again
    rewritten = {k for k in before if k.endswith(TempLocation.CONFIRMATION)}  # the job succeeded again
    assert {k: after[k] for k in before if k not in rewritten} == {k: v for k, v in before.items()
                                                                   if k not in rewritten}, \
        "a part that existed was uploaded again"
    assert all(after[k] > max(before.values()) for k in gone), "a missing part was not uploaded"
    listed = json.loads(client.get_object(Bucket=bucket, Key=marker)["Body"].read())["parts"]
    assert [p["key"] for p in listed] == parts  # the reused parts and the new ones, in order
    run_id = outcomes[0].run_id
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith(("resuming", "resumed"))]
    reused = sum(1 for k in before if TempLocation.part_of(k) is not None)
    assert said[0].startswith(f"resuming run {run_id} (attempt 2): {reused} part(s) already staged "), said
    assert said[-1] == f"resumed run {run_id} (attempt 2): {reused} of {len(parts) + reused - 2} parts were " \
                       "already staged", said
    assert StateStore(state_url).get(run_id).status == "succeeded"
