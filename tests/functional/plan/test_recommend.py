"""Recommendations: options write_to_postgres accepts, and real COPY readiness checks."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from loader.connection import ConnectionSpec
from loader.errors import ConfigError
from loader.options import CopyOptions, JdbcOptions, split_call_options
from loader.plan.recommend import (
    doctor_lines,
    get_copy_protocol_recommendation,
    get_performance_recommendations,
)

OPTION_NAMES = {f.name for f in fields(CopyOptions)} | {f.name for f in fields(JdbcOptions)}


def write_to_postgres(df: Any, conn_params: Any, method: str = "copy", temp_s3_bucket: str | None = None,
                      cleanup_temp_files: bool = True, *, table: str | None = None, mode: str = "append",
                      key: Any = None, **options: Any) -> None:
    """Reference: the public signature the lead is implementing in loader/api.py."""


@pytest.mark.parametrize(("rows", "method"), [(0, "optimized"), (1, "optimized"), (499_999, "optimized"),
                                              (500_000, "optimized"), (500_001, "copy"),
                                              (50_000_000, "copy")])
def test_method_by_size(rows: int, method: str) -> None:
    assert get_performance_recommendations(rows)["method"] == method


@pytest.mark.parametrize("rows", [0, 1, 999_999, 1_000_000, 50_000_000])
@pytest.mark.parametrize("memory", [0.5, 8, 64])
def test_every_key_is_accepted_by_write_to_postgres(rows: int, memory: float) -> None:
    rec = get_performance_recommendations(rows, available_memory_gb=memory)
    assert "notes" not in rec
    bound = inspect.signature(write_to_postgres).bind("df", {"host": "h"}, **rec)
    options = bound.arguments.get("options", {})
    assert set(options) <= OPTION_NAMES
    split_call_options(options)  # the real option parser accepts them too
    assert rec["method"] in ("copy", "optimized")
    assert 1 <= rec["num_partitions"] <= JdbcOptions().max_connections
    # the batch size is left to the width rule, which knows the row width
    assert "batchsize" not in rec


def test_partitions_scale_with_size_and_memory() -> None:
    assert get_performance_recommendations(0)["num_partitions"] == 1
    assert get_performance_recommendations(50_000_000)["num_partitions"] == 8
    assert get_performance_recommendations(50_000_000, available_memory_gb=2)["num_partitions"] == 2


@pytest.mark.parametrize("bad", [-1, -1_000_000, 1.5, "10", True])
def test_bad_row_count_is_a_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError):
        get_performance_recommendations(bad)


def test_bad_memory_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        get_performance_recommendations(10, available_memory_gb=0)


def test_reachable_bucket_means_copy(bucket: str) -> None:
    report = get_copy_protocol_recommendation(bucket)
    assert report["method"] == "copy"
    assert set(report["checks"]) == {"credentials", "bucket"}
    assert all(c["ok"] for c in report["checks"].values())
    assert bucket in report["checks"]["bucket"]["detail"]
    assert len(report["automatic_features"]) >= 6
    assert doctor_lines(report)[1].startswith(f"OK   bucket: bucket {bucket}")


def test_bucket_from_environment(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSPARK_TEMP_S3_BUCKET", bucket)
    report = get_copy_protocol_recommendation()
    assert report["method"] == "copy"
    assert "PYSPARK_TEMP_S3_BUCKET" in report["checks"]["bucket"]["detail"]


def test_missing_bucket_means_optimized_and_says_what_to_do(s3_server: Any) -> None:
    report = get_copy_protocol_recommendation("no-such-bucket-here")
    assert report["method"] == "optimized"
    check = report["checks"]["bucket"]
    assert not check["ok"]
    assert "no-such-bucket-here" in check["detail"] and "->" in check["detail"]
    assert "PYSPARK_TEMP_S3_BUCKET" in check["detail"]
    assert "bucket" in report["reason"]
    lines = doctor_lines(report)
    assert lines[0].startswith("OK   credentials")
    assert lines[1].startswith("FAIL bucket: ")


def test_with_database_without_aws_s3_is_client_side(bucket: str, pg_db: ConnectionSpec) -> None:
    report = get_copy_protocol_recommendation(bucket, conn_params=pg_db)
    checks = report["checks"]
    assert report["method"] == "copy"
    assert checks["database"]["ok"] and checks["client_side"]["ok"]
    # the test server allows 8 prepared transactions (tests/conftest.py): the append may go over several
    assert checks["parallel"]["ok"] and checks["parallel"]["detail"].startswith("max_prepared_transactions 8")
    assert not checks["server_side"]["ok"] and "aws_s3" in checks["server_side"]["detail"]
    assert "client-side" in report["reason"]
    assert any(line.startswith("INFO server_side") for line in doctor_lines(report))


def test_with_aws_s3_extension_is_server_side(bucket: str, pg_db: ConnectionSpec,
                                              aws_s3_extension: Any) -> None:
    params = {"host": pg_db.host, "port": pg_db.port, "database": pg_db.database, "user": pg_db.user,
              "password": pg_db.password}
    report = get_copy_protocol_recommendation(bucket, conn_params=params)
    assert report["method"] == "copy"
    assert report["checks"]["server_side"]["ok"]
    assert "server-side" in report["reason"]
    assert all(line.startswith("OK") for line in doctor_lines(report))


def test_unreachable_database_is_not_ready_and_hides_the_password(bucket: str, pg_db: ConnectionSpec) -> None:
    params = {"host": pg_db.host, "port": pg_db.port, "database": pg_db.database, "user": pg_db.user,
              "password": "wrong-Secret-123"}
    report = get_copy_protocol_recommendation(bucket, conn_params=params)
    assert report["method"] == "optimized"
    assert not report["checks"]["database"]["ok"]
    assert not report["checks"]["client_side"]["ok"]
    assert "wrong-Secret-123" not in repr(report)
    assert "wrong-Secret-123" not in "\n".join(doctor_lines(report))


def test_no_credentials(s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = s3_server.env()["AWS_SECRET_ACCESS_KEY"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role here; do not wait for one
    report = get_copy_protocol_recommendation(bucket)
    assert report["method"] == "optimized"
    assert not report["checks"]["credentials"]["ok"]
    assert "AWS_ACCESS_KEY_ID" in report["checks"]["credentials"]["detail"]
    assert not report["checks"]["bucket"]["ok"]
    assert secret not in repr(report)
    assert doctor_lines(report)[0].startswith("FAIL credentials: ")


def test_secrets_never_in_details(bucket: str, pg_db: ConnectionSpec, s3_server: Any) -> None:
    report = get_copy_protocol_recommendation(bucket, conn_params=pg_db)
    text = repr(report) + "\n".join(doctor_lines(report))
    assert s3_server.env()["AWS_SECRET_ACCESS_KEY"] not in text
    assert pg_db.password is None or pg_db.password not in text
