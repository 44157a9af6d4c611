"""``loader resume RUN_ID``: find the manifest a recorded run was started from.

The state store records the manifest's name, the SHA-256 of its file and where it was read
from. A local path means nothing on another machine; an ``s3://`` URI does. So the manifest is
looked for among the files and folders given, else at the recorded S3 URI, else in
``manifests/`` (the folder ``loader run`` is usually given): the file with the recorded hash
first (the very manifest, even renamed), else the one with the recorded name (edited since:
said in a warning). When none is found the error says exactly what to pass.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ManifestError, RunNotFoundError
from ..manifest import Manifest, find_manifest_files, read_manifest
from ..manifest.location import is_s3
from ..state import RunRecord

log = logging.getLogger("loader")

#: where ``loader resume`` looks when it is given no path
DEFAULT_FOLDER = "manifests"


def find_run_manifest(record: RunRecord, paths: list[str]) -> Manifest:
    """The manifest of ``record`` among ``paths`` (default: ``manifests/``)."""
    short, name = record.run_id[:12], record.manifest_name
    recorded = record.manifest_uri if record.manifest_uri and is_s3(record.manifest_uri) else None
    where = list(paths) or ([recorded] if recorded else [DEFAULT_FOLDER])
    usage = f"loader resume {short} path/to/{name}.yaml (or the folder that holds it)"
    present = [p for p in where if is_s3(p) or os.path.exists(p)]
    if not present:
        raise RunNotFoundError(
            f"run {short} belongs to manifest {name!r}, and {', '.join(where)} does not exist here"
            + ("" if paths else " (the folder looked in when no path is given and the run was not read from S3)"),
            next_step=f"pass its file or folder: {usage}", run_id=record.run_id)
    files, _ = find_manifest_files(present)
    by_name: list[tuple[str, Manifest | None, list[str]]] = []
    for path in files:
        manifest, problems = read_manifest(path)
        if manifest is not None and manifest.content_hash == record.manifest_hash:
            return manifest  # the very file the run started from
        if (manifest.name if manifest is not None else Path(path).stem) == name:
            by_name.append((path, manifest, problems))
    if not by_name:
        raise RunNotFoundError(
            f"run {short} belongs to manifest {name!r}, which is not among the {len(files)} manifest(s) "
            f"in {', '.join(present)}", next_step=f"pass its file or folder: {usage}", run_id=record.run_id)
    path, manifest, problems = by_name[0]
    if manifest is None:
        raise ManifestError(problems, run_id=record.run_id)
    log.warning("%s: manifest %s changed since run %s started (its file's hash differs); resuming with it "
                "as it is now", path, name, short)
    return manifest
