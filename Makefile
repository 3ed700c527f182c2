# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv (if needed) and installs PolicyWatch with what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/policywatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(BIN)/policywatch
	$(BIN)/policywatch demo

test: $(BIN)/policywatch
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2

lint: $(BIN)/policywatch
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) policywatch-demo .pytest_cache .ruff_cache
