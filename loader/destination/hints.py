"""Next steps that fit the error: a refused row explained with what the write mode knows.

PostgreSQL names the unique index that refused a row (SQLSTATE 23505) but not what to do about
it, and ``adapters/pg_errors`` cannot know the write mode. After the load transaction is rolled
back, the index's columns are read from the catalog (the rollback restored any index the load
had dropped for deferral) and the write mode says what to do: on ``append``, ``mode: upsert``
with that key. Best effort: when the lookup fails, the generic next step stays.
"""

from __future__ import annotations

import logging

from ..adapters import pg, pg_errors
from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError
from ..naming import TableRef
from .write_modes import WriteStrategy

log = logging.getLogger("loader")


def explain(exc: LoaderError, spec: ConnectionSpec, target: TableRef, write: WriteStrategy) -> None:
    """Refine ``exc.next_step`` in place for a unique violation on ``target``."""
    index = exc.ids.get("constraint")
    if not isinstance(exc, DataError) or exc.ids.get("sqlstate") != pg_errors.UNIQUE_VIOLATION or not index:
        return
    try:
        conn = pg.connect(spec, application_name="loader:explain", autocommit=True)
        try:
            with conn.cursor() as cur:
                key = pg.unique_index_columns(cur, target, index)
        finally:
            conn.close()
    except Exception as lookup_exc:  # the error being explained matters more
        log.debug("could not read the columns of %s: %s", index, lookup_exc)
        return
    if key:
        exc.next_step = write.unique_violation_step(key)
