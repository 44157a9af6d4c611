"""The edges' translators, without a server: psycopg2 errors by SQLSTATE (and PostGIS's by where
it raised), Spark staging failures by the tag their task wrote. The errors are stand-ins carrying
what psycopg2 and py4j carry; tests/functional/adapters shows the real ones."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from loader.adapters import pg_errors
from loader.adapters.spark_errors import (
    DATA_ERROR_TAG,
    NUL_ERROR_TAG,
    STAGING_ERROR_TAG,
    nul_error_column,
    translate_staging_failure,
)
from loader.errors import (
    DataError,
    LoaderError,
    PrivilegeError,
    StagingError,
    TargetConnectionError,
    TargetError,
)


class PgError(Exception):
    """What translate reads of a psycopg2 error: its SQLSTATE and diagnostics."""

    def __init__(self, message: str, pgcode: str | None, **diag: Any) -> None:
        super().__init__(message)
        self.pgcode = pgcode
        fields = {"message_primary": message, "context": None, "column_name": None, "message_detail": None,
                  "constraint_name": None, "source_file": None}
        self.diag = SimpleNamespace(**(fields | diag))


def test_a_data_exception_names_the_table_column_and_where() -> None:
    err = pg_errors.translate(PgError('null value in column "v"', "23502", column_name="v"), table="public.t",
                              where="part 3")
    assert isinstance(err, DataError) and err.ids["column"] == "v" and err.ids["sqlstate"] == "23502"
    assert err.message == 'public.t: null value in column "v"; column v; in part 3'
    assert "NOT NULL" in (err.next_step or "")


def test_a_geometry_postgis_refuses_is_the_datas_fault() -> None:
    refused = PgError("geometry requires more points", "XX000", source_file="lwgeom_pg.c")
    err = pg_errors.translate(refused, table="public.entity", during="the load")
    assert isinstance(err, DataError) and "PostGIS cannot read or build" in (err.next_step or "")
    other = pg_errors.translate(PgError("cache lookup failed", "XX000", source_file="lsyscache.c"), table="t")
    assert type(other) is TargetError and other.ids["sqlstate"] == "XX000"


@pytest.mark.parametrize("code, during, kind, words", [
    ("28P01", None, TargetConnectionError, "refused the login"),
    ("08006", None, TargetConnectionError, "failed during a statement"),
    ("57014", None, TargetConnectionError, "failed during"),
    (None, None, TargetConnectionError, "failed during"),
    ("42P01", "the load of t", TargetConnectionError, "failed during the load of t"),
    # no reconnect gives a role a privilege: said as what it is, even during a load
    ("42501", "the load of t", PrivilegeError, "app.t: permission denied for schema app (during the load of t)"),
    ("42501", None, PrivilegeError, "permission denied"),
])
def test_everything_else_by_its_class(code: str | None, during: str | None, kind: type, words: str) -> None:
    err = pg_errors.translate(PgError("permission denied for schema app", code), table="app.t", during=during)
    assert type(err) is kind and words in err.message, err.message
    if kind is PrivilegeError:
        assert "target.ledger_schema" in (err.next_step or "") and err.ids["sqlstate"] == "42501"


def test_a_translated_error_is_left_as_it_is() -> None:
    mine = DataError("already ours")
    assert pg_errors.translate(mine) is mine


def test_staging_failures_are_sorted_by_their_tag() -> None:
    nul = translate_staging_failure(RuntimeError(f"Job aborted: {NUL_ERROR_TAG}:note\n (partition 3)"), "r1")
    assert isinstance(nul, DataError) and nul.ids["column"] == "note" and "(partition 3)" in nul.message
    data = translate_staging_failure(RuntimeError(f"x\n{DATA_ERROR_TAG}: column 'id': 2**70 too big\n at"), "r1")
    assert isinstance(data, DataError) and data.message == "column 'id': 2**70 too big"
    s3 = translate_staging_failure(RuntimeError(f"{STAGING_ERROR_TAG}: PutObject AccessDenied\nmore"), "r1")
    assert isinstance(s3, StagingError) and "PutObject AccessDenied" in s3.message
    other = translate_staging_failure(RuntimeError("Traceback (most recent call last):\n  x\nValueError: bad"), "r1")
    assert type(other) is LoaderError and "ValueError: bad" in other.message


@pytest.mark.parametrize("message, column", [
    (f"org.apache.spark.SparkException: [USER_RAISED_EXCEPTION] {NUL_ERROR_TAG}:my col\n at ...", "my col"),
    (f"'{NUL_ERROR_TAG}:name'", "name"),
    ("an error about something else", None),
])
def test_the_nul_column_is_read_back_from_the_error(message: str, column: str | None) -> None:
    assert nul_error_column(message) == column
