"""Manifests: one YAML file per target table, validated against ``schemas/manifest.v1.json``.

``validate_paths`` returns every problem of every file at once (strings like
``manifests/orders.yaml: target.mode: 'upsrt' is not one of append, overwrite, upsert``);
``load_manifests`` raises ``ManifestError`` with the same list. A valid manifest is
a frozen ``Manifest`` dataclass tree.
"""

from .model import FILE_FORMATS, MANIFEST_VERSION, SOURCE_FORMATS, Manifest, SourceSpec, TargetSpec
from .reader import find_manifest_files, load_manifest, load_manifests, read_manifest, validate_paths
from .validate import load_schema

__all__ = [
    "FILE_FORMATS",
    "MANIFEST_VERSION",
    "SOURCE_FORMATS",
    "Manifest",
    "SourceSpec",
    "TargetSpec",
    "find_manifest_files",
    "load_manifest",
    "load_manifests",
    "load_schema",
    "read_manifest",
    "validate_paths",
]
