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

.PHONY: run test lint typecheck venv sysdeps histories bench chaos clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.9

$(BIN)/motcua: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

venv: $(BIN)/motcua

# Debian packages the system uses, each checked by the file it provides: Graphviz (SVG
# diagrams), DejaVu fonts (Vietnamese PDFs), poppler (pdftotext, pdfsig: checking PDFs and
# signatures), NSS tools (certutil: pdfsig's trust store). Idempotent: nothing happens when
# all are present; otherwise one `apt-get update` and one install of the missing ones, as
# root. Not root: prints what is missing and how to install it, and goes on.
SYSDEPS := graphviz:/usr/bin/dot \
	fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	poppler-utils:/usr/bin/pdftotext poppler-utils:/usr/bin/pdfsig \
	libnss3-tools:/usr/bin/certutil

sysdeps:
	@missing=$$(for dep in $(SYSDEPS); do [ -e "$${dep#*:}" ] || echo "$${dep%%:*}"; done | sort -u | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $$missing"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1; } \
	      || echo "warning: could not install $$missing(apt-get failed); the features that need them are skipped"; \
	  else \
	    echo "note: missing Debian packages: $$missing(diagrams, PDF checks or signature checks that need them are skipped); install with: sudo apt-get install $$missing"; \
	  fi; \
	fi

run: venv sysdeps
	$(BIN)/python -m motcua.devstack

lint: venv
	$(BIN)/ruff check motcua tests bench
	$(BIN)/ruff format --check motcua tests bench

typecheck: venv
	$(BIN)/mypy

# The suite runs in PYTEST_WORKERS processes (pytest-xdist), each with its own servers,
# sandbox and data directory.
PYTEST_WORKERS ?= 2

test: venv sysdeps lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS)

# Benchmarks, each printing its figures (not part of `make test`). wrk drives the sandbox.
# engine_vs_twin: the YAML engine against a hand-written workflow, side by side (figures in
# bench/results/engine_vs_twin.json, explained in docs/performance.md); about 20 minutes at
# the default size on 2 cores (BENCH_ARGS="--open 1000": 11), BENCH_ARGS=--quick under one.
bench: venv sysdeps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || true; }
	$(BIN)/python bench/engine_vs_twin.py $(BENCH_ARGS)
	$(BIN)/python bench/api_submit.py
	$(BIN)/python bench/inbox_query.py
	$(BIN)/python bench/audit_append.py
	$(BIN)/python bench/replay_rate.py
	$(BIN)/python bench/audit_sizes.py
	$(BIN)/python bench/case_costs.py
	$(BIN)/python bench/sandbox_lookup.py
	$(BIN)/python bench/sign_certificate.py --runs 10

# Re-record the golden histories replayed by tests/test_replay.py (after a deliberate,
# patched behaviour change; keep the old files so old cases keep replaying).
# Bundles while workers are SIGKILLed, Temporal restarts and a registry is down, and
# malformed inputs: what completed without help, what stalled, duplicates per kind
# (bench/chaos.py; figures in bench/results/chaos.json, recorded in docs/reliability.md).
# Takes about a quarter of an hour at the default size; CHAOS_ARGS="--bundles 40" is quicker.
chaos: venv sysdeps
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

histories: venv
	$(BIN)/python -m tests.histories.record examples bundles edges

clean:
	rm -rf $(VENV) $(TOOLS) .data
