# Everything a fresh machine needs, from Python 3.11 alone.
# `make run` starts the whole system; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_PREFERENCE := only-system

.PHONY: run test lint typecheck venv sysdeps clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.9

$(BIN)/motcua: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

venv: $(BIN)/motcua

# System packages the diagrams need (Graphviz renders SVG). Idempotent: skipped when present.
sysdeps:
	@command -v dot >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else echo "note: Graphviz 'dot' is missing; SVG diagrams will be skipped (apt-get install graphviz)"; fi; }

run: venv sysdeps
	$(BIN)/python -m motcua.devstack

lint: venv
	$(BIN)/ruff check motcua tests bench
	$(BIN)/ruff format --check motcua tests bench

typecheck: venv
	$(BIN)/mypy

test: venv sysdeps lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(TOOLS) .data
