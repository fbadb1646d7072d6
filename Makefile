# Everyday commands. `make local` and `make test` need no Docker.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COMPOSE ?= docker compose

.PHONY: help venv env local local-down local-status evaluate build up down start stop remove \
	logs exec tools node-tools test test-engine test-controls mutation lint bench clean train \
	versions promote rollback backup restore local-backup local-restore prune local-prune \
	k8s-files capacity profile bench-compare bench-roundtrip

help:
	@echo "make local       start the local twin (PostgreSQL, API, nginx) on 8080/8443"
	@echo "make local-down  stop it"
	@echo "make backup / restore FILE=...   pg_dump of the compose database / load one into an empty one"
	@echo "make local-backup / local-restore FILE=...   the same for the local twin"
	@echo "make prune DAYS=90 / local-prune DAYS=90   delete log rows older than DAYS"
	@echo "make evaluate    train from the twin's database and print the workshop's accuracy"
	@echo "make train [ARGS='--features age,salary,gender']  a candidate version (twin)"
	@echo "make versions    list them     make promote VERSION=N [ARGS=--force]     make rollback"
	@echo "make env         create .env, .env_api, .env_db, .env_db_owner, .env_db_app (generated secrets)"
	@echo "make build       build the images        make up      build and start (docker compose)"
	@echo "make start/stop  start/stop the containers   make down  stop and remove them (data kept)"
	@echo "make remove      remove containers AND volumes (the database, certificates)"
	@echo "make logs        follow the logs         make exec    a shell in an api container"
	@echo "make test        run every test tier (unit, integration, e2e, browser)"
	@echo "make test-controls  break each claim on purpose in a copy: its proving test must fail"
	@echo "make mutation    mutmut on the pure modules: score >= 90 %, survivors in docs/mutation.md"
	@echo "make test-engine docker-compose.yml on a Docker engine of its own (docs/engine-tier.md)"
	@echo "make lint        ruff, mypy and the import contracts (lint-imports)"
	@echo "make bench       benchmark /predict through nginx (writes bench/results/)"
	@echo "make profile     where a worker's time goes under /predict load (py-spy, CPU by service)"
	@echo "make bench-compare VARIANTS=\"REV REV:NAME=VALUE\"  revisions side by side, one sitting"
	@echo "make bench-roundtrip  what one round trip to PostgreSQL costs on this machine"
	@echo "make capacity    rows/s one PostgreSQL commits through the log at 1, 4, 16, 64 writers"
	@echo "make k8s-files [K8S_OVERLAY=production]   copy the env files into a kustomize overlay"

# The Debian packages each command needs (system-packages.txt), installed only when missing.
ENSURE_PACKAGES := $(PYTHON) scripts/ensure_system_packages.py
# The virtualenv in two layers: the API package and the twin's needs (what `make local` runs),
# then the tests' and linters' tools. uv installs them, one resolver run per layer, several
# times faster than pip. Like pip, it compiles the bytecode at install, even where
# PYTHONDONTWRITEBYTECODE is set (else every start of the API would compile sklearn again).
UV_PIN := uv==0.13.9
UV_INSTALL := env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/uv pip install -q --compile-bytecode
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

$(RUNTIME): api/requirements.txt api/pyproject.toml requirements-local.txt
	@$(ENSURE_PACKAGES) base
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q --disable-pip-version-check $(UV_PIN)
	$(UV_INSTALL) --python $(PY) -e api -r requirements-local.txt
	@touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	$(UV_INSTALL) --python $(PY) -e api -r requirements-dev.txt
	@touch $@

venv: $(DEV)

# checkov pins packaging<24 (pytest needs 24+), so it gets an environment of its own.
TOOLS_VENV ?= .venv-tools
$(TOOLS_VENV)/bin/checkov: requirements-tools.txt | $(RUNTIME)
	$(PYTHON) -m venv --without-pip $(TOOLS_VENV)
	$(UV_INSTALL) --python $(TOOLS_VENV)/bin/python -r requirements-tools.txt
	@touch $@

tools: $(TOOLS_VENV)/bin/checkov

# Needs only python3: Docker users need no virtualenv.
env:
	$(PYTHON) -m local.twin env

local: $(RUNTIME)
	@$(ENSURE_PACKAGES) local
	$(PY) -m local.twin up

local-down: $(RUNTIME)
	$(PY) -m local.twin down

local-status: $(RUNTIME)
	$(PY) -m local.twin status

# The workshop's result, trained from the twin's database: "Accuracy: 89.0%".
evaluate: $(RUNTIME)
	$(PY) -m local.twin run -- python -m app evaluate

# The model lifecycle on the twin's database (with compose:
# docker compose run --rm migrate python -m app promote N). Workers switch without a restart.
train: $(PY)
	$(PY) -m local.twin run -- python -m app train $(ARGS)

versions: $(PY)
	$(PY) -m local.twin run -- python -m app versions

promote: $(PY)
	@test -n "$(VERSION)" || { echo "usage: make promote VERSION=N [ARGS=--force]"; exit 2; }
	$(PY) -m local.twin run -- python -m app promote $(VERSION) $(ARGS)

rollback: $(PY)
	$(PY) -m local.twin run -- python -m app rollback

ENV_FILES := .env .env_api .env_db .env_db_owner .env_db_app

$(ENV_FILES):
	@echo "missing $@: run 'make env' (generated secrets) or copy $@.example and edit it"; exit 1

build:
	$(COMPOSE) build

# --wait: returns when every service is healthy (and migrate has exited 0), else fails.
up: $(ENV_FILES)
	$(COMPOSE) up -d --build --wait

start:
	$(COMPOSE) start

stop:
	$(COMPOSE) stop

down:
	$(COMPOSE) down

remove:
	$(COMPOSE) down --volumes --remove-orphans

logs:
	$(COMPOSE) logs -f

exec:
	$(COMPOSE) exec api sh

# The browser tier's Node tools (Lighthouse, axe-core), as tests/browser/package-lock.json pins
# them; installed again only when that file changes.
NODE_TOOLS := tests/browser/node_modules/.installed
$(NODE_TOOLS): tests/browser/package.json tests/browser/package-lock.json
	@$(ENSURE_PACKAGES) test
	npm ci --prefix tests/browser --no-audit --no-fund
	@touch $@

node-tools: $(NODE_TOOLS)

test: $(DEV) tools $(NODE_TOOLS)
	@$(ENSURE_PACKAGES) local test
	$(PY) -m pytest

# The negative controls (tests/controls, docs/claims.md): each applies a deliberate breakage to a
# throwaway copy of the checkout and passes only if the claim's proving test then fails.
test-controls: $(DEV)
	@$(ENSURE_PACKAGES) local test
	$(PY) -m tests.controls

# mutmut on the scorer, features, drift, strict JSON and request ids (scripts/mutation.py), in an
# environment of its own (requirements-mutation.txt says why).
MUTATION_VENV ?= .venv-mutation
$(MUTATION_VENV)/bin/mutmut: requirements-mutation.txt requirements-dev.txt | $(RUNTIME)
	$(PYTHON) -m venv --without-pip $(MUTATION_VENV)
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/uv pip install -q --python $(MUTATION_VENV)/bin/python \
	  -e api -r requirements-mutation.txt
	@touch $@

mutation: $(MUTATION_VENV)/bin/mutmut
	$(MUTATION_VENV)/bin/python scripts/mutation.py

# docker-compose.yml on a real Docker engine the tier starts itself, with stand-in base images
# (no registry here): docs/engine-tier.md. Not part of `make test`; .ci/run runs it after.
test-engine: $(DEV)
	@$(ENSURE_PACKAGES) engine
	$(PY) -m pytest tests/engine -p no:cacheprovider --durations=0

# lint-imports: the layer contracts of api/app ([tool.importlinter] in pyproject.toml).
lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(DEV)
	@$(ENSURE_PACKAGES) local bench
	$(PY) bench/run.py

profile: $(DEV)
	@$(ENSURE_PACKAGES) local bench
	$(PY) bench/profile.py

VARIANTS ?= HEAD~1 HEAD
bench-compare: $(DEV)
	@$(ENSURE_PACKAGES) local bench
	$(PY) bench/compare.py $(VARIANTS)

# What one round trip to PostgreSQL costs here (docs/benchmarks.md, issue 19's fourth sitting).
bench-roundtrip: $(DEV)
	@$(ENSURE_PACKAGES) local
	$(PY) bench/roundtrip.py

# The database side of docs/capacity.md (not run by the tests; a quiet machine, like bench).
capacity: $(DEV)
	@$(ENSURE_PACKAGES) local
	$(PY) bench/capacity.py

clean: local-down
	rm -rf .local artifacts

# Backups: pg_dump's custom format as the owner, named by UTC time; written to a temporary name
# first, so a failed dump never looks like a backup. They hold personal data: each dump 0600
# (umask 077) in a 0700 folder (made so even if it was there before). The password comes from the db
# container's own environment (.env_db_owner), never from this file or a command line.
BACKUP_DIR ?= backups
BACKUP_NAME = $(BACKUP_DIR)/social-ads-$$(date -u +%Y%m%dT%H%M%SZ).dump
PG_AS_OWNER = PGPASSWORD="$$DB_OWNER_PASSWORD" PGHOST=127.0.0.1 PGUSER="$$DB_OWNER_USER" PGDATABASE="$$POSTGRES_DB"
RETENTION_DAYS ?= 90
DAYS ?= $(RETENTION_DAYS)

backup:
	@install -d -m 700 $(BACKUP_DIR)
	@umask 077; name=$(BACKUP_NAME); \
	$(COMPOSE) exec -T db sh -c '$(PG_AS_OWNER) pg_dump --format=custom' > "$$name.partial" \
	  && mv "$$name.partial" "$$name" && echo "wrote $$name" \
	  || { rm -f "$$name.partial"; echo "backup failed"; exit 1; }

# Into an empty database: `make remove` (deletes the volumes), `docker compose up -d db` (its
# init creates the roles and the owner's empty database), `make restore FILE=...`, `make up`.
restore:
	@test -f "$(FILE)" || { echo "usage: make restore FILE=backups/social-ads-....dump"; exit 1; }
	$(COMPOSE) exec -T db sh -c '$(PG_AS_OWNER); export PGPASSWORD PGHOST PGUSER PGDATABASE; \
	  test "$$(psql -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = '"'"'public'"'"'")" = 0 \
	  || { echo "the database is not empty; restore into a new one"; exit 1; }; \
	  pg_restore --exit-on-error --single-transaction --no-owner --dbname="$$PGDATABASE"' < "$(FILE)"

local-backup: $(PY)
	$(PY) -m local.twin backup

local-restore: $(PY)
	@test -f "$(FILE)" || { echo "usage: make local-restore FILE=backups/social-ads-....dump"; exit 1; }
	$(PY) -m local.twin restore "$(FILE)"

# Retention, as the owner (the one-shot migrate service's credentials). Run it daily: docs/operations.md,
# "Retention".
prune:
	$(COMPOSE) run --rm migrate python -m app prune --older-than $(DAYS)

local-prune: $(PY)
	$(PY) -m local.twin run -- python -m app prune --older-than $(DAYS)

# Kubernetes (docs/kubernetes.md): kustomize reads files only under an overlay's own folder, so
# the same env files compose reads (secrets: git-ignored there too) and the two non-secret files
# the ConfigMaps carry are copied into deploy/kubernetes/overlays/$(K8S_OVERLAY)/files/. Then:
# kubectl apply -k deploy/kubernetes/overlays/$(K8S_OVERLAY)
K8S_OVERLAY ?= dev
K8S_DIR ?= deploy/kubernetes
K8S_ENV_DIR ?= .
K8S_FILES = $(K8S_DIR)/overlays/$(K8S_OVERLAY)/files

k8s-files: $(addprefix $(K8S_ENV_DIR)/,$(ENV_FILES))
	@test -d $(K8S_DIR)/overlays/$(K8S_OVERLAY) || { echo "no overlay $(K8S_OVERLAY)"; exit 2; }
	install -d -m 700 $(K8S_FILES)
	install -m 600 $(addprefix $(K8S_ENV_DIR)/,$(ENV_FILES)) $(K8S_FILES)/
	install -m 644 nginx/limits.env db/init/10-roles.sh $(K8S_FILES)/
