"""The S3 edge: clients, the bucket check, listing and batched deletes.

boto3 finds credentials the usual way (environment, profile, instance or EMR
role) and honours ``AWS_ENDPOINT_URL``, which is how tests, the demo and the
benchmark point it at a local S3 server. Every botocore/boto3 failure leaves here
(``translated``) as a ``StagingError`` (infrastructure, retryable), which is what
makes COPY fall back to JDBC. The reaper's counted listing and deletes live here too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


def resolve_bucket(explicit: str | None, origin: str = "argument") -> tuple[str, str]:
    """(bucket, where it came from): the one statement of the bucket's precedence. The argument or
    the manifest's copy.bucket (``origin`` names which), then $PYSPARK_TEMP_S3_BUCKET, then the
    project default."""
    if explicit:
        return explicit, origin
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
    with translated(what, bucket):
        return fn(*args, **kwargs)


@contextlib.contextmanager
def translated(what: str, bucket: str | None = None) -> Iterator[None]:
    """botocore's and boto3's exceptions leave as ``StagingError``, decided by their error code."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        msg = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise StagingError(f"S3 {what} failed on bucket {bucket}: {code} {msg}".strip(),
                           next_step=_hint(code), bucket=bucket, code=code) from None
    except (BotoCoreError, Boto3Error) as exc:
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


# --- listing and deleting, with every request counted --------------------------------------
@dataclass
class RequestCounter:
    """S3 requests made, by kind: a reap report says what it cost (grows with objects/1,000)."""

    lists: int = 0
    deletes: int = 0

    @property
    def total(self) -> int:
        return self.lists + self.deletes


@dataclass
class PrefixListing:
    """Every object under one prefix, as listed (keys kept for the delete)."""

    keys: list[str] = field(default_factory=list)
    bytes: int = 0

    @property
    def objects(self) -> int:
        return len(self.keys)


def _pages(client: Any, bucket: str, counter: RequestCounter, **params: Any) -> Iterator[dict[str, Any]]:
    """ListObjectsV2 pages, one request counted per page."""
    token: str | None = None
    while True:
        kwargs = dict(params)
        if token:
            kwargs["ContinuationToken"] = token
        counter.lists += 1
        page = call("ListObjectsV2", client.list_objects_v2, Bucket=bucket, bucket=bucket, **kwargs)
        yield page
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")
        if not token:  # a server that says "truncated" without a token: stop rather than loop
            return


def iter_objects(client: Any, bucket: str, prefix: str,
                 counter: RequestCounter | None = None) -> Iterator[dict[str, Any]]:
    for page in _pages(client, bucket, counter or RequestCounter(), Prefix=prefix):
        yield from page.get("Contents", []) or []


def list_prefixes(client: Any, bucket: str, root: str, counter: RequestCounter) -> Iterator[str]:
    """Common prefixes directly under ``root`` (ending with '/'), by delimiter, paginated."""
    if not root.endswith("/"):
        raise ValueError(f"root must end with '/': {root!r}")
    for page in _pages(client, bucket, counter, Prefix=root, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []) or []:
            yield cp["Prefix"]


def list_prefix(client: Any, bucket: str, prefix: str, counter: RequestCounter) -> PrefixListing:
    """Every object under ``prefix`` (which must end with '/')."""
    if not prefix or not prefix.endswith("/"):
        raise ValueError(f"refusing to list a prefix that does not end with '/': {prefix!r}")
    out = PrefixListing()
    for obj in iter_objects(client, bucket, prefix, counter):
        if obj["Key"].startswith(prefix):  # defensive: never delete outside the prefix
            out.keys.append(obj["Key"])
            out.bytes += int(obj.get("Size", 0) or 0)
    return out


def delete_keys(client: Any, bucket: str, keys: list[str], counter: RequestCounter) -> int:
    """Delete ``keys`` in batches of 1,000 (``DeleteObjects``, quiet). A key already gone
    (``NoSuchKey``) is what we wanted. Returns how many were sent."""
    sent = 0
    for start in range(0, len(keys), DELETE_BATCH):
        batch = [{"Key": k} for k in keys[start:start + DELETE_BATCH]]
        counter.deletes += 1
        resp = call("DeleteObjects", client.delete_objects, Bucket=bucket,
                    Delete={"Objects": batch, "Quiet": True}, bucket=bucket)
        errors = [e for e in (resp.get("Errors") or []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            raise StagingError(f"S3 DeleteObjects refused {len(errors)} key(s) in {bucket}, e.g. "
                               f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".strip(),
                               next_step="check that the role may delete under the prefix", bucket=bucket)
        sent += len(batch)
    return sent


def delete_prefix(client: Any, bucket: str, prefix: str) -> PrefixListing:
    """Delete every object under ``prefix``: paginated listing, batches of 1,000 keys."""
    listing = list_prefix(client, bucket, prefix, RequestCounter())
    delete_keys(client, bucket, listing.keys, RequestCounter())
    return listing
