"""--dry-run and the run choose how the rows land by one chooser (destination/landing_choice.py):
over every write mode x copy.connections x reason to keep one connection, the dry run's path line
is what the run decides and records, and the run's protocol is the one the line names. No server:
both ask the same fake catalog."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from loader.copy.formats import CsvFormat
from loader.copy.landing import choose_protocol
from loader.copy.landing.in_place import InPlace
from loader.copy.landing.prepared import Prepared
from loader.copy.landing.protocol import CopyRun
from loader.copy.landing.shadow import ShadowSwap
from loader.copy.landing.staging_merge import StagingMerge
from loader.destination.dependents import View
from loader.destination.landing_rules import AUTO_SHADOW_BYTES
from loader.destination.shadow_plan import TargetFacts
from loader.errors import ConfigError
from loader.manifest.build import build
from loader.naming import TableRef, TempLocation
from loader.plan.typemap import ColumnPlan
from loader.progress import Progress
from loader.runner.dry_run_path import planned_path
from loader.runner.run import RunOptions, request_for
from tests.unit.copy.fakes import FakeEvents

TARGET = TableRef("public", "t")
FACTS = TargetFacts(TARGET, owner="etl", columns=(("id", "bigint", True, None), ("v", "text", False, None)))


@dataclass
class Catalog:
    """The target as the chooser would find it."""  # noqa: D204

    table_bytes: int | None = 10 * AUTO_SHADOW_BYTES
    free: int = 50
    target: TargetFacts | None = FACTS
    prepared: int = 8
    create: bool = True
    keys: tuple[str, ...] = ()
    asked: list[str] = field(default_factory=list)

    def sizing(self) -> tuple[int | None, int]:
        self.asked.append("sizing")
        return self.table_bytes, self.free

    def facts(self) -> TargetFacts | None:
        self.asked.append("facts")
        return self.target

    def max_prepared(self) -> int:
        self.asked.append("max_prepared")
        return self.prepared

    def may_create(self, schema: str) -> bool:
        self.asked.append("may_create")
        return self.create

    def referencing(self) -> tuple[str, ...]:
        self.asked.append("referencing")
        return self.keys


MODES: dict[str, dict[str, Any]] = {
    "append": {"mode": "append"},
    "overwrite": {"mode": "overwrite"},
    "upsert": {"mode": "upsert", "key": ["id"]},
    "replace_where": {"mode": "overwrite", "replace_where": "v = 'a'"},
    "replace_by": {"mode": "overwrite", "replace_by": ["v"]},
}
#: each a reason for one connection (or none): (manifest changes, catalog changes, exists, adds)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool, tuple[str, ...]]] = {
    "plain": ({}, {}, True, ()),
    "reject": ({"on_error": "reject"}, {}, True, ()),
    "new table": ({}, {"target": None, "table_bytes": None}, False, ()),
    "adds columns": ({}, {}, True, ("extra",)),
    "no prepared transactions": ({}, {"prepared": 0}, True, ()),
    "3 prepared transactions": ({}, {"prepared": 3}, True, ()),
    "may not create": ({}, {"create": False}, True, ()),
    "a view": ({}, {"target": replace(FACTS, views=(View("public.t_v", "SELECT 1", (), "etl"),))}, True, ()),
    "a materialized view": ({}, {"target": replace(FACTS, views=(View("public.t_m", "", (), "etl", True, True),))},
                            True, ()),
    "a small table": ({}, {"table_bytes": AUTO_SHADOW_BYTES - 1}, True, ()),
    "few slots": ({}, {"free": 2}, True, ()),
    "method auto": ({"method": "auto"}, {}, True, ()),
    "referenced, small": ({}, {"keys": ("public.c.c_fk",), "table_bytes": 1024}, True, ()),
    "referenced, and a view it may not replace": (
        {}, {"keys": ("public.c.c_fk",), "target": replace(FACTS, views=(View("public.t_v", "SELECT 1", (), "x", False),))},
        True, ()),
    "truncate": ({"target__overwrite": "truncate"}, {}, True, ()),
}


def _manifest(mode: dict[str, Any], connections: int | str, changes: dict[str, Any]) -> Any:
    doc: dict[str, Any] = {"version": 1, "source": {"format": "parquet", "path": "/data/x.parquet"},
                           "target": {"connection": "postgresql://etl@db/dw", "table": "public.t", **mode},
                           "method": "copy", "copy": {"connections": connections}}
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    problems: list[Any] = []
    m = build(doc, name="t", path="t.yaml", content_hash="h", problems=problems)
    return m


def _run(m: Any, exists: bool, adds: tuple[str, ...]) -> CopyRun:
    req = request_for(m, None, RunOptions(), None)
    names = ("id", "v") + adds
    plan = ColumnPlan(names, ("bigint", "text") + ("text",) * len(adds), added=adds)
    location = TempLocation.new("bucket", "tmp", "t", "ab" * 16)
    return CopyRun(spec=req.spec, target=req.target, run_id="ab" * 16, plan=plan, landing=plan, cast_later=False,
                   fmt=CsvFormat(), write=req.write, events=FakeEvents(), home=req.loader_schema,
                   progress=Progress(ticks=False), connect=None, parts=None, location=location,  # type: ignore[arg-type]
                   conn=None, create_sql=None if exists else "CREATE TABLE public.t (id bigint, v text)",
                   reject=req.reject)


PROTOCOLS = {"through a shadow table over": ShadowSwap, "each prepared (PREPARE TRANSACTION)": Prepared,
             "prepared transactions if": Prepared, "into an UNLOGGED staging table": StagingMerge}


@pytest.mark.parametrize(("mode", "connections", "case"),
                         list(itertools.product(MODES, [1, 2, 4, "auto"], CASES)))
def test_the_dry_run_says_what_the_run_does(mode: str, connections: int | str, case: str) -> None:
    changes, catalog_changes, exists, adds = CASES[case]
    m = _manifest(MODES[mode], connections, changes)
    if m is None:
        pytest.skip("not a valid manifest")  # e.g. on_error: reject with a mode that refuses it
    planned = planned_path(m, copy_possible=True, exists=exists, adds=adds, catalog=Catalog(**catalog_changes))
    line, refused = planned.line, planned.refusal
    try:
        protocol, reasons = choose_protocol(_run(m, exists, adds), m.copy.connections, server_side=False,
                                            catalog=Catalog(**catalog_changes))
    except ConfigError as exc:  # refused before anything moves: the dry run names the same refusal
        assert refused is not None and (exc.message, exc.next_step) == refused
        return
    assert refused is None
    # what the run records, as the dry run words it: "[if COPY is chosen: ][auto's reason: ]path"
    expected = ""
    if reasons:
        when = "if COPY is chosen: " if changes.get("method") == "auto" else ""
        expected = when + ": ".join(r.removeprefix("loaded ") for r in reasons)
    assert line == expected
    named = [cls for words, cls in PROTOCOLS.items() if words in line]
    assert type(protocol) is (named[0] if named else InPlace), (line, protocol)


def test_the_matrix_takes_every_protocol_and_every_reason_for_one_connection() -> None:
    """The cases above reach each protocol and each refusal (a guard against a matrix that tests little)."""
    lines, refusals = set(), 0
    for mode, connections, case in itertools.product(MODES, [1, 2, 4, "auto"], CASES):
        changes, catalog_changes, exists, adds = CASES[case]
        m = _manifest(MODES[mode], connections, changes)
        if m is not None:
            planned = planned_path(m, copy_possible=True, exists=exists, adds=adds, catalog=Catalog(**catalog_changes))
            line, refused = planned.line, planned.refusal
            lines.add(line)
            refusals += refused is not None
    text = "\n".join(lines)
    assert refusals >= 4  # the cases where the run refuses before anything moves, and the dry run says so
    for words in ("through a shadow table over 2", "each prepared (PREPARE TRANSACTION)",
                  "into an UNLOGGED staging table", "on_error: reject sets rows aside",
                  "the table is created in the load transaction", "schema_evolution adds columns",
                  "max_prepared_transactions is 0", "over 3 connections, each prepared", "may not create the staging",
                  "copy.connections auto: 2", "if COPY is chosen", "its rows replaced under MVCC (",
                  "views the loading role may not replace", "with TRUNCATE (target.overwrite: truncate)",
                  "foreign keys reference the table: the shadow swap rebuilds them",
                  "views public.t_v (replaced, the same views)", "materialized views on it (no CREATE OR REPLACE)"):
        assert words in text, words
