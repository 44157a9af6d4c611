"""`loader reap` from the command line: prints what it deletes and keeps, touches only orphans."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from loader import cli
from loader.adapters import s3


def test_loader_reap_cli(bucket: str, state_url: str, capsys: Any) -> None:
    client = s3.make_client()
    old, fresh = int(time.time()) - 3 * 86400, int(time.time())
    keys = [f"tmp/postgres-copy/orders-{old}-deadbeef/part-00000-0000.csv.gz",
            f"tmp/postgres-copy/orders-{old}-deadbeef/part-00000.json",
            f"tmp/postgres-copy/orders-{fresh}-cafebabe/part-00000-0000.csv.gz",
            f"tmp/postgres-copy/orders-{old}-NOTHEX00/part-00000-0000.csv.gz",
            f"other/tmp/postgres-copy/orders-{old}-deadbeef/x"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")

    assert cli.main(["--state-url", state_url, "reap", "--bucket", bucket, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "deadbeef" in dry and "cafebabe" in dry
    assert sorted(o["Key"] for o in s3.iter_objects(client, bucket, "")) == sorted(keys)

    assert cli.main(["--state-url", state_url, "reap", "--bucket", bucket, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["ok"] and report[0]["totals"]["deleted"] == 1 and report[0]["totals"]["objects"] == 2
    left = sorted(o["Key"] for o in s3.iter_objects(client, bucket, ""))
    assert left == sorted(keys[2:])  # the old orphan went; the fresh one, the look-alike, the foreign key stay


def test_reap_without_bucket_passes_on_a_setup_that_never_had_the_default(state_url: str, s3_server: Any,
                                                                            monkeypatch: Any, capsys: Any) -> None:
    # the README's cron line: no --bucket, and the project default bucket does not exist here
    monkeypatch.setenv("PYSPARK_TEMP_S3_BUCKET", "never-created-bucket")
    assert cli.main(["--state-url", state_url, "reap"]) == 0
    capsys.readouterr()
    # a bucket the user names is another matter: that it is missing is an error
    assert cli.main(["--state-url", state_url, "reap", "--bucket", "never-created-bucket"]) == 1
    assert "never-created-bucket" in capsys.readouterr().out


def _stage_tables(conn: Any) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'loader\\_stage\\_%'")
        return {r[0] for r in cur.fetchall()}


def test_reap_drops_staging_tables_the_state_store_knows_each_once(
        pg_db: Any, pg_conn: Any, state_url: str, s3_server: Any, tmp_path: Any, monkeypatch: Any,
        capsys: Any) -> None:
    """Killed JDBC runs leave ``loader_stage_*`` tables: ``loader reap`` (no arguments, as cron runs it)
    finds them through the state store, logs in with PGPASSWORD, drops each once and exits 0."""
    from datetime import datetime, timedelta, timezone

    from loader.state import StateStore
    from loader.state.status import RunStatus
    from tests.functional.runner.test_runner import pg_url, write_manifest

    now = datetime.now(timezone.utc)
    clock = [now - timedelta(hours=30)]
    store = StateStore(state_url, clock=lambda: clock[0])

    def jdbc_run(status: RunStatus, age: timedelta, table_exists: bool = True) -> str:
        run_id = uuid.uuid4().hex
        clock[0] = now - age
        store.create_run(run_id, manifest_name="m", manifest_hash="h", target="public.t",
                         target_db=pg_db.safe_description(), method_requested="optimized", write_mode="append")
        table = f"loader_stage_{run_id[:8]}_{int((now - age).timestamp())}"
        store.update(run_id, staging_table=table)
        store.start_loading(run_id, expected=RunStatus.PENDING)
        if status is RunStatus.FAILED:
            store.fail(run_id, "killed")
        if table_exists:
            with pg_conn.cursor() as cur:
                cur.execute(f'CREATE UNLOGGED TABLE "{table}" (c0 text)')
        return run_id

    killed = jdbc_run(RunStatus.LOADING, timedelta(hours=2))  # kill -9: its heartbeat stopped 2 h ago
    old_failed = jdbc_run(RunStatus.FAILED, timedelta(hours=30))  # beyond the resume window
    cleaned = jdbc_run(RunStatus.FAILED, timedelta(hours=30), table_exists=False)  # its run dropped it
    live = jdbc_run(RunStatus.LOADING, timedelta(minutes=1))
    clock[0] = now
    live_table = store.get(live).staging_table
    assert live_table is not None and _stage_tables(pg_conn) == {
        store.get(r).staging_table for r in (killed, old_failed, live)}

    monkeypatch.setenv("PYSPARK_TEMP_S3_BUCKET", "never-created-bucket")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    if pg_db.password:
        monkeypatch.setenv("PGPASSWORD", pg_db.password)

    # four manifests on the same database: every table is reported once, not once per manifest
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    monkeypatch.setenv("T_BUCKET", "never-created-bucket")
    folder = tmp_path / "manifests"
    for i in range(4):
        write_manifest(folder, f"m{i}", source={"format": "parquet", "path": "/nowhere"}, table=f"t{i}")
    assert cli.main(["--state-url", state_url, "reap", "--dry-run", "--tables", str(folder)]) == 0
    dry = capsys.readouterr().out
    assert dry.count(live_table) == 1 and dry.count(store.get(killed).staging_table or "?") == 1, dry
    assert len(_stage_tables(pg_conn)) == 3

    assert cli.main(["--state-url", state_url, "reap"]) == 0
    out = capsys.readouterr().out
    assert _stage_tables(pg_conn) == {live_table}, out
    assert "DROP " in out and "in " + pg_db.safe_description() in out
    assert store.get(killed).status is RunStatus.ABANDONED
    # the store forgets the tables that are gone, and keeps the live one
    assert [store.get(r).staging_table for r in (killed, old_failed, cleaned)] == [None, None, None]
    assert store.get(live).staging_table == live_table

    # nothing left to visit: the next reap does not even connect
    monkeypatch.setenv("PGPASSWORD", "wrong")
    assert cli.main(["--state-url", state_url, "reap", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["database"] for r in reports] == [None]
    store.close()
