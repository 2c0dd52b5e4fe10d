# The project's commands. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON_FOR_VENV ?= $(shell scripts/find-python)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml layers/hub_library/requirements.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
# checkov pins an older boto3 than the project's, so it has a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
TRANSLATED := build/template.translated.json

# Offline and quiet: no telemetry, a region for the tools that need one, no real credentials.
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# sam build needs a python3.13 on PATH: the virtualenv's own, when it was built from 3.13.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup demo test check lint format typecheck security template checkov statemachines unit integration e2e browser console-screenshot build deploy bench bench-smoke clean

help:
	@echo "make demo    run the whole hub locally and send it the sample requests"
	@echo "make test    every check and test tier (unit, integration, e2e)"
	@echo "make build   sam build (needs python3.13, no Docker)"
	@echo "make deploy  sam build, then sam deploy --guided"
	@echo "make bench   cold starts, warm path, local end to end, counts and costs: bench/results.json"
	@echo "make bench-smoke  the bench on a small scale (part of make test): fails on a gap, never on speed"
	@echo "make format  apply ruff's formatting and safe fixes"

$(STAMP):
	@test -n "$(PYTHON_FOR_VENV)" || { echo "make: no Python 3.11+ found; install 3.13 (the Lambda runtime)"; exit 1; }
	@echo "setting up $(VENV) with $(PYTHON_FOR_VENV)"
	@rm -rf $(VENV) && $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r layers/hub_library/requirements.txt -e ".[dev]"
	@touch $@

$(CHECKOV_STAMP):
	@test -n "$(PYTHON_FOR_VENV)" || { echo "make: no Python 3.11+ found; install 3.13 (the Lambda runtime)"; exit 1; }
	@echo "setting up $(CHECKOV_VENV) with $(PYTHON_FOR_VENV)"
	@rm -rf $(CHECKOV_VENV) && $(PYTHON_FOR_VENV) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP):
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

demo: $(STAMP)
	$(BIN)/agenthub demo

test: setup check unit integration e2e bench-smoke

check: lint typecheck security template checkov statemachines

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy functions agenthub tools/*/src

# bandit on the code that ships (functions/) and on tools/ once it exists; a finding that is not a
# real problem is suppressed on its line with `# nosec <test id>` and the reason beside it.
SECURITY_PATHS := functions $(wildcard tools/*/src)
security: $(STAMP)
	$(BIN)/bandit --quiet --recursive $(SECURITY_PATHS)

template: $(STAMP)
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/agenthub template translate $(TRANSLATED)
	$(BIN)/python scripts/cfn-lint-deep --append-rules cfn_lint_serverless.rules -- template.yaml templates/*.yaml $(TRANSLATED)
	@for tool in tools/*/template.yaml; do \
	  name=$$(basename $$(dirname $$tool)); \
	  $(BIN)/sam validate --lint --template $$tool || exit 1; \
	  $(BIN)/agenthub template translate --template $$tool build/$$name.translated.json || exit 1; \
	  $(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- $$tool build/$$name.translated.json || exit 1; \
	done

# checkov on every template and on the translations `template` writes (SAM's generated roles, rules,
# permissions and stages are only there). Offline (--skip-download: no Bridgecrew, no update check).
# Every finding is fixed or suppressed beside its resource (Metadata: checkov: skip: id, comment);
# the translation carries a SAM resource's suppressions to the resources SAM makes for it.
CHECKOV_FILES = template.yaml $(wildcard templates/*.yaml) $(wildcard tools/*/template.yaml) $(TRANSLATED) \
  $(patsubst tools/%/template.yaml,build/%.translated.json,$(wildcard tools/*/template.yaml))
checkov: template $(CHECKOV_STAMP)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
	  --framework cloudformation --file $(CHECKOV_FILES)

statemachines: $(NODE_STAMP)
	@if ls statemachines/*.asl.json >/dev/null 2>&1; then \
	  for definition in statemachines/*.asl.json; do \
	    npx --no-install asl-validator --json-path "$$definition" || exit 1; \
	  done; \
	else echo "no state machines yet"; fi

unit: $(STAMP)
	$(BIN)/pytest tests/unit tools -q

# Both tiers run on two workers (pytest-xdist): each integration worker has its own in-process
# moto; each e2e worker its own local cloud, and a test file stays on one worker (its fixtures).
TEST_WORKERS ?= 2
integration: $(STAMP)
	$(BIN)/pytest tests/integration -q -n $(TEST_WORKERS)

e2e: $(STAMP) browser
	$(BIN)/pytest tests/e2e -q -n $(TEST_WORKERS) --dist loadfile

# The local console's browser tests drive Debian's Chromium through its chromedriver (a browser
# that downloads itself cannot work offline). Installed with apt-get when missing, as CI runs as
# root; elsewhere, install them yourself or set AGENTHUB_CHROMIUM and AGENTHUB_CHROMEDRIVER.
BROWSER_PACKAGES := chromium chromium-driver
browser:
	@if [ -n "$${AGENTHUB_CHROMIUM}$${AGENTHUB_CHROMEDRIVER}" ]; then \
	  [ -x "$${AGENTHUB_CHROMIUM:-$$(command -v chromium)}" ] && [ -x "$${AGENTHUB_CHROMEDRIVER:-$$(command -v chromedriver)}" ] \
	    || { echo "make: AGENTHUB_CHROMIUM / AGENTHUB_CHROMEDRIVER do not name programs that run"; exit 1; }; \
	  exit 0; \
	fi; \
	if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "make: the console's browser tests need Chromium and chromedriver: install Debian's" \
	    "'$(BROWSER_PACKAGES)' (as root), or set AGENTHUB_CHROMIUM and AGENTHUB_CHROMEDRIVER"; \
	  exit 1; \
	fi; \
	echo "installing $(BROWSER_PACKAGES) for the console's browser tests"; \
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); } \
	  >/tmp/agenthub-browser-install.log 2>&1 \
	  || { echo "make: apt-get could not install $(BROWSER_PACKAGES); see /tmp/agenthub-browser-install.log"; exit 1; }; \
	command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || { echo "make: $(BROWSER_PACKAGES) installed, but chromium or chromedriver is not on PATH"; exit 1; }

# docs/console.png, the README's picture of the console: the browser test takes it.
console-screenshot: $(STAMP) browser
	AGENTHUB_CONSOLE_SCREENSHOT=docs/console.png $(BIN)/pytest tests/e2e/test_console.py -q -k timeline

build: $(STAMP)
	$(BIN)/sam build --template template.yaml

deploy: build
	$(BIN)/sam deploy --guided

# Figures, never a verdict: it is not part of `make test` and does not fail on a slow machine. It
# fails when a part fails or leaves a gap (a function not measured, a request that did not succeed,
# a cost that cannot be computed), and then leaves bench/results.json as it was.
bench: build
	$(BIN)/python -m agenthub.bench

# The same run on a small scale, on this commit (part of `make test`, so the bench cannot rot unseen):
# a cold/warm pair per function, the warm path, a counted request per pipeline and its cost, ten
# requests end to end, the report. Into build/bench-smoke/; it fails as `bench` does, never on speed.
bench-smoke: build
	$(BIN)/python -m agenthub.bench --smoke

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .aws-sam build .agenthub .pytest_cache .mypy_cache .ruff_cache .hypothesis
