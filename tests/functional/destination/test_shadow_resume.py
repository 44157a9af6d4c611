"""What a resumed shadow overwrite keeps of the shadow an earlier attempt left (shadow_swap.create):
a shadow with only rows is resumed into, a built one is kept and not built again, one whose build
was cut short (an index made, no built mark) is made again. Real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2

from loader.connection import ConnectionSpec
from loader.destination.shadow_catalog import read_facts
from loader.destination.shadow_swap import ShadowTable
from loader.naming import TableRef
from tests.functional.reaper.test_reaper_shadows import _shadow


def _again(pg_db: ConnectionSpec, pg_conn: Any, table: str, run_id: str) -> tuple[ShadowTable, dict[str, int]]:
    """A new attempt's ShadowTable for the same run, created as the resume creates it."""
    with pg_conn.cursor() as cur:
        facts = read_facts(cur, TableRef("public", table))
    assert facts is not None
    shadow = ShadowTable(pg_db, TableRef("public", table), run_id, facts)
    conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
    try:
        return shadow, shadow.create(conn, reuse=lambda parts: True)
    finally:
        conn.close()


def _indexes(pg_conn: Any, shadow: ShadowTable) -> int:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass(%s)", (shadow.ref.quoted,))
        return int(cur.fetchone()[0])


def test_rows_only_are_resumed_into_a_built_shadow_is_kept_a_half_built_one_made_again(
        pg_db: ConnectionSpec, pg_conn: Any) -> None:
    part = "tmp/part-00000-00000.bin"
    for what in ("rows", "built", "half"):
        run_id = uuid.uuid4().hex
        first = _shadow(pg_db, pg_conn, f"sr_{what}", run_id)  # one part loaded into it
        if what != "rows":
            conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
            try:
                if what == "built":
                    first.build(conn)
                else:  # killed after the first index, before the built mark
                    with conn.cursor() as cur:
                        cur.execute(f"CREATE UNIQUE INDEX loader_shadow_{run_id[:8]}_0 ON {first.ref.quoted} (id)")
                    conn.commit()
            finally:
                conn.close()
        again, kept = _again(pg_db, pg_conn, f"sr_{what}", run_id)
        if what == "half":
            assert kept == {} and _indexes(pg_conn, again) == 0, "made again, empty and without the index"
            continue
        assert kept == {part: 1} and again.already_built == (what == "built")
        assert _indexes(pg_conn, again) == (1 if what == "built" else 0)
        conn = psycopg2.connect(**pg_db.psycopg2_kwargs())
        try:
            again.build(conn)  # a built shadow is not built again (its index names are taken)
        finally:
            conn.close()
        assert _indexes(pg_conn, again) == 1
        with pg_conn.cursor() as cur:
            cur.execute(f"SELECT id, v FROM {again.ref.quoted}")
            assert cur.fetchall() == [(2, "new")]
