"""A Parquet source of ``rows`` rows (id, v) in 4 partitions and a COPY manifest over it, for the
tests that stop a load from outside (SIGKILL, SIGINT) and resume it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def copy_manifest_folder(spark: Any, pg_db: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                         name: str, manifest: str, rows: int, env_prefix: str) -> Path:
    """Write the data and ``manifest`` (which reads ${<env_prefix>_DATA}, ${..._DB_URL}, ${..._BUCKET})."""
    from pyspark.sql import functions as F

    data = tmp_path / "data.parquet"
    spark.range(rows, numPartitions=4).select(
        F.col("id"), F.concat(F.lit("row "), F.col("id").cast("string")).alias("v")
    ).write.parquet(str(data))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(manifest)
    monkeypatch.setenv(f"{env_prefix}_DATA", str(data))
    monkeypatch.setenv(f"{env_prefix}_DB_URL", pg_db.sqlalchemy_url().replace("+psycopg2", ""))
    monkeypatch.setenv(f"{env_prefix}_BUCKET", bucket)
    return folder


def reap(state_url: str, bucket: str, folder: Path, *, stale_after: str) -> str:
    """``loader reap`` of ``bucket`` and of the databases of ``folder``'s manifests (grace 6h, resume
    window 24h), as the crash tests run it; its report, which must say it succeeded."""
    from loader import commands

    text, ok = commands.reap(state_url, buckets=[bucket], prefix="tmp/postgres-copy", grace="6h",
                             resume_window="24h", stale_after=stale_after, dry_run=False, as_json=False,
                             table_manifests=[str(folder)])
    assert ok, text
    return text
