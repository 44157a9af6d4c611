from typing import Any

import pytest

from loader.connection import ConnectionSpec, expand_env
from loader.errors import ConfigError


def test_url_and_mapping_forms_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)
    a = ConnectionSpec.parse("postgresql://u:p%40ss@h:6543/db?sslmode=require")
    b = ConnectionSpec.parse({"host": "h", "port": "6543", "dbname": "db", "user": "u", "password": "p@ss",
                              "sslmode": "require", "table": "ignored_here"})
    assert a == b
    assert "p@ss" not in repr(a) and "p@ss" not in str(a) and "p@ss" not in a.jdbc_url()


def test_pg_environment_fills_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGPASSWORD", "envpw")
    spec = ConnectionSpec.parse({"database": "d"})
    assert spec.host == "envhost" and spec.password == "envpw" and spec.database == "d"


def test_env_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_PW", "s3cret")
    assert expand_env("x${SECRET_PW}y") == "xs3crety"
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        expand_env("${NOPE_NOT_SET}", "target.connection.password")


def test_unknown_keys_and_bad_ports() -> None:
    with pytest.raises(ConfigError, match="hots"):
        ConnectionSpec.parse({"hots": "x"})
    with pytest.raises(ConfigError, match="port"):
        ConnectionSpec.parse({"port": "abc"})


def test_from_description_reads_what_the_state_store_records(monkeypatch: Any) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGSSLMODE", raising=False)
    spec = ConnectionSpec.from_description("etl@corp@db.example.com:6432/ware/house")
    assert (spec.user, spec.host, spec.port, spec.database, spec.password) == (
        "etl@corp", "db.example.com", 6432, "ware/house", None)
    assert spec.safe_description() == "etl@corp@db.example.com:6432/ware/house"
    assert ConnectionSpec.from_description("u@::1:5432/db").host == "::1"
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert ConnectionSpec.from_description("u@h:5432/db").password == "from-env"
    with pytest.raises(ConfigError, match="is not user@host:port/database"):
        ConnectionSpec.from_description("d")
