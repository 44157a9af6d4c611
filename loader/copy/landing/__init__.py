"""How a COPY run's staged parts land in the target: one commit protocol (protocol.py), four
implementations (in_place.py, shadow.py, prepared.py, staging_merge.py), one driver (driver.py).
``choose_protocol`` picks the implementation once, by the chooser the dry run asks too
(destination/landing_choice.py)."""

from __future__ import annotations

import logging

from ...destination.landing_catalog import ConnectionCatalog
from ...destination.landing_choice import Catalog, Landing, LandingAsk, choose_connections, choose_landing
from ...errors import ConfigError
from .in_place import InPlace
from .prepared import Prepared
from .protocol import CopyRun, LandingProtocol, Published
from .shadow import ShadowSwap
from .staging_merge import StagingMerge

log = logging.getLogger("loader")


def choose_protocol(run: CopyRun, connections: int | str, server_side: bool,
                    catalog: Catalog | None = None) -> tuple[LandingProtocol, list[str]]:
    """The protocol this run lands by, and what its reason says about the choice (each also logged).
    ``catalog``: where the chooser's questions go (the run's own connection unless given)."""
    ask = LandingAsk(run.write.parallel, connections, reject=run.reject is not None, creates=bool(run.create_sql),
                     adds=tuple(run.plan.added), loader_schema=run.home, replaces_table=run.write.replaces_table,
                     table=run.target)
    asked = catalog if catalog is not None else ConnectionCatalog(run.conn, run.target)
    n, auto_reason = choose_connections(ask, asked)
    choice = choose_landing(ask, asked, (n, auto_reason))
    if choice.refusal is not None:
        raise ConfigError(choice.refusal[0], next_step=choice.refusal[1], table=str(run.target))
    reasons = []
    if auto_reason is not None:
        log.info("%s: %s", run.target, auto_reason)
        if n > 1:
            reasons.append(auto_reason)
    if choice.reason is not None:
        log.info("%s: loaded %s", run.target, choice.reason)
        reasons.append(f"loaded {choice.reason}")
    protocol: LandingProtocol
    if choice.landing is Landing.SHADOW and choice.facts is not None:
        protocol = ShadowSwap(run, choice.connections, choice.facts)
    elif choice.landing is Landing.PREPARED:
        protocol = Prepared(run, choice.connections)
    elif choice.landing is Landing.STAGING:
        protocol = StagingMerge(run, choice.connections)
    else:
        protocol = InPlace(run, server_side)
    return protocol, reasons


__all__ = ["CopyRun", "LandingProtocol", "Published", "choose_protocol"]
