"""House conventions of the preprocessing functions (signatures, docstrings, provenance)."""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np
import pytest

import kratom_omics as kom

STEPS = [
    "remove_flagged",
    "filter_valid",
    "log2",
    "normalize",
    "impute",
    "remove_batch",
    "qc_metrics",
]


@pytest.mark.parametrize("name", STEPS)
def test_signature_and_docstring(name):
    func = getattr(kom.pp, name)
    assert name in kom.pp.__all__
    params = list(inspect.signature(func).parameters.values())
    assert params[0].name == "adata"
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(positional) <= 3
    for p in params[1:]:
        assert p.kind is p.KEYWORD_ONLY, f"{name}: {p.name} must be keyword-only"
        assert p.annotation is not inspect.Parameter.empty, f"{name}: {p.name} has no type hint"
    assert params[-1].name == "copy"
    assert params[-1].default is False
    doc = inspect.getdoc(func) or ""
    for section in ("Parameters\n----------", "Returns\n-------"):
        assert section in doc, f"{name}: docstring lacks {section.splitlines()[0]}"
    documented = {p.name for p in params if f"\n{p.name}\n" in doc or f"\n{p.name}," in doc}
    documented |= {p.name for p in params if f", {p.name}\n" in doc}
    assert documented == {p.name for p in params}, f"{name}: undocumented parameters"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("remove_flagged", {}),
        ("filter_valid", {"min_valid": 0.5}),
        ("normalize", {}),
        ("impute", {"warn_fraction": 1.0}),
        ("remove_batch", {}),
        ("qc_metrics", {}),
    ],
)
@pytest.mark.parametrize("modality", ["protein", "histone"])
def test_copy_leaves_input_raw_kept_and_step_recorded(request, modality, name, kwargs, tmp_path):
    data = request.getfixturevalue(modality)
    adata = data.copy()
    before_x = adata.X.copy()
    n_steps = len(adata.uns["kratom_omics"]["provenance"])
    out = getattr(kom.pp, name)(adata, copy=True, **kwargs)
    assert out is not None
    assert len(adata.uns["kratom_omics"]["provenance"]) == n_steps
    np.testing.assert_array_equal(adata.X, before_x)
    steps = out.uns["kratom_omics"]["provenance"]
    assert len(steps) == n_steps + 1
    assert steps[sorted(steps)[-1]]["function"] == f"kratom_omics.pp.{name}"
    kept = np.isin(data.var_names, out.var_names)
    np.testing.assert_array_equal(out.layers["raw"], data.layers["raw"][:, kept])
    assert getattr(kom.pp, name)(adata, **kwargs) is None  # in place returns None
    out.write_h5ad(tmp_path / f"{name}.h5ad")
    back = ad.read_h5ad(tmp_path / f"{name}.h5ad")
    np.testing.assert_array_equal(back.X, out.X)
    assert sorted(back.layers) == sorted(out.layers)
    assert len(back.uns["kratom_omics"]["provenance"]) == n_steps + 1
