# Two commands do all the set-up on a machine with only Python 3.11+:
#   make run    serve the app on the embedded SQLite database, with the demo's sample data
#   make test   ruff and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/memorial migrate
	$(BIN)/memorial seed --samples
	$(BIN)/memorial serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests migrations seed $(wildcard bench)
	$(BIN)/ruff format --check app tests seed $(wildcard bench)

# The clock jumps an hour forward between collecting the tests and running them, as on a
# slow machine: a time computed at collection fails its test (0 turns this off).
MEMORIAL_TEST_CLOCK_SHIFT ?= 3600

# pytest-xdist workers (CI has 2 cores); each has its own PostgreSQL database and Chromium.
# 0 runs the tests in pytest's own process.
TEST_WORKERS ?= 2

test: lint
	MEMORIAL_TEST_CLOCK_SHIFT=$(MEMORIAL_TEST_CLOCK_SHIFT) $(BIN)/pytest -n $(TEST_WORKERS)

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/overdue.py
	$(BIN)/python bench/feed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
