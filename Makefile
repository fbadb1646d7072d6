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

$(PY): api/requirements.txt api/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e api -r requirements-dev.txt
	@touch $(PY)

venv: $(PY)

local: $(PY)
	$(PY) local/twin.py up

local-down: $(PY)
	$(PY) local/twin.py down

local-status: $(PY)
	$(PY) local/twin.py status

# The workshop's result, trained from the twin's database: "Accuracy: 89.0%".
evaluate: $(PY)
	$(PY) local/twin.py run -- python -m app evaluate

up:
	@test -f .env -a -f .env_db || { echo "create .env and .env_db from the *.example files first (or run make local once)"; exit 1; }
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f

test: $(PY)
	$(PY) -m pytest

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(PY)
	$(PY) bench/run.py

clean: local-down
	rm -rf .local artifacts
