"""Read a PostgreSQL type as ``format_type()`` spells it: the one place that does (pure).

Every check of a target column's type (``typemap.compatible``, the binary COPY encoder's
pairs, the staging format, a rejected row's fields read back) asks for the *base* type, its
*modifiers* (the typmod as printed) and whether it is an array. ``format_type`` puts the
modifier in the middle of some names and after others, so cutting the text at the first ``(``
or space gives the wrong base (``timestamp(3) with time zone`` is not ``timestamp``):

| spelling                                   | name                        | modifiers           |
|--------------------------------------------|-----------------------------|---------------------|
| ``timestamp(3) with time zone``            | timestamp with time zone    | ('3',)              |
| ``time without time zone``                 | time without time zone      | ()                  |
| ``interval day to second(3)``              | interval (fields 'day to second') | ('3',)        |
| ``bit(5)``, ``bit varying(5)``             | bit, bit varying            | ('5',)              |
| ``character(3)``, ``character varying(9)`` | character, character varying| ('3',), ('9',)      |
| ``numeric(12,2)``, ``numeric``             | numeric                     | ('12', '2'), ()     |
| ``geometry(MultiPolygon,4326)``            | geometry                    | ('MultiPolygon', '4326') |
| ``public.citext``, ``"My Type"``           | citext / My Type (schema public / None) | ()      |
| ``integer[]``, ``timestamp(3) without time zone[]`` | the element's, ``array_dims`` 1 | as the element |

Enums and domains are spelt by their (possibly schema-qualified, possibly quoted) name; a
domain's base type is read from the catalog (``adapters.pg.table_columns``), not from its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import SchemaMismatchError

#: the fields an interval column may be restricted to, as format_type prints them
INTERVAL_FIELDS = ("year", "month", "day", "hour", "minute", "second", "year to month", "day to hour",
                   "day to minute", "day to second", "hour to minute", "hour to second", "minute to second")
_MODS = r"(?:\((?P<mods>[^()]*)\))?"
_DATETIME = re.compile(r"(?P<kw>timestamp|time)" + _MODS + r" (?P<tz>with|without) time zone")
_INTERVAL = re.compile(r"interval(?: (?P<fields>" + "|".join(sorted(INTERVAL_FIELDS, key=len, reverse=True))
                       + r"))?" + _MODS)
_MULTIWORD = re.compile(r"(?P<name>character varying|bit varying|double precision)" + _MODS)
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s".()\[\],]+)'
_GENERIC = re.compile(rf"(?P<path>{_IDENT}(?:\.{_IDENT})*)" + _MODS)


@dataclass(frozen=True)
class PgType:
    """One column type: ``name`` without modifiers, schema or ``[]`` (quotes removed)."""

    name: str
    modifiers: tuple[str, ...] = ()
    array_dims: int = 0
    schema: str | None = None
    #: an interval column's fields ('day to second'), else None
    fields: str | None = None

    @property
    def is_array(self) -> bool:
        return self.array_dims > 0

    @property
    def element(self) -> PgType:
        """The element type of an array (the type itself for a scalar)."""
        return replace(self, array_dims=0)

    @property
    def plain(self) -> str:
        """The name as the type checks compare it: no modifiers, ``[]`` kept: 'numeric(12,2)[]' ->
        'numeric[]', 'timestamp(3) with time zone' -> 'timestamp with time zone'. A schema-qualified
        type keeps its schema ('public.citext'): format_type qualifies no built-in type, so no user
        type named like one is taken for it."""
        qualified = f"{self.schema}.{self.name}" if self.schema else self.name
        return qualified + "[]" * self.array_dims

    @property
    def precision(self) -> int | None:
        """The fractional-seconds precision of timestamp/time/interval, the precision of numeric,
        the length of bit/character types: the first modifier, when it is a number."""
        if self.modifiers and re.fullmatch(r"-?\d+", self.modifiers[0]):
            return int(self.modifiers[0])
        return None

    @property
    def scale(self) -> int | None:
        """numeric's scale (0 when only a precision is given), else None."""
        if self.name != "numeric" or not self.modifiers:
            return None
        return int(self.modifiers[1]) if len(self.modifiers) > 1 else 0


def _mods(text: str | None) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",")) if text else ()


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


@lru_cache(maxsize=1024)
def parse(spelling: str) -> PgType:
    """The type ``format_type()`` printed as ``spelling``; a spelling it cannot print is refused."""
    text, dims = spelling.strip(), 0
    while text.endswith("[]"):
        text, dims = text[:-2].rstrip(), dims + 1
    if m := _DATETIME.fullmatch(text):
        return PgType(f"{m['kw']} {m['tz']} time zone", _mods(m["mods"]), dims)
    if m := _INTERVAL.fullmatch(text):
        return PgType("interval", _mods(m["mods"]), dims, fields=m["fields"])
    if m := _MULTIWORD.fullmatch(text):
        return PgType(m["name"], _mods(m["mods"]), dims)
    if m := _GENERIC.fullmatch(text):
        parts = [_unquote(p) for p in re.findall(_IDENT, m["path"])]
        if len(parts) <= 2:
            schema = parts[0] if len(parts) == 2 else None
            return PgType(parts[-1], _mods(m["mods"]), dims, schema)
    raise SchemaMismatchError(f"cannot read the PostgreSQL column type {spelling!r}",
                              next_step="report this type spelling; meanwhile load into a text or jsonb column")
