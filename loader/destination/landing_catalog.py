"""The landing chooser's questions (landing_choice.Catalog) asked of the target's database, each on
a cursor of ``conn`` in a transaction rolled back after it: the run asks over its own connection
before anything is written, the dry run over one of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..adapters import pg
from ..naming import TableRef
from . import prepared, staging_table
from .shadow_catalog import read_facts
from .shadow_plan import TargetFacts

T = TypeVar("T")


class ConnectionCatalog:
    def __init__(self, conn: Any, target: TableRef) -> None:
        self.conn, self.target = conn, target

    def ask(self, question: Callable[[Any], T]) -> T:
        with self.conn.cursor() as cur:
            answer = question(cur)
        self.conn.rollback()
        return answer

    def sizing(self) -> tuple[int | None, int]:
        return self.ask(lambda cur: auto_sizing(cur, self.target))

    def facts(self) -> TargetFacts | None:
        return self.ask(lambda cur: read_facts(cur, self.target))

    def max_prepared(self) -> int:
        return self.ask(prepared.max_prepared)

    def may_create(self, schema: str) -> bool:
        return self.ask(lambda cur: staging_table.may_create_in(cur, schema))

    def referencing(self) -> tuple[str, ...]:
        return self.ask(lambda cur: pg.referencing_foreign_keys(cur, self.target))


def auto_sizing(cur: Any, target: TableRef) -> tuple[int | None, int]:
    """What ``copy.connections: auto`` decides on (landing_rules.auto_connections): the target's bytes
    on disk with its indexes and TOAST (None: it does not exist) and the server's free connection
    slots (max_connections less the reserved ones and the sessions open now)."""
    cur.execute("SELECT pg_total_relation_size(to_regclass(%s)), "
                "current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int "
                "- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')", (target.quoted,))
    size, free = cur.fetchone()
    return (None if size is None else int(size)), int(free)
