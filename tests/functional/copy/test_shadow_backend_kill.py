"""One backend of an overwrite through a shadow table (copy.connections: 2) killed with
pg_terminate_backend: a worker's while it COPYs a part into the shadow, the coordinator's (the
driver's connection, which builds and swaps) in the build's transaction, inside the swap's
transaction, and between the swap's statements and its COMMIT. Each time the run fails with a
LoaderError, the target is exactly the old table (a reader never sees anything else), the
shadow is dropped by the run itself (over a connection of its own when its own died), and
``--resume`` gives exactly the new rows. A swap an event trigger refuses fails the same way, its
error naming the swap and what refused it; --resume or the reaper then leaves nothing. Real Spark, PostgreSQL and S3 (moto); the backends are
found by their application_name (tests/helpers/backend_kill.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.destination import shadow_sql, shadow_swap
from loader.state import RunStatus, StateStore
from tests.helpers import backend_kill
from tests.helpers.copy_setup import copy_manifest_folder
from tests.helpers.table_reader import Reader

pytestmark = pytest.mark.slow
ROWS, OLD = 6_000, 10
MANIFEST = """\
version: 1
name: shbk
source:
  format: parquet
  path: ${SHBK_DATA}
target:
  connection: ${SHBK_DB_URL}
  table: shbk
  mode: overwrite
method: copy
copy:
  bucket: ${SHBK_BUCKET}
  rows_per_part: 1000
  connections: 2
  fallback: none
"""
OLD_SEEN, NEW_SEEN = (OLD, OLD, "old 0"), (ROWS, ROWS, "row 0")


@pytest.fixture()
def folder(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE shbk (id bigint PRIMARY KEY, v text NOT NULL)")
        cur.execute("CREATE INDEX shbk_v ON shbk (v)")
        cur.execute(f"INSERT INTO shbk SELECT g, 'old ' || g FROM generate_series(0, {OLD - 1}) g")
        cur.execute("COMMENT ON TABLE shbk IS 'kill my backend'")
    return copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name="shbk", manifest=MANIFEST,
                                rows=ROWS, env_prefix="SHBK")


def _content(pg_conn: Any) -> tuple[Any, ...]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(id), min(v) FROM shbk")
        rows = cur.fetchone()
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'shbk' ORDER BY 1")
        indexes = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT obj_description('shbk'::regclass, 'pg_class')")
        return rows, indexes, cur.fetchone()[0]


OLD_CONTENT = ((OLD, OLD, sum(range(OLD)), "old 0"), ["shbk_pkey", "shbk_v"], "kill my backend")
NEW_CONTENT = ((ROWS, ROWS, sum(range(ROWS)), "row 0"), ["shbk_pkey", "shbk_v"], "kill my backend")


def _leftovers(pg_conn: Any) -> list[Any]:
    """Shadow or old tables, rows of loader_shadow_parts, prepared transactions: none should stay."""
    with pg_conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE '%\\_\\_loader\\_%' ORDER BY 1")
        left: list[Any] = cur.fetchall()
        cur.execute("SELECT to_regclass('loader_shadow_parts') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT shadow, part FROM loader_shadow_parts")
            left += cur.fetchall()
        cur.execute("SELECT gid FROM pg_prepared_xacts")
        return left + cur.fetchall()


def _failed_then_resumed(outcomes: list[Any], folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                         state_url: str) -> str:
    """The run failed leaving the old table and nothing of its shadow; the resume swaps in the new rows."""
    assert [o.status for o in outcomes] == ["failed"], outcomes
    assert _content(pg_conn) == OLD_CONTENT
    assert _leftovers(pg_conn) == []
    run_id = outcomes[0].run_id
    assert StateStore(state_url).get(run_id).status is RunStatus.FAILED
    with Reader(pg_db, "shbk") as reader:
        again = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert [o.status for o in again] == ["succeeded"], again
    assert again[0].run_id == run_id
    assert reader.seen <= {OLD_SEEN, NEW_SEEN}, reader.seen
    assert _content(pg_conn) == NEW_CONTENT  # each row exactly once, the indexes and comment kept
    assert _leftovers(pg_conn) == []
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []
    return outcomes[0].error


def test_a_worker_backend_killed_while_it_copies_into_the_shadow(
        folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    with backend_kill.copying_worker_killed_on_first_read(pg_db) as killed, Reader(pg_db, "shbk") as reader:
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert len(killed) == 1 and killed[0][1].startswith("loader-copy:") and killed[0][1].count(":") == 2, killed
    assert reader.seen == {OLD_SEEN}, reader.seen
    error = _failed_then_resumed(outcomes, folder, spark, pg_db, pg_conn, bucket, state_url)
    assert "the COPY of s3://" in error and "into the shadow of public.shbk" in error and "--resume" in error, error


@pytest.mark.parametrize("where", ["build", "swap", "commit"])
def test_the_coordinators_backend_killed_in_the_build_or_the_swap(
        where: str, folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``build``: before the first index of the shadow; ``swap``: under the swap's lock, the ledger row
    written, before the renames; ``commit``: every rename done, before the swap's COMMIT."""
    killed: list[tuple[int, str]] = []

    def kill(run_id: str) -> None:
        if not killed:  # once: the resume runs through the same patches
            killed.extend(backend_kill.terminate(pg_db, *backend_kill.driver(run_id)))

    if where == "build":
        original_index = shadow_sql.index_on_shadow

        def index_after_a_kill(definition: str, name: str, shadow: str) -> str:
            kill(shadow.split("__loader_shadow_")[1].strip('"'))
            return original_index(definition, name, shadow)

        monkeypatch.setattr(shadow_sql, "index_on_shadow", index_after_a_kill)
    else:
        original_exchange = shadow_swap.ShadowTable._exchange

        def exchange(self: Any, cur: Any, facts: Any) -> None:
            if where == "swap":
                kill(self.run_id)
            original_exchange(self, cur, facts)
            if where == "commit":
                kill(self.run_id)

        monkeypatch.setattr(shadow_swap.ShadowTable, "_exchange", exchange)
    with Reader(pg_db, "shbk") as reader:
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert len(killed) == 1 and killed[0][1] == f"loader-copy:{outcomes[0].run_id[:8]}", killed
    assert reader.seen == {OLD_SEEN}, reader.seen
    error = _failed_then_resumed(outcomes, folder, spark, pg_db, pg_conn, bucket, state_url)
    assert "server closed the connection" in error or "terminat" in error, error
    assert "connection already closed" not in error, error  # the loss itself, not a later call on it
    if where == "commit":
        assert "during the COMMIT of the swap of shadow table shbk__loader_shadow_" in error, error
    else:
        assert f"the {where} of shadow table shbk__loader_shadow_" in error, error


@pytest.mark.parametrize("then", ["resume", "reap"])
def test_a_swap_an_event_trigger_refuses_leaves_the_target_old_and_says_what_to_do(
        then: str, folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An event trigger refusing ALTER TABLE, created once the shadow is built (the plan saw none),
    fails the swap's first rename: the swap is rolled back, the shadow dropped, the error names the
    swap and the trigger's message; once it is gone, --resume swaps in the new rows, or the reaper
    deletes the kept staged parts."""
    original_build = shadow_swap.ShadowTable.build

    def build_then_trigger(self: Any, conn: Any) -> None:
        original_build(self, conn)
        with pg_conn.cursor() as cur:
            cur.execute("CREATE FUNCTION shbk_freeze() RETURNS event_trigger LANGUAGE plpgsql AS "
                        "$$BEGIN RAISE EXCEPTION 'ALTER TABLE is frozen by policy'; END$$")
            cur.execute("CREATE EVENT TRIGGER shbk_freeze ON ddl_command_start WHEN TAG IN ('ALTER TABLE') "
                        "EXECUTE FUNCTION shbk_freeze()")

    monkeypatch.setattr(shadow_swap.ShadowTable, "build", build_then_trigger)
    with Reader(pg_db, "shbk") as reader:
        outcomes = commands.run([str(folder)], state_url=state_url, spark=spark)
    monkeypatch.setattr(shadow_swap.ShadowTable, "build", original_build)
    assert reader.seen == {OLD_SEEN}, reader.seen
    assert [o.status for o in outcomes] == ["failed"], outcomes
    error = outcomes[0].error
    assert "public.shbk: the swap of shadow table shbk__loader_shadow_" in error, error
    assert "ALTER TABLE is frozen by policy" in error and "the target is unchanged" in error, error
    assert "event trigger" in error and "--resume" in error, error
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM loader_ledger WHERE run_id = %s", (outcomes[0].run_id,))
        assert cur.fetchone() == (0,), "the ledger row went with the swap"
        cur.execute("DROP EVENT TRIGGER shbk_freeze")
    if then == "resume":
        _failed_then_resumed(outcomes, folder, spark, pg_db, pg_conn, bucket, state_url)
        return
    assert _content(pg_conn) == OLD_CONTENT and _leftovers(pg_conn) == []
    assert list(s3.iter_objects(s3.make_client(), bucket, ""))  # kept for --resume
    time.sleep(1.1)
    text, ok = commands.reap(state_url, buckets=[bucket], prefix="tmp/postgres-copy", grace="6h",
                             resume_window="1s", stale_after="30m", dry_run=False, as_json=False,
                             table_manifests=[str(folder)])
    assert ok, text
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == [], text
    assert _content(pg_conn) == OLD_CONTENT and _leftovers(pg_conn) == []
