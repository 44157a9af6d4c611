"""Real parts for the whole suite: a throwaway PostgreSQL cluster, moto's S3 server,
SeaweedFS (for the tests marked ``seaweed``) and a local Spark (``local[2]``).

``LOADER_TEST_DATABASE_URL`` points the suite at an existing PostgreSQL instead
of starting one.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ["TZ"] = "UTC"

from loader.connection import ConnectionSpec  # noqa: E402
from loader.testing import aws_s3_standin  # noqa: E402
from loader.testing.pgcluster import PgCluster  # noqa: E402
from loader.testing.s3server import S3Server, start_moto, start_seaweedfs  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ConnectionSpec]:
    """Connection spec of a superuser on a throwaway cluster (or LOADER_TEST_DATABASE_URL)."""
    url = os.environ.get("LOADER_TEST_DATABASE_URL")
    if url:
        yield ConnectionSpec.parse(url)
        return
    # PostgreSQL's default (0, RDS's too) allows no prepared transaction: the append over N connections
    # (destination/prepared_plan.py) needs some; its 0 case is the plan's unit test
    cluster = PgCluster(settings={"max_prepared_transactions": "8"}).start()
    try:
        yield ConnectionSpec.parse(cluster.url())
    finally:
        cluster.stop()


def _admin(spec: ConnectionSpec) -> Any:
    conn = psycopg2.connect(**spec.psycopg2_kwargs())
    conn.autocommit = True
    return conn


def _scratch_database(server: ConnectionSpec) -> Iterator[ConnectionSpec]:
    name = "t_" + uuid.uuid4().hex[:12]
    admin = _admin(server)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dataclasses.replace(server, database=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture()
def pg_db(pg_server: ConnectionSpec) -> Iterator[ConnectionSpec]:
    """A fresh database per test, dropped afterwards."""
    yield from _scratch_database(pg_server)


@pytest.fixture(scope="module")
def pg_module_spec(pg_server: ConnectionSpec) -> Iterator[ConnectionSpec]:
    """One database per test module; its tests isolate themselves by schema (CREATE DATABASE is slow)."""
    yield from _scratch_database(pg_server)


@pytest.fixture()
def pg_schema_url(pg_module_spec: ConnectionSpec) -> str:
    """A fresh schema of its own, first on the search_path of the state store's connections."""
    schema = "s_" + uuid.uuid4().hex[:12]
    conn = _admin(pg_module_spec)
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    conn.close()
    return pg_module_spec.sqlalchemy_url() + f"?options=-csearch_path%3D{schema}"


@pytest.fixture()
def pg_conn(pg_db: ConnectionSpec) -> Iterator[Any]:
    """An autocommit psycopg2 connection to the per-test database."""
    conn = _admin(pg_db)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = start_moto()
    old = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        yield server
    finally:
        server.stop()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture()
def bucket(s3_server: S3Server) -> str:
    """A new, empty bucket on the moto server, and the environment pointing at it."""
    return s3_server.create_bucket("b-" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="session")
def seaweed_server() -> Iterator[S3Server]:
    server = start_seaweedfs()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def aws_s3_extension(pg_conn: Any, s3_server: S3Server) -> Any:
    """The stand-in of RDS's aws_s3 extension installed in the per-test database."""
    from loader.testing.s3server import ACCESS_KEY, REGION, SECRET_KEY
    from tests.helpers.pg_features import require_extension

    require_extension(pg_conn, "plpython3u", "the stand-in of RDS's aws_s3 extension")
    aws_s3_standin.install(pg_conn, s3_server.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION)
    return pg_conn


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from loader.adapters.spark import get_or_create_session

    session = get_or_create_session("loader-tests", master="local[2]", shuffle_partitions=2)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture()
def state_url(tmp_path: Any) -> str:
    """A SQLite state store of its own per test."""
    return f"sqlite:///{tmp_path / 'state.db'}"
