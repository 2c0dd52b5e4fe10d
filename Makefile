# The project's commands. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON_FOR_VENV ?= $(shell scripts/find-python)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml functions/requirements.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
TRANSLATED := build/template.translated.json

# Offline and quiet: no telemetry, a region for the tools that need one, no real credentials.
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# sam build needs a python3.13 on PATH: the virtualenv's own, when it was built from 3.13.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup demo test check lint format typecheck template statemachines unit integration e2e build deploy bench clean

help:
	@echo "make demo    run the whole hub locally and send it the sample requests"
	@echo "make test    every check and test tier (unit, integration, e2e)"
	@echo "make build   sam build (needs python3.13, no Docker)"
	@echo "make deploy  sam build, then sam deploy --guided"
	@echo "make bench   cold starts, warm path, local end to end, counts and costs: bench/results.json"
	@echo "make format  apply ruff's formatting and safe fixes"

$(STAMP):
	@test -n "$(PYTHON_FOR_VENV)" || { echo "make: no Python 3.11+ found; install 3.13 (the Lambda runtime)"; exit 1; }
	@echo "setting up $(VENV) with $(PYTHON_FOR_VENV)"
	@rm -rf $(VENV) && $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r functions/requirements.txt -e ".[dev]"
	@touch $@

$(NODE_STAMP):
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/agenthub demo

test: setup check unit integration e2e

check: lint typecheck template statemachines

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy functions agenthub

template: $(STAMP)
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/agenthub template translate $(TRANSLATED)
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml $(TRANSLATED)

statemachines: $(NODE_STAMP)
	@if ls statemachines/*.asl.json >/dev/null 2>&1; then \
	  for definition in statemachines/*.asl.json; do \
	    npx --no-install asl-validator --json-path "$$definition" || exit 1; \
	  done; \
	else echo "no state machines yet"; fi

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

build: $(STAMP)
	$(BIN)/sam build --template template.yaml

deploy: build
	$(BIN)/sam deploy --guided

# Figures, never a verdict: it is not part of `make test` and does not fail on a slow machine.
bench: build
	$(BIN)/python -m agenthub.bench

clean:
	rm -rf $(VENV) node_modules .aws-sam build .agenthub .pytest_cache .mypy_cache .ruff_cache
