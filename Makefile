# Concilia: every developer and CI entry point. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_OUT := lib

.DEFAULT_GOAL := help
.PHONY: help run test test-unit test-integration proto proto-check lint breaking contract-baseline services venv clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh $(PYTHON) $(VENV)
	touch $@

venv: $(STAMP) ## create .venv with the pinned dependencies

run: $(STAMP) ## run the whole stack on embedded defaults (gateway http://127.0.0.1:8080)
	$(VENV)/bin/concilia run

services: ## start PostgreSQL and RabbitMQ if they are not running; install what is missing (and Chromium)
	bash scripts/ensure-services.sh postgres rabbitmq chromium

test: $(STAMP) services proto-check lint breaking ## unit + integration tests against real PostgreSQL and RabbitMQ
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: $(STAMP) ## unit tests only (no database or broker)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

proto: $(STAMP) ## regenerate Python code from protos/ into lib/concilia
	$(PY) scripts/gen_protos.py --out $(PROTO_OUT)

proto-check: $(STAMP) ## fail when the committed generated code is stale
	$(PY) scripts/gen_protos.py --check

lint: $(STAMP) ## buf lint on the contracts
	cd protos && ../$(VENV)/bin/buf lint

breaking: $(STAMP) ## fail when protos/ breaks the wire contract recorded in protos/baseline.binpb
	cd protos && ../$(VENV)/bin/buf breaking --against baseline.binpb

contract-baseline: $(STAMP) ## record protos/ as the contract `make breaking` compares with (docs/adr/0019)
	cd protos && ../$(VENV)/bin/buf build --exclude-source-info -o baseline.binpb

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) .data
