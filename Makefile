# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit clean services bench-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

## make demo: set up and run the main job (synthetic fleet -> embedded chDB)
demo: $(VENV)/.installed
	$(BIN)/gpufleet demo

## what `pip install 'gpufleet[collector]'` would install, resolved by pip against the index
## now (the tests read it offline: tests/unit/test_extras.py)
$(VENV)/collector-resolution.json: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --dry-run --ignore-installed --report $@ '.[collector]'

## services the tests start themselves need their binaries (Mosquitto from Debian)
services:
	@bash scripts/install-test-services

## what benchmarks/ compares against and the tests do not need (VictoriaMetrics from Debian)
bench-tools:
	@bash scripts/install-bench-tools

## make test: set up with test dependencies, lint, type-check, run the whole suite
test: $(VENV)/.installed-test $(VENV)/collector-resolution.json services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) gpufleet-data .mypy_cache .ruff_cache .pytest_cache
