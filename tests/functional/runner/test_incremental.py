"""Incremental runs end to end (real PostgreSQL, S3, Spark): a source folder that grows between runs
is loaded row by row exactly once (append, COPY), or to the latest version of each row (upsert with
lag, JDBC), also when a run is SIGKILLed before or right after its data COMMIT."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader import commands
from loader.state import StateStore
from tests.functional.runner.test_runner import pg_url, query
from tests.helpers.crash_child import run_killed

pytestmark = pytest.mark.slow

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 1000


def manifest(folder: Path, *, mode: str = "append", method: str = "copy", incremental: dict[str, Any]) -> Path:
    doc = {"version": 1, "name": "orders",
           "source": {"format": "parquet", "path": "${T_SRC}", "incremental": incremental},
           "target": {"connection": "${T_PG_URL}", "table": "orders", "mode": mode, "key": ["id"]},
           "method": method,
           "copy": {"bucket": "${T_BUCKET}", "rows_per_part": 300, "fallback": "none"}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def add_batch(spark: Any, src: Path, ids: range, version: int = 0, at: Any = None) -> None:
    """New Parquet files in the source folder (as a producer appends them); updated_at = T0 + id s."""
    rows = [(i, f"v{version}-{i}", at(i) if at else T0 + dt.timedelta(seconds=i)) for i in ids]
    spark.createDataFrame(rows, "id long, v string, updated_at timestamp").repartition(2) \
        .write.mode("append").parquet(str(src))


@pytest.fixture()
def env(pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", bucket)
    monkeypatch.setenv("T_SRC", str(tmp_path / "src"))
    return {"src": tmp_path / "src", "manifests": tmp_path / "manifests"}


def run(folder: Path, state_url: str, spark: Any, **kw: Any) -> Any:
    outcomes = commands.run([str(folder)], state_url=state_url, spark=spark, **kw)
    assert [o.status for o in outcomes] == ["succeeded"], outcomes
    return outcomes[0]


def mark_of(state_url: str, run_id: str) -> Any:
    raw = StateStore(state_url).get(run_id).high_water_mark
    return json.loads(raw) if raw else None


def ts(seconds: int) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_three_runs_over_a_growing_folder_load_each_row_once(spark: Any, env: dict[str, Path], pg_conn: Any,
                                                              state_url: str) -> None:
    folder = manifest(env["manifests"], incremental={"cursor": "updated_at", "initial": "2024-01-01T00:00:00Z"})
    add_batch(spark, env["src"], range(0, BATCH))
    add_batch(spark, env["src"], range(BATCH, BATCH + 10), at=lambda i: None)  # NULL cursors: never loaded
    first = run(folder, state_url, spark)
    assert first.rows == BATCH
    assert mark_of(state_url, first.run_id) == {"cursor": "updated_at", "type": "timestamp", "value": ts(BATCH - 1)}
    window = json.loads(StateStore(state_url).get(first.run_id).window_from or "")
    assert (window["value"], window["inclusive"], window["origin"]) == (ts(0), True, "initial")

    add_batch(spark, env["src"], range(2 * BATCH, 3 * BATCH))
    assert "window:     updated_at > " + ts(BATCH - 1) in commands.dry_run([str(folder)], state_url=state_url)[0]
    second = run(folder, state_url, spark)
    assert second.rows == BATCH
    assert mark_of(state_url, second.run_id)["value"] == ts(3 * BATCH - 1)

    empty = run(folder, state_url, spark)  # nothing new: 0 rows, the mark stays
    assert empty.rows == 0 and mark_of(state_url, empty.run_id)["value"] == ts(3 * BATCH - 1)

    add_batch(spark, env["src"], range(3 * BATCH, 3 * BATCH + 7))
    assert run(folder, state_url, spark).rows == 7
    assert query(pg_conn, "SELECT count(*), count(DISTINCT id) FROM orders") == [(2 * BATCH + 7, 2 * BATCH + 7)]

    status = commands.status(state_url)
    assert "high-water marks" in status and ts(3 * BATCH + 6) in status
    listed = json.loads(commands.status(state_url, as_json=True))
    assert listed[0]["current_mark"]["value"] == ts(3 * BATCH + 6)

    # --full-refresh: the table replaced by every row from initial
    full = run(folder, state_url, spark, full_refresh=True)
    assert full.rows == 2 * BATCH + 7
    assert query(pg_conn, "SELECT count(*), count(DISTINCT id) FROM orders") == [(2 * BATCH + 7, 2 * BATCH + 7)]
    assert StateStore(state_url).get(full.run_id).write_mode == "overwrite"
    # --from VALUE: exactly the rows after VALUE (here skipping three new rows on purpose)
    add_batch(spark, env["src"], range(4 * BATCH, 4 * BATCH + 10))
    skipped = run(folder, state_url, spark, from_value=ts(4 * BATCH + 2))
    assert skipped.rows == 7 and mark_of(state_url, skipped.run_id)["value"] == ts(4 * BATCH + 9)
    assert query(pg_conn, "SELECT min(id) FROM orders WHERE id >= %s", (4 * BATCH,)) == [(4 * BATCH + 3,)]


def test_upsert_with_lag_keeps_the_latest_version_and_late_rows(spark: Any, env: dict[str, Path], pg_conn: Any,
                                                                state_url: str) -> None:
    folder = manifest(env["manifests"], mode="upsert", method="optimized",
                      incremental={"cursor": "updated_at", "lag": "30m"})
    minute = dt.timedelta(minutes=1)
    add_batch(spark, env["src"], range(100), at=lambda i: T0 + i * minute)
    assert run(folder, state_url, spark).rows == 100  # mark: T0 + 99 min
    # late rows (cursor below the mark, within the lag) and newer versions of rows 0..9
    add_batch(spark, env["src"], range(100, 110), version=1, at=lambda i: T0 + (i - 20) * minute)
    add_batch(spark, env["src"], range(10), version=2, at=lambda i: T0 + (200 + i) * minute)
    second = run(folder, state_url, spark)
    assert second.rows == 30 + 10 + 10  # rows 70..99 once more (the lag), the late ones, the new versions
    assert query(pg_conn, "SELECT count(*) FROM orders") == [(110,)]
    assert query(pg_conn, "SELECT count(*) FROM orders WHERE v LIKE 'v2-%'") == [(10,)]
    assert query(pg_conn, "SELECT count(*) FROM orders WHERE v LIKE 'v1-%'") == [(10,)]
    assert mark_of(state_url, second.run_id)["value"] == (T0 + 209 * minute).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# killed before the COMMIT (loading) or after it; a kill while staging is the same for the mark (not
# stored yet) and is covered for the load itself by engine/test_crash_resume.py
@pytest.mark.parametrize(("phase", "after"), [("loading", "resume"), ("committed", "resume"),
                                              ("committed", "grow-then-resume")])
def test_sigkill_during_an_incremental_run(phase: str, after: str, spark: Any, env: dict[str, Path], pg_conn: Any,
                                          state_url: str) -> None:
    folder = manifest(env["manifests"], incremental={"cursor": "updated_at"})
    add_batch(spark, env["src"], range(BATCH))
    run(folder, state_url, spark)
    add_batch(spark, env["src"], range(BATCH, 2 * BATCH))
    run_killed(state_url, phase, folder)
    killed = StateStore(state_url).list_runs(limit=1)[0]
    assert killed.status.is_active and json.loads(killed.window_from or "")["value"] == ts(BATCH - 1)
    if phase == "committed":  # the mark was stored before the COMMIT; it counts once the run is finished
        assert mark_of(state_url, killed.run_id)["value"] == ts(2 * BATCH - 1)

    if after == "grow-then-resume":  # the cron case: more files came, then `loader run --resume`
        add_batch(spark, env["src"], range(2 * BATCH, 3 * BATCH))
        resumed = run(folder, state_url, spark, resume=True)  # the source changed: a new run, after the
        assert resumed.run_id != killed.run_id and resumed.rows == BATCH  # killed run's committed mark
    else:
        resumed = run(folder, state_url, spark, resume=True)
        assert resumed.run_id == killed.run_id
        assert StateStore(state_url).get(killed.run_id).status == "succeeded"
        # partitions staged before the kill were skipped: the mark still covers every row loaded
        assert mark_of(state_url, killed.run_id)["value"] == ts(2 * BATCH - 1)
        add_batch(spark, env["src"], range(2 * BATCH, 3 * BATCH))
        assert run(folder, state_url, spark).rows == BATCH
    assert query(pg_conn, "SELECT count(*), count(DISTINCT id), sum(id) FROM orders") == \
        [(3 * BATCH, 3 * BATCH, sum(range(3 * BATCH)))]


def test_an_incremental_replace_by_replaces_only_the_slices_of_the_new_rows(spark: Any, env: dict[str, Path],
                                                                          pg_conn: Any, state_url: str) -> None:
    """Spark's dynamic partition overwrite, incrementally: a day published again replaces that day."""
    doc = {"version": 1, "name": "orders",
           "source": {"format": "parquet", "path": "${T_SRC}",
                      "incremental": {"cursor": "updated_at", "initial": "2024-01-01T00:00:00Z"}},
           "target": {"connection": "${T_PG_URL}", "table": "orders", "mode": "overwrite", "replace_by": ["day"]},
           "method": "copy", "copy": {"bucket": "${T_BUCKET}", "fallback": "none"}}
    env["manifests"].mkdir(parents=True, exist_ok=True)
    (env["manifests"] / "orders.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    def publish(ids: range, day: str, first_second: int) -> None:
        rows = [(i, day, T0 + dt.timedelta(seconds=first_second + n)) for n, i in enumerate(ids)]
        spark.createDataFrame(rows, "id long, day string, updated_at timestamp").write.mode("append") \
            .parquet(str(env["src"]))

    publish(range(0, 50), "2024-01-01", 0)
    publish(range(100, 150), "2024-01-02", 100)
    first = run(env["manifests"], state_url, spark)
    assert first.rows == 100
    publish(range(200, 210), "2024-01-02", 1000)  # the second day again, 10 rows now
    second = run(env["manifests"], state_url, spark)
    assert second.rows == 10 and StateStore(state_url).get(second.run_id).rows_deleted == 50
    assert query(pg_conn, "SELECT day, count(*), min(id) FROM orders GROUP BY 1 ORDER BY 1") == [
        ("2024-01-01", 50, 0), ("2024-01-02", 10, 200)]
