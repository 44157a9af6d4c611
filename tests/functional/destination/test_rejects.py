"""on_error: reject: the good rows load, the rejected ones land in loader_rejects with the exact reason;
more than max_errors fails the whole load and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from loader import write_to_postgres
from loader.errors import DataError
from loader.state import StateStore

DDL = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE moods (id int PRIMARY KEY, feeling mood, score int CHECK (score >= 0))
"""


def _df(spark: Any) -> Any:
    rows = [(i, "happy" if i % 2 else "sad", i) for i in range(40)]
    rows[7] = (7, "furious", 7)  # not in the enum
    rows[23] = (23, "sad", -5)  # violates the check
    return spark.createDataFrame(rows, "id int, feeling string, score int").repartition(3)


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_rejected_rows_are_set_aside_exactly(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                            state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
    result = write_to_postgres(_df(spark), pg_db.as_params(), method=method, table="moods", temp_s3_bucket=bucket,
                               state_url=state_url, on_error="reject", max_errors=5, rows_per_part=10)
    assert result.rows == 38 and result.rows_rejected == 2
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(id) FROM moods")
        assert cur.fetchone() == (38, sum(range(40)) - 7 - 23)
        cur.execute("SELECT row_data->>'id', error, origin FROM loader_rejects WHERE run_id = %s ORDER BY 1",
                    (result.run_id,))
        rejects = cur.fetchall()
    assert [r[0] for r in rejects] == ["23", "7"]
    assert "check constraint" in rejects[0][1] and "mood" in rejects[1][1]
    if method == "copy":
        assert all(r[2] and r[2].startswith("s3://") and " line " in r[2] for r in rejects)
    assert StateStore(state_url).get(result.run_id).rows_rejected == 2


def test_rejects_are_shown_where_a_person_looks(spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from loader import commands
    from loader.runner.run import RunOutcome, format_summary

    with pg_conn.cursor() as cur:
        cur.execute(DDL)
    caplog.set_level(logging.WARNING, logger="loader")
    result = write_to_postgres(_df(spark), pg_db.as_params(), method="copy", table="moods", temp_s3_bucket=bucket,
                               state_url=state_url, on_error="reject")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 row(s) rejected and set aside in public.loader_rejects" in w for w in warned), warned
    assert "38 (+2 rejected)" in commands.status(state_url)
    summary = format_summary([RunOutcome("m", "public.moods", "succeeded", "copy", result.rows, 1.0,
                                         rows_rejected=result.rows_rejected)])
    assert summary.splitlines()[0].split()[:5] == ["manifest", "table", "method", "rows", "rejected"]
    assert "38" in summary.splitlines()[2] and " 2 " in summary.splitlines()[2]
    assert "rejected" not in format_summary([RunOutcome("m", "t", "succeeded", "copy", 5, 1.0)])


@pytest.mark.parametrize("method", ["copy", "optimized"])
def test_more_than_max_errors_changes_nothing(method: str, spark: Any, pg_db: Any, pg_conn: Any, bucket: str,
                                             state_url: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("INSERT INTO moods VALUES (-1, 'sad', 0)")
    with pytest.raises(DataError, match="more than max_errors=1"):
        write_to_postgres(_df(spark), pg_db.as_params(), method=method, table="moods", temp_s3_bucket=bucket,
                          state_url=state_url, on_error="reject", max_errors=1)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT id FROM moods")
        assert cur.fetchall() == [(-1,)]
        cur.execute("SELECT to_regclass('loader_rejects')")
        assert cur.fetchone()[0] is None  # rolled back with everything else


# --- the detection passes and the bisection, on PostgreSQL without Spark (destination/reject_checks.py) ---

def _reject_load(spec: Any, ddl: str, rows: list[tuple[Any, ...]], casts: tuple[str, ...], *,
                 columns: tuple[str, ...] = ("id", "v"), mode: str = "append", key: tuple[str, ...] = (),
                 max_errors: int | None = None, in_place: bool = True,
                 prepare: str = "") -> tuple[tuple[int, int], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Land ``rows`` as text in a TEMP table as COPY's reject mode does (or in a table numbered by a
    copy, as JDBC's), publish_rejecting into ``t``; returns (result, t's rows, the rejects)."""
    import uuid

    import psycopg2

    from loader.destination.modes import write_mode
    from loader.destination.rejects import publish_rejecting
    from loader.naming import TableRef
    from loader.options import RejectPolicy

    schema = "r_" + uuid.uuid4().hex[:10]
    conn = psycopg2.connect(**spec.psycopg2_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}; {ddl}; {prepare}")
            conn.commit()
            src = [f"s{i}" for i in range(len(columns))]
            cur.execute(f"CREATE TEMP TABLE src ({', '.join(f'{s} text' for s in src)}, "
                        "loader_part text DEFAULT 's3://b/part-1.csv', loader_line bigserial) ON COMMIT DROP")
            cur.executemany(f"INSERT INTO src ({', '.join(src)}) VALUES ({', '.join(['%s'] * len(src))})",
                            [tuple(None if v is None else str(v) for v in r) for r in rows])
            origin = ("loader_part || ' line ' || loader_line" if in_place else "'staging row ' || ctid::text")
            result = publish_rejecting(cur, source="src", target=TableRef(schema, "t"), columns=columns,
                                       casts=casts, write=write_mode(mode, key), run_id=uuid.uuid4().hex,
                                       policy=RejectPolicy(max_errors), source_columns=src, origin_sql=origin,
                                       row_column="loader_line" if in_place else None)
            conn.commit()
            cur.execute(f"SELECT * FROM t ORDER BY {', '.join(columns)}")
            landed = cur.fetchall()
            cur.execute("SELECT row_number, origin, error FROM loader_rejects ORDER BY row_number")
            return result, landed, cur.fetchall()
    finally:
        conn.rollback()
        conn.close()


def test_bad_casts_are_found_by_a_scan_and_named_with_their_column(pg_module_spec: Any) -> None:
    result, landed, rejects = _reject_load(
        pg_module_spec, "CREATE TYPE mood AS ENUM ('happy', 'sad'); CREATE TABLE t (id int, v mood)",
        [(1, "happy"), (2, "furious"), ("x3", "sad"), (4, None)], ("integer", "mood"))
    assert result == (2, 2)
    assert landed == [(1, "happy"), (4, None)]
    assert rejects == [
        (2, "s3://b/part-1.csv line 2", f'{rejects[0][2].split(":")[0]}: invalid input value for enum mood: '
                                         '"furious"; column v'),
        (3, "s3://b/part-1.csv line 3", f'{rejects[1][2].split(":")[0]}: invalid input syntax for type integer: '
                                         '"x3"; column id')]


def test_not_null_check_and_length_are_found_in_one_pass_with_postgres_words(pg_module_spec: Any) -> None:
    result, landed, rejects = _reject_load(
        pg_module_spec, "CREATE TABLE t (id int NOT NULL CHECK (id > 0), v varchar(3))",
        [(1, "abc"), (None, "a"), (-2, "b"), (4, "abcd"), (5, "ab   "), (-6, "abcd")],
        ("integer", "character varying(3)"))
    assert result == (2, 4)
    assert landed == [(1, "abc"), (5, "ab ")]  # trailing spaces beyond the length are cut, as PostgreSQL does
    reasons = [r[2].split(": ", 1)[1] for r in rejects]
    assert [r[0] for r in rejects] == [2, 3, 4, 6]
    assert reasons == ['null value in column "id" of relation "t" violates not-null constraint; column id',
                       'new row for relation "t" violates check constraint "t_id_check"; (id)=(-2)',
                       "value too long for type character varying(3); column v",
                       "value too long for type character varying(3); column v"]  # the value first, as PostgreSQL


def test_duplicate_keys_on_append_keep_the_first_and_the_existing_row(pg_module_spec: Any) -> None:
    result, landed, rejects = _reject_load(
        pg_module_spec, "CREATE TABLE t (id int PRIMARY KEY, v text)",
        [(1, "again"), (2, "first"), (2, "second"), (None, "null key")], ("integer", "text"),
        prepare="INSERT INTO t VALUES (1, 'old')")
    assert result == (1, 3)
    assert landed == [(1, "old"), (2, "first")]
    assert [(r[0], r[2].split(": ", 1)[1]) for r in rejects] == [
        (1, 'duplicate key value violates unique constraint "t_pkey"; Key (id)=(1) already exists.'),
        (3, 'duplicate key value violates unique constraint "t_pkey"; Key (id)=(2) already exists.'),
        (4, 'null value in column "id" of relation "t" violates not-null constraint; column id')]


def test_missing_foreign_keys_are_found_by_an_anti_join(pg_module_spec: Any) -> None:
    result, landed, rejects = _reject_load(
        pg_module_spec, "CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1), (2); "
                        "CREATE TABLE t (id int, v int REFERENCES parent)",
        [(1, 1), (2, 3), (3, None), (4, 2)], ("integer", "integer"), in_place=False)
    assert result == (3, 1)
    assert landed == [(1, 1), (3, None), (4, 2)]
    assert len(rejects) == 1 and rejects[0][0] == 2 and rejects[0][1].startswith("staging row (")
    assert rejects[0][2].endswith('insert or update on table "t" violates foreign key constraint "t_v_fkey"; '
                                  'Key (v)=(3) is not present in table "parent".')


def test_what_no_pass_predicts_is_isolated_by_bisection(pg_module_spec: Any) -> None:
    """A trigger that refuses a row, and a CHECK that raises instead of being false."""
    ddl = ("CREATE TABLE t (id int CHECK (100 / (id - 5) <> 0), v text); "
           "CREATE FUNCTION no_bob() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF NEW.v = 'bob' THEN RAISE EXCEPTION 'no bob here' USING ERRCODE = 'check_violation'; END IF; "
           "RETURN NEW; END $$; "
           "CREATE TRIGGER no_bob BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION no_bob()")
    rows = [(i, "bob" if i in (3, 17) else f"v{i}") for i in range(1, 41)]
    result, landed, rejects = _reject_load(pg_module_spec, ddl, rows, ("integer", "text"))
    assert result == (37, 3)
    assert [r[0] for r in landed] == [i for i in range(1, 41) if i not in (3, 5, 17)]
    assert [(r[0], r[2].split(": ", 1)[1].split(";")[0]) for r in rejects] == [
        (3, "no bob here"), (5, "division by zero"), (17, "no bob here")]


def test_upsert_rejects_rows_and_still_refuses_a_key_twice(pg_module_spec: Any) -> None:
    ddl = "CREATE TABLE t (id int PRIMARY KEY, v int CHECK (v >= 0))"
    result, landed, rejects = _reject_load(pg_module_spec, ddl, [(1, 10), (2, -1), ("x", 5), (3, 30)],
                                           ("integer", "integer"), mode="upsert", key=("id",),
                                           prepare="INSERT INTO t VALUES (1, 0), (2, 0)")
    assert result == (2, 2)
    assert landed == [(1, 10), (2, 0), (3, 30)]
    assert [r[0] for r in rejects] == [2, 3]
    with pytest.raises(DataError, match=r"more than one row with key \(id=1\)"):
        _reject_load(pg_module_spec, ddl, [(1, 10), (1, -1), (1, 5), ("x", 1)], ("integer", "integer"),
                     mode="upsert", key=("id",))


def test_max_errors_is_counted_across_the_passes(pg_module_spec: Any) -> None:
    with pytest.raises(DataError, match=r"more than max_errors=2 rows rejected; first: row 1 \(s3://b/part-1.csv "
                                        r"line 1\): .*invalid input syntax.* \| row 2 .*check constraint"):
        _reject_load(pg_module_spec, "CREATE TABLE t (id int CHECK (id > 0), v text)",
                     [("x", "a"), (-1, "b"), (-2, "c"), (4, "d")], ("integer", "text"), max_errors=2)
