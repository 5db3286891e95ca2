from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError, KeyNotFoundError
from kratom_omics.pp._counts import tmm_factors

D = Path(__file__).parents[1] / "data" / "edger"


@pytest.fixture
def counts():
    c = pd.read_csv(D / "counts.csv", index_col=0)
    s = pd.read_csv(D / "samples.csv")
    a = ad.AnnData(c.T.astype(np.float64))
    a.layers["raw"] = a.X.copy()
    a.obs["phase"] = pd.Categorical(s["phase"].to_numpy(), categories=["control", "withdrawal"])
    return a


def _ref(name):
    return pd.read_csv(D / name, index_col=0).T.to_numpy()


def test_tmm_matches_edger(counts):
    nf = pd.read_csv(D / "norm_factors.csv")
    x = counts.layers["raw"]
    np.testing.assert_allclose(tmm_factors(x), nf["tmm"], rtol=1e-12)
    np.testing.assert_allclose(tmm_factors(x, do_weighting=False), nf["tmm_noweight"], rtol=1e-12)
    np.testing.assert_allclose(tmm_factors(x, ref_column=2), nf["tmm_ref3"], rtol=1e-12)
    np.testing.assert_allclose(
        tmm_factors(x, logratio_trim=0.2, sum_trim=0.1), nf["tmm_trim"], rtol=1e-12
    )
    kom.pp.calc_norm_factors(counts)
    np.testing.assert_allclose(counts.obs["lib_size"], nf["lib_size"])
    np.testing.assert_allclose(counts.obs["norm_factor"], nf["tmm"], rtol=1e-12)
    np.testing.assert_allclose(counts.obs["eff_lib_size"], nf["lib_size"] * nf["tmm"], rtol=1e-12)
    assert counts.uns["count_normalization"]["method"] == "TMM"
    uq = kom.pp.calc_norm_factors(counts, method="upperquartile", copy=True)
    np.testing.assert_allclose(uq.obs["norm_factor"], nf["upperquartile"], rtol=1e-12)
    counts.var["is_background"] = np.arange(counts.n_vars) >= 40  # rows 41-60 of the R script
    bg = kom.pp.calc_norm_factors(counts, features="is_background", copy=True)
    np.testing.assert_allclose(bg.obs["norm_factor"], nf["tmm_subset"], rtol=1e-12)
    np.testing.assert_allclose(bg.obs["lib_size"], nf["lib_size"])
    ref = kom.pp.calc_norm_factors(counts, ref_column="control_3", copy=True)
    np.testing.assert_allclose(ref.obs["norm_factor"], nf["tmm_ref3"], rtol=1e-12)


def test_log_cpm_and_voom_match_edger_limma(counts):
    kom.pp.calc_norm_factors(counts)
    e = kom.pp.log_cpm(counts, method="edger", copy=True)
    np.testing.assert_allclose(e.X, _ref("cpm_log_prior2.csv"), rtol=1e-12, atol=1e-12)
    kom.pp.voom(counts, "phase")
    np.testing.assert_allclose(counts.X, _ref("voom_E.csv"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(counts.layers["weights"], _ref("voom_weights.csv"), rtol=1e-10)
    assert counts.uns["voom"]["trend"].shape[1] == 2
    np.testing.assert_array_equal(
        counts.layers["raw"], pd.read_csv(D / "counts.csv", index_col=0).T
    )
    # the same model given as a formula
    f = kom.pp.voom(counts, design="~ phase", copy=True)
    np.testing.assert_allclose(f.layers["weights"], _ref("voom_weights.csv"), rtol=1e-10)


def test_voom_without_design_or_factors(counts):
    kom.pp.voom(counts, None)
    np.testing.assert_allclose(
        counts.layers["weights"], _ref("voom_weights_nodesign.csv"), rtol=1e-10
    )
    np.testing.assert_allclose(counts.obs["eff_lib_size"], counts.layers["raw"].sum(axis=1))


def test_spikein_keeps_a_global_loss():
    rng = np.random.default_rng(1)
    n, f = 8, 200
    loss = np.r_[np.zeros(4), np.ones(4)]  # withdrawal samples lose half of every region's reads
    mu = 2.0 ** rng.uniform(4, 8, f) * (1 - 0.5 * loss[:, None])
    spike = np.round(1000 * rng.uniform(0.9, 1.1, n))
    x = rng.poisson(mu).astype(float)
    a = ad.AnnData(x)
    a.layers["raw"] = x.copy()
    a.obs["spike_reads"] = spike
    tmm = kom.pp.calc_norm_factors(a, copy=True)
    kom.pp.log_cpm(tmm)
    sp = kom.pp.calc_norm_factors(a, method="spikein", spikein="spike_reads", copy=True)
    kom.pp.log_cpm(sp)
    d_tmm = tmm.X[4:].mean() - tmm.X[:4].mean()
    d_sp = sp.X[4:].mean() - sp.X[:4].mean()
    assert abs(d_tmm) < 0.1
    assert d_sp == pytest.approx(-1.0, abs=0.15)
    np.testing.assert_allclose(
        sp.obs["eff_lib_size"] / spike, (sp.obs["eff_lib_size"] / spike).iloc[0]
    )
    # spike-in features flagged in .var
    a.var["is_spikein"] = False
    a.var.iloc[:5, 0] = True
    s2 = kom.pp.calc_norm_factors(a, method="spikein", copy=True)
    tot = x[:, :5].sum(axis=1)
    np.testing.assert_allclose(s2.obs["eff_lib_size"] / tot, (s2.obs["eff_lib_size"] / tot).iloc[0])
    # TMM on background features
    a.var["is_background"] = np.arange(f) < 50
    bg = kom.pp.calc_norm_factors(a, features="is_background", copy=True)
    assert np.exp(np.log(bg.obs["norm_factor"]).mean()) == pytest.approx(1.0)


def test_count_errors(counts):
    bad = counts.copy()
    bad.layers["raw"][0, 3] = 2.5
    with pytest.raises(
        InputFormatError, match=r"holds 2\.5 at sample 'control_1', feature 'region04'"
    ):
        kom.pp.voom(bad)
    bad.layers["raw"][0, 3] = np.nan
    with pytest.raises(InputFormatError, match="has missing values"):
        kom.pp.calc_norm_factors(bad)
    with pytest.raises(KeyNotFoundError, match=r"is not a column of adata\.var"):
        kom.pp.calc_norm_factors(counts, method="spikein")
    with pytest.raises(InputFormatError, match="method='RLE'"):
        kom.pp.calc_norm_factors(counts, method="RLE")
    with pytest.raises(DesignError, match="expected 8 rows"):
        kom.pp.voom(counts, design=np.ones((3, 1)))
    with pytest.raises(KeyNotFoundError, match="Did you mean 'phase'"):
        kom.pp.voom(counts, "phse")


def test_voom_weights_in_the_differential_engine(counts):
    """voom -> lmFit(weights) -> eBayes, as limma runs it (voom_limma_toptable.csv)."""
    kom.pp.calc_norm_factors(counts)
    kom.pp.voom(counts, "phase")
    kom.tl.differential(counts, "phase", contrasts=("withdrawal - control",), weights="weights")
    got = kom.get.differential(counts).set_index("feature")
    ref = pd.read_csv(D / "voom_limma_toptable.csv", index_col=0)
    got = got.loc[ref.index]
    for ours, theirs in [("log2fc", "logFC"), ("t", "t"), ("pvalue", "P.Value"), ("B", "B")]:
        np.testing.assert_allclose(got[ours], ref[theirs], rtol=1e-10, atol=1e-12, err_msg=ours)
    np.testing.assert_allclose(got["padj"], ref["adj.P.Val"], rtol=1e-10)


def test_voom_with_covariate_and_span(counts):
    counts.obs["batch"] = pd.read_csv(D / "samples.csv")["batch"].to_numpy()
    kom.pp.calc_norm_factors(counts)
    kom.pp.voom(counts, "phase", covariates=["batch"], span=0.4)
    np.testing.assert_allclose(
        counts.layers["weights"], _ref("voom_weights_batch_span04.csv"), rtol=1e-10
    )
    assert counts.uns["voom"]["params"]["rank"] == 3
