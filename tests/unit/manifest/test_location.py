"""Where a manifest lives, decided without a server: S3 URIs are never folded by pathlib."""

from __future__ import annotations

from pathlib import Path

from loader.manifest.location import display_uri, is_s3, list_s3, split_uri
from loader.manifest.reader import MANIFEST_SUFFIXES


def test_an_s3_uri_splits_into_bucket_and_key() -> None:
    assert split_uri("s3://bk/manifests/a.yaml") == ("bk", "manifests/a.yaml")
    assert split_uri("s3://bk") == ("bk", "")
    assert is_s3("s3://bk/x") and not is_s3("s3:/bk/x") and not is_s3("manifests/")


def test_the_recorded_uri_is_the_s3_uri_or_an_absolute_file_uri(tmp_path: Path) -> None:
    assert display_uri("s3://bk/manifests/a.yaml") == "s3://bk/manifests/a.yaml"
    assert display_uri(str(tmp_path / "a.yaml")) == (tmp_path / "a.yaml").as_uri()


def test_an_object_with_a_manifest_suffix_is_one_file_and_a_uri_without_bucket_a_problem() -> None:
    assert list_s3("s3://bk/m/a.yml", MANIFEST_SUFFIXES) == (["s3://bk/m/a.yml"], [])  # no S3 call
    files, problems = list_s3("s3:///m/", MANIFEST_SUFFIXES)
    assert files == [] and problems[0].startswith("s3:///m/: no bucket in this S3 URI")
