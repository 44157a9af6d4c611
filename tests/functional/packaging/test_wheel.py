"""The distribution as ``pip install spark-pg-loader`` gets it: sdist and wheel built from the
sources, the wheel installed into a clean virtual environment with no checkout on its path, then
``loader validate``, ``loader run --dry-run`` and a real COPY load from that environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.functional.runner.test_runner import pg_url, query
from tests.helpers.dist import REPO, clean_env, clean_venv, deps_site_packages

pytestmark = [pytest.mark.slow, pytest.mark.dist]


@pytest.fixture(scope="module")
def installed(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {**built, "bin": clean_venv(tmp_path_factory.mktemp("venv") / "venv", built["wheel"])}


def test_the_distribution_has_its_own_name_and_builds_without_the_schemas_warning(installed: dict[str, Any]) -> None:
    assert installed["wheel"].name.startswith("spark_pg_loader-")  # "loader" is another project's name
    assert installed["sdist"].name.replace("-", "_").startswith("spark_pg_loader_")
    assert "loader.schemas" not in installed["log"]  # "Package 'loader.schemas' is absent from packages"


def test_the_installed_package_is_the_wheel_and_carries_the_json_schema(installed: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    probe = ("import json, sys, loader; from loader.manifest import load_schema; "
             "print(json.dumps({'file': loader.__file__, 'path': sys.path, 'schema': load_schema()['$id']}))")
    res = subprocess.run([str(installed["bin"] / "python"), "-c", probe], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout)
    venv = str(installed["bin"].parent)
    assert seen["file"].startswith(venv + "/lib/"), seen["file"]
    lent = deps_site_packages()  # the dependencies only (the checkout's .venv when it lives in the checkout)
    assert not [p for p in seen["path"] if p.startswith(str(REPO)) and not p.startswith((venv, lent))], seen["path"]
    assert seen["schema"]
    assert Path(seen["file"]).parent.joinpath("schemas", "manifest.v1.json").is_file()


def test_validate_dry_run_and_a_real_load_from_the_clean_venv(installed: dict[str, Any], pg_db: Any, bucket: str,
                                                              pg_conn: Any, tmp_path: Path) -> None:
    source = tmp_path / "nation.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]}), source)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    doc = {"version": 1, "name": "nation", "source": {"format": "parquet", "path": str(source)},
           "target": {"connection": "${T_PG_URL}", "table": "nation", "mode": "overwrite"},
           "method": "copy", "copy": {"bucket": bucket}}
    (manifests / "nation.yaml").write_text(yaml.safe_dump(doc))
    env = clean_env(T_PG_URL=pg_url(pg_db), LOADER_STATE_URL=f"sqlite:///{tmp_path / 'state.db'}")
    loader = str(installed["bin"] / "loader")  # the console script the wheel installed

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([loader, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)

    res = cli("validate", str(manifests))
    assert (res.returncode, res.stdout.strip()) == (0, f"ok  {manifests}/nation.yaml: nation -> public.nation"), \
        res.stderr
    res = cli("run", str(manifests), "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "public.nation (will be created)" in res.stdout
    res = cli("run", str(manifests))
    assert res.returncode == 0, res.stdout + res.stderr
    assert query(pg_conn, "SELECT id, name FROM public.nation ORDER BY id") == [(1, "a"), (2, "b"), (3, None)]
