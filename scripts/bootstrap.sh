#!/usr/bin/env bash
# Installs what `make demo`, `make test` and `make bench` need, on a fresh Debian machine:
# Debian's PostgreSQL server, PostGIS, its JDBC driver, plpython3u with boto3 (for the stand-in of
# RDS's aws_s3 extension), a Java 17 runtime, then a virtual environment with the project.
# Idempotent: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have_pg_server() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_pg_server || need_pkgs+=(postgresql)
[ -e /usr/share/java/postgresql.jar ] || need_pkgs+=(libpostgresql-jdbc-java)
compgen -G "/usr/lib/postgresql/*/lib/plpython3.so" >/dev/null || need_pkgs+=(postgresql-plpython3-15)
/usr/bin/python3 -c "import boto3" 2>/dev/null || need_pkgs+=(python3-boto3)
# PostGIS: the slice-replace tests and `make demo` load an entity table with geometry columns
compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null || need_pkgs+=(postgresql-15-postgis-3)
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jre-headless)
command -v psql >/dev/null 2>&1 || need_pkgs+=(postgresql-client)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster on 5432; ours are throwaway clusters on free ports.

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-${1:-test}
if [ ! -e "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  # the distribution was called "loader" before it took its own name: drop that editable install
  .venv/bin/pip uninstall -q -y --disable-pip-version-check loader >/dev/null 2>&1 || true
  .venv/bin/pip install -q --disable-pip-version-check -e ".[${1:-test}]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
