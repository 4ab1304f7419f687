# fitlake: everything a fresh machine needs comes from these targets (PyPI, Maven Central, Go proxy, Debian).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fitlake-installed
CACHE := .cache
export FITLAKE_JARS_DIR ?= $(CURDIR)/$(CACHE)/jars

.PHONY: help install jars kafka databricks-cli chromium test test-fast test-cluster run doctor clean-lakehouse

help:
	@echo "make test   - install everything and run the test suite"
	@echo "make run    - install everything and run the main job into ./lakehouse"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Delta + Kafka connector jars, from Maven Central once, into .cache/jars (later runs need no network).
jars: install
	$(BIN)/python -m fitlake.jars

# Apache Kafka broker jars (for the local KRaft broker the tests start).
kafka: install
	bash scripts/kafka.sh fetch

# The Databricks CLI, built from its Go module at a pinned version into .cache/bin.
databricks-cli:
	bash scripts/databricks_cli.sh

# Debian's headless Chromium for the dashboard browser test.
chromium:
	bash scripts/chromium.sh

# Two workers, a test file per worker at a time (module fixtures run once): ~2x faster on 2 cores. Files go out in
# collection order, which tests/conftest.py sorts heaviest first (--no-loadscope-reorder keeps it: xdist's default
# order, most tests first, left the few-test, many-minute files for last and one worker running them alone).
PYTEST_WORKERS ?= 2
PYTEST_DIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: install jars kafka databricks-cli chromium
	$(BIN)/python -m pytest $(PYTEST_DIST) --durations=25 tests -m "not cluster"

# fitlake on a Spark standalone cluster (master + two workers on 127.0.0.1) = the local run, table by table.
test-cluster: install jars
	$(BIN)/python -m pytest -p no:xdist tests/ops/test_cluster.py

# Unit tests only: no services, no browser, no external CLI, no whole-pipeline run (e2e).
test-fast: install jars
	$(BIN)/python -m pytest $(PYTEST_DIST) tests -m "not slow and not e2e and not kafka and not browser and not databricks_cli and not cluster"

# The main job graph locally: ingest -> silver -> gold (the synthetic exports are month-first, as Fitbit writes them;
# their one-day files cannot show it, hence --date-order), then train the models and score them back into gold;
# then two minutes of live device events (written once; existing files are kept) through the streaming job, so
# the dashboard's real-time page has windows to show. Every step is idempotent: a second `make run` adds nothing.
# The jars only: the class data archive (`make jars`) costs a run of its own, more than its five JVMs save here.
run: install
	$(BIN)/python -m fitlake.jars --no-archive
	$(BIN)/fitlake run --generate --date-order month_first
	$(BIN)/fitlake train
	$(BIN)/fitlake score
	$(BIN)/fitlake generate-events --no-realtime --duration 120
	$(BIN)/fitlake stream --available-now

doctor: install jars
	$(BIN)/fitlake doctor

clean-lakehouse:
	rm -rf lakehouse spark-warehouse metastore_db
