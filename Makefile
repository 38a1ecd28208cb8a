# Shangliang 商量 — developer and CI entry points. Needs only Python ≥ 3.11 (python3 or python3.11).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: help venv .venv provision run test test-services lint bench bench-full clean distclean

help:
	@echo "make run            venv, migrate, demo data (empty DB only), serve http://$(HOST):$(PORT)"
	@echo "make test           the suite on the embedded default (SQLite + in-process Redis)"
	@echo "make test-services  the suite on PostgreSQL + Redis (SHANGLIANG_DATABASE_URL / _REDIS_URL)"
	@echo "make lint | bench | clean | distclean"

# The virtualenv: created once, reinstalled whenever pyproject.toml changes.
venv .venv: $(STAMP)

$(BIN)/python:
	@py='$(PYTHON)'; \
	if ! "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then py=python3.11; fi; \
	"$$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  || { echo "Python >= 3.11 is needed: install it or run make PYTHON=/path/to/python3.11" >&2; exit 1; }; \
	echo "$$py -m venv $(VENV)"; \
	"$$py" -m venv $(VENV) || { echo "venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

run: $(STAMP)
	$(BIN)/shangliang db upgrade
	$(BIN)/shangliang demo
	$(BIN)/shangliang serve --host $(HOST) --port $(PORT)

# Any non-zero pytest exit (including 5, "no tests collected") fails the target.
PYTEST := $(BIN)/pytest -q -x --durations=15

# Chromium, CJK fonts and poppler for the browser and QR tests: installed when missing (root or sudo), else the
# command to run is printed. .ci/run calls the same script.
provision:
	scripts/provision

test: $(STAMP) provision
	env -u SHANGLIANG_DATABASE_URL -u SHANGLIANG_REDIS_URL $(PYTEST)

test-services: export SHANGLIANG_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
test-services: export SHANGLIANG_REDIS_URL ?= redis://127.0.0.1:6379/0
test-services: $(STAMP) provision
	@echo "PostgreSQL: $$SHANGLIANG_DATABASE_URL  Redis: $$SHANGLIANG_REDIS_URL"
	$(PYTEST)

# ruff; the layers contract (.importlinter: no lower layer imports a higher one, docs/architecture.md); mypy.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# `make bench`: every benchmark at its --quick size (minutes; checks the scripts, figures not comparable).
# `make bench-full`: the sizes of docs/benchmarks.md (over an hour; on a quiet machine). Both need PostgreSQL
# (SHANGLIANG_DATABASE_URL's server; scratch databases sl_bench_*) and Redis (BENCH_REDIS_URL, default db 13).
SCALE_BENCH := bench_intake bench_fanout bench_replay bench_report bench_memory bench_board

bench: $(STAMP)
	$(BIN)/python bench/bench_locator.py --sizes 1000,10000 --claims 1000 --server-claims 200 --verify 50
	$(BIN)/python bench/eval_analysis.py
	$(BIN)/python bench/bench_detect.py --quick
	@for b in $(SCALE_BENCH); do echo "== bench/$$b.py --quick"; $(BIN)/python bench/$$b.py --quick; done

bench-full: $(STAMP)
	$(BIN)/python bench/bench_locator.py
	$(BIN)/python bench/eval_analysis.py
	$(BIN)/python bench/bench_detect.py
	@for b in $(SCALE_BENCH); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py; done

clean:
	rm -rf var .pytest_cache .ruff_cache tests/artifacts build dist
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
