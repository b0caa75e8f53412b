# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv/bin
PORT ?= 8000

.PHONY: help install run test test-fast lint format bench services chromium clean

help:
	@echo "make run    start web, worker, beat and demo traffic (SQLite + embedded broker by default)"
	@echo "make test   the whole suite on PostgreSQL, Redis, real Celery workers and chromium"
	@echo "make lint   ruff, mypy, djlint"
	@echo "make bench  every benchmark under bench/"

$(UV):
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

install: | $(UV)
	@$$(command -v uv || echo $(UV)) sync --frozen --python $(PYTHON) --quiet
	@mkdir -p var

run: install
	@bash scripts/run.sh

services:
	@bash scripts/services.sh

chromium:
	@bash scripts/chromium.sh

test: install services chromium
	@bash scripts/test.sh

test-fast: install services
	@$(VENV)/pytest -m "not browser" -q

lint: install
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy config rollouts shadow evaluations
	$(VENV)/djlint templates --lint

format: install
	$(VENV)/ruff check --fix .
	$(VENV)/ruff format .

bench: install services
	@set -e; for b in bench/*.py; do echo "== $$b" >&2; $(VENV)/python $$b; done

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache test-artifacts
