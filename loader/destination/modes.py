"""The write mode as behaviour, chosen once: ``write_mode`` turns what the user asked for (the
mode, the key, a slice) into the strategy object every method, the landing chooser and the dry run
ask (write_modes.py for append, overwrite and upsert; slice_modes.py for replace_where and
replace_by). The only place a ``WriteMode`` becomes a strategy; besides the strategies, only the
pure privilege rules (privileges.py: what a role must hold, asked by doctor before any load exists)
and manifest validation read the mode itself."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError
from ..options import WriteMode
from .slice_modes import slice_mode
from .write_modes import Append, Overwrite, TruncateOverwrite, Upsert, WriteStrategy

_STRATEGIES: dict[WriteMode, type[WriteStrategy]] = {s.mode: s for s in (Append, Overwrite, Upsert)}
#: target.overwrite / overwrite=: how a whole-table overwrite replaces the rows
OVERWRITES = ("auto", "truncate")


def write_mode(mode: WriteMode | str, key: Sequence[str] = (), *, replace_where: str | None = None,
               replace_by: Sequence[str] = (), wait: bool = False, overwrite: str = "auto") -> WriteStrategy:
    """The strategy for ``mode``. ``replace_where``/``replace_by`` make an overwrite replace one
    slice; ``wait``: a load of the same slice waits for the other instead of failing; ``overwrite``:
    ``auto`` replaces a whole table's rows through the shadow swap or under MVCC, ``truncate`` with
    TRUNCATE in place."""
    problem = overwrite_problem(mode, overwrite, replace_where, replace_by)
    if problem:
        raise ConfigError(problem, next_step="overwrite='auto' (manifest: target.overwrite: auto), or mode overwrite "
                                             "without replace_where/replace_by")
    if replace_where is not None or replace_by:
        return slice_mode(WriteMode(mode), key, replace_where, tuple(replace_by), wait)
    if overwrite == "truncate":
        return TruncateOverwrite(key)
    return _STRATEGIES[WriteMode(mode)](key)


def overwrite_problem(mode: WriteMode | str, overwrite: str, replace_where: str | None,
                      replace_by: Sequence[str]) -> str | None:
    """The one rule about target.overwrite, for the request and for manifest validation."""
    if overwrite not in OVERWRITES:
        return f"overwrite={overwrite!r} is not one of {', '.join(OVERWRITES)}"
    if overwrite == "truncate" and (WriteMode(mode) is not WriteMode.OVERWRITE or replace_where is not None
                                    or replace_by):
        return "overwrite: truncate empties the whole table: only for mode overwrite without a slice"
    return None
