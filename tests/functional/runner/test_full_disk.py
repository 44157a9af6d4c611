"""A full disk under the SQLite state file: one clear line, exit 1, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loader import cli
from loader.errors import StateError
from loader.state import StateStore


@pytest.fixture()
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(path: Path) -> None:
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_for_the_state_file(tiny_fs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tiny_fs / 'state.db'}"
    store = StateStore(url)
    store.create_run(uuid.uuid4().hex, manifest_name="m", manifest_hash="h", target="public.t",
                     target_db="u@h:5432/d", method_requested="copy", write_mode="append")
    _fill(tiny_fs)
    with pytest.raises(StateError) as info:
        for _ in range(200):  # enough rows to need a new page
            store.create_run(uuid.uuid4().hex, manifest_name="m" * 200, manifest_hash="h" * 64, target="public.t",
                             target_db="u@h:5432/d", method_requested="copy", write_mode="append")
    text = str(info.value)
    assert "\n" not in text and "state.db" in text
    assert len(store.list_runs(limit=500)) >= 1  # what was committed is intact and readable
    code = subprocess.run([sys.executable, "-m", "loader.cli", "--state-url", url, "status"],
                          capture_output=True, text=True).returncode
    assert code == 0  # reading still works on a full disk
    assert cli.main(["--state-url", f"sqlite:///{tiny_fs / 'other' / 'state.db'}", "status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
