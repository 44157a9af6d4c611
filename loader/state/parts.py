"""Staged parts: one row each in ``loader_parts`` (a resume reuses what its run staged).

The run's ``parts_staged`` and ``bytes_staged`` are counted from this table in the transaction
that records a part, so they never drift; they are this module's to write. Whether a part was
COPYed is not kept here: the load is one transaction, so a part is loaded only once the run
succeeded; the parts COPYed so far are the attempt's progress (``runs.parts_loaded``).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, update

from . import models as m
from .db import StateDatabase
from .models import PartRecord


class Parts:
    """The parts a run staged."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def record(self, run_id: str, index: int, key: str, rows: int, bytes: int) -> PartRecord:
        """Record (or re-record) a staged part; keeps runs.parts_staged/bytes_staged in step."""
        p = m.parts
        with self.db.write(f"recording part {index} of run {run_id}") as conn:
            touched = conn.execute(update(m.runs).where(m.runs.c.run_id == run_id)
                                   .values(heartbeat_at=self.db.now()))
            if touched.rowcount == 0:
                raise self.db.not_found(run_id)
            stmt = self.db.insert(p).values(run_id=run_id, part_index=int(index), key=key, rows=int(rows),
                                            bytes=int(bytes), status="staged")
            stmt = stmt.on_conflict_do_update(
                index_elements=[p.c.run_id, p.c.part_index],
                set_={"key": stmt.excluded.key, "rows": stmt.excluded.rows,
                      "bytes": stmt.excluded.bytes, "status": "staged"},
            )
            conn.execute(stmt)
            self._count(conn, run_id)
        return PartRecord(run_id=run_id, part_index=int(index), key=key, rows=int(rows), bytes=int(bytes),
                          status="staged")

    def _count(self, conn: Connection, run_id: str) -> None:
        p = m.parts
        mine = p.c.run_id == run_id
        conn.execute(update(m.runs).where(m.runs.c.run_id == run_id).values(
            parts_staged=select(func.count()).select_from(p).where(mine).scalar_subquery(),
            bytes_staged=select(func.coalesce(func.sum(p.c.bytes), 0)).where(mine).scalar_subquery(),
        ))

    def of_run(self, run_id: str, status: str | None = None) -> list[PartRecord]:
        """The run's parts by index."""
        p = m.parts
        query = select(p).where(p.c.run_id == run_id).order_by(p.c.part_index)
        if status is not None:
            query = query.where(p.c.status == status)
        with self.db.read(f"reading parts of run {run_id}") as conn:
            return [PartRecord.from_row(r) for r in conn.execute(query).mappings()]
