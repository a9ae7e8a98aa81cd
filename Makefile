# Huifang — two commands: `make run` (set up + start on SQLite with demo data) and `make test`.
SHELL := /bin/sh
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: install run test lint format demo bench i18n clean

$(STAMP): requirements.lock pyproject.toml
	@PY=$$(scripts/find-python.sh) || exit 1; \
	if [ ! -x $(BIN)/python ]; then echo "Creating $(VENV) with $$PY"; "$$PY" -m venv $(VENV) || exit 1; fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## install: virtual environment with pinned dependencies and the `huifang` command (.venv/bin/huifang)
install: $(STAMP)

## run: set up, migrate the SQLite database, load demo data, start web + worker + scheduler on :8000
run: install
	$(BIN)/huifang migrate --noinput
	$(BIN)/huifang collectstatic --noinput -v0
	$(BIN)/huifang demo
	$(BIN)/huifang serve --host $(HOST) --port $(PORT)

## test: set up and run the whole suite (SQLite unless DATABASE_URL points elsewhere)
test: install
	$(BIN)/huifang check --fail-level WARNING
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: install
	$(BIN)/huifang migrate --noinput
	$(BIN)/huifang demo

## bench: run the benchmarks (see BENCHMARKS.md); needs PostgreSQL for the PostgreSQL figures
bench: install
	$(BIN)/python -m bench

## i18n: refresh and compile the Simplified Chinese catalogue (needs GNU gettext)
i18n: install
	HUIFANG=$(BIN)/huifang scripts/i18n.sh

clean:
	rm -rf $(VENV) var/*.sqlite3* staticfiles
