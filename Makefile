PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest chaos load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/realtime demo
	@echo
	@echo "HTTP API     http://$(HOST):$(PORT)/api/docs"
	@echo "WebSocket    ws://$(HOST):$(PORT)/ws/orders/?token=TOKEN"
	@echo "Health       http://$(HOST):$(PORT)/health/ready"
	@echo "Metrics      http://$(HOST):$(PORT)/metrics"
	@echo "Log          logs/websocket.log"
	@echo
	$(BIN)/realtime serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy realtime chaos

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

test: lint typecheck pytest

LOAD_ARGS ?=
load: $(VENV)/.dev-installed
	$(BIN)/python -m loadtests.run $(LOAD_ARGS)

PROFILE ?= quick
chaos: $(VENV)/.dev-installed
	$(BIN)/python -m chaos run --profile $(PROFILE) --report chaos-report

clean:
	rm -rf $(VENV) db.sqlite3 logs reports chaos-report .pytest_cache .mypy_cache .ruff_cache
