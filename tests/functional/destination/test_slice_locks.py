"""Two slice replaces of one table at once: different slices both go ahead, the same slice is
refused (or waits), and a whole-table load excludes them (real PostgreSQL, no Spark)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from loader.adapters import pg
from loader.destination.load_transaction import LoadTransaction
from loader.destination.modes import write_mode
from loader.errors import LockHeldError
from loader.naming import TableRef
from loader.plan.typemap import ColumnPlan

T = TableRef("public", "shared")
PLAN = ColumnPlan(("id", "dataset"), ("bigint", "text"))


@pytest.fixture()
def shared(pg_conn: Any) -> Any:
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE shared (id bigint PRIMARY KEY, dataset text)")
        cur.execute("INSERT INTO shared VALUES (1, 'a'), (2, 'b')")
        cur.execute("CREATE TABLE src_a (id bigint, dataset text)")
        cur.execute("INSERT INTO src_a VALUES (10, 'a'), (11, 'a')")
        cur.execute("CREATE TABLE src_b (id bigint, dataset text)")
        cur.execute("INSERT INTO src_b VALUES (20, 'b')")
    return pg_conn


def _open(spec: Any, source: str, **slice_args: Any) -> tuple[Any, LoadTransaction]:
    """A load transaction that has replaced its slice and not committed yet."""
    conn = pg.connect(spec)
    load = LoadTransaction(conn, spec, T, PLAN, write_mode("overwrite", **slice_args), uuid.uuid4().hex)
    load.begin()
    load.finish(load.publish(source, casts=PLAN.pg_types))
    return conn, load


def _rows(conn: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, dataset FROM shared ORDER BY id")
        return cur.fetchall()


@pytest.mark.parametrize("args_a, args_b", [
    ({"replace_where": "dataset = 'a'"}, {"replace_where": "dataset = 'b'"}),
    ({"replace_by": ["dataset"]}, {"replace_by": ["dataset"]}),
])
def test_two_loads_of_different_slices_run_at_the_same_time(pg_db: Any, shared: Any, args_a: dict[str, Any],
                                                             args_b: dict[str, Any]) -> None:
    conn_a, load_a = _open(pg_db, "src_a", **args_a)
    conn_b, load_b = _open(pg_db, "src_b", **args_b)  # not blocked by a's open transaction
    assert _rows(shared) == [(1, "a"), (2, "b")]  # a reader sees the old rows of both until COMMIT
    load_a.commit()
    load_b.commit()
    assert _rows(shared) == [(10, "a"), (11, "a"), (20, "b")]
    assert (load_a.deleted, load_b.deleted) == (1, 1)
    conn_a.close()
    conn_b.close()


@pytest.mark.parametrize("slice_args", [{"replace_where": "dataset = 'a'"}, {"replace_by": ["dataset"]}])
def test_a_second_load_of_the_same_slice_is_refused_and_changes_nothing(pg_db: Any, shared: Any,
                                                                        slice_args: dict[str, Any]) -> None:
    conn_a, load_a = _open(pg_db, "src_a", **slice_args)
    with pytest.raises(LockHeldError, match="being replaced by another load"):
        _open(pg_db, "src_a", **slice_args)
    load_a.commit()
    conn_a.close()
    assert _rows(shared) == [(2, "b"), (10, "a"), (11, "a")]


def test_with_wait_the_second_load_of_a_slice_waits_for_the_first(pg_db: Any, shared: Any) -> None:
    conn_a, load_a = _open(pg_db, "src_a", replace_where="dataset = 'a'")
    done: list[float] = []

    def second() -> None:
        conn, load = _open(pg_db, "src_a", replace_where="dataset  =  'a'", wait=True)  # same slice, spaced
        load.commit()
        done.append(time.monotonic())
        conn.close()

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(1.0)
    assert done == []  # still waiting for the first load's COMMIT
    committed = time.monotonic()
    load_a.commit()
    conn_a.close()
    waiter.join(timeout=30)
    assert done and done[0] >= committed
    assert _rows(shared) == [(2, "b"), (10, "a"), (11, "a")]  # replaced twice, each time whole


def test_slice_loads_share_the_table_lock_and_a_whole_table_load_excludes_them(pg_db: Any) -> None:
    with pg.table_lock(pg_db, T, "slice-1", shared=True), pg.table_lock(pg_db, T, "slice-2", shared=True), \
            pytest.raises(LockHeldError), pg.table_lock(pg_db, T, "whole-table"):
        pass
    with pg.table_lock(pg_db, T, "whole-table"), pytest.raises(LockHeldError), \
            pg.table_lock(pg_db, T, "slice-3", shared=True):
        pass
