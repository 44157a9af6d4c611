"""The four ways a COPY run lands (copy/landing/), driven by the one driver over in-memory edges
(fakes.py): each protocol's step order, and what a lost connection at COMMIT, a failing worker and an
interruption leave. The functional tests (tests/functional/copy/) run the same protocols on
PostgreSQL, S3 and Spark, killed at each step."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from loader import interrupt
from loader.connection import ConnectionSpec
from loader.copy.formats import CsvFormat
from loader.copy.landing import driver
from loader.copy.landing.driver import land
from loader.copy.landing.in_place import InPlace
from loader.copy.landing.prepared import Prepared
from loader.copy.landing.protocol import CopyRun, LandingProtocol
from loader.copy.landing.shadow import ShadowSwap
from loader.copy.landing.staging_merge import StagingMerge
from loader.copy.resume import ResumePlan
from loader.destination import shadow_swap
from loader.destination.shadow_plan import TargetFacts
from loader.destination.write_modes import Append, Overwrite, Upsert, WriteStrategy
from loader.errors import DataError, Interrupted, LoaderError, TargetConnectionError
from loader.naming import TableRef, TempLocation, prepared_marker, shadow_table_name, staging_table_name
from loader.plan.typemap import ColumnPlan
from loader.progress import Progress
from loader.request import MethodOutcome
from tests.unit.copy.fakes import FakeDb, FakeEvents, FakeParts, FakeStager, Refused

RUN = "ab12cd34" * 4
SPEC = ConnectionSpec(host="db", database="dw", user="etl")
TARGET = TableRef("public", "t")
DRIVER = f"loader-copy:{RUN[:8]}"
PARTS = {0: [3, 2], 1: [4]}  # rows of each part, by partition: 9 in all
LEDGER_ROW = 'INSERT INTO "public"."loader_ledger"'
FACTS = TargetFacts(TARGET, owner="etl", columns=(("id", "bigint", True, None), ("v", "text", False, None)))


def _run(db: FakeDb, write: WriteStrategy | None = None) -> tuple[CopyRun, FakeParts]:
    location = TempLocation.new("bucket", "tmp", "t", RUN)
    parts = FakeParts(location)
    plan = ColumnPlan(("id", "v"), ("bigint", "text"))
    run = CopyRun(spec=SPEC, target=TARGET, run_id=RUN, plan=plan, landing=plan, cast_later=False, fmt=CsvFormat(),
                  write=write or Append(), events=FakeEvents(), home="public", progress=Progress(ticks=False),
                  connect=db.connect, parts=parts, location=location, conn=db.connect(SPEC, DRIVER))
    return run, parts


def _land(protocol: LandingProtocol, run: CopyRun, parts: FakeParts, **stager: Any) -> Any:
    stage = FakeStager(parts, stager.pop("partitions", PARTS), **stager)
    try:
        return land(protocol, run, stage, ResumePlan(), MethodOutcome()), stage  # type: ignore[arg-type]
    finally:
        run.progress.done()


def _fails(protocol: LandingProtocol, run: CopyRun, parts: FakeParts, exc: type[BaseException], **stager: Any) -> Any:
    stage = FakeStager(parts, stager.pop("partitions", PARTS), **stager)
    with pytest.raises(exc) as info:
        land(protocol, run, stage, ResumePlan(), MethodOutcome())  # type: ignore[arg-type]
    run.progress.done()
    return info.value, stage


def _events(run: CopyRun) -> list[str]:
    return run.events.seen  # type: ignore[attr-defined, no-any-return]


# --- in place -----------------------------------------------------------------------------------

def test_in_place_copies_every_part_into_one_transaction_and_commits_it_with_the_ledger_row() -> None:
    db = FakeDb()
    run, parts = _run(db)
    published, _ = _land(InPlace(run, server_side=False), run, parts)
    assert published.rows == 9 and db.rows == {TARGET.quoted: 9} and db.ledger == {RUN: 9}
    driver = [(op, sql.split(" ")[0]) for name, op, sql in db.log if name == DRIVER and op in ("copy", "commit")]
    # the ledger in a transaction of its own first (ledger.ensure), then the parts and one COMMIT
    assert driver == [("commit", "")] + [("copy", "COPY")] * 3 + [("commit", "")]
    assert [s for s in db.statements(DRIVER) if "loader_ledger" in s and s.startswith("INSERT")]
    assert _events(run)[-1] == "committing" and "leftover" not in " ".join(_events(run))
    assert {name for name, op, _ in db.log if op == "connect"} == {DRIVER}  # one connection


@pytest.mark.parametrize("committed", [True, False])
def test_in_place_a_connection_lost_at_commit_is_answered_by_the_ledger(committed: bool) -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("commit", conn=DRIVER, after=committed, armed_by=LEDGER_ROW)  # the load's COMMIT, not ledger.ensure's
    if committed:
        published, _ = _land(InPlace(run, server_side=False), run, parts)
        assert published.rows == 9 and db.rows == {TARGET.quoted: 9}
    else:
        _fails(InPlace(run, server_side=False), run, parts, TargetConnectionError)
        assert db.rows == {} and db.ledger == {}
    assert ("loader:ledger", "connect", "") in db.log  # asked over a connection of its own


def test_in_place_a_refused_part_rolls_back_and_cancels_the_staging_job() -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("copy", sql="COPY", exc=Refused)
    error, stager = _fails(InPlace(run, server_side=False), run, parts, LoaderError)
    assert stager.cancelled and db.rows == {} and db.ledger == {}
    driver = [op for name, op, _ in db.log if name == DRIVER]
    assert "commit" not in driver[driver.index("copy"):] and driver[-1] == "rollback"
    assert "committing" not in _events(run)


def test_an_interruption_while_loading_leaves_the_target_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDb()
    run, parts = _run(db)
    protocol = InPlace(run, server_side=False)
    original = protocol.load

    def load_then_interrupted(key: str, size: int) -> int:
        monkeypatch.setattr(interrupt, "_requested", signal.SIGINT)  # what the signal handler records
        return original(key, size)

    protocol.load = load_then_interrupted  # type: ignore[method-assign]
    monkeypatch.setattr(driver, "POLL_SECONDS", 0.01)
    _, stager = _fails(protocol, run, parts, Interrupted, alive_polls=1)  # Spark still staging
    assert stager.cancelled and db.rows == {} and db.ledger == {} and "committing" not in _events(run)
    assert [op for name, op, _ in db.log if name == DRIVER][-1] == "rollback"


def test_an_interruption_once_every_part_is_in_stops_before_the_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDb()
    run, parts = _run(db)
    protocol = InPlace(run, server_side=False)
    original = protocol.publish

    def publish_then_interrupted(rows: int) -> None:
        original(rows)
        monkeypatch.setattr(interrupt, "_requested", signal.SIGINT)

    protocol.publish = publish_then_interrupted  # type: ignore[method-assign]
    _fails(protocol, run, parts, Interrupted)
    assert db.rows == {} and db.ledger == {} and "committing" not in _events(run)


# --- shadow -------------------------------------------------------------------------------------

def _shadow(db: FakeDb) -> tuple[ShadowSwap, CopyRun, FakeParts]:
    run, parts = _run(db, Overwrite())
    protocol = ShadowSwap(run, 2, FACTS)
    protocol.shadow.read = lambda cur, target: FACTS  # the catalog re-read under the swap's lock
    return protocol, run, parts


def test_shadow_copies_over_n_connections_builds_and_swaps_in_one_transaction() -> None:
    db = FakeDb()
    protocol, run, parts = _shadow(db)
    shadow = TableRef("public", shadow_table_name("t", RUN))
    published, _ = _land(protocol, run, parts)
    assert published.rows == 9 and db.rows == {shadow.quoted: 9} and db.ledger == {RUN: 9}
    assert _events(run)[0] == f"leftover {shadow.table}"  # recorded before the shadow exists
    workers = {name for name, op, _ in db.log if op == "copy"}
    assert workers <= {f"{DRIVER}:0", f"{DRIVER}:1"} and DRIVER not in workers
    # each part committed on its worker with its row in the parts table
    for worker in workers:
        ops = [(op, sql[:6]) for name, op, sql in db.log if name == worker and op in ("copy", "execute", "commit")]
        assert ops[:3] == [("copy", "COPY \""), ("execute", "INSERT"), ("commit", "")]
    driver = db.statements(DRIVER)
    lock = next(i for i, s in enumerate(driver) if s.startswith("LOCK TABLE"))
    assert driver.index(next(s for s in driver if s.startswith("CREATE TABLE"))) < lock
    swap = driver[lock:]
    assert swap[1].startswith("INSERT INTO") and "loader_ledger" in swap[1]  # the ledger row inside the swap
    assert swap[2] == f'ALTER TABLE {TARGET.quoted} RENAME TO "t__loader_old_{RUN[:8]}"'
    assert f'DROP TABLE "public"."t__loader_old_{RUN[:8]}"' in swap
    assert [op for name, op, _ in db.log if name == DRIVER][-1] == "commit"


def test_shadow_a_lost_connection_at_the_swaps_commit_drops_the_shadow_over_a_connection_of_its_own() -> None:
    db = FakeDb()
    protocol, run, parts = _shadow(db)
    db.fail("commit", conn=DRIVER, armed_by="LOCK TABLE")  # the swap's COMMIT
    error, _ = _fails(protocol, run, parts, TargetConnectionError)
    assert "the COMMIT of the swap of shadow table t__loader_shadow_" in str(error)
    assert db.ledger == {} and ("loader:ledger", "connect", "") in db.log
    drop = f"loader-copy:{RUN[:8]}:drop"
    assert any(name == drop and sql.startswith("DROP TABLE IF EXISTS") for name, _, sql in db.ops("execute"))


def test_shadow_a_failing_worker_drops_the_shadow_and_never_swaps() -> None:
    db = FakeDb()
    protocol, run, parts = _shadow(db)
    db.fail("copy", conn=f"{DRIVER}:", exc=Refused)
    _fails(protocol, run, parts, LoaderError)
    driver = db.statements(DRIVER)
    assert not any(s.startswith("LOCK TABLE") for s in driver) and db.ledger == {}
    assert any(s.startswith("DROP TABLE IF EXISTS") for s in driver)
    assert all(conn.closed for conn in db.connections if conn.name.startswith(f"{DRIVER}:"))


def test_shadow_swap_lock_not_granted_is_retried_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class LockBusy(Refused):
        pgcode = "55P03"

    db = FakeDb()
    monkeypatch.setattr(shadow_swap, "SWAP_ATTEMPTS", 2)
    protocol, run, parts = _shadow(db)
    protocol.shadow.attempts, protocol.shadow.lock_timeout_ms = 2, 10
    db.fail("execute", conn=DRIVER, sql="LOCK TABLE", exc=LockBusy, times=2)
    error, _ = _fails(protocol, run, parts, LoaderError)
    assert "did not get its lock within 10 ms, 2 times; the target is unchanged" in str(error)
    assert sum(1 for s in db.statements(DRIVER) if s.startswith("LOCK TABLE")) == 2 and db.ledger == {}


# --- prepared -----------------------------------------------------------------------------------

def test_prepared_every_connection_prepares_then_the_ledger_decides_then_each_commits() -> None:
    db = FakeDb()
    run, parts = _run(db)
    published, _ = _land(Prepared(run, 2), run, parts)
    assert published.rows == 9 and db.rows == {TARGET.quoted: 9} and db.ledger == {RUN: 9} and db.prepared == {}
    assert _events(run)[0] == f"leftover {prepared_marker(RUN)}"
    order = [(name, op) for name, op, _ in db.log if op in ("tpc_prepare", "tpc_commit", "commit")]
    decision = order.index((DRIVER, "commit"), 1)  # the first driver commit is ledger.ensure's
    assert all(op == "tpc_prepare" for _, op in order[:decision] if op != "commit")
    assert [op for _, op in order[decision + 1:]] == ["tpc_commit"] * len({n for n, op in order if op == "tpc_prepare"})


def test_prepared_a_decision_lost_with_no_ledger_row_rolls_every_transaction_back() -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("commit", conn=DRIVER, armed_by=LEDGER_ROW)  # the decision's COMMIT: nothing committed
    error, _ = _fails(Prepared(run, 2), run, parts, TargetConnectionError)
    assert "was not committed" in str(error) and "the target is unchanged" in str(error)
    assert db.prepared == {} and db.rows == {} and db.ledger == {}


def test_prepared_a_decision_committed_whose_answer_was_lost_commits_every_transaction() -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("commit", conn=DRIVER, armed_by=LEDGER_ROW, after=True)
    published, _ = _land(Prepared(run, 2), run, parts)
    assert published.rows == 9 and db.rows == {TARGET.quoted: 9} and db.prepared == {} and db.ledger == {RUN: 9}


def test_prepared_a_worker_lost_after_the_decision_is_committed_over_another_connection() -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("tpc_commit", conn=f"{DRIVER}:0")
    published, _ = _land(Prepared(run, 2), run, parts)
    assert published.rows == 9 and db.rows == {TARGET.quoted: 9} and db.prepared == {}
    assert any(name == f"{DRIVER}:settle" and sql.startswith("COMMIT PREPARED") for name, _, sql in db.ops("execute"))


def test_prepared_a_failing_worker_rolls_every_one_back_and_decides_nothing() -> None:
    db = FakeDb()
    run, parts = _run(db)
    db.fail("copy", conn=f"{DRIVER}:", exc=Refused)
    _fails(Prepared(run, 2), run, parts, LoaderError)
    assert db.ledger == {} and db.prepared == {} and db.rows == {}
    assert not db.ops("tpc_prepare") and "committing" not in _events(run)


# --- staging merge ------------------------------------------------------------------------------

def test_staging_merge_lands_the_parts_over_n_connections_and_merges_in_one_transaction() -> None:
    db = FakeDb()
    run, parts = _run(db, Upsert(("id",)))
    db.answers.append(("WITH merged AS", [(5, 4)]))
    published, _ = _land(StagingMerge(run, 2), run, parts)
    stage = f'"public"."{staging_table_name(RUN)[:-10]}'
    assert published.rows == 9 and (published.rows_inserted, published.rows_updated) == (5, 4)
    assert [r for r in db.rows if r.startswith(stage)] and db.ledger == {RUN: 9}
    driver = db.statements(DRIVER)
    merge = next(i for i, s in enumerate(driver) if s.startswith("WITH merged AS"))
    assert "ON CONFLICT" in driver[merge] and driver[merge + 2].startswith(f"DROP TABLE {stage}")
    assert "loader_ledger" in driver[merge + 3]
    assert _events(run)[0].startswith(f"leftover {staging_table_name(RUN)[:-10]}")


def test_staging_merge_a_refused_merge_drops_the_staging_table() -> None:
    db = FakeDb()
    run, parts = _run(db, Upsert(("id",)))
    db.fail("execute", conn=DRIVER, sql="WITH merged AS", exc=Refused)
    _fails(StagingMerge(run, 2), run, parts, LoaderError)
    assert db.ledger == {} and not [r for r in db.rows if r == TARGET.quoted]
    assert any(name == "loader:staging" and sql.startswith("DROP TABLE IF EXISTS")
               for name, _, sql in db.ops("execute"))


class BadValue(Refused):
    pgcode = "22P02"  # invalid_text_representation: the data's fault


def _refused_value(**stager: Any) -> Any:
    """The DataError of a load whose first COPY PostgreSQL refuses for a value."""
    db = FakeDb()
    run, parts = _run(db)
    db.fail("copy", conn=DRIVER, exc=BadValue)
    error, _ = _fails(InPlace(run, server_side=False), run, parts, DataError, **stager)
    return error


def test_a_value_the_target_refuses_is_named_by_its_row() -> None:
    error = _refused_value()
    assert error.ids.get("table") == str(TARGET)
    assert error.message.endswith("/part-00000-0000.csv")  # Spark's rows: the part, and no file after it


@pytest.mark.parametrize("partition", [0, 1])
def test_a_value_the_target_refuses_in_a_direct_read_part_names_its_file_and_row_groups(partition: int) -> None:
    sources = {0: "from /data/a.parquet, row groups 0-1", 1: "from /data/b.parquet, row group 3"}
    error = _refused_value(partitions={partition: [4]}, sources=sources)
    assert error.message.endswith(f" ({sources[partition]})")
