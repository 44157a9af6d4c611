"""TempLocation: one value type for where a run stages (pure)."""

from __future__ import annotations

import pytest

from loader.naming import TempLocation, parse_prefix


def test_new_location_follows_the_design_documents_format() -> None:
    loc = TempLocation.new("bkt", "/tmp/postgres-copy/", "Orders", "0123456789abcdef" * 2, now=1_700_000_000)
    assert loc == TempLocation("bkt", "tmp/postgres-copy/Orders-1700000000-01234567/")
    assert loc.uri == "s3://bkt/tmp/postgres-copy/Orders-1700000000-01234567/" == str(loc)
    assert parse_prefix(loc.prefix.split("/", 2)[2]) is not None


def test_parse_is_the_inverse_of_uri() -> None:
    loc = TempLocation("b", "r/t-1700000000-deadbeef/")
    assert TempLocation.parse(loc.uri) == loc
    for bad in ("b/r/", "s3://b/no-slash", "s3:///r/", "gs://b/r/"):
        with pytest.raises(ValueError):
            TempLocation.parse(bad)


def test_part_and_marker_keys_and_back() -> None:
    loc = TempLocation("b", "r/t-1-deadbeef/")
    assert loc.part_key(3, 12, ".csv.gz") == "r/t-1-deadbeef/part-00003-0012.csv.gz"
    assert loc.marker_key(3) == "r/t-1-deadbeef/part-00003.json"
    assert TempLocation.marker_partition(loc.marker_key(3)) == 3
    assert TempLocation.marker_partition(loc.part_key(3, 0, ".csv")) is None
    assert TempLocation.marker_partition("r/other.json") is None
