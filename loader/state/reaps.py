"""The reaper's log: one row per temp prefix it deleted, in ``loader_reaps`` (a prefix is counted
once, however many reapers saw it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from . import models as m
from .db import StateDatabase
from .models import ReapRecord


class Reaps:
    """What the reaper deleted."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def record(self, bucket: str, prefix: str, objects: int, bytes: int, reason: str,
               run_id: str | None = None, reaper_id: str = "") -> bool:
        """Log a reaped prefix; False if (bucket, prefix) was already recorded (not counted twice)."""
        stmt = self.db.insert(m.reaps).values(
            bucket=bucket, prefix=prefix, objects=int(objects), bytes=int(bytes), reason=reason,
            reaped_at=self.db.now(), run_id=run_id, reaper_id=reaper_id or "",
        ).on_conflict_do_nothing(index_elements=["bucket", "prefix"])
        with self.db.write(f"recording reap of s3://{bucket}/{prefix}") as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def newest(self, limit: int | None = 50, bucket: str | None = None) -> list[ReapRecord]:
        """Reaped prefixes, newest first."""
        query = select(m.reaps).order_by(m.reaps.c.reaped_at.desc(), m.reaps.c.id.desc())
        if bucket is not None:
            query = query.where(m.reaps.c.bucket == bucket)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read("listing reaps") as conn:
            return [ReapRecord.from_row(r) for r in conn.execute(query).mappings()]

    def totals(self, since: datetime | None) -> dict[str, int]:
        """Prefixes, objects and bytes reaped at or after ``since`` (all if None)."""
        r = m.reaps
        query = select(func.count(), func.coalesce(func.sum(r.c.objects), 0), func.coalesce(func.sum(r.c.bytes), 0))
        if since is not None:
            query = query.where(r.c.reaped_at >= since)
        with self.db.read("computing reap totals") as conn:
            count, objects, nbytes = conn.execute(query).one()
        return {"prefixes": int(count), "objects": int(objects), "bytes": int(nbytes)}
