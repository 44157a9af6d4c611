"""The dry run's word on how a manifest's rows will land over copy.connections: through a shadow
table, over prepared transactions, through a staging table, or over one connection, and why. It
asks the run's own chooser (destination/landing_choice.py) with the target's catalog as it is now,
so the two cannot disagree; what only the run knows (the source's rows, a table created meanwhile)
it decides again."""

from __future__ import annotations

from typing import Any

from ..adapters import pg
from ..destination.landing_catalog import ConnectionCatalog
from ..destination.landing_choice import Catalog, LandingAsk, choose_connections, choose_landing
from ..destination.modes import write_mode
from ..errors import LoaderError
from ..manifest import Manifest
from ..options import Method

#: the path line when the target cannot be reached (target.connection's problem is reported already)
UNREACHABLE = "not checked (the target cannot be reached)"


def planned_path(m: Manifest, *, copy_possible: bool, exists: bool, adds: tuple[str, ...],
                 catalog: Catalog | None = None) -> str:
    """The path and its reason ("" with one connection, or no COPY: nothing to choose); ``adds``:
    the columns schema_evolution would add (they keep an append or an overwrite on one connection);
    ``catalog``: where the chooser's questions go (a connection of the dry run's own unless given)."""
    if not copy_possible:
        return ""
    write = write_mode(m.target.mode, m.target.key, replace_where=m.target.replace_where,
                       replace_by=m.target.replace_by)
    ask = LandingAsk(write.parallel, m.copy.connections, reject=m.on_error == "reject", creates=not exists,
                     adds=adds, loader_schema=m.target.loader_schema)
    # method auto decides between COPY and JDBC from the source's size, which a dry run does not read
    when = "if COPY is chosen: " if m.method is Method.AUTO else ""
    asked = catalog if catalog is not None else _DryCatalog(m)
    try:
        line = _line(ask, asked)
    finally:
        if isinstance(asked, _DryCatalog):
            asked.close()
    return when + line if line and line != UNREACHABLE else line


def _line(ask: LandingAsk, catalog: Catalog) -> str:
    try:
        try:
            connections, auto_reason = choose_connections(ask, catalog)
        except _Unreachable:
            return ""
        if connections <= 1:
            return ""
        choice = choose_landing(ask, catalog, (connections, auto_reason))
    except _Unreachable:
        return UNREACHABLE
    return (f"{auto_reason}: " if auto_reason else "") + (choice.reason or "")


class _Unreachable(Exception):
    pass


class _DryCatalog(ConnectionCatalog):
    """The chooser's questions on a connection of the dry run's own, made at the first question;
    _Unreachable if it cannot be."""

    def __init__(self, m: Manifest) -> None:
        super().__init__(None, m.target.ref)
        self.manifest = m

    def ask(self, question: Any) -> Any:
        if self.conn is None:
            try:
                self.conn = pg.connect(self.manifest.target.connection)
            except LoaderError:
                raise _Unreachable from None
        return super().ask(question)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
