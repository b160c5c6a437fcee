# The two commands: `make run` starts the whole suite, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONWARNINGS := ignore::DeprecationWarning
export PYTHONPATH := $(CURDIR)

.PHONY: run test venv bootstrap clean bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

bootstrap: venv
	$(BIN)/python deploy/broker.py
	$(BIN)/python deploy/bootstrap.py

run: bootstrap
	GATEWAY_PORT=$${PORT:-8000} exec $(BIN)/honcho -f deploy/Procfile -d $(CURDIR) start

# Two pytest processes: Nameko's test containers need eventlet's monkey
# patching, Playwright's sync API must not have it (see conftest.py).
test: venv
	$(BIN)/python deploy/broker.py
	$(BIN)/python deploy/browser.py
	$(BIN)/python -m pytest --ignore=tests/browser
	EDT_NO_EVENTLET=1 $(BIN)/python -m pytest tests/browser

# Every benchmark under bench/ against suites it starts itself, with same-run
# baselines and a summary of the targets (~15 min; BENCH_ARGS=--quick ~6 min).
bench: venv
	$(BIN)/python deploy/broker.py
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf var/*.db var/*.db-* var/prometheus
