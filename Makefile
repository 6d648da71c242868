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

# The real-backend tests need the Kubernetes test bed (built once, then cached; see scripts/testbed.sh).
# LEGATO_SKIP_TESTBED=1 skips them locally; CI never sets it. The suite runs in WORKERS processes
# (pytest-xdist), a test file per process at a time: its module fixtures (a management cluster, a
# Redfish emulator) are started once; most tests wait on Temporal and control planes, not on a core.
WORKERS ?= 3
PYTEST   = $(BIN)/pytest -n $(WORKERS) --dist loadfile
test: $(BIN)/.installed
	$(BIN)/ruff check legato tests bench
	if [ "$$LEGATO_SKIP_TESTBED" = 1 ]; then $(PYTEST); \
	else bin="$$(bash scripts/testbed.sh)" && LEGATO_TESTBED_BIN="$$bin" $(PYTEST); fi

lint: $(BIN)/.installed
	$(BIN)/ruff check legato tests bench

clean:
	rm -rf .legato
