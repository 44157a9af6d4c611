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
