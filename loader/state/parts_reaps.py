"""The run-state store's other tables: staged parts, the reaper's log, usage.

``StateStore`` (store.py) inherits these; they are apart only to keep each
module readable. Part counts on the run row are recomputed from the parts table
in the same transaction that changes it, so they never drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from ..errors import RunNotFoundError
from . import models as m
from .db import StateDatabase
from .models import PartRecord, ReapRecord, RunRecord


class PartsAndReaps(StateDatabase):
    """Parts, reaps and the summary; the base of :class:`loader.state.store.StateStore`."""

    def _not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id} in the state store {self.url_for_display}",
                                next_step="list runs with `loader status`", run_id=run_id)

    # --- parts --------------------------------------------------------------------------
    def record_part(self, run_id: str, index: int, key: str, rows: int, bytes: int) -> PartRecord:
        """Record (or re-record) a staged part; keeps runs.parts_staged/bytes_staged in step."""
        p = m.parts
        with self._write(f"recording part {index} of run {run_id}") as conn:
            touched = conn.execute(update(m.runs).where(m.runs.c.run_id == run_id)
                                   .values(heartbeat_at=self._now()))
            if touched.rowcount == 0:
                raise self._not_found(run_id)
            stmt = self._insert(p).values(run_id=run_id, part_index=int(index), key=key, rows=int(rows),
                                          bytes=int(bytes), status="staged")
            stmt = stmt.on_conflict_do_update(
                index_elements=[p.c.run_id, p.c.part_index],
                set_={"key": stmt.excluded.key, "rows": stmt.excluded.rows,
                      "bytes": stmt.excluded.bytes, "status": "staged"},
            )
            conn.execute(stmt)
            self._recount(conn, run_id)
        return PartRecord(run_id=run_id, part_index=int(index), key=key, rows=int(rows), bytes=int(bytes),
                          status="staged")

    def _recount(self, conn: Connection, run_id: str) -> None:
        p = m.parts
        mine = p.c.run_id == run_id
        conn.execute(update(m.runs).where(m.runs.c.run_id == run_id).values(
            parts_staged=select(func.count()).select_from(p).where(mine).scalar_subquery(),
            parts_loaded=select(func.count()).select_from(p)
            .where(mine, p.c.status == "loaded").scalar_subquery(),
            bytes_staged=select(func.coalesce(func.sum(p.c.bytes), 0)).where(mine).scalar_subquery(),
        ))

    def mark_parts_loaded(self, run_id: str, indexes: Iterable[int]) -> int:
        """Mark parts loaded; returns how many rows changed. Keeps runs.parts_loaded in step."""
        wanted = sorted({int(i) for i in indexes})
        if not wanted:
            return 0
        p = m.parts
        changed = 0
        with self._write(f"marking parts of run {run_id} loaded") as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                result = conn.execute(update(p).where(p.c.run_id == run_id, p.c.part_index.in_(chunk),
                                                      p.c.status != "loaded").values(status="loaded"))
                changed += result.rowcount
            self._recount(conn, run_id)
        return changed

    def parts(self, run_id: str, status: str | None = None) -> list[PartRecord]:
        """The run's parts by index."""
        p = m.parts
        query = select(p).where(p.c.run_id == run_id).order_by(p.c.part_index)
        if status is not None:
            query = query.where(p.c.status == status)
        with self._read(f"reading parts of run {run_id}") as conn:
            return [PartRecord.from_row(r) for r in conn.execute(query).mappings()]

    # --- reaps --------------------------------------------------------------------------
    def record_reap(self, bucket: str, prefix: str, objects: int, bytes: int, reason: str,
                    run_id: str | None = None, reaper_id: str = "") -> bool:
        """Log a reaped prefix; False if (bucket, prefix) was already recorded (not counted twice)."""
        stmt = self._insert(m.reaps).values(
            bucket=bucket, prefix=prefix, objects=int(objects), bytes=int(bytes), reason=reason,
            reaped_at=self._now(), run_id=run_id, reaper_id=reaper_id or "",
        ).on_conflict_do_nothing(index_elements=["bucket", "prefix"])
        with self._write(f"recording reap of s3://{bucket}/{prefix}") as conn:
            return bool(conn.execute(stmt).rowcount == 1)

    def reaps(self, limit: int | None = 50, bucket: str | None = None) -> list[ReapRecord]:
        """Reaped prefixes, newest first."""
        query = select(m.reaps).order_by(m.reaps.c.reaped_at.desc(), m.reaps.c.id.desc())
        if bucket is not None:
            query = query.where(m.reaps.c.bucket == bucket)
        if limit is not None:
            query = query.limit(limit)
        with self._read("listing reaps") as conn:
            return [ReapRecord.from_row(r) for r in conn.execute(query).mappings()]

    # --- metrics ------------------------------------------------------------------------
    def summary(self, since: datetime | None = None) -> dict[str, Any]:
        """Aggregates over runs started at or after ``since`` (all runs if None); see metrics.summarize."""
        from .metrics import summarize

        query = select(m.runs)
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            query = query.where(m.runs.c.started_at >= since)
        with self._read("computing the summary") as conn:
            records = [RunRecord.from_row(r) for r in conn.execute(query).mappings()]
        reaped = self._reap_totals(since)
        return summarize(records, since=since, reaped=reaped)

    def _reap_totals(self, since: datetime | None) -> dict[str, int]:
        r = m.reaps
        query = select(func.count(), func.coalesce(func.sum(r.c.objects), 0),
                       func.coalesce(func.sum(r.c.bytes), 0))
        if since is not None:
            query = query.where(r.c.reaped_at >= since)
        with self._read("computing reap totals") as conn:
            count, objects, nbytes = conn.execute(query).one()
        return {"prefixes": int(count), "objects": int(objects), "bytes": int(nbytes)}
