"""What a resume reuses of an earlier attempt's parts (copy/resume.py), without servers."""

from __future__ import annotations

from loader.copy.resume import plan_resume
from loader.naming import TempLocation

LOC = TempLocation("b", "tmp/postgres-copy/t-1700000000-0badc0de/")


def _obj(partition: int, seq: int | None = None) -> dict[str, object]:
    key = LOC.marker_key(partition) if seq is None else LOC.part_key(partition, seq, ".bin.gz")
    return {"Key": key, "Size": 10}


CONFIRMED = {"Key": LOC.confirmation_key(), "Size": 2}


def test_marked_partitions_are_done_and_leading_parts_of_the_others_are_reused() -> None:
    objects = [_obj(0, 0), _obj(0, 1), _obj(0), _obj(1, 0), _obj(1, 1), _obj(1, 3), _obj(2, 1), CONFIRMED]
    plan = plan_resume(objects, lambda key: 100, by_part=True)
    assert plan.done == {0} and plan.done_parts == 2
    assert [p.seq for p in plan.reuse[1]] == [0, 1] and plan.reuse[1][0].rows == 100
    # after a gap nothing is reused: those keys are written again, so the old objects go first
    assert set(plan.stale) == {LOC.part_key(1, 3, ".bin.gz"), LOC.part_key(2, 1, ".bin.gz")}
    assert 2 not in plan.reuse and plan.parts_staged == 4


def test_a_part_without_its_row_count_ends_the_reuse_of_its_partition() -> None:
    rows = {LOC.part_key(0, 0, ".bin.gz"): 5}
    plan = plan_resume([_obj(0, 0), _obj(0, 1), _obj(0, 2)], rows.get, by_part=True)
    assert [p.seq for p in plan.reuse[0]] == [0]
    assert plan.stale == (LOC.part_key(0, 1, ".bin.gz"), LOC.part_key(0, 2, ".bin.gz"))


def test_without_a_repeatable_row_order_unmarked_partitions_are_staged_again_whole() -> None:
    asked: list[str] = []
    plan = plan_resume([_obj(0, 0), _obj(1, 0), _obj(1), CONFIRMED], lambda key: asked.append(key) or 7,
                       by_part=False)
    assert plan.done == {1} and plan.reuse == {} and plan.stale == (LOC.part_key(0, 0, ".bin.gz"),)
    assert asked == []  # no HeadObject call when nothing can be reused


def test_part_keys_parse_back_and_markers_do_not() -> None:
    assert TempLocation.part_of(LOC.part_key(12, 345, ".csv.gz")) == (12, 345)
    assert TempLocation.part_of(LOC.marker_key(12)) is None
    assert TempLocation.part_of(LOC.prefix + "part-x-1.csv") is None


def test_markers_of_a_staging_job_that_did_not_succeed_are_never_trusted() -> None:
    """Seen: Ctrl-C during staging, then --resume loaded 1,790,000 of 3,000,000 rows. A task Spark
    cancels sees its input end as if the partition were complete and writes its marker anyway; only
    the driver's staged.json (written once the job succeeded) makes the markers true."""
    objects = [_obj(0, 0), _obj(0, 1), _obj(0), _obj(1, 0), _obj(1)]
    plan = plan_resume(objects, lambda key: 250_000, by_part=True)
    assert plan.done == frozenset() and plan.done_parts == 0
    assert [p.seq for p in plan.reuse[0]] == [0, 1] and [p.seq for p in plan.reuse[1]] == [0]  # parts are exact
    assert set(plan.stale) == {LOC.marker_key(0), LOC.marker_key(1)}  # deleted before the tasks run
    assert TempLocation.part_of(LOC.confirmation_key()) is None and TempLocation.marker_partition(
        LOC.confirmation_key()) is None
