"""Faults of a shadow overwrite whose table has dependents (tests/helpers/dependents.py): killed once
the foreign key to it is rebuilt against the shadow, or a swap statement that touches a dependent
refused (replacing a view, making a policy), the table and every dependent stay exactly as they
were, and nothing is left behind after ``--resume`` or ``loader reap``; a dependent that appears
between the plan and the swap stops it, named. Real Spark, PostgreSQL and S3 (moto)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from loader import commands
from loader.adapters import s3
from loader.destination import shadow_swap
from loader.state import StateStore
from tests.helpers.copy_setup import copy_manifest_folder, reap
from tests.helpers.crash_child import run_killed
from tests.helpers.dependents import catalog, leftovers, q, with_dependents
from tests.helpers.table_reader import Reader

pytestmark = pytest.mark.slow

ROWS = 6_000
T = "sdf"
MANIFEST = """\
version: 1
name: sdf
source:
  format: parquet
  path: ${SDF_DATA}
target:
  connection: ${SDF_DB_URL}
  table: sdf
  mode: overwrite
method: copy
copy:
  bucket: ${SDF_BUCKET}
  rows_per_part: 1500
  connections: 2
  fallback: none
"""
OLD_SEEN, NEW_SEEN = (10, 10, "old 0"), (ROWS, ROWS, "row 0")


@pytest.fixture()
def folder(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    q(pg_conn, f"CREATE TABLE {T} (id bigint PRIMARY KEY, v text NOT NULL)")
    q(pg_conn, f"INSERT INTO {T} SELECT g, 'old ' || g FROM generate_series(0, 9) g")
    with_dependents(pg_conn, T)
    return copy_manifest_folder(spark, pg_db, bucket, tmp_path, monkeypatch, name=T, manifest=MANIFEST, rows=ROWS,
                                env_prefix="SDF")


def _rows(pg_conn: Any) -> tuple[Any, ...]:
    return q(pg_conn, f"SELECT count(*), count(DISTINCT id), min(v) FROM {T}")[0]


def _without_rebuilt_keys(cat: dict[str, Any]) -> dict[str, Any]:
    return cat | {"child_constraints": [c for c in cat["child_constraints"] if not c[0].startswith("loader_shadow_")]}


def _resumed(folder: Path, spark: Any, state_url: str) -> Any:
    (out,) = commands.run([str(folder)], state_url=state_url, resume=True, spark=spark)
    assert out.status == "succeeded", out.error
    return out


def test_killed_with_the_foreign_key_rebuilt_against_the_shadow_then_resumed(
        folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    """Killed once built (the foreign key of the child table rebuilt against the shadow, validated):
    the table and its dependents are as they were, the child's one rebuilt key aside, which only
    the shadow is referenced by; the resume swaps the kept shadow in, and every dependent is the same."""
    before = catalog(pg_conn, T)
    with Reader(pg_db, T, interval=0.02) as reader:
        run_killed(state_url, "shadow_built", folder)
    assert reader.seen == {OLD_SEEN}, reader.seen
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    now = catalog(pg_conn, T)
    assert _without_rebuilt_keys(now) == before
    rebuilt = [c for c in now["child_constraints"] if c[0].startswith("loader_shadow_")]
    assert [(c[0], c[5]) for c in rebuilt] == [(f"loader_shadow_{crashed.run_id[:8]}_ref0", crashed.staging_table)]
    out = _resumed(folder, spark, state_url)
    assert out.run_id == crashed.run_id and _rows(pg_conn) == NEW_SEEN
    assert catalog(pg_conn, T) == before and leftovers(pg_conn, T) == []


def test_killed_with_the_foreign_key_rebuilt_then_reaped_leaves_every_dependent_as_it_was(
        folder: Path, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    before = catalog(pg_conn, T)
    run_killed(state_url, "shadow_built", folder)
    crashed = StateStore(state_url).list_runs(limit=1)[0]
    time.sleep(1.1)
    text = reap(state_url, bucket, folder, stale_after="1s")
    assert f"public.{crashed.staging_table}" in text, text
    assert catalog(pg_conn, T) == before and leftovers(pg_conn, T) == []
    assert _rows(pg_conn) == OLD_SEEN
    assert list(s3.iter_objects(s3.make_client(), bucket, "")) == []


@pytest.mark.parametrize("refused", ["CREATE VIEW", "CREATE POLICY", "GRANT"])
def test_a_swap_statement_on_a_dependent_refused_leaves_everything_as_it_was(
        refused: str, folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An event trigger refusing what the swap does to a dependent (CREATE OR REPLACE VIEW, CREATE
    POLICY, a grant), made once the shadow is built: the swap is rolled back, the shadow and the
    key rebuilt against it dropped, the error names the swap and the trigger's words; once the
    trigger is gone, --resume carries every dependent over."""
    before = catalog(pg_conn, T)
    original = shadow_swap.ShadowTable.build

    def build_then_refuse(self: Any, conn: Any) -> None:
        original(self, conn)
        q(pg_conn, "CREATE FUNCTION sdf_freeze() RETURNS event_trigger LANGUAGE plpgsql AS "
                   f"$$BEGIN RAISE EXCEPTION '{refused} is frozen by policy'; END$$")
        q(pg_conn, f"CREATE EVENT TRIGGER sdf_freeze ON ddl_command_start WHEN TAG IN ('{refused}') "
                   "EXECUTE FUNCTION sdf_freeze()")

    monkeypatch.setattr(shadow_swap.ShadowTable, "build", build_then_refuse)
    with Reader(pg_db, T) as reader:
        (out,) = commands.run([str(folder)], state_url=state_url, spark=spark)
    monkeypatch.setattr(shadow_swap.ShadowTable, "build", original)
    assert out.status == "failed" and f"{refused} is frozen by policy" in out.error, out.error
    assert "the swap was rolled back, the target is unchanged" in out.error, out.error
    assert reader.seen == {OLD_SEEN}, reader.seen
    assert catalog(pg_conn, T) == before and leftovers(pg_conn, T) == [], "the process survived: it dropped them"
    q(pg_conn, "DROP EVENT TRIGGER sdf_freeze")
    _resumed(folder, spark, state_url)
    assert _rows(pg_conn) == NEW_SEEN and catalog(pg_conn, T) == before and leftovers(pg_conn, T) == []


@pytest.mark.parametrize("late", [
    ("CREATE TABLE sdf_late (pid bigint REFERENCES sdf (id))", "foreign keys to it changed since the load started: "
                                                              "new public.sdf_late.sdf_late_pid_fkey"),
    ("CREATE POLICY sdf_late ON sdf USING (false)", "policies changed since the load started: new sdf_late"),
])
def test_a_dependent_that_appears_before_the_swap_stops_it_by_name(
        late: tuple[str, str], folder: Path, spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    setup, named = late
    before = catalog(pg_conn, T)
    original = shadow_swap.ShadowTable.build

    def build_then_depend(self: Any, conn: Any) -> None:
        original(self, conn)
        q(pg_conn, setup)

    monkeypatch.setattr(shadow_swap.ShadowTable, "build", build_then_depend)
    (out,) = commands.run([str(folder)], state_url=state_url, spark=spark)
    assert out.status == "failed" and named in out.error and "the target is unchanged" in out.error, out.error
    now = catalog(pg_conn, T)
    assert _rows(pg_conn) == OLD_SEEN and leftovers(pg_conn, T) == []
    assert now["views"] == before["views"] and now["child_constraints"] == before["child_constraints"]
