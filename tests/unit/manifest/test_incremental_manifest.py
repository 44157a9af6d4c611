"""``source.incremental`` in a manifest: read as written, refused with the file and field when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.manifest import load_manifest, validate_paths
from loader.manifest.model import IncrementalSpec

HEAD = """\
version: 1
source:
  format: parquet
  path: /data/orders
  incremental: {incremental}
target:
  connection: postgresql://loader@db.example:5432/shop
  table: orders
  mode: {mode}
  key: [id]
"""


def problems(tmp_path: Path, incremental: str, mode: str = "append") -> list[str]:
    path = tmp_path / "orders.yaml"
    path.write_text(HEAD.format(incremental=incremental, mode=mode))
    return validate_paths([str(path)])[1]


def test_read_as_written_unquoted_times_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(HEAD.format(incremental="{cursor: updated_at, initial: 2024-01-01T00:00:00.123456789Z, lag: 2h}",
                                mode="upsert"))
    m = load_manifest(path)
    # YAML would make a datetime of it and cut the nanoseconds; the loader sees the text and decides
    assert m.source.incremental == IncrementalSpec("updated_at", "2024-01-01T00:00:00.123456789Z", "2h")
    path.write_text(HEAD.format(incremental="{cursor: id, initial: 0, lag: 100}", mode="append"))
    assert load_manifest(path).source.incremental == IncrementalSpec("id", 0, 100)


def test_overwrite_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    found = problems(tmp_path, "{cursor: updated_at}", mode="overwrite")
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'orders.yaml'}: source.incremental: mode overwrite replaces")
    assert "use target.mode append or upsert" in found[0]


@pytest.mark.parametrize(("incremental", "expected"), [
    ("{initial: 0}", "source.incremental: missing required field 'cursor'"),
    ("{cursor: ''}", "source.incremental.cursor: must not be empty"),
    ("{cursor: id, lag: 2 hours}", "source.incremental.lag: '2 hours' is not a duration"),
    ("{cursor: id, lag: -3}", "source.incremental.lag: must be a non-negative number"),
    ("{cursor: id, initial: [1]}", "source.incremental.initial: expected a string or an integer, got a list"),
    ("{cursor: id, since: 3}", "source.incremental.since: unknown key 'since'"),
])
def test_problems(tmp_path: Path, incremental: str, expected: str) -> None:
    found = problems(tmp_path, incremental)
    assert any(expected in p for p in found), found
