"""A peer's own cases as a standing test (issue 24, item 7): dlt's all-data-types row, in a table
typed as dlt's PostgreSQL destination types it, through every method and write mode, equal cell
for cell (as PostgreSQL's text output) to the same values inserted by PostgreSQL from literals.

Where the values come from (dlt-hub/dlt, commit 58d66fce, 2026-04-30):

* ``tests/cases.py``, ``TABLE_UPDATE`` and ``TABLE_ROW_ALL_DATA_TYPES``: col1 989127831, col2
  898912.821982, col3 True, col4 "2022-05-23T13:26:45.176451+00:00", col5 "string data \\n \\r  🦆",
  col6 Decimal("2323.34"), col7 b"binary data \\n \\r ", col8 (wei) 2**56 + 92093890840, col9 the
  nested JSON whose "link" holds \\n, \\r, \\012 and the control byte \\6, col10 "2023-02-27",
  col11 "13:26:45.176451", the eleven ``*_null`` columns, col1_precision 22324 (bigint with
  precision 16), col4_precision "2022-05-23T13:26:46.167+00:00" (timestamp(3); older revisions had
  .167231, kept in a second row: it rounds), col5_precision (text(25)), col6_precision (6,2),
  col7_precision (binary(19)), col11_precision (time(3)), col12 "2299-12-31 00:00:01.000"
  (timestamp, timezone False); ``arrow_table_all_data_types``: the column "Pre Normalized Column".
* ``dlt/destinations/impl/postgres/factory.py``, ``PostgresTypeMapper``: json -> jsonb, text ->
  varchar / varchar(n), double -> double precision, bool -> boolean, bigint -> bigint (precision 16
  -> smallint), binary -> bytea (precision ignored), timestamp -> timestamp with time zone /
  timestamp (n) with time zone / without time zone when timezone is False, time -> time without
  time zone / time (n) without time zone, decimal -> numeric(38,9) (``caps.decimal_precision``:
  DEFAULT_NUMERIC_PRECISION, DEFAULT_NUMERIC_SCALE), wei -> numeric(156,78) (2 * and
  EVM_DECIMAL_PRECISION 78); the non-null columns are NOT NULL, as dlt creates them.

Spark has no time type and no JSON type: col9 travels as its JSON text, the time columns as their
strings (which PostgreSQL parses, so binary COPY cannot carry them: the binary variant loads the
other columns, and forcing binary on the whole row is refused naming col11). Added here: Spark's
widest decimal(38,18) at both ends, doubles into numeric(38,18) (PostgreSQL's float8 -> numeric
cast keeps 15 digits, and Java 17's Double.toString is not always the shortest: 2.82879384806159E17
prints as 2.82879384806159008E17; the literal is the shortest round-trip text, Python's repr), and
the days the Julian-Gregorian switch skipped, with days centuries before it (1200-02-29 exists in
the proleptic Gregorian calendar PostgreSQL and Spark use; 1000-02-29 and 1500-02-29 do not).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg2
import pytest

from loader import write_to_postgres
from loader.errors import ConfigError

UTC = dt.timezone.utc
MAX38 = Decimal("99999999999999999999.999999999999999999")
LINK = ("?commen\ntU\nrn=urn%3Ali%3Acomment%3A%28acti\012 \6"
        " \\vity%3A69'08444473\n\n551163392%2C6n \r 9085")
DLT_ROW: dict[str, Any] = {
    "col1": 989127831, "col2": 898912.821982, "col3": True,
    "col4": dt.datetime(2022, 5, 23, 13, 26, 45, 176451, tzinfo=UTC), "col5": "string data \n \r  🦆",
    "col6": Decimal("2323.34"), "col7": b"binary data \n \r ", "col8": 2**56 + 92093890840,
    "col9": {"nested": [1, 2, 3, "a"], "link": LINK}, "col10": dt.date(2023, 2, 27), "col11": "13:26:45.176451",
    **{f"col{i}_null": None for i in range(1, 12)},
    "col1_precision": 22324, "col4_precision": dt.datetime(2022, 5, 23, 13, 26, 46, 167000, tzinfo=UTC),
    "col5_precision": "string data 2 \n \r  🦆", "col6_precision": Decimal("2323.34"),
    "col7_precision": b"binary data 2 \n \r A", "col11_precision": "13:26:45.176451",
    "col12": dt.datetime(2299, 12, 31, 0, 0, 1),
    "Pre Normalized Column": "a",
}
# name -> (dlt's PostgreSQL type, Spark type); NOT NULL where dlt's column is not nullable
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("bigint PRIMARY KEY", "bigint"),
    "col1": ("bigint NOT NULL", "bigint"), "col2": ("double precision NOT NULL", "double"),
    "col3": ("boolean NOT NULL", "boolean"), "col4": ("timestamp with time zone NOT NULL", "timestamp"),
    "col5": ("varchar NOT NULL", "string"), "col6": ("numeric(38,9) NOT NULL", "decimal(38,9)"),
    "col7": ("bytea NOT NULL", "binary"), "col8": ("numeric(156,78) NOT NULL", "bigint"),
    "col9": ("jsonb NOT NULL", "string"), "col10": ("date NOT NULL", "date"),
    "col11": ("time without time zone NOT NULL", "string"),
    "col1_null": ("bigint", "bigint"), "col2_null": ("double precision", "double"),
    "col3_null": ("boolean", "boolean"), "col4_null": ("timestamp with time zone", "timestamp"),
    "col5_null": ("varchar", "string"), "col6_null": ("numeric(38,9)", "decimal(38,9)"),
    "col7_null": ("bytea", "binary"), "col8_null": ("numeric(156,78)", "bigint"),
    "col9_null": ("jsonb", "string"), "col10_null": ("date", "date"),
    "col11_null": ("time without time zone", "string"),
    "col1_precision": ("smallint NOT NULL", "bigint"),
    "col4_precision": ("timestamp (3) with time zone NOT NULL", "timestamp"),
    "col5_precision": ("varchar(25) NOT NULL", "string"),
    "col6_precision": ("numeric(6,2) NOT NULL", "decimal(6,2)"),
    "col7_precision": ("bytea NOT NULL", "binary"),
    "col11_precision": ("time (3) without time zone NOT NULL", "string"),
    "col12": ("timestamp without time zone NOT NULL", "timestamp_ntz"),
    "Pre Normalized Column": ("varchar NOT NULL", "string"),
    "dec38": ("numeric(38,18)", "decimal(38,18)"), "dbl_num": ("numeric(38,18)", "double"),
    "dbl_nums": ("numeric(38,18)[]", "array<double>"),
    "day": ("date", "date"), "moment": ("timestamp without time zone", "timestamp_ntz"),
}
#: what binary COPY cannot produce: PostgreSQL parses the time strings, and a double's digits
BINARY_REFUSES = ("col11", "col11_null", "col11_precision", "dbl_num", "dbl_nums")
DOUBLES = [0.30000000000000004, 1.2345678901234567, 2.82879384806159e17, 0.1, -0.0, 123456789012345.67,
           99999999999999.98, 8.41e19, 5e-19, float("nan"), -1.7976931348623157e-5, None]
DAYS = [dt.date(1582, 10, d) for d in range(4, 16)] + [
    dt.date(800, 3, 1), dt.date(1200, 2, 29), dt.date(1000, 3, 1), dt.date(1, 1, 1), dt.date(1582, 1, 1)]


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i, day in enumerate(DAYS):
        row = dict(DLT_ROW, id=i, day=day, moment=dt.datetime.combine(day, dt.time(23, 59, 59, 999999)),
                   dbl_num=DOUBLES[i % len(DOUBLES)], dbl_nums=[DOUBLES[(i + 2) % len(DOUBLES)], None],
                   dec38=(MAX38, MAX38.copy_negate(), Decimal(0), None)[i % 4])
        if i == 1:  # the value older dlt revisions had: timestamp(3) and time(3) round it
            row["col4_precision"] = dt.datetime(2022, 5, 23, 13, 26, 46, 167231, tzinfo=UTC)
            row["col11_precision"] = "13:26:45.1765"
        rows.append(row)
    return rows


def _literal(value: Any) -> Any:
    """The value as the literal a person would type into an INSERT."""
    if value is None or isinstance(value, bytes):
        return psycopg2.Binary(value) if value is not None else None
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list):  # an array literal
        return "{" + ",".join("NULL" if v is None else _literal(v) for v in value) + "}"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as this double
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _spark_value(name: str, value: Any) -> Any:
    return json.dumps(value) if name == "col9" and value is not None else value


def _ddl(table: str, names: list[str]) -> str:
    return f'CREATE TABLE "{table}" (' + ", ".join(f'"{n}" {COLUMNS[n][0]}' for n in names) + ")"


def _text_select(table: str, names: list[str]) -> str:
    return "SELECT " + ", ".join(f't."{n}"::text' for n in names) + f' FROM "{table}" t ORDER BY t.id'


@pytest.fixture(scope="module")
def dlt_setup(pg_module_spec: Any, spark: Any) -> Iterator[tuple[Any, Any]]:
    """The DataFrame, and the literal rows PostgreSQL stored (table ``want``), once per module."""
    names = list(COLUMNS)
    conn = psycopg2.connect(**pg_module_spec.psycopg2_kwargs())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(_ddl("want", names))
        marks = ", ".join(["%s"] * len(names))
        for row in _rows():
            cur.execute(f'INSERT INTO want VALUES ({marks})', [_literal(row[n]) for n in names])
    schema = ", ".join(f"`{n}` {COLUMNS[n][1]}" for n in names)
    df = spark.createDataFrame([tuple(_spark_value(n, r[n]) for n in names) for r in _rows()], schema).cache()
    df.count()
    try:
        yield df, conn
    finally:
        df.unpersist()
        conn.close()


VARIANTS = [("copy", "binary"), ("copy", "csv"), ("optimized", None), ("standard", None)]


@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
@pytest.mark.parametrize(("method", "staging"), VARIANTS)
def test_dlt_all_data_types_row_lands_as_its_literals(method: str, staging: str | None, mode: str,
                                                       dlt_setup: tuple[Any, Any], pg_module_spec: Any,
                                                       bucket: str, state_url: str) -> None:
    df, conn = dlt_setup
    names = [n for n in COLUMNS if not (staging == "binary" and n in BINARY_REFUSES)]
    table = f"dlt_{method}_{mode}_{uuid.uuid4().hex[:6]}"
    cols = ", ".join(f'"{n}"' for n in names)
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(_ddl(table, names))
        if mode != "append":  # a row the load replaces (upsert) or removes (overwrite)
            cur.execute(f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM want WHERE id IN (0, 1)')
            cur.execute(f"""UPDATE "{table}" SET col5 = 'stale', id = id * 100""" if mode == "overwrite"
                        else f"""UPDATE "{table}" SET col5 = 'stale', dbl_num = 1, col12 = '2000-01-01'"""
                        if "dbl_num" in names else f"""UPDATE "{table}" SET col5 = 'stale'""")
    extra: dict[str, Any] = {"staging_format": staging, "server_side": "never"} if method == "copy" else {}
    result = write_to_postgres(df.select(*[f"`{n}`" for n in names]), pg_module_spec.as_params(), method=method,
                               table=table, temp_s3_bucket=bucket, state_url=state_url, fallback="none",
                               mode=mode, key=["id"] if mode == "upsert" else None, **extra)
    assert result.staging_format == staging, result.format_reason
    with conn.cursor() as cur:
        cur.execute(_text_select(table, names))
        got = cur.fetchall()
        cur.execute(_text_select("want", names))
        want = cur.fetchall()
    assert len(got) == len(want) == len(DAYS)
    for got_row, want_row in zip(got, want, strict=True):
        for name, have, expected in zip(names, got_row, want_row, strict=True):
            assert have == expected, f"{method}/{staging}/{mode}: row {got_row[0]}, {name}: {have!r} != {expected!r}"
    assert want[0][names.index("col4_precision")] == "2022-05-23 13:26:46.167+00"
    assert want[1][names.index("col4_precision")] == "2022-05-23 13:26:46.167+00"


def test_the_literal_rows_hold_what_dlt_and_postgresql_say(dlt_setup: tuple[Any, Any]) -> None:
    """The comparison's other side, pinned: a changed value here fails too."""
    names = list(COLUMNS)
    with dlt_setup[1].cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(_text_select("want", names))
        want = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    pinned = {"day": "1582-10-10", "col8": "72057686131818776." + "0" * 78, "col12": "2299-12-31 00:00:01",
              "col11_precision": "13:26:45.176", "dec38": "0.000000000000000000", "col6": "2323.340000000",
              "col4": "2022-05-23 13:26:45.176451+00", "col4_precision": "2022-05-23 13:26:46.167+00",
              "col1_precision": "22324", "col2": "898912.821982", "moment": "1582-10-10 23:59:59.999999"}
    assert {n: want[6][n] for n in pinned} == pinned
    assert json.loads(want[6]["col9"])["link"] == LINK and "\\u0006" in want[6]["col9"]
    assert want[1]["col4_precision"] == "2022-05-23 13:26:46.167+00"  # .167231 rounds to .167
    assert want[1]["col11_precision"] == "13:26:45.177"  # .1765 rounds half up
    assert want[1]["dec38"] == "-" + str(MAX38) and want[0]["dec38"] == str(MAX38)
    assert [w["dbl_num"] for w in want[:3]] == ["0.300000000000000040", "1.234567890123456700",
                                                 "282879384806159000.000000000000000000"]
    assert want[0]["dbl_nums"] == "{282879384806159000.000000000000000000,NULL}"
    assert [w["day"] for w in want[12:]] == ["0800-03-01", "1200-02-29", "1000-03-01", "0001-01-01", "1582-01-01"]


def test_binary_refuses_the_dlt_row_naming_the_time_column(dlt_setup: tuple[Any, Any], pg_module_spec: Any,
                                                           bucket: str, state_url: str) -> None:
    df, conn = dlt_setup
    table = f"dlt_refused_{uuid.uuid4().hex[:6]}"
    with conn.cursor() as cur:
        cur.execute(_ddl(table, list(COLUMNS)))
    with pytest.raises(ConfigError, match="col11"):
        write_to_postgres(df, pg_module_spec.as_params(), method="copy", table=table, temp_s3_bucket=bucket,
                          state_url=state_url, fallback="none", staging_format="binary", server_side="never")


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_doubles_into_numeric_keep_their_digits_when_rows_land_first(method: str, dlt_setup: tuple[Any, Any],
                                                                     pg_module_spec: Any, bucket: str,
                                                                     state_url: str) -> None:
    """on_error: reject lands the rows in the source's types and casts them (float8 -> numeric would
    keep 15 digits): the doubles land as their text, and COPY stages CSV to make it."""
    df, conn = dlt_setup
    names = ["id", "dbl_num", "dbl_nums"]
    table = f"dlt_reject_{method}_{uuid.uuid4().hex[:6]}"
    with conn.cursor() as cur:
        cur.execute(_ddl(table, names))
    extra: dict[str, Any] = {"server_side": "never"} if method == "copy" else {}
    result = write_to_postgres(df.select(*names), pg_module_spec.as_params(), method=method, table=table,
                               temp_s3_bucket=bucket, state_url=state_url, fallback="none", on_error="reject",
                               **extra)
    assert result.staging_format == ("csv" if method == "copy" else None), result.format_reason
    with conn.cursor() as cur:
        cur.execute(_text_select(table, names))
        got = cur.fetchall()
        cur.execute(_text_select("want", names))
        assert got == cur.fetchall()
