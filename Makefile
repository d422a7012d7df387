# Two commands for a newcomer (see README):  make run   and   make test
# Each sets up what it needs first (a virtualenv in .venv), so a fresh machine needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
QUESTION ?= Which module provides the itemgetter() and attrgetter() functions used for sorting?

.PHONY: run test setup setup-dev bench clean

run: $(RUNTIME)
	$(PY) -m ingest sample_docs/documents
	$(PY) -m generation ask "$(QUESTION)"

test: $(DEV)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest

bench: $(DEV)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m bench.foundation

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

clean:
	rm -rf $(VENV) .pytest_cache
