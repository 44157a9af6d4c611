#!/usr/bin/env bash
# The loader and its dependencies packed as a virtual-environment archive for EMR Serverless
# (spark.archives=s3://.../env.tar.gz#environment), the way AWS's guide packs one: python -m venv,
# pip install, venv-pack. Build it on the OS and Python the job runs (the job's image, or a
# container of it): the archive's bin/python points at that interpreter.
#
# usage: examples/emr/pack_env.sh dist/spark_pg_loader-<version>-py3-none-any.whl env.tar.gz
#
# pyspark is left out: the cluster provides it (and its own would come first on the path anyway).
# LOADER_PACK_LEND_DEPS=<site-packages> (the tests only) lends an installed environment's packages
# (appended to sys.path by a sitecustomize.py: venv-pack refuses .pth lines that point outside the
# venv) instead of downloading them from the package index on every test run.
set -euo pipefail
wheel=$(realpath "$1")
out=$(realpath -m "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"${PYTHON:-python3}" -m venv "$work/env"
pip=("$work/env/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" venv-pack
"${pip[@]}" --no-deps "$wheel"
deps=$("$work/env/bin/python" - <<'PY'
import re
from importlib.metadata import requires
for req in requires("spark-pg-loader") or []:
    name = re.split(r"[<>=!~ \[;(]", req, maxsplit=1)[0]
    if "extra ==" not in req and name.lower() != "pyspark":
        print(req.split(";")[0].strip())
PY
)
if [ -n "${LOADER_PACK_LEND_DEPS:-}" ]; then
  site=$("$work/env/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  printf 'import sys\nsys.path.append(%s)\n' "'$LOADER_PACK_LEND_DEPS'" > "$site/sitecustomize.py"
else
  # shellcheck disable=SC2086 # one requirement per word
  "${pip[@]}" $deps
fi
"$work/env/bin/venv-pack" -q -p "$work/env" -o "$out" -f
echo "packed $out ($(du -h "$out" | cut -f1))"
