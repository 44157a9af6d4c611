"""The staging area over an in-memory blob store: what is deleted, kept and counted, and what
the state store is told (adapters/staging_area.py)."""

from __future__ import annotations

import logging

import pytest

from loader.adapters.staging_area import StagingArea
from loader.naming import TempLocation

LOC = TempLocation.new("b", "tmp", "t", "0123456789abcdef0123456789abcdef", now=0)


class Blobs:
    def __init__(self, keys: list[str], broken: bool = False) -> None:
        self.objects, self.broken = set(keys), broken

    def keys(self, bucket: str, prefix: str) -> list[str]:
        if self.broken:
            raise OSError("endpoint unreachable (secret=abc)")
        return sorted(k for k in self.objects if k.startswith(prefix))

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        if self.broken:
            raise OSError("endpoint unreachable (secret=abc)")
        self.objects = {k for k in self.objects if not k.startswith(prefix)}


def _staged() -> list[str]:
    return [LOC.part_key(0, 0, ".bin"), LOC.part_key(0, 1, ".bin"), LOC.marker_key(0),
            LOC.part_key(1, 0, ".bin"), "tmp/other/run/part-00000-00000.bin"]


def test_delete_removes_the_prefix_and_nothing_else() -> None:
    blobs = Blobs(_staged())
    assert StagingArea(LOC, blobs).delete() == "done"
    assert blobs.objects == {"tmp/other/run/part-00000-00000.bin"}


def test_cleanup_disabled_keeps_every_object(caplog: pytest.LogCaptureFixture) -> None:
    blobs = Blobs(_staged())
    with caplog.at_level(logging.INFO, logger="loader"):
        assert StagingArea(LOC, blobs, cleanup=False).delete() == "kept"
    assert blobs.objects == set(_staged())
    assert f"Keeping temporary files at {LOC.uri} (cleanup disabled)" in caplog.text


def test_a_failed_delete_is_recorded_as_failed_for_the_reaper(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="loader"):
        assert StagingArea(LOC, Blobs(_staged(), broken=True)).delete() == "failed"
    assert "the reaper will remove them" in caplog.text


def test_keep_counts_the_parts_not_the_markers() -> None:
    blobs = Blobs(_staged())
    assert StagingArea(LOC, blobs).keep() == 3
    assert blobs.objects == set(_staged())


def test_keep_when_the_store_cannot_be_listed_counts_none() -> None:
    assert StagingArea(LOC, Blobs(_staged(), broken=True)).keep() == 0
