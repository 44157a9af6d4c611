"""A bucket the credentials may read but not write (real IAM, enforced by SeaweedFS): COPY falls back
to JDBC, or with fallback none fails with one clear line; nothing is half-written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import StagingError
from loader.testing.s3server import S3Server, start_seaweedfs
from tests.tricky import fetch_table

READER = ("readonlykey", "readonlysecret")


@pytest.fixture(scope="module")
def iam_seaweed() -> Iterator[S3Server]:
    server = start_seaweedfs(read_only_key=READER)
    try:
        server.create_bucket("ro-bucket")
        yield server
    finally:
        server.stop()


@pytest.mark.seaweed
def test_read_only_bucket(iam_seaweed: S3Server, spark: Any, pg_db: Any, pg_conn: Any, state_url: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    env = iam_seaweed.env() | {"AWS_ACCESS_KEY_ID": READER[0], "AWS_SECRET_ACCESS_KEY": READER[1]}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    df = spark.createDataFrame([(i, f"v{i}") for i in range(100)], "id long, v string")
    with pytest.raises(StagingError) as info:
        write_to_postgres(df, pg_db.as_params(), table="ro", temp_s3_bucket="ro-bucket", state_url=state_url,
                          fallback="none")
    text = str(info.value)
    assert "AccessDenied" in text and "\n" not in text and READER[1] not in text
    with pg_conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ro')")
        assert cur.fetchone()[0] is None  # nothing half-written
    result = write_to_postgres(df, pg_db.as_params(), table="ro", temp_s3_bucket="ro-bucket", state_url=state_url)
    assert result.method == "optimized" and "AccessDenied" in (result.fallback_reason or "")
    assert len(fetch_table(pg_conn, "ro")) == 100
    admin = iam_seaweed.client()
    assert admin.list_objects_v2(Bucket="ro-bucket").get("KeyCount", 0) == 0
    assert os.environ["AWS_ACCESS_KEY_ID"] == READER[0]
