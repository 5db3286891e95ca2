"""Everything the package writes into an AnnData survives write_h5ad / read_h5ad."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom


def assert_same(a, b, path="uns"):
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping), path
        assert sorted(a) == sorted(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False, obj=path)
    elif isinstance(a, (np.ndarray, list, tuple)) and not isinstance(a, str):
        np.testing.assert_array_equal(
            np.asarray(a, dtype=object), np.asarray(b, dtype=object), err_msg=path
        )
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_full_chain_round_trip(tmp_path):
    adata = kom.datasets.simulate("protein", seed=11, n_features=150)
    adata.var["is_contaminant"] = False
    adata.var.iloc[:3, adata.var.columns.get_loc("is_contaminant")] = True
    kom.pp.remove_flagged(adata)
    kom.pp.filter_valid(adata, min_valid=0.5, mode="any_group")
    kom.pp.log2(adata, layer="raw")
    kom.pp.normalize(adata, method="median")
    kom.pp.qc_metrics(adata)
    with pytest.warns(kom.errors.KratomOmicsWarning, match="imputed"):
        kom.pp.impute(adata, method="downshift", seed=1)
    kom.tl.differential(
        adata,
        "phase",
        contrasts=("withdrawal - control", "(use + withdrawal)/2 - control"),
        covariates=("batch",),
        robust=True,
        trend=True,
    )
    kom.tl.flag_biomarkers(adata, modality="protein")

    steps = adata.uns["kratom_omics"]["provenance"]
    functions = [s["function"] for s in steps.values()]
    assert functions[0] == "kratom_omics.datasets.simulate"
    assert "kratom_omics.tl.differential" in functions
    assert adata.layers["imputed_mask"].dtype == bool

    path = tmp_path / "chain.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    for layer in adata.layers:
        np.testing.assert_array_equal(back.layers[layer], adata.layers[layer])
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    pd.testing.assert_frame_equal(back.var, adata.var)
    assert_same(dict(adata.uns), dict(back.uns))
    # results are usable after the round trip
    table = kom.get.differential(back, contrast="withdrawal - control")
    assert table.shape[0] == back.n_vars
    rab = table.loc[table["gene"] == "Rab35"].iloc[0]
    assert rab["log2fc"] > 1
    assert rab["padj"] < 0.05
    cand = kom.get.biomarkers(back, table="candidates")
    assert "Rab35" in set(cand["candidate"])
