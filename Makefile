# OON Ledger — developer entry points. Every target creates/updates its own virtualenv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto' 2>/dev/null)
GEN_STAMP := gen/.stamp

.PHONY: venv proto run test test-cluster test-large test-faults lint structure bench bench-long clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (the first time takes a minute or two) ..."
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '.[dev,local]'
	$(PY) scripts/link_paths.py
	@touch $(STAMP)

proto: $(GEN_STAMP)

$(GEN_STAMP): $(STAMP) $(PROTOS) scripts/gen_proto.py
	$(PY) scripts/gen_proto.py
	@touch $(GEN_STAMP)

# `make run DEMO=0` starts the system without the demo.
run: proto
	$(PY) -m deploy.local.run $(if $(filter 0 no false,$(DEMO)),--no-demo)

test: proto
	$(PY) scripts/test_suites.py $(PYTEST_ARGS)

# Multi-process failure tests: a 3-node JetStream cluster and two replicas of every service.
test-cluster: proto
	$(PY) -m pytest -q -m cluster tests/deploy $(PYTEST_ARGS)

# Long end-to-end runs kept out of `make test`: 50,000-claim 837 and 835 import jobs through the
# gateway with a kill -9 of the importing service half-way (tens of minutes), a 1,000-claim 835.
test-large: proto
	$(PY) -m pytest -q tests/large $(PYTEST_ARGS)

# Faults under load (several minutes): PostgreSQL stopped for 60 s and crashed, NATS and every
# service killed with SIGKILL; then nothing acknowledged is lost, doubled or dead-lettered.
test-faults: proto
	$(PY) -m pytest -q -m faults tests/faults $(PYTEST_ARGS)

lint: proto
	$(VENV)/bin/ruff check services gateway tests bench deploy scripts
	$(VENV)/bin/mypy services gateway
	cd proto && ../$(VENV)/bin/buf lint
	$(PY) scripts/check_structure.py

# The house's shape (scripts/check_structure.py): no file over 600 lines, no import cycle, no
# service importing another, no dict[str, Any] in a domain module. Joins `lint` once it passes.
structure: venv
	$(PY) scripts/check_structure.py

bench: proto
	$(PY) -m bench $(BENCH_ARGS)

# Long benchmarks (bench/*_long.py): the ledger's append p99 from an empty log to 10 million
# events and its verification; LEDGER_LONG_EVENTS=1000000 for a shorter run.
bench-long: proto
	$(PY) -m bench --long $(BENCH_ARGS)

clean:
	rm -rf gen .oonledger
