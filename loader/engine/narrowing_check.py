"""``on_narrowing: error``: one Spark aggregate over the DataFrame, before any data moves, that
finds the values the target would round or refuse (the columns ``plan/narrowing`` names).

One pass for every narrowed column: per column a count of the offending rows and the first
one in the DataFrame's order (``min_by`` over ``monotonically_increasing_id``, which orders by
partition, then row), with the row's key. The load fails naming the column, the value, what
PostgreSQL would make of it and what to do; nothing was written anywhere. The price is one more
read of the source, paid only by loads that ask for the check and narrow a column.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from ..errors import DataError
from ..naming import TableRef, quote_ident
from ..plan.narrowing import Narrowing, verdict

log = logging.getLogger("loader")

_ROW = "__loader_row"


def _offending(n: Narrowing, x: Any) -> Any:
    """The Spark condition true for a value ``x`` the target would change or refuse."""
    from pyspark.sql import functions as F

    floating = n.floating
    rounded = F.round(x, n.scale) if n.loses_scale else x
    bad = (rounded != x) if n.loses_scale else F.lit(False)
    if n.may_overflow:
        limit = Decimal(n.limit or 0)
        if floating and limit > Decimal("1e308"):
            over = F.abs(x) == F.lit(float("inf"))
        else:
            lit = F.lit(float(limit)) if floating else F.lit(limit)
            over = (rounded >= lit) | ((rounded < -lit) if n.integer_target else (rounded <= -lit))
        bad = bad | over
    if floating:
        bad = ~F.isnan(x) & bad  # NaN lands as NaN (and Spark orders it above every number)
    return x.isNotNull() & bad


def _element_check(n: Narrowing) -> Any:
    return lambda x: _offending(n, x)


def check_values(df: Any, found: tuple[Narrowing, ...], target: TableRef, key: tuple[str, ...] = ()) -> None:
    """Fail with a ``DataError`` if any row holds a value one of ``found`` would change."""
    from pyspark.sql import functions as F

    if not found:
        return
    rows = df.withColumn(_ROW, F.monotonically_increasing_id())
    aggs = []
    for i, n in enumerate(found):
        col = rows[n.column]
        bad = F.exists(col, _element_check(n)) if n.is_array else _offending(n, col)
        witness = F.struct(col.alias("value"), *[rows[k].alias(k) for k in key])
        aggs += [F.count(F.when(bad, 1)).alias(f"n{i}"), F.min_by(witness, F.when(bad, rows[_ROW])).alias(f"w{i}")]
    result = rows.agg(*aggs).collect()[0]
    problems = [(n, result[f"n{i}"], result[f"w{i}"]) for i, n in enumerate(found) if result[f"n{i}"]]
    if not problems:
        log.info("%s: every value of the narrowed column(s) fits them unchanged", target)
        return
    n, count, witness = problems[0]
    value = witness["value"]
    element = next((v for v in value if verdict(n, v)), None) if n.is_array else value
    where = ", ".join(f"{k}={witness[k]!r}" for k in key)
    others = "; also " + ", ".join(f"{m.column!r} ({c:,} rows)" for m, c, _ in problems[1:]) if problems[1:] else ""
    widen = f"ALTER TABLE {target.quoted} ALTER COLUMN {quote_ident(n.column)} TYPE <a wider numeric>"
    raise DataError(
        f"{target}: column {n.column!r} ({n.source} -> {n.target}): value {element}"
        + (f" (in {value})" if n.is_array else "") + (f" in the row with {where}" if where else "")
        + f" {verdict(n, element)}; {count:,} row(s) hold such values{others}. on_narrowing is 'error': "
        "nothing was loaded",
        next_step=f"widen the column ({widen}), or set target.on_narrowing: round (on_narrowing='round') to "
                  "store the values as PostgreSQL rounds them",
        table=str(target))
