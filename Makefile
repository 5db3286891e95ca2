# Two entry points (see README): `make run` (the workflow on example_data/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: run test lint example-data bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,workflow]"
	touch $@

run: $(BIN)/.installed
	$(BIN)/snakemake -s workflows/Snakefile --cores $(CORES) --configfile config/config.yaml

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(CORES) --dist loadfile -q

example-data: $(BIN)/.installed
	$(BIN)/kratom-omics example-data example_data

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results logs .snakemake
