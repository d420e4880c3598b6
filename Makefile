# Every target installs what it needs first, so a fresh clone needs nothing but `make <target>`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# torch/torchvision are installed first, as a matched pair (other PyPI torchvision builds break).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
SUITE_ARGS ?=

.PHONY: install test test-slow demo bench parity clean smoke science table2 table3 table4 table5 table7 table8 docker-build

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

# The released code beside ours on a CPU: make parity RELEASED_SRC=path/to/Depth-Anywhere
RELEASED_SRC ?=
PARITY_ARGS ?=
parity: $(STAMP)
	RELEASED_SRC="$(RELEASED_SRC)" $(BIN)/python benchmarks/parity/run_parity.py $(PARITY_ARGS)

smoke: $(STAMP)
	$(BIN)/repro suite smoke $(SUITE_ARGS)

science: $(STAMP)
	$(BIN)/repro suite science $(SUITE_ARGS)

table2: $(STAMP)
	$(BIN)/repro suite table2_matterport $(SUITE_ARGS)

table3: $(STAMP)
	$(BIN)/repro suite table3_zero_shot $(SUITE_ARGS)

table4: $(STAMP)
	$(BIN)/repro suite table4_structured3d $(SUITE_ARGS)

table5: $(STAMP)
	$(BIN)/repro suite table5_metric_ft $(SUITE_ARGS)

table7: $(STAMP)
	$(BIN)/repro suite table7_ratio $(SUITE_ARGS)

table8: $(STAMP)
	$(BIN)/repro suite table8_projection $(SUITE_ARGS)

docker-build:
	docker build --build-arg GIT_COMMIT=$$(git rev-parse HEAD) -t repro .

clean:
	rm -rf $(VENV) out .pytest_cache
