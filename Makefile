# Every target creates .venv on first use and installs the project into it, so a fresh clone
# needs nothing run first but Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test test-fast test-slow bench bench-long lint format install system-packages catalogues clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/accord demo

serve: $(STAMP)
	$(BIN)/accord serve --migrate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# After changing a console template or a marked string: messages.pot and every language's .po
# (kit/i18n/locale) brought up to date; translate the new entries, then the tests pass again.
catalogues: $(STAMP)
	$(BIN)/python -m kit.i18n.extract

# Chromium and the PostgreSQL server binaries: installed if missing, or a clear stop.
system-packages:
	scripts/system-packages.sh

# The whole suite, on SQLite and on a throwaway PostgreSQL cluster the tests start themselves.
# --dist loadfile keeps a file's tests on one worker, so the browser tests' demo starts once;
# --no-loadscope-reorder keeps the order tests/conftest.py gives, the longest files first.
# Then the few tests that measure latency, alone, so that no other test shares the cores.
test: system-packages lint
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not slow and not latency"
	$(BIN)/pytest -q -m latency

# The long reliability loops (20 SIGKILLs mid-delivery); CI runs the 3-round version.
test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# Stop at the first failure while iterating.
test-fast: $(STAMP)
	$(BIN)/pytest -q -x

# Throughput and latency against a bare FastAPI baseline, each figure a ratio to it (issue 19):
# starts its own PostgreSQL cluster, nodes and baseline; writes bench/results/latest.{md,json}.
# Under 10 minutes. bench-long adds the 10^6-row listing and the 5-minute memory run.
bench: system-packages $(STAMP)
	$(BIN)/python -m bench

bench-long: system-packages $(STAMP)
	$(BIN)/python -m bench --long

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
