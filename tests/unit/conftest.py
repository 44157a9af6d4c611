"""Unit tests need no server: ``make unit`` runs this folder alone, in seconds. The suite's server
fixtures (PostgreSQL, S3, SeaweedFS, Spark) are replaced here by ones that fail, so a test that
needs one belongs under tests/functional/."""

from __future__ import annotations

from typing import NoReturn

import pytest


def _no_server(name: str) -> NoReturn:
    pytest.fail(f"a unit test asked for the {name} fixture: tests that need a server go in tests/functional/",
                pytrace=False)


@pytest.fixture(scope="session")
def pg_server() -> NoReturn:
    _no_server("pg_server")


@pytest.fixture(scope="session")
def s3_server() -> NoReturn:
    _no_server("s3_server")


@pytest.fixture(scope="session")
def seaweed_server() -> NoReturn:
    _no_server("seaweed_server")


@pytest.fixture(scope="session")
def spark() -> NoReturn:
    _no_server("spark")
