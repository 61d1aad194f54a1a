# Day-to-day targets; CI runs ./scripts/test.sh (the `test` target).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test lint fmt check-readme bench validate

dev:
	python3 -m venv $(VENV) && $(PY) -m pip install -q -e ".[test]"

test:
	./scripts/test.sh

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

fmt:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

check-readme:
	$(PY) -m pytest -q tests/test_docs.py

validate:
	$(PY) scripts/validate_model.py

bench:
	$(PY) benchmarks/bench_diagnose.py
