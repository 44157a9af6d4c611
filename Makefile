# loader: `make help` lists the targets.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export TZ := UTC
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: help deps demo test test-matrix lint typecheck unit dist bench bench-slice bench-profile fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install Debian packages (PostgreSQL, JDBC driver, plpython3u, Java) and the venv
	@scripts/bootstrap.sh test

demo: deps ## real load: throwaway PostgreSQL + local S3, 1M+ sample rows, `loader run manifests/`
	@$(PY) -m loader.demo

lint: deps ## ruff, and the import rules of ARCHITECTURE.md (layers, no circles, no private imports)
	@$(VENV)/bin/ruff check loader tests bench scripts
	@$(PY) scripts/check_imports.py

typecheck: deps ## mypy
	@$(VENV)/bin/mypy

unit: deps ## the tests that need no server (tests/unit: no PostgreSQL, S3 or Spark), in seconds
	@$(VENV)/bin/pytest -q tests/unit

dist: deps ## sdist and wheel of the spark-pg-loader distribution in dist/
	@rm -rf dist && $(PY) -c 'from setuptools import build_meta as b; b.build_sdist("dist")'
	@$(PY) -m pip wheel -q --no-deps --disable-pip-version-check -w dist dist/*.tar.gz

test: deps ## ruff, the import rules, mypy and pytest (what CI runs)
	@$(VENV)/bin/ruff check loader tests bench scripts
	@$(PY) scripts/check_imports.py
	@$(VENV)/bin/mypy
	@$(VENV)/bin/pytest -q --durations=15

test-matrix: deps ## functional COPY, JDBC, destination and GeoParquet tests on PySpark 3.5 and 4.x x PostgreSQL 15 and 18 (side venvs in .venv-matrix/)
	@VENV=$(VENV) scripts/matrix.sh

bench: deps ## full benchmark (1M/5M rows, TPC-H SF1): table, JSON, chart under bench/out/
	@scripts/bootstrap.sh bench
	@$(PY) bench/run.py

bench-slice: deps ## whole-table overwrite vs slice replace on 1M rows, and how long a reader waits
	@$(PY) bench/slice.py

bench-profile: deps ## CPU seconds per process (Spark, Python workers, S3, PostgreSQL) for each COPY stage
	@scripts/bootstrap.sh bench
	@$(PY) bench/cpu_profile.py

fuzz: deps ## property and fuzz tests with many more examples
	@LOADER_FUZZ=1 $(VENV)/bin/pytest -q tests/unit/manifest/test_manifest_fuzz.py \
		tests/functional/engine/test_property_roundtrip.py

clean: ## remove the venv and caches
	rm -rf $(VENV) .venv-matrix .pytest_cache .mypy_cache .ruff_cache *.egg-info build dist
