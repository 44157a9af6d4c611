"""Manifests read from S3 (as on EMR): validate a prefix and an object, dry run and run from
``s3://``, the problems of a missing key or bucket, and the URI and hash in the state row.
Real moto S3 server, PostgreSQL and Spark; the manifests' source files are local."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from loader import commands
from loader.adapters import s3
from loader.errors import ManifestError
from loader.runner.locate import find_run_manifest
from loader.state import StateStore
from tests.functional.runner.test_cli import cli
from tests.functional.runner.test_runner import base_rows, pg_url, query, write_source


def _manifest(name: str, source: str) -> bytes:
    doc = {"version": 1, "name": name, "source": {"format": "parquet", "path": source},
           "target": {"connection": "${T_PG_URL}", "table": name, "mode": "overwrite"}, "method": "optimized"}
    return yaml.safe_dump(doc, sort_keys=False).encode()


@pytest.fixture()
def s3_manifests(pg_db: Any, bucket: str, tmp_path: Path, spark: Any,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two manifests under s3://<bucket>/manifests/ (and one elsewhere that must not be listed)."""
    monkeypatch.setenv("T_PG_URL", pg_url(pg_db))
    source = write_source(spark, tmp_path / "src", base_rows(range(1, 21)))
    client = s3.make_client()
    bodies = {name: _manifest(name, source) for name in ("s3a", "s3b")}
    for name, body in bodies.items():
        client.put_object(Bucket=bucket, Key=f"manifests/{name}.yaml", Body=body)
    client.put_object(Bucket=bucket, Key="manifests/README.txt", Body=b"not a manifest")
    client.put_object(Bucket=bucket, Key="manifests/deeper/x.yaml", Body=_manifest("x", source))
    return {"bucket": bucket, "bodies": bodies, "prefix": f"s3://{bucket}/manifests/", "pg": pg_db,
            "env": dict(os.environ)}


def test_validate_reads_an_s3_folder_and_an_s3_file(s3_manifests: dict[str, Any]) -> None:
    prefix = s3_manifests["prefix"]
    res = cli("validate", prefix, env=s3_manifests["env"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines() == [f"ok  {prefix}{n}.yaml: {n} -> public.{n}" for n in ("s3a", "s3b")]
    # the folder without its trailing slash, and one object
    res = cli("validate", prefix.rstrip("/"), f"{prefix}s3b.yaml", env=s3_manifests["env"])
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 2  # s3b given twice is read once


def test_a_missing_key_a_missing_bucket_and_an_empty_prefix_name_the_uri(s3_manifests: dict[str, Any]) -> None:
    bucket = s3_manifests["bucket"]
    gone = f"b-missing-{uuid.uuid4().hex[:8]}"
    res = cli("validate", f"s3://{bucket}/manifests/nope.yaml", f"s3://{gone}/manifests/",
              f"s3://{bucket}/empty/", env=s3_manifests["env"])
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr and "s3:/" + bucket not in res.stderr  # no folded s3:/
    assert any(line.startswith(f"s3://{bucket}/manifests/nope.yaml: no such object in bucket '{bucket}'")
               for line in lines), lines
    assert any(line.startswith(f"s3://{gone}/manifests/: bucket '{gone}' does not exist") for line in lines), lines
    assert f"s3://{bucket}/empty/: no *.yaml or *.yml manifests under this S3 prefix" in lines
    with pytest.raises(ManifestError, match="nope.yaml: no such object"):
        commands.run([f"s3://{bucket}/manifests/nope.yaml"], state_url="sqlite:///:memory:")


def test_dry_run_and_run_from_s3_record_the_uri_and_hash(s3_manifests: dict[str, Any], spark: Any,
                                                          pg_conn: Any, tmp_path: Path) -> None:
    prefix, state = s3_manifests["prefix"], f"sqlite:///{tmp_path / 'state.db'}"
    text, ok = commands.dry_run([prefix], state_url=state, spark=spark)
    assert ok, text
    assert "manifest s3a" in text and "public.s3b (will be created)" in text

    outcomes = commands.run([prefix], state_url=state, only=("s3a",), spark=spark)
    assert [(o.status, o.error) for o in outcomes] == [("succeeded", "")]
    assert query(pg_conn, "SELECT count(*) FROM public.s3a") == [(20,)]
    store = StateStore(state)
    try:
        (record,) = store.list_runs()
    finally:
        store.close()
    assert record.manifest_uri == f"{prefix}s3a.yaml"
    assert record.manifest_hash == hashlib.sha256(s3_manifests["bodies"]["s3a"]).hexdigest()
    # `loader resume RUN_ID` without a path finds the manifest at the recorded S3 URI, by its hash
    found = find_run_manifest(record, [])
    assert (found.path, found.content_hash) == (record.manifest_uri, record.manifest_hash)
