"""House-style conventions (../shared/STYLE.md) checked across the public API, after scanpy's test."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import kratom_omics as kom
from kratom_omics import errors

NAMESPACES = ("io", "pp", "tl", "get", "pl", "report", "datasets")


def public_functions():
    for ns in NAMESPACES:
        module = importlib.import_module(f"kratom_omics.{ns}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield pytest.param(ns, name, obj, id=f"{ns}.{name}")


FUNCS = list(public_functions())


def test_namespaces_export_what_they_list():
    for ns in NAMESPACES:
        module = getattr(kom, ns)
        assert hasattr(module, "__all__"), ns
        for name in module.__all__:
            assert hasattr(module, name), f"kom.{ns}.{name} listed in __all__ but missing"
    assert kom.errors is errors


def test_import_is_lazy():
    code = (
        "import sys, kratom_omics; "
        "print(','.join(m for m in ('pandas', 'anndata', 'scanpy', 'matplotlib', 'scipy', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


HEAVY = ("anndata", "dask", "matplotlib", "scanpy", "scipy.stats", "sklearn", "statsmodels", "zarr")


def loaded_after(statements: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statements}; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return [m for m in out.strip().split(",") if m]


def test_cli_and_namespaces_load_no_heavy_library():
    """Every workflow job starts the CLI: what a command does not use, it must not import (the
    heavy libraries come with the function that needs them)."""
    assert loaded_after("import kratom_omics.cli", ("numpy", "pandas", "scipy", *HEAVY)) == []
    namespaces = ", ".join(f"kratom_omics.{ns}" for ns in NAMESPACES)
    assert loaded_after(f"import {namespaces}", HEAVY) == []


def test_limma_path_needs_no_scipy_stats():
    """kom.tl.differential and kom.get.differential (the limma engine) load scipy.special only;
    scipy.stats (slower to import than a small analysis takes) comes with Fisher's test of
    missing values and the robust and log-scale tails."""
    statements = (
        "import kratom_omics as kom; kom.tl.differential; kom.get.differential; "
        "import kratom_omics.tl._limma"
    )
    assert loaded_after(statements, ("scipy.special", "scipy.stats")) == ["scipy.special"]
    assert loaded_after("import kratom_omics as kom; kom.tl.flag_biomarkers", HEAVY) == []


@pytest.mark.parametrize(("ns", "name", "func"), FUNCS)
def test_signature_conventions(ns, name, func):
    sig = inspect.signature(func)
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    assert len(positional) <= 3, (
        f"{ns}.{name}: more than 3 positional parameters: {[p.name for p in positional]}"
    )
    for p in positional:
        assert not isinstance(p.default, bool), f"{ns}.{name}: positional bool parameter {p.name!r}"
    if "copy" in sig.parameters:
        p = sig.parameters["copy"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{ns}.{name}: copy is not keyword-only"
        assert p.default is False, f"{ns}.{name}: copy does not default to False"
    if ns == "tl" and "key_added" in sig.parameters:
        assert sig.parameters["key_added"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(("ns", "name", "func"), FUNCS)
def test_docstrings_in_numpy_style(ns, name, func):
    doc = inspect.getdoc(func) or ""
    assert doc, f"{ns}.{name} has no docstring"
    params = [p for p in inspect.signature(func).parameters if p not in ("self", "kwargs", "args")]
    if len(params) > 1:
        assert "Parameters\n----------" in doc, f"{ns}.{name}: no Parameters section"
    assert "Returns\n-------" in doc, f"{ns}.{name}: no Returns section"


def test_every_error_also_inherits_a_builtin():
    for name in errors.__all__:
        obj = getattr(errors, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, errors.KratomOmicsError)
            and obj is not errors.KratomOmicsError
        ):
            builtins = [
                b
                for b in obj.__mro__
                if b.__module__ == "builtins" and b not in (Exception, BaseException, object)
            ]
            assert builtins, f"{name} inherits no specific built-in exception"


def test_key_error_message_is_not_quoted():
    err = errors.KeyNotFoundError("groupby='phse' is not a column")
    assert str(err) == "groupby='phse' is not a column"


def test_did_you_mean():
    msg = errors.did_you_mean("phse", ["batch", "phase", "subject"], what="groupby")
    assert (
        msg
        == "groupby='phse' is not available. Did you mean 'phase'? Available: ['batch', 'phase', 'subject']"
    )
