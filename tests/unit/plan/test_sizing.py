"""`loader recommend` prints a manifest fragment a manifest accepts, with a reason for every setting,
and the library's get_performance_recommendations keeps its keys (pure, no server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from loader import commands
from loader.manifest import load_manifest, load_schema
from loader.options import split_call_options
from loader.plan.recommend import get_performance_recommendations

BASE = {"version": 1, "source": {"format": "parquet", "path": "/data/x.parquet"},
        "target": {"connection": "postgresql://u@db/dw", "table": "x"}}


def _merged(fragment: dict[str, Any], tmp_path: Path) -> Any:
    doc = {**BASE, **fragment}
    Draft202012Validator(load_schema()).validate(doc)  # the schema itself, not only our reader
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_manifest(path)


@pytest.mark.parametrize("rows", [0, 10, 500_000, 500_001, 5_000_000, 50_000_000])
@pytest.mark.parametrize("memory", [0.5, 8, 64])
def test_the_printed_fragment_is_a_valid_manifest_part(rows: int, memory: float, tmp_path: Path) -> None:
    text = commands.recommend(rows, memory)
    fragment = yaml.safe_load(text)  # comments (the reasons) included: the whole output is YAML
    m = _merged(fragment, tmp_path)
    assert str(m.method) == fragment["method"]
    assert m.jdbc.num_partitions == fragment["jdbc"]["num_partitions"]
    if fragment["method"] == "copy":
        assert m.copy.rows_per_part == fragment["copy"]["rows_per_part"]
        assert m.copy.part_mb == fragment["copy"]["part_mb"]
    else:
        assert "copy" not in fragment
    # every setting has its reason, and the batch size is said to be chosen at load time
    settings = ["method"] + [f"{sec}.{k}" for sec in ("copy", "jdbc") for k in fragment.get(sec, {})]
    for name in settings:
        assert f"#   {name}: " in text, name
    assert "jdbc.batchsize is not set" in text


def test_json_has_the_fragment_the_keywords_and_the_reasons(tmp_path: Path) -> None:
    data = json.loads(commands.recommend(5_000_000, 8, as_json=True))
    _merged(data["manifest"], tmp_path)
    assert data["write_to_postgres"] == get_performance_recommendations(5_000_000)
    assert set(data["reasons"]) == {"method", "copy.rows_per_part", "copy.part_mb", "jdbc.num_partitions"}
    assert "upper bound" in data["reasons"]["jdbc.num_partitions"]
    assert "part_mb first" in data["reasons"]["copy.rows_per_part"]


def test_library_keys_stay_compatible() -> None:
    """The design document's contract: method, num_partitions and, for COPY, rows_per_part."""
    small, large = get_performance_recommendations(10), get_performance_recommendations(10_000_000)
    assert set(small) == {"method", "num_partitions"}
    assert {"method", "num_partitions", "rows_per_part"} <= set(large)
    split_call_options({k: v for k, v in large.items() if k != "method"})  # write_to_postgres accepts them


@pytest.mark.parametrize(("key", "value"), [("part_mb", 0), ("rows_per_part", -1), ("num_partitions", "8"),
                                            ("part_mb", True)])
def test_counts_must_be_whole_numbers(key: str, value: Any) -> None:
    from loader.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{key}: .* is not a whole number >= 1"):
        split_call_options({key: value})
