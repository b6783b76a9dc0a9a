# Quick start:  make book   (execute every chapter, build the HTML book)
#               make test   (the whole test suite, with a smoke build of the book)
#               make test-fast (the tests not marked slow: about 3 minutes)
#               make lab    (edit and run the chapters in JupyterLab)
PYTHON  ?= python3.11
VENV    ?= .venv
PROFILE ?= auto
# test processes (pytest-xdist): each test file runs whole in one of them
TEST_WORKERS ?= 2
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: book lab test test-fast lint sync clean help

help:
	@echo "make book [PROFILE=auto|cpu|gpu|smoke]  execute chapters and build book/_build/html"
	@echo "make lab [PROFILE=...]                  JupyterLab on the chapters (notebooks/NN_name.py open as notebooks)"
	@echo "make test                               run the test suite (includes a smoke book build)"
	@echo "make test-fast                          the tests not marked slow (about 3 minutes)"
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

# JupyterLab with jupytext: a chapter's .py opens as a notebook (the default viewer set in
# .jupyter/labconfig, found through JUPYTER_CONFIG_PATH, so nothing is written to the user's
# own Jupyter settings) and saving it updates its paired notebooks/ipynb/*.ipynb. A PROFILE
# other than auto becomes what the chapters' `profile = "auto"` means (V1LIB_PROFILE).
# LAB_DIR: the folder JupyterLab serves; LAB_ARGS: more options for `jupyter lab`
# (e.g. --port=8899, or --allow-root in a container).
LAB_DIR  ?= .
LAB_ARGS ?=
lab: $(STAMP)
	cd $(LAB_DIR) && \
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	$(if $(filter-out auto,$(PROFILE)),V1LIB_PROFILE=$(PROFILE)) \
	$(abspath $(BIN))/jupyter lab --ServerApp.root_dir=. --ServerApp.default_url=/lab/tree/notebooks $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/ruff check v1lib tests notebooks benchmarks
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check v1lib tests notebooks benchmarks

sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf book/_build book/chapters/*.ipynb book/chapters/.*.stamp.json
