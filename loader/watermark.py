"""Incremental loads, the pure part: cursor types, marks, lags and windows (no Spark, no database).

A manifest's ``source.incremental`` names a cursor column. Each run loads the rows whose cursor lies
in its *window* and records the *high-water mark*, the largest cursor among the rows it loaded. The
next window starts after the mark (``cursor > mark``), or ``lag`` before it (``cursor > mark - lag``,
for rows that arrive late; meant with ``upsert``). The first run starts at ``initial`` (inclusive),
or loads every row when there is none. A NULL cursor is never in a window (SQL's comparison).

Values are stored as JSON, losslessly: timestamps as ISO 8601 in UTC with microseconds (``Z``),
timestamp_ntz without a zone, dates ``YYYY-MM-DD``, integers as JSON integers, decimals as strings
(their scale kept), strings as they are. Python orders every type as Spark does (strings by code
point, which is UTF-8 byte order), so marks compare here the way Spark compared them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ConfigError

#: cursor types, named after the Spark types they come from (``spark_cursor_type``)
CURSOR_TYPES = ("timestamp", "timestamp_ntz", "date", "integer", "decimal", "string")
_SPARK_TYPES = {"timestamp": "timestamp", "timestamp_ntz": "timestamp_ntz", "date": "date", "tinyint": "integer",
                "smallint": "integer", "int": "integer", "bigint": "integer", "decimal": "decimal",
                "string": "string", "varchar": "string", "char": "string"}

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d{1,6})?)s)?$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,6})?)S)?)?$")


def spark_cursor_type(type_name: str, column: str, where: str) -> str:
    """Our cursor type for a Spark type's ``simpleString()`` (``decimal(10,0)`` counts as decimal)."""
    base = type_name.split("(", 1)[0]
    if base in _SPARK_TYPES:
        return _SPARK_TYPES[base]
    raise ConfigError(f"{where}: column {column!r} is {type_name}, which cannot be a cursor",
                      next_step="choose an orderable column: timestamp, date, integer, decimal or string "
                                "(floating point and complex types are refused)")


# --- values --------------------------------------------------------------------------------------
def parse_value(ctype: str, raw: Any, where: str) -> Any:
    """A cursor value from a manifest, a ``--from`` or a stored mark: exactly, or refused."""
    try:
        value = _parse(ctype, raw)
    except (ValueError, InvalidOperation, TypeError):
        value = None
    if value is None:
        raise ConfigError(f"{where}: {raw!r} is not a {ctype.replace('_', ' ')} value",
                          next_step=_EXAMPLES[ctype])
    return value


_EXAMPLES = {
    "timestamp": "write an ISO 8601 time with its zone, e.g. 2024-01-01T00:00:00Z or 2024-01-01T02:00:00+02:00 "
                 "(a date alone means midnight UTC)",
    "timestamp_ntz": "write an ISO 8601 time without a zone, e.g. 2024-01-01T00:00:00",
    "date": "write a date, e.g. 2024-01-01",
    "integer": "write a whole number, e.g. 0",
    "decimal": "write a number, e.g. 0 or \"12.50\"",
    "string": "write a string (quote it in YAML, e.g. \"0001\")",
}


def _parse(ctype: str, raw: Any) -> Any:
    if isinstance(raw, bool):
        return None
    if ctype == "integer":
        if isinstance(raw, int):
            return raw
        return int(raw) if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d+\s*", raw) else None
    if ctype == "decimal":
        value = Decimal(str(raw)) if isinstance(raw, (int, str)) else None
        return value if value is not None and value.is_finite() else None
    if not isinstance(raw, str):
        return None
    if ctype == "string":
        return raw
    if ctype == "date":
        return date.fromisoformat(raw)
    if ctype == "timestamp" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return datetime.fromisoformat(raw).replace(tzinfo=timezone.utc)
    if re.search(r"[.,]\d{7,}", raw):
        return None  # Python would drop digits past the microsecond silently; Spark keeps microseconds
    moment = datetime.fromisoformat(raw)
    if ctype == "timestamp":
        return moment.astimezone(timezone.utc) if moment.tzinfo is not None else None
    return moment if moment.tzinfo is None else None  # timestamp_ntz: a zone would be ignored, so refuse it


def to_json_value(ctype: str, value: Any) -> Any:
    """The lossless JSON form of a value (see the module's docstring)."""
    if ctype == "timestamp":
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if ctype == "timestamp_ntz":
        return value.isoformat(timespec="microseconds")
    if ctype == "date":
        return value.isoformat()
    if ctype == "decimal":
        return str(value)
    return value  # integer (exact in JSON) and string


def show(ctype: str, value: Any) -> str:
    return str(to_json_value(ctype, value))


# --- lag ---------------------------------------------------------------------------------------------
def lag_problem(raw: Any) -> str | None:
    """Why ``lag`` cannot be a lag (checked when the manifest is read; its unit follows the cursor)."""
    if isinstance(raw, bool) or (isinstance(raw, (int, float)) and raw < 0):
        return "must be a non-negative number or a duration such as 2h, 30m, 1d or PT2H"
    if isinstance(raw, str) and _duration_micros(raw) is None:
        return f"{raw!r} is not a duration (write e.g. 2h, 90m, 1d, 1h30m or ISO 8601 PT2H, P1D)"
    return None


def _duration_micros(text: str) -> int | None:
    for pattern, units in ((_SHORT, "wdhms"), (_ISO, "wdhms")):
        m = pattern.match(text.strip())
        if m and any(m.groups()):
            total = sum(Decimal(g) * _UNIT_SECONDS[u] for g, u in zip(m.groups(), units, strict=True) if g)
            return int(total * 1_000_000)
    return None


def lag_for(ctype: str, raw: Any, where: str) -> Any:
    """The lag as a distance of the cursor's type: a timedelta (timestamps; a number is seconds),
    whole days (dates: a number is days, a duration must be whole days), a number (integer, decimal)."""
    problem = lag_problem(raw)
    if problem is None and ctype in ("timestamp", "timestamp_ntz"):
        micros = _duration_micros(raw) if isinstance(raw, str) else int(Decimal(str(raw)) * 1_000_000)
        return timedelta(microseconds=micros or 0)
    if problem is None and ctype == "date":
        if isinstance(raw, int):
            return raw
        micros = _duration_micros(raw) if isinstance(raw, str) else None
        if micros is not None and micros % 86_400_000_000 == 0:
            return micros // 86_400_000_000
        problem = f"{raw!r} is not a whole number of days (a date cursor moves by days: write e.g. 2 or 2d)"
    if problem is None and ctype == "integer" and isinstance(raw, int):
        return raw
    if problem is None and ctype == "decimal" and isinstance(raw, (int, float)):
        return Decimal(str(raw))
    if problem is None:
        problem = (f"a {ctype} cursor has no distance to lag by" if ctype == "string" else
                   f"{raw!r} is not a distance for a {ctype} cursor (write a number)")
    raise ConfigError(f"{where}: {problem}", next_step="fix or remove source.incremental.lag")


def minus(ctype: str, value: Any, lag: Any) -> Any:
    """``value - lag``, clamped at the type's smallest value (the window then starts at the beginning)."""
    try:
        return value - (timedelta(days=lag) if ctype == "date" else lag)
    except OverflowError:
        return {"timestamp": datetime.min.replace(tzinfo=timezone.utc), "timestamp_ntz": datetime.min,
                "date": date.min}[ctype]


# --- marks and windows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """A high-water mark: the largest cursor value a succeeded run loaded."""

    cursor: str
    type: str
    value: Any

    def to_json(self) -> str:
        return json.dumps({"cursor": self.cursor, "type": self.type, "value": to_json_value(self.type, self.value)})

    @classmethod
    def from_json(cls, text: str) -> Mark:
        data = json.loads(text)
        return cls(data["cursor"], data["type"], parse_value(data["type"], data["value"], "stored mark"))

    def __str__(self) -> str:
        return show(self.type, self.value)


#: how a window's lower bound was chosen (shown by --dry-run and recorded)
ORIGINS = ("initial", "mark", "from", "full_refresh")


@dataclass(frozen=True)
class Window:
    """The rows one run loads: ``cursor > lower`` (``>=`` when inclusive); no lower bound: every row
    whose cursor is not NULL. ``previous`` is the mark the run started from, kept if nothing loads."""

    cursor: str
    type: str
    lower: Any
    inclusive: bool
    origin: str
    previous: Mark | None = None

    @property
    def full_refresh(self) -> bool:
        return self.origin == "full_refresh"

    def describe(self) -> str:
        if self.lower is None:
            bound = f"every row with {self.cursor} not NULL"
        else:
            bound = f"{self.cursor} {'>=' if self.inclusive else '>'} {show(self.type, self.lower)}"
        after = "the last run's mark" if self.previous is None or self.lower == self.previous.value else \
            f"the last run's mark {self.previous} minus the lag"
        why = {"initial": "first run: initial", "mark": after, "from": "--from",
               "full_refresh": "--full-refresh: every row, table replaced"}
        return f"{bound} ({why[self.origin]})"

    def to_json(self) -> str:
        return json.dumps({"cursor": self.cursor, "type": self.type, "origin": self.origin,
                           "value": None if self.lower is None else to_json_value(self.type, self.lower),
                           "inclusive": self.inclusive,
                           "previous": None if self.previous is None else json.loads(self.previous.to_json())})

    @classmethod
    def from_json(cls, text: str) -> Window:
        data = json.loads(text)
        ctype = data["type"]
        lower = None if data["value"] is None else parse_value(ctype, data["value"], "stored window")
        previous = Mark.from_json(json.dumps(data["previous"])) if data.get("previous") else None
        return cls(data["cursor"], ctype, lower, bool(data["inclusive"]), data["origin"], previous)


def plan_window(cursor: str, ctype: str, *, initial: Any = None, lag: Any = None, previous: Mark | None = None,
                from_value: Any = None, full_refresh: bool = False) -> Window:
    """The window of a new run (values already parsed for ``ctype``). ``--full-refresh`` starts at
    ``initial`` and ignores the mark; ``--from`` starts after its value exactly (no lag); otherwise
    after the previous mark (minus the lag), or at ``initial`` on the first run."""
    if previous is not None and (previous.cursor != cursor or previous.type != ctype):
        previous = None  # the manifest changed its cursor: the old mark says nothing about this one
    if full_refresh:
        return Window(cursor, ctype, initial, True, "full_refresh", previous)
    if from_value is not None:
        return Window(cursor, ctype, from_value, False, "from", previous)
    if previous is not None:
        lower = previous.value if lag is None else minus(ctype, previous.value, lag)
        if initial is not None and lower < initial:  # a lag never reaches before initial
            return Window(cursor, ctype, initial, True, "mark", previous)
        return Window(cursor, ctype, lower, False, "mark", previous)
    return Window(cursor, ctype, initial, True, "initial", None)


def next_mark(window: Window, observed_max: Any, rows: int) -> Mark | None:
    """The mark a run records: the largest cursor it loaded. An empty window keeps the previous mark;
    a normal run never moves the mark back (a lag re-reads rows below it); ``--from`` and
    ``--full-refresh`` set it to what they loaded, since they restart the sequence on purpose."""
    if rows == 0 or observed_max is None:
        return window.previous
    mark = Mark(window.cursor, window.type, observed_max)
    if window.origin == "mark" and window.previous is not None and window.previous.value > observed_max:
        return window.previous
    return mark
