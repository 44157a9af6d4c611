"""Numbers into a column that keeps fewer decimals or digits (issue 24, item 6): by default every
method stores them as PostgreSQL stores the same literal (rounded half away from zero) and the run's
log names the column; ``on_narrowing="error"`` refuses the load before anything changes, naming the
column and the first value that would change; a value too large for the column is refused."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import DataError

VARIANTS = [("copy", "binary"), ("copy", "csv"), ("optimized", None), ("standard", None)]
ROWS = [(1, Decimal("1.0050"), 0.30000000000000004), (2, Decimal("12345678.9999"), 0.125),
        (3, Decimal("-1.0050"), 1.005), (4, Decimal("2.0000"), -2.5), (5, None, None)]


def _df(spark: Any, staging: str | None, rows: list[tuple[Any, ...]] = ROWS) -> Any:
    df = spark.createDataFrame(rows, "id int, amount decimal(12,4), d double")
    return df.drop("d") if staging == "binary" else df  # a double into numeric needs PostgreSQL's parser (CSV)


def _load(df: Any, method: str, staging: str | None, pg_db: Any, bucket: str, state_url: str, **kw: Any) -> Any:
    extra = {"staging_format": staging, "server_side": "never"} if method == "copy" else {}
    return write_to_postgres(df, pg_db.as_params(), method=method, table="narrow", temp_s3_bucket=bucket,
                             state_url=state_url, fallback="none", **extra, **kw)


def _table(pg_conn: Any) -> list[tuple[Any, ...]]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id, amount::text, d::text FROM narrow ORDER BY id")
        return list(cur.fetchall())


@pytest.mark.parametrize(("method", "staging"), VARIANTS)
def test_narrowed_values_round_as_postgresql_rounds_the_literal(method: str, staging: str | None, spark: Any,
                                                               pg_db: Any, pg_conn: Any, bucket: str,
                                                               state_url: str, caplog: Any) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE narrow (id int PRIMARY KEY, amount numeric(10,2), d numeric(10,2))")
        want = []
        for i, amount, d in ROWS:
            cur.execute("SELECT %s::numeric(10,2)::text, %s::numeric(10,2)::text",
                        (None if amount is None else str(amount), None if d is None or staging == "binary" else repr(d)))
            want.append((i, *cur.fetchone()))
    with caplog.at_level(logging.INFO, logger="loader"):
        result = _load(_df(spark, staging), method, staging, pg_db, bucket, state_url)
    assert result.staging_format == staging
    assert _table(pg_conn) == want
    assert want[0][1:3] == ("1.01", None if staging == "binary" else "0.30") and want[1][1] == "12345679.00"
    log = caplog.text
    assert "column 'amount' decimal(12,4) -> numeric(10,2): rounded to 2 decimal places (on_narrowing: round)" in log
    assert ("'d' double -> numeric(10,2): rounded to 2 decimal places, values beyond 8 digits before the point "
            "refused" in log) == (staging != "binary")


# the check runs in engine/prepare.py before any method is chosen to run: one COPY and one JDBC variant
@pytest.mark.parametrize(("method", "staging"), [VARIANTS[0], VARIANTS[-1]])
def test_on_narrowing_error_refuses_before_anything_changes(method: str, staging: str | None, spark: Any,
                                                            pg_db: Any, pg_conn: Any, bucket: str,
                                                            state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE narrow (id int PRIMARY KEY, amount numeric(10,2), d numeric(10,2))")
        cur.execute("INSERT INTO narrow VALUES (9, 9.99, 0.5)")
    exact = [(10, Decimal("1.0000"), 0.5), (11, Decimal("-3.1200"), None)]
    with pytest.raises(DataError) as err:  # the second row is the first that would change
        _load(_df(spark, staging, exact + ROWS[1:]), method, staging, pg_db, bucket, state_url,
              mode="overwrite", key="id", on_narrowing="error")
    text = str(err.value)
    assert ("column 'amount' (decimal(12,4) -> numeric(10,2)): value 12345678.9999 in the row with id=2 would be "
            "stored as 12345679.00; 2 row(s) hold such values") in text, text
    assert ("also 'd' (2 rows)" in text) == (staging != "binary")
    assert "widen the column" in text and "on_narrowing: round" in text
    assert _table(pg_conn) == [(9, "9.99", "0.50")]
    # values that fit exactly load with the check on
    _load(_df(spark, staging, exact), method, staging, pg_db, bucket, state_url, mode="overwrite",
          on_narrowing="error")
    assert _table(pg_conn) == [(10, "1.00", "0.50" if staging != "binary" else None), (11, "-3.12", None)]


@pytest.mark.parametrize(("method", "staging"), VARIANTS)
def test_a_value_too_large_for_the_column_is_refused(method: str, staging: str | None, spark: Any, pg_db: Any,
                                                     pg_conn: Any, bucket: str, state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE narrow (id int, amount numeric(10,2), d numeric(10,2))")
    rows = [(1, Decimal("1.00"), 1.0), (2, Decimal("99999999.995"), 2.0)]  # rounds to 9 digits before the point
    df = spark.createDataFrame(rows, "id int, amount decimal(12,3), d double").drop("d")
    with pytest.raises(DataError) as err:
        _load(df, method, staging, pg_db, bucket, state_url)
    assert "overflow" in str(err.value) and "amount" in str(err.value), str(err.value)
    with pytest.raises(DataError) as checked:
        _load(df, method, staging, pg_db, bucket, state_url, on_narrowing="error")
    assert ("value 99999999.995 does not fit numeric(10,2) (it holds 8 digits before the point; PostgreSQL "
            "refuses it: out of range)") in str(checked.value)
    assert _table(pg_conn) == []
