"""The write mode as behaviour, chosen once: ``write_mode`` turns what the user asked for (the
mode, the key, a slice) into the strategy object every method, the landing chooser and the dry run
ask (write_modes.py for append, overwrite and upsert; slice_modes.py for replace_where and
replace_by). The only place a ``WriteMode`` becomes a strategy; besides the strategies, only the
pure privilege rules (privileges.py: what a role must hold, asked by doctor before any load exists)
and manifest validation read the mode itself."""

from __future__ import annotations

from collections.abc import Sequence

from ..options import WriteMode
from .slice_modes import slice_mode
from .write_modes import Append, Overwrite, Upsert, WriteStrategy

_STRATEGIES: dict[WriteMode, type[WriteStrategy]] = {s.mode: s for s in (Append, Overwrite, Upsert)}


def write_mode(mode: WriteMode | str, key: Sequence[str] = (), *, replace_where: str | None = None,
               replace_by: Sequence[str] = (), wait: bool = False) -> WriteStrategy:
    """The strategy for ``mode``. ``replace_where``/``replace_by`` make an overwrite replace one
    slice; ``wait``: a load of the same slice waits for the other instead of failing."""
    if replace_where is not None or replace_by:
        return slice_mode(WriteMode(mode), key, replace_where, tuple(replace_by), wait)
    return _STRATEGIES[WriteMode(mode)](key)
