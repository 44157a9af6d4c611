"""``mode: overwrite`` with ``replace_where`` or ``replace_by``: replace one slice of a table.

The strategies the load transaction asks (write_modes.py explains the hooks). Their rows land
first in the load's own relation (``merges``: COPY's TEMP table, JDBC's staging table); then,
in the same transaction, ``replace_slice`` checks and deletes the slice (slices.py) and one
INSERT moves the new rows in. No TRUNCATE, no index dropped: only row locks, so the website
that reads the table keeps reading the old rows of every slice until COMMIT. The price against
a whole-table overwrite: the old rows stay as dead tuples until autovacuum takes them (TRUNCATE
frees the table's files at once), and the rows are written twice (TEMP table, then target).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..naming import TableRef
from ..options import WriteMode
from . import slices
from .write_modes import WriteStrategy, key_problem


class _ReplaceSlice(WriteStrategy):
    mode = WriteMode.OVERWRITE
    merges = True
    shares_table = True

    def __init__(self, key: Sequence[str], wait: bool) -> None:
        super().__init__(key)
        self.wait = wait

    def _identity(self) -> tuple[Any, ...]:
        return ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ReplaceSlice) and type(other) is type(self) and \
            (other.key, other._identity()) == (self.key, self._identity())

    def __hash__(self) -> int:
        return hash((type(self), self.key, self._identity()))

    def unique_violation_step(self, key: Sequence[str]) -> str:
        return (f"a row of another slice, or a second row of the source, has this ({', '.join(key)}): the slice "
                "replace deletes only its own slice's rows; fix the source or the slice")


class ReplaceWhere(_ReplaceSlice):
    """The rows matching ``predicate`` are replaced by the load's rows, which must all match it."""

    def __init__(self, key: Sequence[str], predicate: str, wait: bool = False) -> None:
        problem = slices.predicate_problem(predicate)
        if problem:
            raise ConfigError(problem, next_step="replace_where='dataset = ''conservation-area''' (manifest: "
                                                 "target.replace_where)")
        super().__init__(key, wait)
        self.predicate = predicate

    def __repr__(self) -> str:
        return f"ReplaceWhere({self.predicate!r})"

    def _identity(self) -> tuple[Any, ...]:
        return (self.predicate,)

    def replace_slice(self, cur: Any, target: TableRef, rows: str, shown: Sequence[str]) -> int | None:
        slices.lock_slices(cur, target, [slices.normalized(self.predicate)], wait=self.wait)
        slices.check_inside(cur, target, self.predicate, rows, shown)
        return slices.delete_where(cur, target, self.predicate)


class ReplaceBy(_ReplaceSlice):
    """Every slice (distinct values of ``by``) the load's rows hold is replaced; others stay."""

    def __init__(self, key: Sequence[str], by: Sequence[str], wait: bool = False) -> None:
        if len(set(by)) != len(by):
            raise ConfigError(f"replace_by names a column twice: {list(by)}")
        super().__init__(key, wait)
        self.by = tuple(by)

    def __repr__(self) -> str:
        return f"ReplaceBy({list(self.by)!r})"

    def _identity(self) -> tuple[Any, ...]:
        return self.by

    def replace_slice(self, cur: Any, target: TableRef, rows: str, shown: Sequence[str]) -> int | None:
        table, values = slices.slices_of(cur, rows, self.by)
        slices.lock_slices(cur, target, [slices.slice_text(v) for v in values], wait=self.wait)
        return slices.delete_by(cur, target, self.by, table, values)


def slice_problem(mode: WriteMode | str, key: Sequence[str], replace_where: str | None,
                  replace_by: Sequence[str]) -> str | None:
    """The rules for slices and modes, for the request and for manifest validation."""
    if replace_where is not None and replace_by:
        return "replace_where and replace_by are two ways to name the slice: give one"
    if WriteMode(mode) is not WriteMode.OVERWRITE:
        return f"replace_where and replace_by replace a slice: they need mode overwrite, not {WriteMode(mode)}"
    return key_problem(mode, key)


def slice_mode(mode: WriteMode, key: Sequence[str], replace_where: str | None, replace_by: tuple[str, ...],
               wait: bool) -> WriteStrategy:
    problem = slice_problem(mode, key, replace_where, replace_by)
    if problem:
        raise ConfigError(problem, next_step="mode='overwrite' with replace_where='...' or replace_by=['col']")
    if replace_where is not None:
        return ReplaceWhere(key, replace_where, wait)
    return ReplaceBy(key, replace_by, wait)
