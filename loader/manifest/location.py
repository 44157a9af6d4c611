"""Where manifests live: local files and folders, or ``s3://bucket/key`` objects and prefixes.

On EMR the manifests sit in S3 next to the job's code, so ``loader validate`` and ``loader run``
take ``s3://`` URIs as they take paths. An S3 URI is never passed through ``pathlib`` (which
would fold ``s3://`` into ``s3:/``). The client is the staging client (``adapters/s3``): the
same credentials chain and ``AWS_ENDPOINT_URL``/``AWS_REGION`` settings. Every failure is a
problem line naming the URI, decided by the S3 error code.
"""

from __future__ import annotations

from pathlib import Path

from ..adapters import s3
from ..errors import StagingError

S3_SCHEME = "s3://"


def is_s3(path: str) -> bool:
    return path.startswith(S3_SCHEME)


def display_uri(path: str) -> str:
    """What the state store records as the manifest's location: the S3 URI as given, a local
    file as its absolute ``file://`` URI (a relative path means nothing to ``loader status``)."""
    return path if is_s3(path) else Path(path).resolve().as_uri()


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``; the key may be empty (the whole bucket)."""
    bucket, _, key = uri[len(S3_SCHEME):].partition("/")
    return bucket, key


def _problem(uri: str, bucket: str, exc: StagingError) -> str:
    """One problem line for a failed S3 call, by its error code."""
    code = str(exc.ids.get("code", ""))
    if code in ("NoSuchBucket",):
        return (f"{uri}: bucket {bucket!r} does not exist -> check the bucket name "
                "(and AWS_ENDPOINT_URL / AWS_REGION if the bucket is elsewhere)")
    if code in ("NoSuchKey", "404"):
        return f"{uri}: no such object in bucket {bucket!r} -> check the key (list it with: aws s3 ls {uri})"
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return (f"{uri}: access denied ({code}) -> the role or credentials need s3:GetObject on the "
                "manifests and s3:ListBucket on the bucket")
    return f"{uri}: cannot read from S3 ({exc.message}) -> check the S3 endpoint, network and AWS credentials"


def list_s3(uri: str, suffixes: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The manifests one URI names: itself when its key ends in a manifest suffix, else the
    objects directly under it as a folder (sorted, not recursive); returns (uris, problems)."""
    bucket, key = split_uri(uri)
    if not bucket:
        return [], [f"{uri}: no bucket in this S3 URI -> write s3://bucket/folder/ or s3://bucket/file.yaml"]
    if key.endswith(suffixes):
        return [uri], []
    prefix = key if key == "" or key.endswith("/") else key + "/"
    client = s3.make_client()
    found: list[str] = []
    token: str | None = None
    try:
        while True:
            kwargs = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.call("ListObjectsV2", client.list_objects_v2, bucket=bucket, **kwargs)
            found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(suffixes)]
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                break
    except StagingError as exc:
        return [], [_problem(uri, bucket, exc)]
    if not found:
        return [], [f"{uri}: no *.yaml or *.yml manifests under this S3 prefix"]
    return [f"{S3_SCHEME}{bucket}/{k}" for k in sorted(found)], []


def read_s3(uri: str, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The object's bytes, or (None, the problem naming the URI). GetObject, not HeadObject: its
    error code tells a missing key (NoSuchKey) from a missing bucket (NoSuchBucket)."""
    bucket, key = split_uri(uri)
    client = s3.make_client()
    try:
        reply = s3.call("GetObject", client.get_object, Bucket=bucket, Key=key, bucket=bucket)
        size = int(reply.get("ContentLength", 0))
        if size > max_bytes:
            reply["Body"].close()
            return None, f"{uri}: object is {size} bytes; a manifest is a small YAML file (at most {max_bytes})"
        with s3.translated("GetObject", bucket):
            return reply["Body"].read(), None
    except StagingError as exc:
        return None, _problem(uri, bucket, exc)
