# Everyday commands. `make local` and `make test` need no Docker.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COMPOSE ?= docker compose

.PHONY: help venv local local-down local-status evaluate up down logs test lint bench clean \
	backup restore local-backup local-restore prune local-prune

help:
	@echo "make local       start the local twin (PostgreSQL, API, nginx) on 8080/8443"
	@echo "make local-down  stop it"
	@echo "make evaluate    train from the twin's database and print the workshop's accuracy"
	@echo "make up/down/logs  the same three services with docker compose"
	@echo "make test        run every test tier (unit, integration, e2e, browser)"
	@echo "make lint        ruff and mypy"
	@echo "make bench       benchmark /predict through nginx (writes bench/results/)"
	@echo "make backup      pg_dump of the compose database to backups/social-ads-<UTC time>.dump"
	@echo "make restore FILE=backups/...dump   load a dump into an empty compose database"
	@echo "make local-backup / local-restore FILE=...   the same for the local twin"
	@echo "make prune DAYS=90 / local-prune DAYS=90   delete log rows older than DAYS"

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

# Backups: pg_dump's custom format, named by UTC time; written to a temporary name first, so a
# failed dump never looks like a backup. The owner's password comes from the db container's
# own environment (.env_db), never from this file.
BACKUP_NAME = backups/social-ads-$$(date -u +%Y%m%dT%H%M%SZ).dump
PG_AS_OWNER = PGPASSWORD="$$POSTGRES_PASSWORD" PGHOST=127.0.0.1 PGUSER="$$POSTGRES_USER" PGDATABASE="$$POSTGRES_DB"
RETENTION_DAYS ?= 90
DAYS ?= $(RETENTION_DAYS)

backup:
	@mkdir -p backups
	@name=$(BACKUP_NAME); \
	$(COMPOSE) exec -T db sh -c '$(PG_AS_OWNER) pg_dump --format=custom' > "$$name.partial" \
	  && mv "$$name.partial" "$$name" && echo "wrote $$name" \
	  || { rm -f "$$name.partial"; echo "backup failed"; exit 1; }

# Into an empty database: `make down`, remove the pgdata volume, `docker compose up -d db`
# (its init creates the app role), `make restore FILE=...`, then `make up`.
restore:
	@test -f "$(FILE)" || { echo "usage: make restore FILE=backups/social-ads-....dump"; exit 1; }
	$(COMPOSE) exec -T db sh -c '$(PG_AS_OWNER); export PGPASSWORD PGHOST PGUSER PGDATABASE; \
	  test "$$(psql -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = '"'"'public'"'"'")" = 0 \
	  || { echo "the database is not empty; restore into a new one"; exit 1; }; \
	  pg_restore --exit-on-error --single-transaction --no-owner --dbname="$$PGDATABASE"' < "$(FILE)"

local-backup: $(PY)
	$(PY) local/twin.py backup

local-restore: $(PY)
	@test -f "$(FILE)" || { echo "usage: make local-restore FILE=backups/social-ads-....dump"; exit 1; }
	$(PY) local/twin.py restore "$(FILE)"

# Retention, as the owner. Run daily (cron, a systemd timer): see README "Retention".
prune:
	$(COMPOSE) exec -T api python -m app prune --older-than $(DAYS)

local-prune: $(PY)
	$(PY) local/twin.py run -- python -m app prune --older-than $(DAYS)
