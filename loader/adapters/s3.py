"""The S3 edge: clients, the bucket check, listing and batched deletes.

boto3 finds credentials the usual way (environment, profile, instance or EMR
role) and honours ``AWS_ENDPOINT_URL``, which is how tests, the demo and the
benchmark point it at a local S3 server. Every botocore failure leaves here as
a ``StagingError`` (infrastructure, retryable), which is what makes COPY fall
back to JDBC.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import StagingError
from ..options import DEFAULT_BUCKET

DELETE_BATCH = 1000
T = TypeVar("T")


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def make_client(endpoint: str | None = None, max_attempts: int = 3,
                credentials: tuple[str, str, str | None] | None = None) -> Any:
    """A boto3 S3 client. Executors call this too, so it only reads the environment."""
    import boto3
    from botocore.config import Config

    endpoint = endpoint or endpoint_url()
    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if endpoint else {},
        max_pool_connections=16,
    )
    if credentials is not None:
        key, secret, token = credentials
        return boto3.client("s3", endpoint_url=endpoint, config=config, aws_access_key_id=key,
                            aws_secret_access_key=secret, aws_session_token=token)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def resolve_bucket(explicit: str | None) -> tuple[str, str]:
    """(bucket, where it came from): argument/manifest, then $PYSPARK_TEMP_S3_BUCKET, then the default."""
    if explicit:
        return explicit, "argument"
    env = os.environ.get("PYSPARK_TEMP_S3_BUCKET")
    if env:
        return env, "PYSPARK_TEMP_S3_BUCKET"
    return DEFAULT_BUCKET, "project default"


def credentials_present() -> bool:
    import boto3

    try:
        return boto3.session.Session().get_credentials() is not None
    except Exception:
        return False


def call(what: str, fn: Callable[..., T], *args: Any, bucket: str | None = None, **kwargs: Any) -> T:
    """Run one S3 call; any botocore failure becomes a StagingError naming the bucket."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        msg = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise StagingError(f"S3 {what} failed on bucket {bucket}: {code} {msg}".strip(),
                           next_step=_hint(code), bucket=bucket) from None
    except BotoCoreError as exc:
        raise StagingError(f"S3 {what} failed on bucket {bucket}: {exc}",
                           next_step="check the S3 endpoint, network and AWS credentials",
                           bucket=bucket) from None


def _hint(code: str) -> str:
    if code in ("404", "NoSuchBucket"):
        return "create the bucket or set copy.bucket / PYSPARK_TEMP_S3_BUCKET to one that exists"
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return "check the credentials and that the role may read, write and delete under the prefix"
    return "check the S3 endpoint, network and permissions"


def check_bucket(client: Any, bucket: str) -> None:
    """One cheap call before anything is written: HeadBucket."""
    call("HeadBucket", client.head_bucket, Bucket=bucket, bucket=bucket)


def iter_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("list_objects_v2")
    pages = call("ListObjectsV2", paginator.paginate, Bucket=bucket, Prefix=prefix, bucket=bucket)
    try:
        for page in pages:
            yield from page.get("Contents", [])
    except Exception as exc:
        if isinstance(exc, StagingError):
            raise
        raise StagingError(f"S3 ListObjectsV2 failed on bucket {bucket}: {exc}", bucket=bucket) from None


def iter_prefixes(client: Any, bucket: str, root: str) -> Iterator[str]:
    """Common prefixes directly under ``root`` (which ends with '/'), listed by delimiter."""
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=root, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                yield cp["Prefix"]
    except Exception as exc:
        raise StagingError(f"S3 listing of s3://{bucket}/{root} failed: {exc}", bucket=bucket) from None


@dataclass
class DeleteStats:
    objects: int = 0
    bytes: int = 0
    requests: int = 0


def delete_prefix(client: Any, bucket: str, prefix: str) -> DeleteStats:
    """Delete every object under ``prefix``: paginated listing, batches of 1,000 keys."""
    if not prefix or not prefix.endswith("/"):
        raise ValueError(f"refusing to delete a prefix that does not end with '/': {prefix!r}")
    stats = DeleteStats()
    batch: list[dict[str, str]] = []
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            stats.requests += 1
            for obj in page.get("Contents", []):
                batch.append({"Key": obj["Key"]})
                stats.bytes += int(obj.get("Size", 0))
                if len(batch) == DELETE_BATCH:
                    _delete_batch(client, bucket, batch, stats)
                    batch = []
        if batch:
            _delete_batch(client, bucket, batch, stats)
    except StagingError:
        raise
    except Exception as exc:
        raise StagingError(f"S3 delete of s3://{bucket}/{prefix} failed: {exc}", bucket=bucket,
                           prefix=prefix) from None
    return stats


def _delete_batch(client: Any, bucket: str, batch: list[dict[str, str]], stats: DeleteStats) -> None:
    resp = call("DeleteObjects", client.delete_objects, Bucket=bucket,
                Delete={"Objects": batch, "Quiet": True}, bucket=bucket)
    stats.requests += 1
    errors = resp.get("Errors") or []
    if errors:
        first = errors[0]
        raise StagingError(f"S3 DeleteObjects refused {len(errors)} key(s) in {bucket}, e.g. "
                           f"{first.get('Key')}: {first.get('Code')}", bucket=bucket)
    stats.objects += len(batch)
