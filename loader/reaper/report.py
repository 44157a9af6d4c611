"""What a reaping did: one entry per prefix or table, totals, and the printed report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..naming import s3_uri
from .rules import DELETE, KEEP


@dataclass
class ReapEntry:
    bucket: str
    prefix: str
    action: str
    reason: str
    objects: int = 0
    bytes: int = 0
    run_id: str | None = None
    #: this report counts the deletion (False: dry run, another reaper recorded it, nothing left)
    counted: bool = False
    #: the reaper marked the run abandoned
    abandoned: bool = False
    error: str | None = None
    #: "s3" (a temp prefix: bucket + prefix), "table" (bucket: database, prefix: schema.table) or
    #: "prepared" (bucket: database, prefix: a prepared append's gid)
    kind: str = "s3"
    note: str | None = None

    @property
    def location(self) -> str:
        if self.kind in ("table", "prepared"):
            return f"{self.bucket}:{self.prefix}" if self.bucket else self.prefix
        return s3_uri(self.bucket, self.prefix)

    def to_json_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["location"] = self.location
        return out


@dataclass
class ReapReport:
    entries: list[ReapEntry] = field(default_factory=list)
    dry_run: bool = False
    list_requests: int = 0
    delete_requests: int = 0
    #: failures that stopped a whole bucket or database (per-entry failures are on the entries)
    errors: list[str] = field(default_factory=list)
    #: the database (user@host:port/db) whose staging tables this report is about; None: S3 prefixes
    database: str | None = None

    @property
    def requests(self) -> int:
        return self.list_requests + self.delete_requests

    @property
    def deleted(self) -> list[ReapEntry]:
        """Deletions this report counts (for a dry run: would count)."""
        return [e for e in self.entries if e.action == DELETE and e.counted and e.error is None]

    @property
    def kept(self) -> list[ReapEntry]:
        return [e for e in self.entries if e.action == KEEP]

    @property
    def failed(self) -> list[ReapEntry]:
        return [e for e in self.entries if e.error is not None]

    @property
    def prefixes_deleted(self) -> int:
        return len(self.deleted)

    @property
    def objects_deleted(self) -> int:
        return sum(e.objects for e in self.deleted)

    @property
    def bytes_freed(self) -> int:
        return sum(e.bytes for e in self.deleted)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def totals(self) -> dict[str, int]:
        return {"deleted": self.prefixes_deleted, "objects": self.objects_deleted,
                "bytes": self.bytes_freed, "kept": len(self.kept), "failed": len(self.failed),
                "requests": self.requests, "list_requests": self.list_requests,
                "delete_requests": self.delete_requests}

    def merge(self, other: ReapReport) -> ReapReport:
        self.entries.extend(other.entries)
        self.list_requests += other.list_requests
        self.delete_requests += other.delete_requests
        self.errors.extend(other.errors)
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "ok": self.ok, "database": self.database, "totals": self.totals(),
                "entries": [e.to_json_dict() for e in self.entries], "errors": list(self.errors)}


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def format_report(report: ReapReport) -> str:
    """One line per prefix/table, then a totals line."""
    lines = []
    for e in report.entries:
        if e.error is not None:
            verb = "FAILED"
        elif e.action == KEEP:
            verb = "KEEP"
        elif e.kind == "table":
            verb = "WOULD DROP" if report.dry_run else "DROP"
        elif e.kind == "prepared":
            verb = "WOULD SETTLE" if report.dry_run else "SETTLE"
        else:
            verb = "WOULD DELETE" if report.dry_run else "DELETE"
        size = ""
        if e.action == DELETE and e.kind == "s3":
            size = f"  ({e.objects:,} object{'s' if e.objects != 1 else ''}, {human_bytes(e.bytes)})"
        text = f"{verb} {e.location}{size} {e.reason}" if size else f"{verb} {e.location}  {e.reason}"
        if e.note:
            text += f" [{e.note}]"
        if e.error:
            text += f": {e.error}"
        lines.append(text)
    for err in report.errors:
        lines.append(f"ERROR {err}")
    tables = report.database is not None or any(e.kind == "table" for e in report.entries)
    what = "staging table" if tables else "prefix"
    n = report.prefixes_deleted
    plural = ("s" if tables else "es") if n != 1 else ""
    done = "would delete" if report.dry_run else "deleted"
    total = f"{'Dry run: ' if report.dry_run else ''}{done} {n} {what}{plural}"
    if report.database:
        total += f" in {report.database}"
    if not tables:
        objects = report.objects_deleted
        total += f" ({objects:,} object{'s' if objects != 1 else ''}, {human_bytes(report.bytes_freed)}" \
                 f"{' would be' if report.dry_run else ''} freed)"
    total += f", kept {len(report.kept)}"
    if report.failed:
        total += f", failed {len(report.failed)}"
    if not tables:
        total += f"; {report.requests:,} S3 requests"
    if report.dry_run:
        total += "; nothing was deleted or recorded"
    lines.append(total)
    return "\n".join(lines)


# --- applying the decisions -----------------------------------------------------------------------


