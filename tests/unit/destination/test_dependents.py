"""How the shadow swap carries each dependent of the target over (destination/dependents.py): the
statements, built from catalog parts, pure."""

from __future__ import annotations

from loader.destination.dependents import (
    Grant,
    Identity,
    Policy,
    ReferencingKey,
    View,
    add_referencing,
    carry_identity,
    create_policy,
    referencing_name,
    regrant,
    rename_identity,
    replace_view,
    swap_referencing,
    validate_referencing,
)
from loader.destination.shadow_plan import TargetFacts
from loader.destination.shadow_sql import exchange_statements
from loader.naming import TableRef

T = TableRef("app", "entity")
SHADOW = TableRef("app", "entity__loader_shadow_0123abcd")
RUN = "0123abcd" * 4


def test_a_view_is_replaced_with_its_options_restated_and_its_qualified_definition() -> None:
    view = View('app."Entity view"', " SELECT e.id,\n    e.name\n   FROM app.entity e\n  WHERE e.ok;",
                ("security_barrier=true", "check_option=cascaded"), "web")
    assert replace_view(view) == ('CREATE OR REPLACE VIEW app."Entity view" WITH (security_barrier=true, '
                                  'check_option=cascaded) AS SELECT e.id,\n    e.name\n   FROM app.entity e\n  WHERE e.ok', ())
    assert replace_view(View("app.v", "SELECT 1;"))[0] == "CREATE OR REPLACE VIEW app.v AS SELECT 1"


def test_a_foreign_key_to_the_table_is_rebuilt_from_its_parts_against_the_shadow() -> None:
    key = ReferencingKey("child_fk", 'app."Child"', ("a", 'b"x'), ("id", "k"), match="f", on_update="c", on_delete="n",
                         delete_set=("a",), deferrable=True, deferred=True, comment="why")
    name = referencing_name(RUN, 3)
    assert name == "loader_shadow_0123abcd_ref3"
    assert add_referencing(key, SHADOW, name)[0] == (
        'ALTER TABLE app."Child" ADD CONSTRAINT "loader_shadow_0123abcd_ref3" FOREIGN KEY ("a", "b""x") '
        'REFERENCES "app"."entity__loader_shadow_0123abcd" ("id", "k") MATCH FULL ON UPDATE CASCADE '
        'ON DELETE SET NULL ("a") DEFERRABLE INITIALLY DEFERRED NOT VALID')
    plain = ReferencingKey("c_fk", "app.c", ("e",), ("id",))
    assert add_referencing(plain, SHADOW, name)[0].endswith('("id") ON UPDATE NO ACTION ON DELETE NO ACTION NOT VALID')
    assert validate_referencing(key, name)[0] == 'ALTER TABLE app."Child" VALIDATE CONSTRAINT "loader_shadow_0123abcd_ref3"'
    assert swap_referencing(key, name) == [
        ('ALTER TABLE app."Child" DROP CONSTRAINT "child_fk"', ()),
        ('ALTER TABLE app."Child" RENAME CONSTRAINT "loader_shadow_0123abcd_ref3" TO "child_fk"', ()),
        ('COMMENT ON CONSTRAINT "child_fk" ON app."Child" IS %s', ("why",))]


def test_a_policy_is_created_exactly_as_it_was() -> None:
    restrictive = Policy("mine", permissive=False, command="w", roles=("web", "Odd Role"),
                         using="(owner = CURRENT_USER)", check="(owner = CURRENT_USER)", comment="c")
    assert create_policy(restrictive, T) == [
        ('CREATE POLICY "mine" ON "app"."entity" AS RESTRICTIVE FOR UPDATE TO "web", "Odd Role" '
         "USING ((owner = CURRENT_USER)) WITH CHECK ((owner = CURRENT_USER))", ()),
        ('COMMENT ON POLICY "mine" ON "app"."entity" IS %s', ("c",))]
    assert create_policy(Policy("all"), T)[0][0] == 'CREATE POLICY "all" ON "app"."entity" AS PERMISSIVE FOR ALL TO PUBLIC'


def test_grants_are_made_by_their_own_grantors_each_after_its_grant_option() -> None:
    grants = (Grant("reader", "SELECT", False, "editor"),  # editor's: needs editor's grant option first
              Grant("editor", "SELECT", True, "owner"),
              Grant("PUBLIC", "SELECT", False, "owner", column="name"),
              Grant("viewer", "UPDATE", False, "editor", column="ok"))
    assert [s for s, _ in regrant(grants, "owner", T)] == [
        'GRANT SELECT ON "app"."entity" TO "editor" WITH GRANT OPTION',
        'GRANT SELECT ("name") ON "app"."entity" TO PUBLIC',
        'SET LOCAL ROLE "editor"',
        'GRANT SELECT ON "app"."entity" TO "reader"',
        'GRANT UPDATE ("ok") ON "app"."entity" TO "viewer"',
        "SET LOCAL ROLE NONE"]


def test_an_identity_sequence_takes_the_old_position_and_name() -> None:
    identity = Identity("id", "app.entity_id_seq", "entity_id_seq", 41, False)
    assert carry_identity(identity, "app.entity__loader_shadow_0123abcd_id_seq") == [
        ("SELECT setval(%s::regclass, %s, %s)", ("app.entity__loader_shadow_0123abcd_id_seq", 41, False))]
    assert rename_identity(identity, "app.s_id_seq") == ('ALTER SEQUENCE app.s_id_seq RENAME TO "entity_id_seq"', ())


def test_the_exchange_replaces_views_and_keys_before_it_drops_the_old_table_and_makes_policies_after() -> None:
    view, key = View("app.entity_v", "SELECT 1"), ReferencingKey("c_fk", "app.c", ("e",), ("id",))
    identity = Identity("id", "app.entity_id_seq", "entity_id_seq", 7, True)
    facts = TargetFacts(T, owner="etl", views=(view,), referencing=(key,), policies=(Policy("p"),),
                        identities=(identity,), rls=True)
    sql = [s for s, _ in exchange_statements(facts, SHADOW, RUN, referencing=(key,),
                                             identity_sequences={"id": "app.new_seq"})]
    drop = sql.index('DROP TABLE "app"."entity__loader_old_0123abcd"')
    assert sql.index("SELECT setval(%s::regclass, %s, %s)") < drop
    assert sql.index("CREATE OR REPLACE VIEW app.entity_v AS SELECT 1") < drop
    assert sql.index('ALTER TABLE app.c DROP CONSTRAINT "c_fk"') < drop
    assert sql.index('ALTER SEQUENCE app.new_seq RENAME TO "entity_id_seq"') > drop
    assert sql.index('CREATE POLICY "p" ON "app"."entity" AS PERMISSIVE FOR ALL TO PUBLIC') > drop
    assert sql[-1] == 'ALTER TABLE "app"."entity" ENABLE ROW LEVEL SECURITY'
