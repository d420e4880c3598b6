# Every target installs what it needs first, so a fresh clone needs nothing but `make <target>`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# torch/torchvision are installed first, as a matched pair (other PyPI torchvision builds break).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: install test test-slow demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n auto -m slow $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/repro demo --out out/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache
