"""Names: quoted identifiers, run ids, temp prefixes, staging tables (pure).

The temp prefix format is the design document's contract:
``<root>/<table>-<epoch seconds>-<8 hex of a uuid4>/``. The reaper parses the
same format back with ``parse_prefix``, so both live here.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from .errors import ConfigError

_PREFIX_NAME = re.compile(r"^(?P<table>[A-Za-z0-9_.\-]+)-(?P<epoch>\d{9,11})-(?P<hex>[0-9a-f]{8})/$")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
STAGING_TABLE_PREFIX = "loader_stage_"
_STAGING_TABLE = re.compile(r"^loader_stage_(?P<hex>[0-9a-f]{8})_(?P<epoch>\d{9,11})$")
#: an overwrite through a shadow table (destination/shadow_swap.py): ``<table>__loader_shadow_<8 hex>``
SHADOW_TABLE_MARK = "__loader_shadow_"
_SHADOW_TABLE = re.compile(r"^(?P<table>.*)__loader_shadow_(?P<hex>[0-9a-f]{8})$", re.S)


def quote_ident(name: str) -> str:
    """PostgreSQL identifier quoting: always quoted, inner quotes doubled."""
    if "\x00" in name:
        raise ConfigError(f"identifier {name!r} contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


_BARE = re.compile(r"^[a-z_][a-z0-9_$]*$")
#: PostgreSQL's reserved and type/function-name keywords: written bare, a GRANT would not parse
_KEYWORDS = frozenset(["all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary", "both", "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right", "select", "session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "verbose", "when", "where", "window", "with"])


def sql_name(name: str) -> str:
    """An identifier as a person would type it: bare when PostgreSQL reads it back unchanged."""
    if _BARE.match(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


#: PostgreSQL's default NAMEDATALEN: an identifier keeps at most NAMEDATALEN - 1 bytes; a longer one
#: is cut silently by the server, so it is refused here instead
NAMEDATALEN = 64


def check_identifier(name: str, what: str) -> str:
    """``name`` as PostgreSQL will store it, exactly, or a ConfigError naming it."""
    if not name:
        raise ConfigError(f"{what} is empty")
    if "\x00" in name:
        raise ConfigError(f"{what} {name!r} contains a NUL byte")
    size = len(name.encode("utf-8"))
    if size > NAMEDATALEN - 1:
        cut = name.encode("utf-8")[:NAMEDATALEN - 1].decode("utf-8", "ignore")
        raise ConfigError(f"{what} {name!r} is {size} bytes; PostgreSQL keeps {NAMEDATALEN - 1} and would "
                          f"silently make it {cut!r}", next_step=f"use a {what} of at most {NAMEDATALEN - 1} bytes")
    return name


@dataclass(frozen=True)
class TableRef:
    """A table, schema and name exactly as PostgreSQL stores them (no case folding: they are
    always quoted in SQL)."""

    schema: str
    table: str

    def __post_init__(self) -> None:
        check_identifier(self.schema, "schema name")
        check_identifier(self.table, "table name")

    @classmethod
    def parse(cls, name: str, default_schema: str = "public") -> TableRef:
        """PostgreSQL's grammar: ``name`` or ``schema.name``, each part bare or double-quoted.
        A bare part is taken exactly as written (case kept) and may not contain a quote or a dot;
        a quoted part may contain both, a quote written twice: ``'"odd.na""me"'`` is ``odd.na"me``."""
        if not name or not name.strip():
            raise ConfigError("target table name is empty", next_step="pass table='schema.table'")
        parts = _split_qualified(name)
        if len(parts) == 1:
            return cls(default_schema, parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise ConfigError(f"table name {name!r} has more than two parts",
                          next_step="use table or schema.table (quote a part that contains a dot)")

    @property
    def quoted(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def loader_schema(target: TableRef, ledger_schema: str | None = None) -> str:
    """The schema that holds a load's own tables: the ledger, the JDBC staging tables and
    ``loader_rejects``. ``target.ledger_schema`` (``ledger_schema=``) when set, else the target's
    schema. Decided here only, so that the load, a resume, the reaper and ``doctor`` agree: a role
    that may write into the target's schema but not create in it points this at one schema it may
    create in (RDS setups keep one ``loader`` schema per database)."""
    if ledger_schema is None or ledger_schema == "":
        return target.schema
    return check_identifier(ledger_schema, "ledger schema")


def _split_qualified(name: str) -> list[str]:
    parts: list[str] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            part, i = _quoted_part(name, i)
            if i < n and name[i] != ".":
                raise ConfigError(f"table name {name!r}: text after the closing quote of \"{part}\"",
                                  next_step="put the whole part inside the quotes")
        else:
            end = name.find(".", i)
            end = n if end < 0 else end
            part, i = name[i:end], end
            if '"' in part:
                quoted = '"' + part.replace('"', '""') + '"'
                raise ConfigError(f"table name {name!r}: a quote inside an unquoted part",
                                  next_step=f"quote the part and double the quote, as PostgreSQL does: {quoted}")
        if part == "":
            raise ConfigError(f"table name {name!r} has an empty part", next_step="use table or schema.table")
        parts.append(part)
        if i >= n:
            return parts
        i += 1  # the dot
        if i >= n:
            raise ConfigError(f"table name {name!r} has an empty part", next_step="use table or schema.table")


def _quoted_part(name: str, start: int) -> tuple[str, int]:
    """The part that starts with the quote at ``start``, and where it ends."""
    out, i = [], start + 1
    while i < len(name):
        if name[i] == '"':
            if i + 1 < len(name) and name[i + 1] == '"':
                out.append('"')
                i += 2
                continue
            return "".join(out), i + 1
        out.append(name[i])
        i += 1
    raise ConfigError(f"table name {name!r}: the quote opened at position {start + 1} is never closed",
                      next_step='close it, or double a quote that belongs to the name ("")')


def new_run_id() -> str:
    """A uuid4 in hex; its first 8 characters also name the run's temp prefix."""
    return uuid.uuid4().hex


def check_prefix_root(root: str) -> str:
    """Normalise the prefix root (no leading/trailing slash) and refuse escapes."""
    clean = root.strip("/")
    segments = clean.split("/")
    if not clean or any(s in ("", ".", "..") for s in segments):
        raise ConfigError(f"copy.prefix {root!r} is not a usable S3 prefix root",
                          next_step="use something like tmp/postgres-copy (no empty, '.' or '..' parts)")
    return clean


def prefix_table_part(table: str) -> str:
    """The table's name as it appears in a temp prefix; refuses names that could escape the root."""
    if not table or table in (".", "..") or "/" in table or ".." in table:
        raise ConfigError(f"table name {table!r} cannot name a temp prefix (empty, '/', or '..')",
                          next_step="rename the target table")
    return _UNSAFE_KEY_CHARS.sub("_", table)


def temp_prefix(root: str, table: str, run_id: str, now: float | None = None) -> str:
    """``<root>/<table>-<epoch>-<8 hex>/`` (a key prefix, without bucket)."""
    epoch = int(now if now is not None else time.time())
    return f"{check_prefix_root(root)}/{prefix_table_part(table)}-{epoch}-{run_id[:8]}/"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


@dataclass(frozen=True)
class TempLocation:
    """Where one run stages: a bucket and a key prefix ending with '/'. Built, parsed and
    turned into part and marker keys here only (dlt's ``ParsedLoadJobFileName``)."""

    bucket: str
    prefix: str

    MARKER_SUFFIX = ".json"

    @classmethod
    def new(cls, bucket: str, root: str, table: str, run_id: str, now: float | None = None) -> TempLocation:
        return cls(bucket, temp_prefix(root, table, run_id, now))

    @classmethod
    def parse(cls, uri: str) -> TempLocation:
        """``s3://bucket/prefix/`` back into a location (what the state store records)."""
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, prefix = uri[5:].partition("/")
        if not bucket or not prefix.endswith("/"):
            raise ValueError(f"not a temp location (s3://bucket/prefix/): {uri!r}")
        return cls(bucket, prefix)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.prefix)

    def __str__(self) -> str:
        return self.uri

    def part_key(self, partition: int, seq: int, extension: str) -> str:
        """``part-<partition>-<seq><extension>``: deterministic, so a retried task overwrites its own."""
        return f"{self.prefix}part-{partition:05d}-{seq:04d}{extension}"

    def marker_key(self, partition: int) -> str:
        return f"{self.prefix}part-{partition:05d}{self.MARKER_SUFFIX}"

    #: written by the driver once the staging job succeeded: only then do the markers tell the truth
    #: (a task Spark cancels sees its input end as if complete, and writes its marker anyway)
    CONFIRMATION = "staged.json"

    def confirmation_key(self) -> str:
        return f"{self.prefix}{self.CONFIRMATION}"

    #: written before staging when the executors read the Parquet files themselves (copy/direct_read.py):
    #: its partitions are not Spark's, so a resume that reads otherwise stages every part again
    READER = "reader.json"

    def reader_key(self) -> str:
        return f"{self.prefix}{self.READER}"

    @classmethod
    def part_of(cls, key: str) -> tuple[int, int] | None:
        """(partition, seq) of a part key (``part_key``), or None for a marker or another object."""
        name = key.rsplit("/", 1)[-1]
        fields = name.split(".", 1)[0].split("-")
        if len(fields) != 3 or fields[0] != "part" or not (fields[1].isdigit() and fields[2].isdigit()):
            return None
        return int(fields[1]), int(fields[2])

    @classmethod
    def marker_partition(cls, key: str) -> int | None:
        """The partition a marker key belongs to, or None when ``key`` is not a marker."""
        name = key.rsplit("/", 1)[-1]
        if not (name.startswith("part-") and name.endswith(cls.MARKER_SUFFIX)):
            return None
        digits = name[len("part-"):-len(cls.MARKER_SUFFIX)]
        return int(digits) if digits.isdigit() else None


@dataclass(frozen=True)
class ParsedPrefix:
    table: str
    epoch: int
    short_id: str


def parse_prefix(name: str) -> ParsedPrefix | None:
    """Parse the last segment ``<table>-<epoch>-<8 hex>/`` of a prefix, or None if it does not match."""
    m = _PREFIX_NAME.match(name)
    if not m:
        return None
    return ParsedPrefix(m.group("table"), int(m.group("epoch")), m.group("hex"))


def staging_table_name(run_id: str, now: float | None = None) -> str:
    """Per-run staging table (JDBC): the run and its start time are in the name so the
    reaper can judge it without the state store."""
    epoch = int(now if now is not None else time.time())
    return f"{STAGING_TABLE_PREFIX}{run_id[:8]}_{epoch}"


def shadow_table_name(table: str, run_id: str) -> str:
    """The shadow of ``table`` for run ``run_id``: the same for every attempt of the run (a resume
    finds it), the table's name cut so that the whole fits PostgreSQL's 63 bytes."""
    tail = f"{SHADOW_TABLE_MARK}{run_id[:8]}"
    room = NAMEDATALEN - 1 - len(tail.encode("utf-8"))
    head = table.encode("utf-8")[:room].decode("utf-8", "ignore")
    return head + tail


def parse_shadow_table(name: str) -> ParsedPrefix | None:
    """``<table>__loader_shadow_<8 hex>`` as (table part, no epoch, short id): the name holds no
    time; its comment does (``shadow_created``), for a shadow no run of the state store owns."""
    m = _SHADOW_TABLE.match(name)
    if not m or not m.group("table"):
        return None
    return ParsedPrefix(m.group("table"), 0, m.group("hex"))


#: the shadow's table comment until the swap gives it the target's: its name holds no time (every
#: attempt of a run must find the same table), so the reaper reads its age here
_SHADOW_BORN = re.compile(r"^loader shadow of run (?P<run>[0-9a-f]+), created (?P<epoch>\d{9,11})$")


def shadow_comment(run_id: str, now: float | None = None) -> str:
    return f"loader shadow of run {run_id}, created {int(now if now is not None else time.time())}"


def shadow_created(comment: str | None) -> int | None:
    """The epoch ``shadow_comment`` wrote, or None (no such comment: the reaper cannot age it)."""
    m = _SHADOW_BORN.match(comment or "")
    return int(m.group("epoch")) if m else None


def parse_staging_table(name: str) -> ParsedPrefix | None:
    m = _STAGING_TABLE.match(name)
    if not m:
        return None
    return ParsedPrefix("", int(m.group("epoch")), m.group("hex"))


#: what a run that appends over prepared transactions records as its ``staging_table``: not a table,
#: but where the reaper must look (destination/prepared_plan.py); the same 8 hex as its other names
_PREPARED_MARKER = re.compile(r"^loader_prepared_(?P<hex>[0-9a-f]{8})$")


def prepared_marker(run_id: str) -> str:
    return f"loader_prepared_{run_id[:8]}"


def parse_prepared_marker(name: str) -> str | None:
    """The short run id of ``prepared_marker``'s name, or None."""
    m = _PREPARED_MARKER.match(name)
    return m.group("hex") if m else None
