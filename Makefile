# Two entry points (see README): `make run` (the workflow on example_data/) and `make test`.
PYTHON ?= python3
CORES ?= 2
# Two environments. .venv is the workflow's: kratom-omics[workflow], what the workflow's conda
# environment holds (no test tools, and no dask: anndata imports dask in every job when it is
# installed, 0.4 s each). .venv-dev adds the test, lint and out-of-core extras.
VENV ?= .venv
DEV_VENV ?= .venv-dev
BIN := $(VENV)/bin
DEV_BIN := $(DEV_VENV)/bin

.PHONY: run test lint example-data bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[workflow]"
	touch $@

$(DEV_BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_BIN)/python -m pip install --quiet --upgrade pip
	$(DEV_BIN)/python -m pip install --quiet -e ".[test,workflow]"
	touch $@

# The package's bytecode, written once (compileall skips what is current): every job of the
# workflow and every CLI test starts a fresh interpreter, which compiles the sources again where
# bytecode is not written on import (PYTHONDONTWRITEBYTECODE, a read-only checkout).
run: $(BIN)/.installed
	$(BIN)/python -m compileall -q src
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -s workflows/Snakefile --cores $(CORES)
	@echo "Report: results/report.html (tables in results/tables, figures in results/figures)"

lint: $(DEV_BIN)/.installed
	$(DEV_BIN)/ruff check .
	$(DEV_BIN)/ruff format --check .
	$(DEV_BIN)/mypy --num-workers $(CORES)

# The workflow tests run Snakemake and its jobs in the workflow's environment (.venv), as
# `make run` does; everything else runs in .venv-dev.
test: lint $(BIN)/.installed
	$(DEV_BIN)/python -m compileall -q src
	PATH="$(CURDIR)/$(DEV_BIN):$$PATH" KRATOM_OMICS_WORKFLOW_BIN="$(CURDIR)/$(BIN)" \
	  $(DEV_BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

example-data: $(BIN)/.installed
	$(BIN)/kratom-omics example-data example_data

bench: $(DEV_BIN)/.installed
	$(DEV_BIN)/python benchmarks/bench_loaders.py
	$(DEV_BIN)/python benchmarks/bench_differential.py

clean:
	rm -rf results logs .snakemake
