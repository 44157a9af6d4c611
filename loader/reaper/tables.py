"""The reaper's edges: counted S3 listing and batched deletes, staging tables in PostgreSQL.

Every S3 call made here goes through a :class:`RequestCounter`, so a report can
say exactly how many requests a reap cost (list pages plus ``DeleteObjects``
batches): it grows with objects/1,000, never with objects. Failures leave as
:class:`~loader.errors.StagingError` (S3) or
:class:`~loader.errors.TargetConnectionError` (PostgreSQL).

Nothing here decides anything; :mod:`loader.reaper.apply` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..adapters import s3 as s3a
from ..errors import StagingError, TargetConnectionError
from ..jdbc.codec import inlet_of
from ..naming import STAGING_TABLE_PREFIX, TableRef, parse_staging_table


@dataclass
class RequestCounter:
    """S3 requests made, by kind."""

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
        page = s3a.call("ListObjectsV2", client.list_objects_v2, Bucket=bucket, bucket=bucket, **kwargs)
        yield page
        if not page.get("IsTruncated"):
            return
        token = page.get("NextContinuationToken")
        if not token:  # a server that says "truncated" without a token: stop rather than loop
            return


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
    for page in _pages(client, bucket, counter, Prefix=prefix):
        for obj in page.get("Contents", []) or []:
            key = obj["Key"]
            if not key.startswith(prefix):  # defensive: never delete outside the prefix
                continue
            out.keys.append(key)
            out.bytes += int(obj.get("Size", 0) or 0)
    return out


def delete_keys(client: Any, bucket: str, keys: list[str], counter: RequestCounter) -> int:
    """Delete ``keys`` in batches of 1,000 (``DeleteObjects``, quiet). Returns how many were sent."""
    sent = 0
    for start in range(0, len(keys), s3a.DELETE_BATCH):
        batch = [{"Key": k} for k in keys[start:start + s3a.DELETE_BATCH]]
        counter.deletes += 1
        resp = s3a.call("DeleteObjects", client.delete_objects, Bucket=bucket,
                        Delete={"Objects": batch, "Quiet": True}, bucket=bucket)
        errors = [e for e in (resp.get("Errors") or []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            raise StagingError(f"S3 DeleteObjects refused {len(errors)} key(s) in {bucket}, e.g. "
                               f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".strip(),
                               next_step="check that the role may delete under the prefix", bucket=bucket)
        sent += len(batch)
    return sent


# --- PostgreSQL staging tables ------------------------------------------------------------

_LIST_STAGING_TABLES = """
SELECT n.nspname, c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND c.relname LIKE %s ESCAPE '\\'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%%' ESCAPE '\\'
   AND n.nspname NOT LIKE 'pg\\_temp\\_%%' ESCAPE '\\'
 ORDER BY n.nspname, c.relname
"""


def list_staging_tables(conn: Any) -> list[TableRef]:
    """Tables named exactly like ``loader_stage_<8 hex>_<epoch>`` in every schema."""
    pattern = STAGING_TABLE_PREFIX.replace("_", "\\_") + "%"
    with conn.cursor() as cur:
        cur.execute(_LIST_STAGING_TABLES, (pattern,))
        rows = cur.fetchall()
    return [TableRef(schema, name) for schema, name in rows if parse_staging_table(name) is not None]


def drop_table(conn: Any, ref: TableRef, lock_timeout_ms: int = 5000) -> bool:
    """``DROP TABLE IF EXISTS``; True when this call dropped it (False: already gone).

    A lock timeout keeps the reaper from queueing behind a session that still
    uses the table (and from blocking everyone queued behind the reaper).
    """
    import psycopg2

    conn.notices.clear()
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (f"{int(lock_timeout_ms)}ms",))
            # a JDBC run's inlet view (jdbc_codec) depends on its staging table: it goes first
            cur.execute(f"DROP VIEW IF EXISTS {inlet_of(ref).quoted}")
            conn.notices.clear()  # only the table's notice says whether this call dropped it
            cur.execute(f"DROP TABLE IF EXISTS {ref.quoted}")
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TargetConnectionError(f"could not drop staging table {ref}: {text}",
                                    next_step="check who holds a lock on it (pg_locks) and the "
                                              "reaper's DROP privilege", table=str(ref)) from None
    return not any("does not exist, skipping" in n for n in conn.notices)
