# The two commands: `make run` starts the whole suite, `make test` runs the tests.
# Also: `make lint` (ruff, mypy, import contracts: seconds), `make bench`, `make bench-city`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONWARNINGS := ignore::DeprecationWarning
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-setup lint venv bootstrap clean bench bench-city

venv: $(VENV)/.installed

# Runtime pins (requirements.txt, all the production image gets) and the
# test, benchmark and lint tools on top (requirements-dev.txt).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

bootstrap: venv
	$(BIN)/python deploy/broker.py
	$(BIN)/python deploy/bootstrap.py

run: bootstrap
	GATEWAY_PORT=$${PORT:-8000} exec $(BIN)/honcho -f deploy/Procfile -d $(CURDIR) start

# Lint (with import sorting) and type checks, settings in pyproject.toml;
# the import contracts between services (.importlinter).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Everything the tests talk to, started or installed when missing: RabbitMQ
# and its management API (the tests create virtual hosts through it), the
# local PostgreSQL, the browsers and LibreOffice, promtool (the alert rules).
test-setup: venv
	$(BIN)/python deploy/broker.py --management
	$(BIN)/python deploy/postgres.py
	$(BIN)/python deploy/browser.py
	$(BIN)/python deploy/promtool.py

# Two pytest processes: Nameko's test containers need eventlet's monkey
# patching, Playwright's sync API must not have it (see conftest.py).
test: venv lint test-setup
	$(BIN)/python -m pytest --ignore=tests/browser
	EDT_NO_EVENTLET=1 $(BIN)/python -m pytest tests/browser

# Every benchmark under bench/ against suites it starts itself (private vhosts
# through the management API, PostgreSQL where a bench compares engines), with same-run
# baselines and a summary of the targets (~15 min; BENCH_ARGS=--quick ~6 min).
bench: venv
	$(BIN)/python deploy/broker.py --management
	$(BIN)/python deploy/postgres.py
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

# The suite at the scale of the whole city (bench/bench_city.py).
bench-city: venv
	$(BIN)/python deploy/broker.py --management
	$(BIN)/python deploy/postgres.py
	$(BIN)/python -m bench.bench_city $(BENCH_ARGS)

clean:
	rm -rf var/*.db var/*.db-* var/prometheus
