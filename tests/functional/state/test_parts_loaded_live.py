"""``loader status`` shows the parts a COPY has loaded while it still runs (issue #22: it showed 0
until the run ended, as the count was recomputed from a part status nothing set).

The load is real (Spark, S3, PostgreSQL, the SQLite state store); a seam around COPY's
``_load_part`` looks at the store, through a store of its own as another process would, before
each part after the first is COPYed: the transaction is open, earlier parts are in it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from loader import commands, write_to_postgres
from loader.copy.landing.in_place import InPlace
from loader.state import RunStatus, StateStore


def test_status_shows_parts_loaded_while_the_copy_runs(spark: Any, pg_db: Any, bucket: str, state_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[RunStatus, int, int | None, int | None, int]] = []
    original, done = InPlace.load, []

    def look_then_load(self: Any, key: str, size: int) -> int:
        if done:  # at least one part COPYed, the transaction still open
            run_id = self.run.run_id
            (run,) = [r for r in json.loads(commands.status(state_url, as_json=True)) if r["run_id"] == run_id]
            store = StateStore(state_url)
            try:
                record = store.get(run_id)
            finally:
                store.close()
            assert (run["parts_loaded"], run["rows_in_flight"]) == (record.parts_loaded, record.rows_in_flight)
            seen.append((record.status, record.parts_loaded, record.rows_in_flight, record.rows, len(done)))
        rows = original(self, key, size)
        done.append(key)
        return rows

    monkeypatch.setattr(InPlace, "load", look_then_load)
    df = spark.sql("SELECT id, CAST(id AS string) AS s FROM range(3000)").repartition(1)
    result = write_to_postgres(df, pg_db.as_params(), method="copy", table="live_parts", temp_s3_bucket=bucket,
                               state_url=state_url, fallback="none", server_side="never", rows_per_part=1_000)
    assert result.rows == 3_000
    assert [s[4] for s in seen] == [1, 2]  # looked before the 2nd and the 3rd part
    for status, parts_loaded, in_flight, rows, copied in seen:
        assert status is RunStatus.LOADING
        assert parts_loaded == copied > 0  # each COPYed part counted at once
        assert in_flight == 1_000 * copied and rows is None  # in flight: nothing committed yet
    done = StateStore(state_url).get(result.run_id)
    assert (done.status, done.parts_loaded, done.parts_staged, done.rows) == (RunStatus.SUCCEEDED, 3, 3, 3_000)
