# Two commands for a newcomer (see README):  make run   and   make test
# Each sets up what it needs first (a virtualenv in .venv), so a fresh machine needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
# The browser tests drive Debian's chromium; Playwright's own browser download cannot work offline.
CHROMIUM := /usr/bin/chromium
QUESTION ?= Which module provides the itemgetter() and attrgetter() functions used for sorting?

.PHONY: run ask api test lint setup setup-dev bench clean apt-lists

# The product: the web app on the embedded defaults, sample documents indexed, at http://localhost:8501.
run: $(RUNTIME)
	$(PY) -m ingest sample_docs/documents
	$(PY) -m app --server.address 127.0.0.1

# The same pipeline from the command line: index the samples and answer one question.
ask: $(RUNTIME)
	$(PY) -m ingest sample_docs/documents
	$(PY) -m generation ask "$(QUESTION)"

# The REST API on the same data, at http://127.0.0.1:8502 (ASKDOCS_REST_PORT); docs at /docs.
# One process owns the embedded store: stop `make run` first, or use a Chroma server (README "REST API").
api: $(RUNTIME)
	$(PY) -m ingest sample_docs/documents
	$(PY) -m app.api

test: $(DEV) $(CHROMIUM) apt-lists lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest

# Lint, format and type checks (pyproject.toml); the layering rule is a test (tests/test_layers.py).
lint: $(DEV)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: $(DEV)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m bench.foundation

# Ingestion, one file at a time against pipelined, on the Python manual (docs/benchmarks.md); ~15 min.
.PHONY: bench-ingest
bench-ingest: $(DEV) apt-lists
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m bench.ingest

setup: $(RUNTIME)
setup-dev: $(DEV)

$(RUNTIME): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first and alone, as the CPU build, so no later package can pull a CUDA torch.
	$(PIP) install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install --quiet -r requirements-dev.txt
	touch $@

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi

# The Python-FAQ benchmark's test fetches python3.11-doc with `apt-get download`, which needs apt's lists.
apt-lists:
	@if [ "$$(id -u)" = 0 ] && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt-get update -q; fi

clean:
	rm -rf $(VENV) .pytest_cache
