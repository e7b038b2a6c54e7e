# Two commands do all the set-up on a machine with only Python 3.11+:
#   make run    serve the app on the embedded SQLite database, with seed data
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
	$(BIN)/memorial seed
	$(BIN)/memorial serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests migrations seed $(wildcard bench)
	$(BIN)/ruff format --check app tests seed $(wildcard bench)

test: lint
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/overdue.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
