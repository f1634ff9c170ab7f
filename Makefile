# Two commands matter: `make run` (the plugin behind the local Dify emulator, ready for any OpenAI client) and
# `make test` (everything, from a fresh clone). The venv is created with Python 3.12 and pinned dependencies.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)
# A python3.12 that really runs: on PATH (not a pyenv shim without 3.12 selected), else the newest pyenv 3.12.
PYTHON312 ?= $(shell for p in $$(command -v python3.12) $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
PORT ?= 8000
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: run gateway test lint unit e2e package check-package bench fuzz load clean venv node-deps redis-server

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@if [ ! -x $(PY) ]; then \
	  if [ -z "$(PYTHON312)" ]; then echo "error: Python 3.12 is required (python3.12 on PATH or installed by pyenv)" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $(PYTHON312)"; $(PYTHON312) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(PY) -m tools.demo --port $(PORT)

# The standalone gateway (gateway/, two gunicorn workers) on 127.0.0.1:8001 over the emulator's Service API.
GATEWAY_PORT ?= 8001
gateway: $(STAMP)
	$(PY) -m tools.gateway_demo --port $(GATEWAY_PORT)

test: $(STAMP) node-deps redis-server lint
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy --strict openai_bridge
	$(PY) -m mypy --strict gateway

# The official OpenAI Node SDKs (v4 and v7) for tests/e2e/test_node_sdk.py, pinned by tests/node/package-lock.json.
node-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$(CI)" = "true" ]; then echo "error: npm not found, and CI must run the Node SDK checks" >&2; exit 1; fi; \
	  echo "npm not found: the Node SDK checks will be skipped" >&2; \
	elif [ ! tests/node/node_modules/.package-lock.json -nt tests/node/package-lock.json ]; then \
	  npm ci --silent --no-audit --no-fund --prefix tests/node; fi

# Debian's redis-server for the gateway's shared-state tests (tests/gateway): installed where this runs as root.
redis-server:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server; }) \
	      && systemctl disable --now redis-server >/dev/null 2>&1 || true; \
	  elif [ "$(CI)" = "true" ]; then echo "error: redis-server not found, and CI must run the Redis checks" >&2; exit 1; \
	  else echo "redis-server not found (apt-get install redis-server): the Redis checks will be skipped" >&2; fi; \
	fi

# The full fuzzing budgets, per API (chat, responses, completions, models, routes, headers): 10,000 generated
# requests in-process, 600 through the real plugin process and 2,000 to the standalone gateway's WSGI app, plus
# malformed Dify streams (`make test` runs the same targets with small budgets). `$(PY) -m tests.fuzz.survey`
# lists the distinct violations past the first.
FUZZ_EXAMPLES ?= 10000
FUZZ_PLUGIN_EXAMPLES ?= 600
FUZZ_GATEWAY_EXAMPLES ?= 2000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_PLUGIN_EXAMPLES=$(FUZZ_PLUGIN_EXAMPLES) \
	  FUZZ_GATEWAY_EXAMPLES=$(FUZZ_GATEWAY_EXAMPLES) \
	  $(PY) -m pytest tests/fuzz tests/faults/test_event_fuzz.py --timeout=1800

# 100 concurrent streaming clients, 2,000 requests, one plugin process; fails on any error, cross-talk or RSS growth.
load: $(STAMP)
	$(PY) -m bench.load

# Performance figures, printed and saved under bench-results/. BENCH_PLUGIN_DIR=<folder> measures another endpoint
# plugin (same routes and settings) side by side.
bench: $(STAMP)
	$(PY) -m bench $(if $(BENCH_PLUGIN_DIR),--plugin-dir "$(BENCH_PLUGIN_DIR)")
	$(PY) -m bench.gateway

unit: $(STAMP)
	$(PY) -m pytest tests/unit

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

package: $(STAMP)
	$(PY) -m tools.package

check-package: $(STAMP)
	$(PY) -m tools.package --check

clean:
	rm -rf dist .pytest_cache .hypothesis bench-results
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
