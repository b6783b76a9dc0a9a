# Quick start:  make book   (execute every chapter, build the HTML book)
#               make test   (the whole test suite, with a smoke build of the book)
PYTHON  ?= python3.11
VENV    ?= .venv
PROFILE ?= auto
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: book test lint sync clean help

help:
	@echo "make book [PROFILE=auto|cpu|gpu|smoke]  execute chapters and build book/_build/html"
	@echo "make test                               run the test suite (includes a smoke book build)"
	@echo "make sync                               pair notebooks/*.py with notebooks/ipynb/*.ipynb"
	@echo "make lint                               ruff"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU build of torch; pip takes a CUDA build where one is installed already
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q "torch>=2.2,<=2.14.1"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m v1lib book --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/ruff check v1lib tests notebooks benchmarks
	$(BIN)/python -m pytest -q -rs

lint: $(STAMP)
	$(BIN)/ruff check v1lib tests notebooks benchmarks

sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf book/_build book/chapters/*.ipynb book/chapters/.*.stamp.json
