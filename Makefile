# Two commands set everything up on a machine with Python 3.11 and make:
#   make book   - virtual environment, pinned dependencies, and the published book in _build/html,
#                 built from the committed full-profile snapshot (book/executed/full/): no execution
#   make test   - every chapter executed with papermill (ci profile) into book/executed/ci/, the ci
#                 book in _build/ci/html, then the whole test suite (browser test on both books)
# Options: PROFILE=full reruns the chapters whose snapshot is stale or missing, at paper scale,
# before building; PROFILE=ci builds the smoke run into _build/ci/html; DEVICE=cuda places the
# chapters that declare a device there; THREADS=0 lets the chapters that declare a threads
# parameter use every core; FORCE=1 reruns every chapter; PYTHON=python3.11 picks
# the interpreter.

PYTHON ?= python3
PROFILE ?=
DEVICE ?=
FORCE ?=
THREADS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test test-fast status benchmark clean sync

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ntkbook needs Python 3.11 or newer, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/ntkbook book $(if $(PROFILE),--profile $(PROFILE)) $(if $(DEVICE),--device $(DEVICE)) $(if $(THREADS),--threads $(THREADS)) $(if $(FORCE),--force)

test: $(STAMP)
	$(BIN)/ntkbook book --profile ci
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not browser"

status: $(STAMP)
	$(BIN)/ntkbook status --profile $(or $(PROFILE),full)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/ntk_benchmark.py

sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf _build book/chapters book/executed/ci
