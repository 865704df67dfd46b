# lanectl front door: each target does the obvious thing and nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install test bench demo lint clean soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check pip==25.3
	$(BIN)/pip install -q --disable-pip-version-check setuptools==84.2.1 wheel==0.48.0 Cython==3.3.1 numpy==2.4.6
	$(BIN)/pip install -q --disable-pip-version-check --no-build-isolation -e '.[test,bench,dev]'

test: install
	$(BIN)/python -m pytest tests --ignore=tests/bench $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m pytest tests/bench --benchmark-only $(PYTEST_ARGS)
	$(BIN)/lanectl bench --out bench-report

demo: install
	$(BIN)/lanectl demo --minutes 2 --scenario checkpoint

soak: install
	$(BIN)/lanectl mil --hours 24 --scenario mixed --seed 1 --json
	$(BIN)/lanectl mil --hours 24 --scenario mixed --seed 1 --camera --json

lint: install
	$(BIN)/ruff check controller hw_sim tests setup.py
	$(BIN)/ruff format --check controller hw_sim tests setup.py
	$(BIN)/mypy

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .benchmarks .hypothesis
	rm -f controller/vision/_framediff*.so controller/vision/_cells*.so controller/vision/_registration*.so controller/vision/_light*.so controller/vision/_light_only*.so controller/vision/_warp*.so controller/vision/_zone_edges*.so controller/vision/_refresh*.so controller/vision/_shadow*.so ext/*.c ext/*.html
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
