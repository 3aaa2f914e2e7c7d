# Switchyard: the one entry point. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
EDITABLES := -e libs/common -e services/keyvault -e services/router -e services/chat-api -e tools/devstack
PY_SOURCES := libs/common/src/switchyard_common services/keyvault/src services/router/src services/chat-api/src tools/devstack/src tests bench

.PHONY: help install web-deps protos protos-check lint format typecheck test test-unit fuzz dev bench bench-setup bench-gateway bench-floor bench-keyvault bench-router bench-revocation lock clean

help: ## list every target
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

$(INSTALLED): requirements/dev.lock libs/common/pyproject.toml services/keyvault/pyproject.toml services/router/pyproject.toml services/chat-api/pyproject.toml tools/devstack/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(EDITABLES)
	touch $@

install: $(INSTALLED) ## create .venv and install every service, tool and test dependency from the lock

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

web-deps: ## Debian's chromium for the web app's browser tests (tests/web); apt-get installs it when missing
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "make web-deps: $(CHROMIUM) is missing and there is no apt-get; install Chromium" >&2; exit 1; }; \
	  echo "installing Debian's chromium for tests/web"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "make web-deps: $(CHROMIUM) is still missing after apt-get" >&2; exit 1; }

protos: $(INSTALLED) ## regenerate Python gRPC/protobuf modules (with .pyi stubs) from protos/
	$(BIN)/python -m switchyard_dev.protogen

protos-check: $(INSTALLED) ## fail if the generated modules are stale against protos/
	$(BIN)/python -m switchyard_dev.protogen --check

lint: $(INSTALLED) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(INSTALLED) ## mypy --strict on services, shared code, tools and tests
	$(BIN)/mypy $(PY_SOURCES)

# Workers for pytest (pytest-xdist): every test has its own database, ports and processes; 0 runs
# them in pytest's own process (needed for -s output, e.g. the load figures).
TEST_WORKERS ?= 2

test: protos-check lint typecheck web-deps ## the whole suite: stale protos, lint, types, then pytest on TEST_WORKERS workers (its summary line last)
	$(BIN)/pytest -n $(TEST_WORKERS)

# One process on purpose: each xdist worker imports and collects the whole suite again, which on two
# cores costs more than the split saves (46 s serial, 64 s on two workers, measured).
test-unit: $(INSTALLED) ## the fast tier (under a minute): only the tests that start no process and open no database (tests/support/tiers.py)
	$(BIN)/pytest -q -m unit

FUZZ_CASES ?= 300
FUZZ_SEED ?= $(shell date +%s)

fuzz: $(INSTALLED) ## fuzz chat-api from its OpenAPI document on the whole stack, large (FUZZ_CASES per operation and mode, FUZZ_SEED)
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_SEED=$(FUZZ_SEED) $(BIN)/pytest -q -s -p no:cacheprovider tests/chat_api/test_fuzz.py::test_fuzz_every_operation

# Where `make dev` keeps its state: the checkout's own .dev/, whichever checkout runs make.
SWITCHYARD_DEV_DIR ?= $(CURDIR)/.dev

dev: $(INSTALLED) protos ## regenerate protos, then run the whole stack on embedded defaults (PostgreSQL, NATS, dev CA, dev key, demo provider) until Ctrl-C
	SWITCHYARD_DEV_DIR=$(SWITCHYARD_DEV_DIR) $(BIN)/python -m switchyard_dev.devstack

bench: bench-keyvault bench-router bench-revocation bench-gateway ## every benchmark; each prints ratios against a reference measured in the same run

bench-setup: ## install the gateway benchmark's tools and peers once (wrk, nginx+lua via apt; LiteLLM, Portkey under /tmp)
	PYTHON=$(PYTHON) bench/gateway/setup_peers.sh

bench-gateway: $(INSTALLED) bench-setup ## /v1/chat/completions: direct vs Switchyard vs LiteLLM vs Portkey, one run (~20 min; CONC, DURATION, REPS)
	bench/gateway/run.sh

bench-floor: $(INSTALLED) bench-setup ## the bare hops of our architecture (uvicorn → mTLS gRPC → httpcore) vs Switchyard vs Portkey, one run
	FLOOR=1 MODES=nonstream LITELLM=0 bench/gateway/run.sh

bench-keyvault: $(INSTALLED) ## Decrypt throughput over mTLS gRPC vs `openssl speed` (ratio)
	$(BIN)/python bench/keyvault_decrypt.py

bench-router: $(INSTALLED) ## router latency/CPU overhead vs direct provider calls, Decrypts per request, revocation propagation
	$(BIN)/python bench/router_overhead.py

REVOCATION_TRIALS ?= 200

bench-revocation: $(INSTALLED) ## DELETE → every router purged (3 routers), Decrypts per chat, memory per open stream (~2 min; REVOCATION_TRIALS)
	$(BIN)/python bench/revocation_fanout.py --trials $(REVOCATION_TRIALS)

IMAGE_REGISTRY ?= switchyard
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGE_SERVICES := keyvault router chat-api

.PHONY: images deploy-check

images: ## build the service images as IMAGE_REGISTRY/<service>:IMAGE_TAG (default switchyard, git sha); needs a Docker engine
	@docker info >/dev/null 2>&1 || { echo "make images: no Docker engine reachable (docker info failed); start one or set DOCKER_HOST" >&2; exit 1; }
	@for service in $(IMAGE_SERVICES); do \
	  echo "building $(IMAGE_REGISTRY)/$$service:$(IMAGE_TAG)"; \
	  docker build --file services/$$service/Dockerfile --tag $(IMAGE_REGISTRY)/$$service:$(IMAGE_TAG) . || exit 1; \
	done

deploy-check: $(INSTALLED) ## render every deploy/k8s overlay (kubectl kustomize), validate it strictly, check its security properties
	$(BIN)/pytest -q tests/deploy

lock: $(INSTALLED) ## re-resolve requirements/*.lock from requirements/*.in (needs network)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements/keyvault.in -o requirements/keyvault.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements/router.in -o requirements/router.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements/chat-api.in -o requirements/chat-api.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements/dev.in -o requirements/dev.lock

clean: ## remove the virtualenv, caches and dev state (.dev: certificates, keys, NATS data)
	rm -rf $(VENV) .dev .pytest_cache .mypy_cache .ruff_cache test-output
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
