# Spine Care Assistant — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(CURDIR)/$(VENV)/bin
MODEL   := models/spine.tar.gz
SPACY   := models/spacy/en_miss/meta.json
STAMP   := $(VENV)/.installed
TRAIN_INPUTS := config.yml domain.yml content/red_flags.yml $(shell find data -name '*.yml' 2>/dev/null) $(wildcard spine_nlu/*.py) spine_rasa/components.py spine_rasa/policies.py

export PATH := $(BIN):$(PATH)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)

.PHONY: help install browser spacy train migrate retention rotate-keys staff-user run run-prod test test-fast lint eval bench lock lock-bench clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv with Python 3.10 and install the pinned dependencies (idempotent)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@py=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(VENV)/bin/python ] || [ "$$($(VENV)/bin/python -c 'import sys;print(sys.version_info[:2]==(3,10))')" != True ]; then \
	  echo "Creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip<25"
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@

browser: ## Install Debian's chromium for the browser tests (apt; needs root). Playwright never downloads one
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -1)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "Run: sudo apt-get install chromium   (browser tests skip locally without it; CI installs it)"; fi

spacy: $(SPACY) ## Build the spaCy pipeline (blank "en" + lookups + EntityRuler) under models/spacy/

$(SPACY): content/spacy_patterns.yml spine_nlu/build_spacy.py | $(STAMP)
	$(BIN)/python -m spine_nlu.build_spacy

train: $(MODEL) ## Train the Rasa model (skipped when nothing changed)

$(MODEL): $(TRAIN_INPUTS) $(SPACY) | $(STAMP)
	@# Rasa fingerprints the spaCy model by its path only: force a full retrain when it was rebuilt.
	@force=""; if [ -f $(MODEL) ] && [ $(SPACY) -nt $(MODEL) ]; then force="--force"; fi; \
	start=$$(date +%s); \
	$(BIN)/rasa train --fixed-model-name spine --out models $$force && touch $(MODEL) && \
	echo "Training finished in $$(( $$(date +%s) - start ))s"

migrate: $(STAMP) ## Apply the database migrations (DATABASE_URL, default var/spine.db); make run does it too
	@mkdir -p var
	$(BIN)/python -m spine_db.migrate upgrade

retention: migrate ## Delete conversations and closed requests past their windows (RETENTION_*_DAYS; DRY_RUN=1 counts only)
	$(BIN)/python -m spine_db.retention $(if $(DRY_RUN),--dry-run,)

rotate-keys: migrate ## Re-encrypt names and numbers in requests with the first FIELD_ENCRYPTION_KEYS key
	$(BIN)/python -m spine_db.crypto rotate

staff-user: migrate ## Create a console account: make staff-user NAME=asha ROLE=agent|admin (asks the password)
	@test -n "$(NAME)" || { echo "usage: make staff-user NAME=<username> [ROLE=agent|admin]"; exit 2; }
	$(BIN)/python -m console.users add "$(NAME)" --role "$(or $(ROLE),agent)"

run: train ## Start the action server (:5055), Rasa (:5005) and the demo website (:8000); Ctrl-C stops all
	@mkdir -p var
	@# One Rasa worker per core, at most two (~0.8 GB each); they share the conversation locks
	@# and the widget's once-only claims through var/spine-locks.db.
	SANIC_WORKERS=$${SANIC_WORKERS:-$$(( $$(nproc) < 2 ? $$(nproc) : 2 ))} $(BIN)/honcho start -f Procfile

run-prod: train ## Production profile: PostgreSQL (DATABASE_URL), Redis (REDIS_URL), optional RabbitMQ (RABBITMQ_URL)
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "run-prod needs DATABASE_URL=postgresql://... and REDIS_URL=redis://... (RABBITMQ_URL optional)"; exit 2; }
	ENV=production RASA_ENDPOINTS=endpoints.prod.yml RASA_CREDENTIALS=credentials.prod.yml \
	ACTION_ENDPOINT_URL=$${ACTION_ENDPOINT_URL:-http://127.0.0.1:$${ACTIONS_PORT:-5055}/webhook} \
	$(BIN)/honcho start -f Procfile

test: train ## Run the whole test suite (sets itself up first)
	$(BIN)/pytest --durations=20

test-fast: $(STAMP) $(SPACY) ## Unit tests only: no model, no servers, no databases (seconds)
	$(BIN)/pytest -q -n auto tests/unit

lint: $(STAMP) ## ruff + black --check + mypy
	$(BIN)/ruff check .
	$(BIN)/black --check .
	$(BIN)/mypy

eval: train ## Held-out accuracy (intent, response selector) and confusion pairs
	$(BIN)/python -m spine_nlu.evaluate

BENCH_STAMP := .venv-bench/.installed

$(BENCH_STAMP): requirements-bench.txt constraints-bench.txt
	@py=$$(scripts/find-python) || exit 1; rm -rf .venv-bench && "$$py" -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet "pip<25"
	.venv-bench/bin/python -m pip install --quiet -r requirements-bench.txt -c constraints-bench.txt
	@touch $@

bench: train $(BENCH_STAMP) ## Ours vs stock Rasa side by side (quality, load with locust, memory, start, training) -> bench/results.md
	$(BIN)/python -m bench.run

lock: ## Re-resolve all dependencies in one pass and rewrite constraints.txt
	rm -rf /tmp/spine-lock && "$$(scripts/find-python)" -m venv /tmp/spine-lock
	/tmp/spine-lock/bin/pip install --quiet "pip<25" && /tmp/spine-lock/bin/pip install --quiet -r requirements-dev.txt
	{ echo "# Full lock of the resolved environment (python 3.10, rasa 3.6.21). Regenerate with 'make lock'."; \
	  /tmp/spine-lock/bin/pip freeze --exclude-editable | grep -vE '^(pip|setuptools|wheel)=='; } > constraints.txt

lock-bench: ## Re-resolve the benchmark's own environment (locust) and rewrite constraints-bench.txt
	rm -rf /tmp/spine-lock-bench && "$$(scripts/find-python)" -m venv /tmp/spine-lock-bench
	/tmp/spine-lock-bench/bin/pip install --quiet "pip<25" && /tmp/spine-lock-bench/bin/pip install --quiet -r requirements-bench.txt
	{ echo "# Lock of .venv-bench (locust runs in its own environment and process). Regenerate: make lock-bench."; \
	  /tmp/spine-lock-bench/bin/pip freeze --exclude-editable | grep -vE '^(pip|setuptools|wheel)=='; } > constraints-bench.txt

clean: ## Remove trained models and caches (keeps .venv)
	rm -rf models/*.tar.gz models/spacy .rasa .pytest_cache .mypy_cache .ruff_cache results
