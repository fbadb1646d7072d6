# Everyday commands. `make local` and `make test` need no Docker.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COMPOSE ?= docker compose

.PHONY: help venv local local-down local-status evaluate up down logs test lint bench clean

help:
	@echo "make local       start the local twin (PostgreSQL, API, nginx) on 8080/8443"
	@echo "make local-down  stop it"
	@echo "make evaluate    train from the twin's database and print the workshop's accuracy"
	@echo "make up/down/logs  the same three services with docker compose"
	@echo "make test        run every test tier (unit, integration, e2e, browser)"
	@echo "make lint        ruff and mypy"
	@echo "make bench       benchmark /predict through nginx (writes bench/results/)"

# The Debian packages each command needs (system-packages.txt), installed only when missing.
ENSURE_PACKAGES := $(PYTHON) scripts/ensure_system_packages.py
# The virtualenv in two layers: the API package (what `make local` runs), then the tests' and
# linters' tools. uv installs them, one resolver run per layer, faster than pip. Like pip, it
# compiles the bytecode at install, even where PYTHONDONTWRITEBYTECODE is set (uv would skip
# it, and every start of the API would compile sklearn and pandas again).
UV_PIN := uv==0.13.9
UV_INSTALL := env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/uv pip install -q --compile-bytecode \
	--python $(PY)
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

$(RUNTIME): api/requirements.txt api/pyproject.toml
	@$(ENSURE_PACKAGES) base
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q --disable-pip-version-check $(UV_PIN)
	$(UV_INSTALL) -e api
	@touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	$(UV_INSTALL) -e api -r requirements-dev.txt
	@touch $@

venv: $(DEV)

local: $(RUNTIME)
	@$(ENSURE_PACKAGES) local
	$(PY) local/twin.py up

local-down: $(RUNTIME)
	$(PY) local/twin.py down

local-status: $(RUNTIME)
	$(PY) local/twin.py status

# The workshop's result, trained from the twin's database: "Accuracy: 89.0%".
evaluate: $(RUNTIME)
	$(PY) local/twin.py run -- python -m app evaluate

up:
	@test -f .env -a -f .env_db || { echo "create .env and .env_db from the *.example files first (or run make local once)"; exit 1; }
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f

test: $(DEV)
	@$(ENSURE_PACKAGES) local test
	$(PY) -m pytest

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(DEV)
	@$(ENSURE_PACKAGES) local bench
	$(PY) bench/run.py

clean: local-down
	rm -rf .local artifacts
