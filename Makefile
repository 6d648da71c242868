# The two commands: `make up` runs Legato on its embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: up test lint install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

up: $(BIN)/.installed
	$(BIN)/legato up

test: $(BIN)/.installed
	$(BIN)/ruff check legato tests bench
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check legato tests bench

clean:
	rm -rf .legato
