"""The shadow path's decision (destination/shadow_plan.py): pure, no server."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loader.destination.dependents import Grant, Identity, Policy, ReferencingKey, View
from loader.destination.index_defer import SavedIndex
from loader.destination.landing_rules import path_before_catalog, plan_path
from loader.destination.shadow_plan import (
    Exclusion,
    ForeignKeyFrom,
    TargetFacts,
    plan_shadow,
    swap_blockers,
)
from loader.naming import TableRef, parse_shadow_table, shadow_table_name

T = TableRef("s", "events")
PK = SavedIndex("events_pkey", 'CREATE UNIQUE INDEX events_pkey ON s.events USING btree (id)', "events_pkey", "p")
PLAIN = TargetFacts(T, owner="alice", columns=(("id", "integer", True, None),), indexes=(PK,))


def test_a_plain_table_takes_the_shadow_path_and_says_what_it_recreates() -> None:
    facts = replace(PLAIN, grants=(Grant("bob", "SELECT", False, "alice"),), comment="events",
                    fks_from=(ForeignKeyFrom("events_user_fk", "FOREIGN KEY (uid) REFERENCES s.users(id)", True),
                              ForeignKeyFrom("events_old_fk", "FOREIGN KEY (o) REFERENCES s.o(id)", False)),
                    owned_sequences=(("s.events_id_seq", "id"),), replica_identity="f", rls=True,
                    exclusions=(Exclusion("no_overlap", "EXCLUDE USING gist (r WITH &&)"),))
    plan = plan_shadow(facts)
    assert plan.possible and plan.refusals == ()
    text = plan.reason(2)
    assert text.startswith("through a shadow table over 2 connections")
    for part in ("owner alice", "indexes events_pkey", "1 grant(s)", "comments", "s.events_id_seq",
                 "events_user_fk (NOT VALID, then validated before the swap)", "events_old_fk (NOT VALID, as it was)",
                 "replica identity", "row-level security", "exclusion constraints no_overlap"):
        assert part in text, part


VIEW = View("s.v_events", " SELECT events.id FROM s.events;", ("security_barrier=true",), "alice")
KEY = ReferencingKey("clicks_event_fk", "s.clicks", ("event_id",), ("id",))
POLICY = Policy("only_mine", using="(owner = CURRENT_USER)")
IDENTITY = Identity("id", "s.events_id_seq", "events_id_seq", 41, True)


def test_views_keys_to_it_policies_identities_and_every_grant_are_carried_and_said() -> None:
    facts = replace(PLAIN, views=(VIEW,), referencing=(KEY,), policies=(POLICY,), identities=(IDENTITY,),
                    grants=(Grant("bob", "SELECT", True, "alice"), Grant("carol", "SELECT", False, "bob"),
                            Grant("bob", "UPDATE", False, "alice", column="id")), acts_as=("bob",), rls=True)
    plan = plan_shadow(facts)
    assert plan.possible, plan.refusals
    for part in ("views s.v_events (replaced, the same views)", "foreign key s.clicks.clicks_event_fk to it (rebuilt "
                 "NOT VALID, then validated before the swap)", "policies only_mine", "2 grant(s)", "1 column grant(s)",
                 "identity column id (its sequence at the same position)", "row-level security"):
        assert part in plan.reason(2), part


@pytest.mark.parametrize(("change", "named"), [
    ({"views": (replace(VIEW, materialized=True),)}, "materialized views on it (no CREATE OR REPLACE): s.v_events"),
    ({"views": (replace(VIEW, may_replace=False),)}, "views the loading role may not replace"),
    ({"referencing": (replace(KEY, may_alter=False),)}, "from tables the loading role does not own: s.clicks.clicks_"),
    ({"referencing": (replace(KEY, partitioned=True),)}, "from partitioned tables (NOT VALID is not allowed there)"),
    ({"referencing": (replace(KEY, self_reference=True),)}, "a foreign key from the table to itself: clicks_event_fk"),
    ({"identities": (replace(IDENTITY, own_grants=True),)}, "identity sequences with grants of their own"),
    ({"triggers": ("audit",)}, "triggers (in place, COPY fires them): audit"),
    ({"rules": ("no_delete",)}, "rules: no_delete"),
    ({"publications": ("pub1",)}, "publications: pub1"),
    ({"statistics": ("s.st",)}, "statistics objects: s.st"),
    ({"other_dependents": ("function s.f(s.events)",)}, "other dependent objects: function s.f(s.events)"),
    ({"relkind": "p"}, "a partitioned table"),
    ({"inherited": True}, "an inheritance parent or child"),
    ({"own_tablespace": True}, "a tablespace of its own"),
    ({"can_own": False}, "cannot make alice the new table's owner"),
    ({"grants": (Grant("bob", "SELECT", False, "carol"),)}, "grants made by roles the loading role cannot act as: carol"),
])
def test_what_the_swap_cannot_carry_refuses_the_shadow_by_name(change: dict, named: str) -> None:
    plan = plan_shadow(replace(PLAIN, **change))
    assert not plan.possible
    assert any(named in r for r in plan.refusals), plan.refusals


def test_the_swap_stops_for_what_appeared_or_changed_since_the_plan() -> None:
    assert swap_blockers(PLAIN, PLAIN) == []
    assert swap_blockers(PLAIN, replace(PLAIN, views=(VIEW,))) == ["views on it changed since the load started: new "
                                                                   "s.v_events"]
    assert swap_blockers(replace(PLAIN, referencing=(KEY,)), PLAIN) == [
        "foreign keys to it changed since the load started: gone s.clicks.clicks_event_fk"]
    assert swap_blockers(PLAIN, replace(PLAIN, views=(replace(VIEW, materialized=True),)))[0].startswith(
        "materialized views on it")
    grown = replace(PLAIN, columns=PLAIN.columns + (("x", "text", False, None),))
    assert swap_blockers(PLAIN, grown) == ["the target's columns changed since the load started"]
    ix = SavedIndex("events_v", "CREATE INDEX events_v ON s.events USING btree (v)")
    assert swap_blockers(PLAIN, replace(PLAIN, indexes=(PK, ix))) == ["the target's indexes changed since the load started"]
    fk = ForeignKeyFrom("f", "FOREIGN KEY (a) REFERENCES s.a(id)", True)
    assert swap_blockers(PLAIN, replace(PLAIN, fks_from=(fk,))) == ["the target's foreign keys changed since the load started"]
    # a grant given since the plan is carried over (read again under the lock), not a blocker
    assert swap_blockers(PLAIN, replace(PLAIN, grants=(Grant("bob", "SELECT", False, "alice"),))) == []


def test_what_goes_in_place_without_reading_the_catalog() -> None:
    ok = dict(overwrite=True, shares_table=False, reject=False)
    assert path_before_catalog(2, **ok) is None
    assert "copy.connections: 1" in str(path_before_catalog(1, **ok))
    assert "only mode overwrite" in str(path_before_catalog(2, **{**ok, "overwrite": False}))
    assert "only mode overwrite" in str(path_before_catalog(2, **{**ok, "shares_table": True}))
    assert "on_error: reject" in str(path_before_catalog(2, **{**ok, "reject": True}))


def test_a_new_target_or_new_columns_go_in_place() -> None:
    assert plan_path(None, ["id"]).refusals == ("the target is new (created in the load transaction)",)
    assert plan_path(PLAIN, ["id", "extra"]).refusals == ("schema_evolution adds columns: extra",)
    assert plan_path(PLAIN, ["id"]).possible


def test_the_shadow_name_fits_63_bytes_and_parses_back() -> None:
    name = shadow_table_name("events", "0123abcd-rest")
    assert name == "events__loader_shadow_0123abcd"
    parsed = parse_shadow_table(name)
    assert parsed is not None and parsed.short_id == "0123abcd" and parsed.table == "events"
    long = shadow_table_name("é" * 40, "deadbeef")
    assert len(long.encode()) <= 63 and long.endswith("__loader_shadow_deadbeef")
    assert parse_shadow_table("events__loader_shadow_XYZ") is None and parse_shadow_table("__loader_shadow_deadbeef") is None


def test_an_index_is_built_on_the_shadow_under_a_name_of_its_own() -> None:
    from loader.destination.shadow_plan import index_on_shadow, shadow_object_name
    name = shadow_object_name("0123abcd-x", 2)
    assert name == "loader_shadow_0123abcd_2"
    shadow = '"s"."events__loader_shadow_0123abcd"'
    assert index_on_shadow(PK.definition, name, shadow) == \
        f'CREATE UNIQUE INDEX "{name}" ON {shadow} USING btree (id)'
    odd = 'CREATE INDEX "we ""ird" ON "my s"."t t" USING gin (doc jsonb_path_ops) WHERE (v > 0)'
    assert index_on_shadow(odd, name, shadow) == f'CREATE INDEX "{name}" ON {shadow} USING gin (doc jsonb_path_ops) WHERE (v > 0)'
    with pytest.raises(ValueError, match="not an index definition"):
        index_on_shadow("ALTER TABLE x", name, shadow)


def test_auto_takes_the_shadow_for_a_big_table_only_and_says_why() -> None:
    from loader.destination.landing_rules import AUTO_SHADOW_BYTES, auto_connections

    big = AUTO_SHADOW_BYTES
    assert auto_connections(whole_overwrite=True, table_bytes=big, free_slots=50) == (
        2, "copy.connections auto: 2 (the table holds 64 MiB: through a shadow, readers keep reading)")
    assert auto_connections(whole_overwrite=True, table_bytes=big - 1, free_slots=50) == (
        1, "copy.connections auto: 1 (the table holds 63 MiB, under 64 MiB)")
    assert auto_connections(whole_overwrite=True, table_bytes=None, free_slots=50)[0] == 1
    assert auto_connections(whole_overwrite=False, table_bytes=10 * big, free_slots=50) == (
        1, "copy.connections auto: 1 (more by default only for a whole-table overwrite)")
    assert auto_connections(whole_overwrite=True, table_bytes=10 * big, free_slots=3) == (
        1, "copy.connections auto: 1 (the server has 3 connection slot(s) free)")
    assert auto_connections(whole_overwrite=True, table_bytes=10 * big, free_slots=4)[0] == 2
