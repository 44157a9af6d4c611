"""Build the distribution as a user gets it and install it away from the checkout.

``build_dists`` copies the tracked sources to a temporary folder (a build writes ``build/`` and
``*.egg-info`` where it runs, and other runs share the checkout), builds the sdist there, then the
wheel *from the sdist* (so a file the sdist forgets is missing from the wheel too). ``clean_venv``
makes a virtual environment without the system's or the checkout's packages and installs the
wheel alone; the dependencies (pyspark, pyarrow, ... : hundreds of MB the tests cannot download
each run) are lent from the running interpreter's site-packages by one ``.pth`` line, which
Python appends *after* the venv's own site-packages, and which does not run that folder's own
``.pth`` files (so the checkout's editable install stays inactive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_SKIP = {".git", ".venv", "build", "dist", ".demo", ".bench", "__pycache__", ".pytest_cache", ".mypy_cache",
         ".ruff_cache", "out"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test run's PYTHONPATH (which names the checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env | extra


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout + res.stderr


def build_dists(out: Path) -> tuple[Path, Path, str]:
    """(sdist, wheel, the wheel build's log). The wheel build gets setuptools from the package index
    (pip's build isolation, as ``pyproject.toml`` asks: setuptools>=68), cached after the first run."""
    src = out / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=lambda _d, names: [n for n in names if n in _SKIP
                                                                         or n.endswith(".egg-info")])
    dist = out / "dist"
    _run([sys.executable, "-c", f"from setuptools import build_meta as b; b.build_sdist({str(dist)!r})"], src)
    (sdist,) = dist.glob("*.tar.gz")
    log = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--disable-pip-version-check",
                "-w", str(dist), str(sdist)], out)
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel, log


def deps_site_packages() -> str:
    """The running interpreter's site-packages: where the tests' dependencies are installed."""
    return sysconfig.get_paths()["purelib"]


def clean_venv(path: Path, wheel: Path, lend_deps: bool = True) -> Path:
    """A venv (no system site-packages) holding the wheel alone; returns its bin/ folder."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], path.parent)
    python = path / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(wheel)], path.parent)
    if lend_deps:
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, env=clean_env(), check=True).stdout.strip()
        Path(site, "zz_lent_dependencies.pth").write_text(deps_site_packages() + "\n")
    return path / "bin"
