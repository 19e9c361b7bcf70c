# Passgate developer entry points. `make run` starts the demo server, `make test` is what CI runs.
# Everything installs into ./.venv; set PYTHON=python3.12 (or similar) to pick another interpreter.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when pyproject.toml is newer.
STAMP := $(VENV)/.passgate-installed
CONFIG ?= examples/config-demo.yaml
PYTEST_ARGS ?=
BENCH_ARGS ?=

DEMO_ISSUER := http://127.0.0.1:5556/dex

.PHONY: help setup install upstream run test lint format typecheck pytest bench bench-peer wheel \
	wheelhouse image clean distclean

help:
	@echo 'make run        start the demo server on $(DEMO_ISSUER) (admin@example.com / password)'
	@echo 'make setup      install every tool the tests need: Debian packages (apt-get, sudo'
	@echo '                when not root; scripts/system-packages), the venv and the npm packages'
	@echo 'make test       lint, type-check and run the test suite (what CI runs)'
	@echo 'make lint       ruff check and ruff format --check'
	@echo 'make format     apply ruff format and the safe ruff fixes'
	@echo 'make typecheck  mypy --strict over src/passgate and bench/'
	@echo 'make pytest     only the tests (PYTEST_ARGS="-k foo" to narrow them)'
	@echo 'make bench      the benchmark (BENCH_ARGS="--duration 10" to tune it)'
	@echo 'make bench-peer Passgate beside the oidc-provider peer, each alone on core 0, one'
	@echo '                table with the ratio (BENCH_ARGS="--storage postgres --markdown f.md")'
	@echo 'make wheel      build dist/passgate-<version>-py3-none-any.whl'
	@echo 'make image      build the container image localhost/passgate (podman or buildah)'
	@echo 'make clean      remove var/, caches and build output (distclean also removes .venv)'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: Passgate needs Python 3.11 or newer ($(PYTHON) is older)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "installing passgate and its dev dependencies into $(VENV) (pip, quiet)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(STAMP)

# Everything `make test` uses: the system packages CI installs (the one list is in
# scripts/system-packages, which .ci/run calls too), then the venv and the npm packages.
setup:
	scripts/system-packages install
	@$(MAKE) install upstream

run: install
	@mkdir -p var
	@echo
	@echo '  Passgate demo: open $(DEMO_ISSUER)/ and press "Sign in"'
	@echo '                 as admin@example.com / password (an admin: the console is yours)'
	@echo '  discovery:     $(DEMO_ISSUER)/.well-known/openid-configuration'
	@echo '  clients:       example-app (secret ZXhhbXBsZS1hcHAtc2VjcmV0,'
	@echo '                 redirect http://127.0.0.1:5555/callback) and kubectl (public)'
	@echo '  metrics:       http://127.0.0.1:5558/metrics'
	@echo '  admin API:     $(DEMO_ISSUER)/admin/v1 (openapi.json); try'
	@echo '                 $(BIN)/passgate admin --url $(DEMO_ISSUER) --token pgadm_demo-admin-token-do-not-use-in-production sessions list'
	@echo
	exec $(BIN)/passgate serve $(CONFIG)

# Every check runs even when an earlier one fails, so one CI run reports all of them.
# pytest runs last and its exit status (5 when no test was collected) is the one passed on.
# Without npm: locally those tests skip; under CI (CI set, not 0/false/no) it is an error.
NO_NPM := f() { case "$${CI:-}" in ""|0|[Ff]alse|FALSE|[Nn]o|NO) \
	echo "npm not found: $$1 will be skipped (make setup installs it)" >&2;; \
	*) echo "npm not found: $$1 need it under CI (make setup)" >&2; exit 1;; esac; }; f

# The real upstream OpenID Provider the connector tests start (node-oidc-provider from npm).
UPSTREAM := tests/upstream
UPSTREAM_STAMP := $(UPSTREAM)/node_modules/.package-lock.json

$(UPSTREAM_STAMP): $(UPSTREAM)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(UPSTREAM) --no-audit --no-fund --silent; \
	else $(NO_NPM) "the upstream-provider tests"; fi

# The real SAML identity provider of the SAML tests (samlify from npm).
SAML_IDP := tests/saml_idp
SAML_IDP_STAMP := $(SAML_IDP)/node_modules/.package-lock.json

$(SAML_IDP_STAMP): $(SAML_IDP)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(SAML_IDP) --no-audit --no-fund --silent; \
	else $(NO_NPM) "the SAML identity-provider tests"; fi

upstream: $(UPSTREAM_STAMP) $(SAML_IDP_STAMP)

# Binary wheels of Passgate's dependencies for this interpreter: tests/deploy installs the
# wheel into a clean venv from them, without reaching the package index during the tests.
WHEELHOUSE := dist/wheelhouse
WHEELHOUSE_STAMP := $(WHEELHOUSE)/.passgate-deps

$(WHEELHOUSE_STAMP): pyproject.toml | $(BIN)/python
	@echo "downloading the wheels of Passgate's dependencies into $(WHEELHOUSE) (pip, quiet)"
	PYTHON=$(BIN)/python scripts/wheelhouse $(WHEELHOUSE)
	@touch $@

wheelhouse: $(WHEELHOUSE_STAMP)

wheel: install
	rm -f dist/passgate-*.whl
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir dist .
	@ls dist/passgate-*.whl

# scripts/build-image: the wheels, a Debian base from mmdebstrap (once), then the image.
image: install
	PYTHON=$(BIN)/python scripts/build-image

test: install upstream wheelhouse
	@failed=""; \
	$(MAKE) lint || failed="$$failed lint"; \
	$(MAKE) typecheck || failed="$$failed typecheck"; \
	status=0; scripts/with-test-services $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	if [[ $$status -ne 0 ]]; then failed="$$failed pytest(exit $$status)"; fi; \
	if [[ -n $$failed ]]; then echo "make test: FAILED:$$failed" >&2; exit $$(( status ? status : 1 )); fi; \
	echo "make test: lint, typecheck and pytest passed"

lint: install
	@status=0; \
	$(BIN)/ruff check || status=1; \
	$(BIN)/ruff format --check || status=1; \
	exit $$status

format: install
	$(BIN)/ruff format
	$(BIN)/ruff check --fix

# src/passgate (the packages in pyproject's [tool.mypy]), then the benchmark.
typecheck: install
	@status=0; \
	$(BIN)/mypy || status=1; \
	$(BIN)/mypy -p bench || status=1; \
	exit $$status

pytest: install upstream wheelhouse
	scripts/with-test-services $(BIN)/pytest $(PYTEST_ARGS)

bench: install
	scripts/with-test-services $(BIN)/python -m bench.run $(BENCH_ARGS)

# Passgate and the performance peer (../shared/peers/oidc-provider), each alone on core 0
# in turn, the load on core 1. Started pinned to core 0 so that the PostgreSQL which
# with-test-services starts runs on the server's side too; the bench then moves itself.
bench-peer: install
	taskset -c 0 scripts/with-test-services $(BIN)/python -m bench.run --peer $(BENCH_ARGS)

clean:
	rm -rf var build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis src/*.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
