# Every target installs what it needs first, so a fresh clone needs nothing but `make <target>`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# Every dependency comes from the hashed lock files (runtime for the image, dev = runtime + test +
# bench + parity here and in CI); `make lock` re-resolves them after a pyproject.toml change,
# `make lock LOCK_ARGS=--upgrade` moves every package to its newest release. torch/torchvision stay
# the matched pair in requirements/pins.txt.
LOCK_RUNTIME = requirements/runtime.lock
LOCK_DEV = requirements/dev.lock
UV_VERSION ?= 0.13.8
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' -c requirements/pins.txt $(LOCK_ARGS)
IMAGE ?= repro
PYTEST_ARGS ?=
SUITE_ARGS ?=

.PHONY: install lock test test-slow mutation demo bench gpu-profile parity clean smoke science science-pilot table2 table3 table4 table5 table7 table8 docker-build

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK_DEV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_DEV)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) -o $(LOCK_RUNTIME)
	$(UV_COMPILE) --extra test --extra bench --extra parity -c $(LOCK_RUNTIME) -o $(LOCK_DEV)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n auto -m slow $(PYTEST_ARGS)

# Mutation testing of metrics, losses, geometry and the verdict code (scripts/mutation.py; mutmut):
# make mutation MUTATION_ARGS="--modules losses --sample 40"
MUTATION_ARGS ?=
mutation: $(STAMP)
	$(BIN)/python scripts/mutation.py run $(MUTATION_ARGS)

demo: $(STAMP)
	$(BIN)/repro demo --out out/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Every paper cell's --random-init profile on one GPU (<10 min): measured step time and peak memory
# (torch + NVML), online and cached; regenerates docs/cost_model.md with them. Commit the result.
gpu-profile: $(STAMP)
	$(BIN)/python benchmarks/gpu_profile.py

# The released code beside ours on a CPU: make parity RELEASED_SRC=path/to/Depth-Anywhere
RELEASED_SRC ?=
PARITY_ARGS ?=
parity: $(STAMP)
	RELEASED_SRC="$(RELEASED_SRC)" $(BIN)/python benchmarks/parity/run_parity.py $(PARITY_ARGS)

smoke: $(STAMP)
	$(BIN)/repro suite smoke $(SUITE_ARGS)

# The confirmatory run with the design frozen from the pilot (docs/science_pilot.md); the pilot
# itself, then its power analysis: make science-pilot; repro suite design runs/science-pilot
science: $(STAMP)
	$(BIN)/repro suite science $(SUITE_ARGS)

science-pilot: $(STAMP)
	$(BIN)/repro suite science --scale pilot $(SUITE_ARGS)

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

# The image's user gets your UID/GID, so files it writes into bind-mounted folders stay yours
# (as root, the Dockerfile's default 1000: the image never runs as root).
DOCKER ?= docker
HOST_IDS = $(shell [ "$$(id -u)" = 0 ] || echo --build-arg UID=$$(id -u) --build-arg GID=$$(id -g))
docker-build:
	$(DOCKER) build --build-arg GIT_COMMIT=$$(git rev-parse HEAD) $(HOST_IDS) -t $(IMAGE) .

clean:
	rm -rf $(VENV) out .pytest_cache
