"""What a resumed COPY run reuses of the parts its earlier attempt staged (pure, no I/O).

A partition whose marker exists is staged whole, and its task is skipped, if the earlier attempt's
staging job succeeded (the driver then wrote ``staged.json``). A task that Spark cancels (an
interruption, a sibling task's failure, a failed load stopping the staging) sees its input end as if
the partition were complete (the JVM closes the Arrow stream in a ``finally``) and writes its marker
anyway, listing only the parts it got to: such markers are deleted, never trusted. Of a partition without a
marker (its task was stopped), the parts the earlier attempt finished are reused too, from the first
up to the first gap (an S3 object is visible only once complete, and a task uploads its parts in
order), when the partition's rows come back in the same order: a file source, whose fingerprint the
runner checked unchanged, read again by Spark (files are split and read in a fixed order). Its task
then skips that many rows, encodes and uploads only the rest, and writes a marker listing them all.
A part's row count travels in its S3 metadata (``ROWS_METADATA``), since the marker comes last.

Every other part of an unmarked partition is deleted before loading starts: the new attempt writes
those keys again, maybe with other boundaries, and the load must never take the old object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..naming import TempLocation
from .task import StagedPart


@dataclass(frozen=True)
class ResumePlan:
    #: partitions whose marker exists: staged whole, their tasks do nothing
    done: frozenset[int] = frozenset()
    #: the leading parts of unmarked partitions that the tasks keep
    reuse: dict[int, tuple[StagedPart, ...]] = field(default_factory=dict)
    #: part keys of unmarked partitions that will be written again: deleted before loading
    stale: tuple[str, ...] = ()
    #: parts of the marked partitions (already staged, loaded as they are)
    done_parts: int = 0

    @property
    def parts_staged(self) -> int:
        return self.done_parts + sum(len(p) for p in self.reuse.values())


def plan_resume(objects: Iterable[dict[str, Any]], rows_of: Callable[[str], int | None],
                by_part: bool) -> ResumePlan:
    """The plan from a listing of the run's prefix. ``rows_of(key)`` reads a part's row count from
    its metadata (None when it has none: staged by an older version); ``by_part`` is whether the
    partitions' row order is known to repeat (else an unmarked partition is staged again whole)."""
    objects = list(objects)
    confirmed = any(o["Key"].rsplit("/", 1)[-1] == TempLocation.CONFIRMATION for o in objects)
    done: set[int] = set()
    untrusted: list[str] = []
    parts: dict[int, dict[int, dict[str, Any]]] = {}
    for obj in objects:
        key = obj["Key"]
        marker = TempLocation.marker_partition(key)
        if marker is not None:
            if confirmed:
                done.add(marker)
            else:
                untrusted.append(key)
            continue
        where = TempLocation.part_of(key)
        if where is not None:
            parts.setdefault(where[0], {})[where[1]] = obj
    reuse: dict[int, tuple[StagedPart, ...]] = {}
    stale: list[str] = []
    for partition, by_seq in sorted(parts.items()):
        if partition in done:
            continue
        kept: list[StagedPart] = []
        for seq in sorted(by_seq):
            obj = by_seq[seq]
            rows = rows_of(obj["Key"]) if by_part and seq == len(kept) else None
            if rows is None or rows <= 0:
                stale.append(obj["Key"])
                continue
            kept.append(StagedPart(partition, seq, obj["Key"], rows, int(obj.get("Size", 0))))
        if kept:
            reuse[partition] = tuple(kept)
    done_parts = sum(len(by_seq) for partition, by_seq in parts.items() if partition in done)
    return ResumePlan(frozenset(done), reuse, tuple(untrusted + stale), done_parts)
