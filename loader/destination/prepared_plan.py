"""Append over N connections, all or nothing: the names of its prepared transactions, pure.

Each connection COPYs its share of the staged parts into the target in a transaction of its own
and ``PREPARE TRANSACTION``s it; once every one is prepared, the run's ledger row is committed in
a transaction of its own on the driver's connection (the decision, in the same database as the
prepared transactions, so nothing else can disagree with it); then each is ``COMMIT PREPARED``.
A crash before the ledger row leaves prepared transactions that are rolled back; after it, ones
that are committed: by ``--resume`` (engine's ledger question, destination/prepared.py) or by the
reaper. No prepared transaction outlives its run holding locks.

Readers see nothing until the first COMMIT PREPARED, and all the rows after the last; between
the two (milliseconds, one round trip per connection) they may see some connections' rows only.
"""

from __future__ import annotations

import re

#: a prepared transaction of run ``run_id``'s connection ``n`` (PostgreSQL's gid: up to 199 bytes)
_GID = re.compile(r"^loader:(?P<run>[0-9a-f]{8,64}):(?P<n>\d{1,3})$")


def gid(run_id: str, n: int) -> str:
    return f"loader:{run_id}:{n}"


def parse_gid(value: str) -> tuple[str, int] | None:
    """(run id, connection) of a loader's prepared transaction, None for anyone else's."""
    m = _GID.match(value)
    return (m.group("run"), int(m.group("n"))) if m else None


def prepared_readiness(max_prepared: int) -> tuple[bool, str]:
    """What ``loader doctor`` says of the server's max_prepared_transactions (informational: one
    connection always works)."""
    if max_prepared >= 2:
        return True, (f"max_prepared_transactions {max_prepared}: an append with copy.connections > 1 loads over "
                      f"up to {max_prepared} prepared transactions, all or nothing")
    return False, (f"max_prepared_transactions {max_prepared}: an append with copy.connections > 1 loads over "
                   "1 connection (set it to at least copy.connections in postgresql.conf or the RDS parameter "
                   "group, and restart, to load over several)")
