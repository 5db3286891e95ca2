"""Differential engine -> flag_biomarkers -> get.biomarkers on simulated planted markers."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import kratom_omics as kom

CONTRASTS = ["withdrawal - control", "withdrawal - use"]


def run(modality, seed, **sim):
    adata = kom.datasets.simulate(modality, seed=seed, **sim)
    kom.tl.differential(adata, "phase", CONTRASTS, covariates=["batch"])
    kom.tl.flag_biomarkers(adata, n_boot=0)
    return adata


def test_planted_markers_flagged_and_nulls_under_fdr_across_seeds():
    alpha = 0.05
    fdp = []
    for seed in range(10):
        adata = run("protein", seed, n_features=120)
        c = adata.uns["biomarkers"]["candidates"].set_index("candidate")
        assert c.loc["Rab35", "status"] == "concordant", seed
        assert c.loc["Rab35", "observed"] == "up", seed
        f = adata.uns["biomarkers"]["features"]
        for contrast in CONTRASTS:
            sub = f[f["contrast"] == contrast]
            col = "true_log2fc_" + contrast.replace(" - ", "_vs_")
            null = adata.var[col].reindex(sub["feature"]).to_numpy() == 0
            sig = sub["significant"].to_numpy()
            fdp.append((sig & null).sum() / max(sig.sum(), 1))
    assert np.mean(fdp) <= alpha + 0.03
    assert max(fdp) < 0.5


def test_histone_marks_and_cross_view_end_to_end(tmp_path):
    p = run("protein", 7, n_features=120)
    h = run("histone", 2)
    ch = h.uns["biomarkers"]["candidates"].set_index("candidate")
    assert ch.loc["H3K9ac", "observed"] == "down"
    assert ch.loc["H4K12ac", "status"] == "concordant"
    cross = kom.get.biomarkers({"protein": p, "histone": h}, table="cross")
    wc = cross[cross["contrast"] == "withdrawal - control"].set_index("candidate")
    assert wc.loc[["Rab35", "Hdac2", "H3K9ac", "H4K12ac"], "modality"].tolist() == [
        "protein",
        "protein",
        "histone",
        "histone",
    ]
    assert wc.loc[["Rab35", "Hdac2"], "observed"].tolist() == ["up", "up"]
    # stored results survive h5ad and give the same cross table back
    p.write_h5ad(tmp_path / "p.h5ad")
    h.write_h5ad(tmp_path / "h.h5ad")
    back = {
        "protein": ad.read_h5ad(tmp_path / "p.h5ad"),
        "histone": ad.read_h5ad(tmp_path / "h.h5ad"),
    }
    again = kom.get.biomarkers(back, table="cross")
    assert again["status"].tolist() == cross["status"].tolist()
    assert again["log2fc"].to_numpy() == pytest.approx(cross["log2fc"].to_numpy(), nan_ok=True)
