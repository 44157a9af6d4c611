"""Schema evolution inside the load transaction (``schema_evolution: add_columns``).

The plan (``plan.typemap.match_columns``) decided which source columns the table lacks; here
they are added with one ``ALTER TABLE ... ADD COLUMN`` in the transaction that loads the rows,
before the first row. So a load that fails leaves the table as it was, and readers never see
the new column without the rows that brought it (the ALTER's ACCESS EXCLUSIVE lock is held
until COMMIT, as a TRUNCATE is). Columns are only ever added, nullable.
"""

from __future__ import annotations

import logging
from typing import Any

from ..adapters import pg_errors
from ..naming import TableRef
from ..plan.typemap import ColumnPlan, add_columns_sql

log = logging.getLogger("loader")


def add_planned_columns(cur: Any, target: TableRef, plan: ColumnPlan) -> None:
    sql = add_columns_sql(target, plan)
    if sql is None:
        return
    types = dict(zip(plan.names, plan.pg_types, strict=True))
    log.info("%s: adding column(s) %s", target, ", ".join(f"{n!r} {types[n]}" for n in plan.added))
    with pg_errors.translated(table=target, during=f"adding columns to {target}"):
        cur.execute(sql)
