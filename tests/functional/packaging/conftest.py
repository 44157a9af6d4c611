"""The sdist and wheel, built once per session for the packaging tests (about 8 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.dist import build_dists


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    sdist, wheel, log = build_dists(tmp_path_factory.mktemp("dist"))
    return {"sdist": sdist, "wheel": wheel, "log": log}
