# Two commands set everything up on a machine with Python 3.11 and make:
#   make book   - virtual environment, pinned dependencies, every chapter (ci profile), HTML in _build/html
#   make test   - the whole test suite (fast, slow and browser tests), same automatic set-up
# Options: PROFILE=full runs the paper-scale defaults; PYTHON=python3.11 picks the interpreter.

PYTHON ?= python3
PROFILE ?= ci
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test test-fast benchmark clean sync

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ntkbook needs Python 3.11 or newer, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/ntkbook book --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not browser"

benchmark: $(STAMP)
	$(BIN)/python benchmarks/ntk_benchmark.py

sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf _build book/chapters
