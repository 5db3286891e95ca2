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
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflows/Snakefile --cores $(CORES)
	@echo "Report: results/report.html (tables in results/tables, figures in results/figures)"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

example-data: $(BIN)/.installed
	$(BIN)/kratom-omics example-data example_data

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_loaders.py
	$(BIN)/python benchmarks/bench_differential.py

clean:
	rm -rf results logs .snakemake
