"""Overwrite through a shadow table over N connections, one short swap (destination/shadow_swap.py):
real Spark, PostgreSQL and S3 (moto)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from loader import write_to_postgres
from loader.destination import shadow_swap
from loader.errors import LoaderError

ROWS = 3_000


def _df(spark: Any, rows: int = ROWS, tag: str = "new") -> Any:
    return spark.range(rows).selectExpr("id", f"concat('{tag} ', id) AS v").repartition(3)


def _old_table(pg_conn: Any, name: str) -> None:
    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, v text NOT NULL CHECK (v <> ''))")
        cur.execute(f"CREATE INDEX {name}_v ON {name} (v)")
        cur.execute(f"INSERT INTO {name} SELECT g, 'old ' || g FROM generate_series(0, 9) g")
        cur.execute(f"COMMENT ON TABLE {name} IS 'the table'")
        cur.execute(f"COMMENT ON INDEX {name}_v IS 'by v'")
        cur.execute("DO $$BEGIN CREATE ROLE shadow_reader; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
        cur.execute(f"GRANT SELECT ON {name} TO shadow_reader")


def _kw(bucket: str, state_url: str, **more: Any) -> dict[str, Any]:
    return {"mode": "overwrite", "temp_s3_bucket": bucket, "state_url": state_url, "rows_per_part": 400,
            "fallback": "none", **more}


def _shape(pg_conn: Any, name: str) -> tuple[Any, ...]:
    with pg_conn.cursor() as cur:
        cur.execute(f"SELECT count(*), sum(id), min(v) FROM {name}")
        rows = cur.fetchone()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", (name,))
        indexes = cur.fetchall()
        cur.execute(f"SELECT obj_description('{name}'::regclass, 'pg_class'), "
                    f"obj_description('{name}_v'::regclass, 'pg_class'), "
                    f"has_table_privilege('shadow_reader', '{name}', 'SELECT'), "
                    f"(SELECT count(*) FROM pg_constraint WHERE conrelid = '{name}'::regclass AND contype = 'c')")
        return rows, indexes, cur.fetchone()


def _leftovers(pg_conn: Any) -> list[Any]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE '%\\_\\_loader\\_%' ORDER BY 1")
        tables = cur.fetchall()
        cur.execute("SELECT to_regclass('loader_shadow_parts') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT shadow, part FROM loader_shadow_parts")
            tables += cur.fetchall()
        return tables


def test_two_connections_land_exactly_the_rows_of_one_and_keep_what_the_table_had(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    _old_table(pg_conn, "sh_one")
    _old_table(pg_conn, "sh_two")
    one = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_one", **_kw(bucket, state_url))
    two = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_two", **_kw(bucket, state_url, connections=2))
    assert one.rows == two.rows == ROWS
    assert "shadow" not in one.path_reason
    assert "through a shadow table over 2 connections" in two.path_reason, two.path_reason
    one_shape, two_shape = _shape(pg_conn, "sh_one"), _shape(pg_conn, "sh_two")
    assert one_shape[0] == two_shape[0] == (ROWS, sum(range(ROWS)), "new 0")
    assert [ix[0] for ix in two_shape[1]] == ["sh_two_pkey", "sh_two_v"]
    assert [d.replace("sh_two", "sh_one") for _, d in two_shape[1]] == [d for _, d in one_shape[1]]
    assert two_shape[2] == ("the table", "by v", True, 1)  # comments, grant, CHECK survived the swap
    with pg_conn.cursor() as cur:
        cur.execute("SELECT rows FROM loader_ledger WHERE run_id = %s", (two.run_id,))
        assert cur.fetchone() == (ROWS,)
    assert _leftovers(pg_conn) == []


def test_a_materialized_view_on_the_target_refuses_the_shadow_by_name_and_loads_in_place_under_mvcc(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="loader")
    _old_table(pg_conn, "sh_view")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE MATERIALIZED VIEW sh_view_rows AS SELECT id FROM sh_view")
    res = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_view", **_kw(bucket, state_url, connections=2))
    assert res.rows == ROWS
    why = ("its rows replaced under MVCC (DELETE, then COPY, in one transaction: readers read the old rows until the "
           "COMMIT): the shadow path is refused (materialized views on it (no CREATE OR REPLACE): public.sh_view_rows)")
    assert why in res.path_reason, res.path_reason
    assert any(why in r.getMessage() for r in caplog.records)
    with pg_conn.cursor() as cur:
        cur.execute("REFRESH MATERIALIZED VIEW sh_view_rows")  # the same table: it reads the new rows
        cur.execute("SELECT count(*) FROM sh_view_rows")
        assert cur.fetchone() == (ROWS,)
    assert _leftovers(pg_conn) == []


def test_a_lock_the_swap_cannot_get_is_retried_then_fails_with_the_target_old(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg2

    _old_table(pg_conn, "sh_lock")
    monkeypatch.setattr(shadow_swap, "SWAP_LOCK_TIMEOUT_MS", 100)
    monkeypatch.setattr(shadow_swap, "SWAP_ATTEMPTS", 2)
    tries: list[int] = []
    original = shadow_swap.ShadowTable._swap_once

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        tries.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(shadow_swap.ShadowTable, "_swap_once", counted)
    holder = psycopg2.connect(**pg_db.psycopg2_kwargs())
    try:
        with holder.cursor() as cur:  # a reader in a long transaction holds ACCESS SHARE
            cur.execute("SELECT count(*) FROM sh_lock")
        with pytest.raises(LoaderError, match="did not get its lock within 100 ms, 2 times; the target is unchanged"):
            write_to_postgres(_df(spark), pg_db.as_params(), table="sh_lock", **_kw(bucket, state_url, connections=2))
    finally:
        holder.close()
    assert len(tries) == 2
    assert _shape(pg_conn, "sh_lock")[0] == (10, 45, "old 0")
    assert _leftovers(pg_conn) == []


def test_a_dependent_that_appears_before_the_swap_stops_it(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _old_table(pg_conn, "sh_late")
    original = shadow_swap.ShadowTable.build

    def build_then_view(self: Any, conn: Any) -> None:
        original(self, conn)
        with pg_conn.cursor() as cur:
            cur.execute("CREATE VIEW sh_late_rows AS SELECT v FROM sh_late")

    monkeypatch.setattr(shadow_swap.ShadowTable, "build", build_then_view)
    with pytest.raises(shadow_swap.ShadowSwapRefused,
                       match="views on it changed since the load started: new public.sh_late_rows"):
        write_to_postgres(_df(spark), pg_db.as_params(), table="sh_late", **_kw(bucket, state_url, connections=2))
    assert _shape(pg_conn, "sh_late")[0] == (10, 45, "old 0")
    assert _leftovers(pg_conn) == []


def test_a_reader_is_not_blocked_during_the_load_only_for_the_swap(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    import psycopg2

    _old_table(pg_conn, "sh_read")
    waits: list[float] = []
    stop = threading.Event()

    def reader() -> None:
        conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
        conn.autocommit = True
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM sh_read")
                    cur.fetchone()
                waits.append(time.monotonic() - t0)
                time.sleep(0.01)
        finally:
            conn.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        res = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_read", **_kw(bucket, state_url, connections=2))
    finally:
        stop.set()
        thread.join()
    assert res.rows == ROWS and len(waits) > 20
    assert max(waits) < 1.0, f"longest wait {max(waits):.3f}s"  # loosely: the swap only, not the load


def test_by_default_a_big_table_is_overwritten_through_the_shadow_and_a_small_one_in_place(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    """copy.connections auto (the default): a whole-table overwrite of a table of 64 MiB or more goes
    through the shadow, so its readers keep reading; a smaller one stays in place (landing_choice.py)."""
    from loader.destination.landing_rules import AUTO_SHADOW_BYTES

    _old_table(pg_conn, "sh_auto_small")
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE sh_auto_big (id bigint PRIMARY KEY, v text NOT NULL)")
        cur.execute("INSERT INTO sh_auto_big SELECT g, repeat('x', 100) || g FROM generate_series(1, 520000) g")
        cur.execute("SELECT pg_total_relation_size('sh_auto_big')")
        assert cur.fetchone()[0] >= AUTO_SHADOW_BYTES
    kw = _kw(bucket, state_url)
    small = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_auto_small", **kw)
    assert small.path_reason == ("loaded in place over 1 connection, its rows replaced under MVCC (DELETE, then COPY, "
                                 "in one transaction: readers read the old rows until the COMMIT) (copy.connections "
                                 "auto: 1 (the table holds 0 MiB, under 64 MiB))"), small.path_reason
    big = write_to_postgres(_df(spark), pg_db.as_params(), table="sh_auto_big", **kw)
    reason = big.path_reason or ""
    assert "copy.connections auto: 2 (the table holds " in reason and "through a shadow table over 2" in reason, \
        reason
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(id), min(v) FROM sh_auto_big")
        assert cur.fetchone() == (ROWS, sum(range(ROWS)), "new 0")
    assert _leftovers(pg_conn) == []
    in_place = write_to_postgres(_df(spark, tag="again"), pg_db.as_params(), table="sh_auto_big",
                                 **(kw | {"connections": 1}))
    assert "shadow" not in (in_place.path_reason or ""), in_place.path_reason


def test_a_role_that_may_not_create_in_the_schema_overwrites_in_place_and_says_why(
        spark: Any, pg_db: Any, pg_conn: Any, bucket: str, state_url: str) -> None:
    """The shadow is made beside the target: an owner without CREATE on the schema (a least-privilege
    role whose tables an admin made) keeps the in-place path, with the GRANT it would need."""
    import dataclasses
    import uuid

    role = "sh_owner_" + uuid.uuid4().hex[:8]
    with pg_conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        cur.execute("CREATE SCHEMA sh_app")
        cur.execute(f"GRANT USAGE ON SCHEMA sh_app TO {role}")
        cur.execute(f"CREATE SCHEMA sh_led AUTHORIZATION {role}")  # where its ledger may go
        cur.execute("CREATE TABLE sh_app.t (id bigint PRIMARY KEY, v text NOT NULL)")
        cur.execute("INSERT INTO sh_app.t SELECT g, 'old ' || g FROM generate_series(0, 9) g")
        cur.execute(f"ALTER TABLE sh_app.t OWNER TO {role}")
    try:
        spec = dataclasses.replace(pg_db, user=role, password="pw")
        res = write_to_postgres(_df(spark), spec.as_params(), table="sh_app.t", ledger_schema="sh_led",
                                **_kw(bucket, state_url, connections=2))
        assert ("its rows replaced under MVCC (DELETE, then COPY, in one transaction: readers read the old rows "
                "until the COMMIT): the shadow path is refused (the loading role may not create the shadow in schema "
                "sh_app (GRANT CREATE ON SCHEMA sh_app to load through it))") in (res.path_reason or ""), res.path_reason
        with pg_conn.cursor() as cur:
            cur.execute("SELECT count(*), min(v) FROM sh_app.t")
            assert cur.fetchone() == (ROWS, "new 0")
        assert _leftovers(pg_conn) == []
    finally:
        with pg_conn.cursor() as cur:
            cur.execute("DROP SCHEMA sh_app CASCADE")
            cur.execute("DROP SCHEMA sh_led CASCADE")
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
