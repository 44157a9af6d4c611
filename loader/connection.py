"""Connection parameters for the target PostgreSQL: parsed once, secrets kept out of sight.

Accepted forms (the design document's ``conn_params`` and the manifest's
``target.connection``):

* a mapping with host, port, database (or dbname), user, password, sslmode
  (and, for the two-argument call of the design document, ``table``);
* a PostgreSQL URL ``postgresql://user:pass@host:port/db?sslmode=require``.

libpq's ``PG*`` environment variables fill what is missing, as psql would.
The password never appears in ``repr``, ``str``, log lines or errors: use
``safe_description``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import redact
from .errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN_KEYS = {"host", "port", "database", "dbname", "user", "username", "password", "sslmode", "table", "schema"}
#: ``safe_description``'s form; the user is everything before the last @ ahead of host:port/
_DESCRIPTION = re.compile(r"^(?P<user>.+)@(?P<host>[^@/]+):(?P<port>\d+)/(?P<database>.+)$")
_PG_ENV = {"host": "PGHOST", "port": "PGPORT", "database": "PGDATABASE", "user": "PGUSER",
           "password": "PGPASSWORD", "sslmode": "PGSSLMODE"}


def expand_env(value: str, where: str = "value") -> str:
    """Expand ``${VAR}`` references from the environment; a missing variable is an error."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"{where}: environment variable {name} is not set",
                next_step=f"export {name}=... before running, or remove the ${{{name}}} reference",
            )
        return os.environ[name]

    return _ENV_REF.sub(repl, value)


@dataclass(frozen=True)
class ConnectionSpec:
    host: str = "localhost"
    port: int = 5432
    database: str = "postgres"
    user: str = "postgres"
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None

    def __post_init__(self) -> None:
        # every password the process learns is known to the redactor, whoever built the spec
        # (the library call, a manifest, doctor, the reaper)
        redact.register(self.password)

    # --- construction -------------------------------------------------------
    @classmethod
    def parse(cls, params: Any, where: str = "conn_params") -> ConnectionSpec:
        """Build from a mapping, a URL string, or an existing spec."""
        if isinstance(params, ConnectionSpec):
            return params
        if isinstance(params, str):
            return cls._from_url(expand_env(params, where), where)
        if isinstance(params, Mapping):
            return cls._from_mapping(params, where)
        raise ConfigError(
            f"{where}: expected a mapping or a postgresql:// URL, got {type(params).__name__}",
            next_step="pass a dict with host, port, database, user, password or a URL",
        )

    @classmethod
    def _from_url(cls, url: str, where: str) -> ConnectionSpec:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
            raise ConfigError(
                f"{where}: URL scheme {parts.scheme!r} is not PostgreSQL",
                next_step="use postgresql://user:password@host:port/database",
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        values: dict[str, Any] = {
            "host": parts.hostname,
            "port": parts.port,
            "database": unquote(parts.path.lstrip("/")) or None,
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "sslmode": query.get("sslmode"),
        }
        return cls._with_env_defaults(values, where)

    @classmethod
    def _from_mapping(cls, params: Mapping[str, Any], where: str) -> ConnectionSpec:
        unknown = sorted(set(params) - _KNOWN_KEYS)
        if unknown:
            raise ConfigError(
                f"{where}: unknown connection key(s) {', '.join(unknown)}",
                next_step="use host, port, database (or dbname), user, password, sslmode",
            )
        values: dict[str, Any] = {}
        for key, value in params.items():
            if key in ("table", "schema"):
                continue
            if isinstance(value, str):
                value = expand_env(value, f"{where}.{key}")
            values[{"dbname": "database", "username": "user"}.get(key, key)] = value
        return cls._with_env_defaults(values, where)

    @classmethod
    def _with_env_defaults(cls, values: dict[str, Any], where: str) -> ConnectionSpec:
        for key, env in _PG_ENV.items():
            if values.get(key) in (None, "") and os.environ.get(env):
                values[key] = os.environ[env]
        clean = {k: v for k, v in values.items() if v not in (None, "")}
        if "port" in clean:
            try:
                clean["port"] = int(clean["port"])
            except (TypeError, ValueError):
                raise ConfigError(f"{where}.port: {clean['port']!r} is not a port number",
                                  next_step="give an integer such as 5432") from None
        return cls(**clean)

    @classmethod
    def from_description(cls, text: str, where: str = "target_db") -> ConnectionSpec:
        """The spec ``safe_description`` rendered (``user@host:port/database``, as the state store
        records a run's database); the password and sslmode come from ``PGPASSWORD``/``PGSSLMODE``,
        else libpq finds them (``~/.pgpass``, a service file)."""
        m = _DESCRIPTION.match(text or "")
        if m is None:
            raise ConfigError(f"{where}: {text!r} is not user@host:port/database",
                              next_step="pass the connection in a manifest instead")
        values: dict[str, Any] = {"user": m["user"], "host": m["host"], "port": m["port"],
                                  "database": m["database"]}
        return cls._with_env_defaults(values, where)

    # --- renderings -----------------------------------------------------------
    def safe_description(self) -> str:
        """``user@host:port/database``: what logs and errors may show."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def __str__(self) -> str:
        return self.safe_description()

    def as_params(self) -> dict[str, Any]:
        """The design document's ``conn_params`` dict (contains the password: never log it)."""
        params: dict[str, Any] = {"host": self.host, "port": self.port, "database": self.database,
                                  "user": self.user, "password": self.password}
        if self.sslmode:
            params["sslmode"] = self.sslmode
        return params

    def psycopg2_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"host": self.host, "port": self.port, "dbname": self.database,
                                  "user": self.user, "application_name": "loader",
                                  "connect_timeout": 10}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.sslmode:
            kwargs["sslmode"] = self.sslmode
        return kwargs

    def jdbc_url(self, **extra: str) -> str:
        """JDBC URL without credentials (they travel in properties, never in the URL)."""
        params = {"ApplicationName": "loader"}
        if self.sslmode:
            params["sslmode"] = self.sslmode
        params.update(extra)
        query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
        return f"jdbc:postgresql://{self.host}:{self.port}/{quote(self.database)}?{query}"

    def jdbc_properties(self) -> dict[str, str]:
        props = {"user": self.user, "driver": "org.postgresql.Driver"}
        if self.password is not None:
            props["password"] = self.password
        return props

    def sqlalchemy_url(self) -> str:
        """URL with the password, for SQLAlchemy engines only (never logged)."""
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        url = f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"
        return url + (f"?sslmode={self.sslmode}" if self.sslmode else "")

    def secrets(self) -> list[str]:
        """Values that must never be printed (for redaction filters and tests)."""
        return [self.password] if self.password else []
