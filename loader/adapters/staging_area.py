"""The staging area of one run: the S3 prefix a staging method writes its parts under.

The method that stages makes it (``MethodContext.staging_area``: the prefix an earlier attempt
recorded, else a new one in the bucket the request resolved) and reports it before the first
object exists, so the state store can name it to the reaper. What happens to it afterwards is
the engine's policy (delete after a commit or before a fallback, keep for ``--resume`` after an
infrastructure failure); how it is deleted or counted is here, once, over a ``BlobStore``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

from ..naming import TempLocation
from ..redact import redact
from . import s3

log = logging.getLogger("loader")

#: what the state store's cleanup_status records for the area
CleanupStatus = Literal["done", "kept", "failed"]


class BlobStore(Protocol):
    """Where staged parts live (S3; tests pass an in-memory one)."""

    def keys(self, bucket: str, prefix: str) -> list[str]: ...
    def delete_prefix(self, bucket: str, prefix: str) -> None: ...


class S3Blobs:
    """The blob store over boto3 (a client per call: a run calls it a few times)."""

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return [o["Key"] for o in s3.iter_objects(s3.make_client(), bucket, prefix)]

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        s3.delete_prefix(s3.make_client(), bucket, prefix)


class PartStore(Protocol):
    """One run's staged parts under its prefix, as the COPY method reads and writes them (S3; unit
    tests pass an in-memory one). Errors are the edge's own (``StagingError``)."""

    bucket: str

    def objects(self) -> list[dict[str, Any]]:
        """Every object under the prefix (``Key``, ``Size``), by key."""
        ...

    def open(self, key: str) -> Any:
        """The object's body, a stream with ``read(size)``."""
        ...

    def read(self, key: str) -> bytes:
        """A small object whole (a marker)."""
        ...

    def put(self, key: str, body: bytes, content_type: str) -> None: ...
    def metadata(self, key: str) -> dict[str, str]: ...
    def delete(self, keys: list[str]) -> None: ...


class S3Parts:
    """The part store over one boto3 client, for the prefix of ``location``."""

    def __init__(self, client: Any, location: TempLocation) -> None:
        self.client, self.location, self.bucket = client, location, location.bucket

    def objects(self) -> list[dict[str, Any]]:
        return sorted(s3.iter_objects(self.client, self.bucket, self.location.prefix), key=lambda o: o["Key"])

    def open(self, key: str) -> Any:
        return s3.call("GetObject", self.client.get_object, Bucket=self.bucket, Key=key, bucket=self.bucket)["Body"]

    def read(self, key: str) -> bytes:
        with s3.translated("GetObject", self.bucket):
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, body: bytes, content_type: str) -> None:
        s3.call("PutObject", self.client.put_object, Bucket=self.bucket, Key=key, Body=body,
                ContentType=content_type, bucket=self.bucket)

    def metadata(self, key: str) -> dict[str, str]:
        head = s3.call("HeadObject", self.client.head_object, Bucket=self.bucket, Key=key, bucket=self.bucket)
        return dict(head.get("Metadata") or {})

    def delete(self, keys: list[str]) -> None:
        s3.delete_keys(self.client, self.bucket, keys, s3.RequestCounter())


class StagingArea:
    def __init__(self, location: TempLocation, blobs: BlobStore, *, cleanup: bool = True) -> None:
        self.location, self.blobs, self.cleanup = location, blobs, cleanup

    @property
    def uri(self) -> str:
        return self.location.uri

    @property
    def bucket(self) -> str:
        return self.location.bucket

    def delete(self) -> CleanupStatus:
        """Delete every object under the prefix (best effort: the reaper is the guarantee);
        ``copy.cleanup: false`` keeps them for inspection."""
        if not self.cleanup:
            log.info("Keeping temporary files at %s (cleanup disabled)", self.uri)
            return "kept"
        try:
            self.blobs.delete_prefix(self.location.bucket, self.location.prefix)
        except Exception as exc:  # noqa: BLE001 - the load's outcome stands; the reaper retries
            log.warning("Temporary files at %s could not be deleted (%s); the reaper will remove them",
                        self.uri, redact(str(exc)))
            return "failed"
        log.info("Temporary files cleaned up successfully")
        return "done"

    def keep(self) -> int:
        """Leave the parts for a resume; how many there are (0 when they cannot be listed)."""
        try:
            keys = self.blobs.keys(self.location.bucket, self.location.prefix)
        except Exception as exc:  # noqa: BLE001 - the failure being reported matters more
            log.debug("could not count the staged parts at %s: %s", self.uri, redact(str(exc)))
            keys = []
        parts = sum(1 for k in keys if TempLocation.part_of(k) is not None)
        log.debug("Keeping %d staged part(s) at %s for a resume (loader run --resume)", parts, self.uri)
        return parts


__all__ = ["BlobStore", "CleanupStatus", "PartStore", "S3Blobs", "S3Parts", "StagingArea"]
