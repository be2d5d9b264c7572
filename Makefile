# batchrun developer commands.  `make test` and `make demo` work on a fresh
# machine: they create the virtualenv they need.

PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
BATCHRUN_TEST_DB ?= sqlite
PYTEST_ARGS ?=

comma := ,
BIN := $(VENV)/bin
EXTRAS := test
ifeq ($(BATCHRUN_TEST_DB),mariadb)
EXTRAS := test,mysql
endif
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))$(if $(DJANGO),-django-custom)
BROWSER_TESTS ?= auto

export BATCHRUN_TEST_DB BROWSER_TESTS

.PHONY: test lint format demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): setup.py $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(if $(DJANGO),$(BIN)/python -m pip install --quiet "$(DJANGO)")
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m django --version
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python example/demo.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python bench/recurrence.py
	$(BIN)/python bench/log_capture.py sqlite postgresql
	$(BIN)/python bench/launching.py sqlite postgresql
	$(BIN)/python bench/api.py sqlite postgresql

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
