# Leave No One Behind data platform. Everything runs locally on an embedded PostgreSQL;
# set LNOB_WAREHOUSE_URL to use your own PostgreSQL instead.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test test-unit airflow superset warehouse-start warehouse-stop lint bench bench-load bench-dbt bench-night bench-celery clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
	  || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## virtualenv with every pinned dependency and the lnob package

demo: install  ## one night end to end on sample data (starts the embedded warehouse); a short summary, the full log in a file
	@$(BIN)/lnob demo

# `make test TEST_WORKERS=0` runs it in one process (tests/conftest.py: unit tests first, slow last)
TEST_WORKERS ?= 2
test: install  ## the whole test suite (embedded PostgreSQL, dbt, Great Expectations, Airflow) on TEST_WORKERS pytest-xdist workers, each with its own warehouse
	$(BIN)/pytest -v -n $(TEST_WORKERS) --dist loadscope

test-unit: install
	$(BIN)/pytest -v -m unit

# `make airflow PORT=8090` (or LNOB_AIRFLOW_PORT): the UI's port, base URL and the tasks' API URL follow it
airflow: install  ## the Airflow UI on the embedded warehouse (PORT=8080 by default)
	$(if $(PORT),LNOB_AIRFLOW_PORT=$(PORT) )$(BIN)/lnob airflow standalone

superset: install  ## Apache Superset on the embedded warehouse as lnob_bi_reader, with the dashboard of bi/superset (own virtualenv .lnob/superset-venv, reinstalled when requirements-superset.txt changes)
	$(BIN)/lnob superset serve

warehouse-start: install
	$(BIN)/lnob warehouse start

warehouse-stop: install
	$(BIN)/lnob warehouse stop

lint: install  ## ruff's rules and its formatting (git blame skips the formatting commit: .git-blame-ignore-revs), sqlfluff on the dbt SQL (.sqlfluff), mypy on the package ([tool.mypy])
	$(BIN)/ruff check include dags tests
	$(BIN)/ruff format --check include dags tests
	$(BIN)/sqlfluff lint --processes 2 dbt_project/models dbt_project/macros dbt_project/tests
	$(BIN)/mypy

bench-load: install  ## the loader against psql \copy on a 1M-row delivery (printed, never asserted)
	$(BIN)/python -m lnob_dev.bench_load

bench: install  ## speed and memory figures (printed, never asserted)
	$(BIN)/python -m lnob_dev.bench
	$(BIN)/python -m lnob_dev.bench_dbt

bench-dbt: install  ## the dbt stage: from scratch, against one plain dbt build, and an incremental night
	$(BIN)/python -m lnob_dev.bench_dbt

PERSONS ?= 1000000
INCREMENTAL ?= 1
bench-night: install  ## the real nightly DAG on PERSONS persons (default 1M) in a scratch home: wall time per stage, peak memory, ratio to the plain parts; then the next night with INCREMENTAL% (default 1) more persons
	$(BIN)/python -m lnob_dev.bench_night --persons $(PERSONS) --incremental $(INCREMENTAL)

bench-celery: install  ## one night on the CeleryExecutor (real Redis) with 1 worker, then 2: load+gate wall time, speed-up
	$(BIN)/python -m lnob_dev.bench_celery

clean:  ## stop the embedded warehouse and remove local state (keeps the virtualenv)
	-$(BIN)/lnob warehouse stop
	rm -rf .lnob data
