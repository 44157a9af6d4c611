"""The shadow swap's statements, built apart from running them (destination/shadow_sql.py): pure."""

from __future__ import annotations

from dataclasses import replace

from loader.destination.dependents import Grant
from loader.destination.index_defer import SavedIndex
from loader.destination.shadow_plan import Exclusion, ForeignKeyFrom, TargetFacts
from loader.destination.shadow_sql import (
    build_transactions,
    create_statements,
    exchange_statements,
    old_table,
)
from loader.naming import TableRef, shadow_created, shadow_table_name

RUN = "0123abcd" * 4
T = TableRef("s", "events")
SHADOW = TableRef("s", shadow_table_name("events", RUN))
PK = SavedIndex("events_pkey", "CREATE UNIQUE INDEX events_pkey ON s.events USING btree (id)", "events_pkey", "p",
                constraint_comment="the key")
BY_V = SavedIndex("events_v", "CREATE INDEX events_v ON s.events USING btree (v)", index_comment="by v", clustered=True)
FACTS = TargetFacts(T, owner="alice", owned_by_loader=False, columns=(("id", "integer", True, None),),
                    indexes=(PK, BY_V), exclusions=(Exclusion("no_overlap", "EXCLUDE USING gist (r WITH &&)"),),
                    fks_from=(ForeignKeyFrom("to_users", "FOREIGN KEY (u) REFERENCES s.users(id)", True, "fk"),
                              ForeignKeyFrom("to_old", "FOREIGN KEY (o) REFERENCES s.old(id)", False)),
                    grants=(Grant("reader", "SELECT", False, "alice"), Grant("PUBLIC", "SELECT", True, "alice")),
                    owned_sequences=(("s.events_id_seq", "id"),), comment="the events", replica_identity="f",
                    rls=True, reloptions=("fillfactor=90",), unlogged=True)


def test_the_shadow_is_made_like_the_target_with_the_age_the_reaper_reads() -> None:
    (create, params), (comment, age) = create_statements(FACTS, SHADOW, RUN)
    assert create.startswith(f"CREATE UNLOGGED TABLE {SHADOW.quoted} (LIKE {T.quoted} INCLUDING DEFAULTS")
    assert create.endswith("WITH (fillfactor=90)") and params == ()
    assert comment == f"COMMENT ON TABLE {SHADOW.quoted} IS %s" and shadow_created(age[0]) is not None


def test_the_build_makes_keys_together_and_each_foreign_key_apart_validated_if_it_was() -> None:
    keys, fk_add, fk_validate, old_add = build_transactions(FACTS, SHADOW, RUN)
    sql = [s for s, _ in keys]
    assert sql[0] == f'CREATE UNIQUE INDEX "loader_shadow_0123abcd_0" ON {SHADOW.quoted} USING btree (id)'
    assert sql[1] == (f'ALTER TABLE {SHADOW.quoted} ADD CONSTRAINT "loader_shadow_0123abcd_0" PRIMARY KEY '
                      'USING INDEX "loader_shadow_0123abcd_0"')
    assert sql[2].startswith('CREATE INDEX "loader_shadow_0123abcd_1"')
    assert sql[3] == f'ALTER TABLE {SHADOW.quoted} ADD CONSTRAINT "loader_shadow_0123abcd_2" EXCLUDE USING gist (r WITH &&)'
    assert [s for s, _ in fk_add] == [f'ALTER TABLE {SHADOW.quoted} ADD CONSTRAINT "to_users" FOREIGN KEY (u) '
                                      "REFERENCES s.users(id) NOT VALID",
                                      f'COMMENT ON CONSTRAINT "to_users" ON {SHADOW.quoted} IS %s']
    assert fk_validate == [(f'ALTER TABLE {SHADOW.quoted} VALIDATE CONSTRAINT "to_users"', ())]
    assert [s for s, _ in old_add] == [f'ALTER TABLE {SHADOW.quoted} ADD CONSTRAINT "to_old" FOREIGN KEY (o) '
                                       "REFERENCES s.old(id) NOT VALID"]  # NOT VALID, as it was: not validated


def test_the_exchange_renames_then_carries_owner_sequences_names_grants_and_settings() -> None:
    sql = [s for s, _ in exchange_statements(FACTS, SHADOW, RUN)]
    old = old_table(SHADOW)
    assert sql[:2] == [f'ALTER TABLE {T.quoted} RENAME TO "{old.table}"',
                       f'ALTER TABLE {SHADOW.quoted} RENAME TO "events"']
    assert sql[2] == f'ALTER TABLE {T.quoted} OWNER TO "alice"'  # before the sequences: OWNED BY needs the owner
    assert sql[3] == f'ALTER SEQUENCE s.events_id_seq OWNED BY {T.quoted}."id"'
    assert sql[4] == f"DROP TABLE {old.quoted}"  # after: the sequence would have gone with it
    assert f'ALTER TABLE {T.quoted} RENAME CONSTRAINT "loader_shadow_0123abcd_0" TO "events_pkey"' in sql
    assert '''ALTER INDEX "s"."loader_shadow_0123abcd_1" RENAME TO "events_v"''' in sql
    assert f'ALTER TABLE {T.quoted} CLUSTER ON "events_v"' in sql
    assert f'ALTER TABLE {T.quoted} RENAME CONSTRAINT "loader_shadow_0123abcd_2" TO "no_overlap"' in sql
    assert f'GRANT SELECT ON {T.quoted} TO "reader"' in sql and f"GRANT SELECT ON {T.quoted} TO PUBLIC WITH GRANT OPTION" in sql
    assert sql[-3:] == [f"COMMENT ON TABLE {T.quoted} IS %s", f"ALTER TABLE {T.quoted} REPLICA IDENTITY FULL",
                        f"ALTER TABLE {T.quoted} ENABLE ROW LEVEL SECURITY"]
    assert not any("OWNER TO" in s for s, _ in exchange_statements(replace(FACTS, owned_by_loader=True), SHADOW, RUN))
