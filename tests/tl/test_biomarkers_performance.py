"""Marker performance: per-feature ROC AUC with bootstrap intervals, and nested-CV panels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError, KratomOmicsWarning
from kratom_omics.tl._performance import auc_with_ci


def test_auc_equals_sklearn_with_ties_and_missing_values():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 5, (9, 30)).astype(float)  # many ties
    neg = rng.integers(0, 5, (7, 30)).astype(float)
    pos[rng.random(pos.shape) < 0.15] = np.nan
    neg[rng.random(neg.shape) < 0.15] = np.nan
    auc, lo, hi = auc_with_ci(pos, neg, n_boot=300, seed=1)
    for j in range(30):
        p, n = pos[:, j][~np.isnan(pos[:, j])], neg[:, j][~np.isnan(neg[:, j])]
        y = np.r_[np.ones(p.size), np.zeros(n.size)]
        assert auc[j] == pytest.approx(roc_auc_score(y, np.r_[p, n]), abs=1e-12)
    assert np.all(lo <= auc + 1e-12)
    assert np.all(hi >= auc - 1e-12)
    assert np.all(hi - lo > 0)


def test_bootstrap_is_seeded_and_covers_the_truth():
    rng = np.random.default_rng(5)
    pos, neg = rng.normal(1.0, 1.0, (40, 1)), rng.normal(0.0, 1.0, (40, 1))
    a = auc_with_ci(pos, neg, n_boot=500, seed=7)
    b = auc_with_ci(pos, neg, n_boot=500, seed=7)
    c = auc_with_ci(pos, neg, n_boot=500, seed=8)
    assert a[1][0] == b[1][0]
    assert a[2][0] == b[2][0]
    assert a[1][0] != c[1][0]
    # true AUC of N(1,1) vs N(0,1) is Phi(1/sqrt(2)) = 0.760
    assert a[1][0] < 0.760 < a[2][0]
    assert a[2][0] - a[1][0] == pytest.approx(0.2, abs=0.08)
    none = auc_with_ci(pos[:, 0], neg[:, 0], n_boot=0)
    assert np.isnan(none[1][0])
    with pytest.raises(DesignError, match=r"confidence=95"):
        auc_with_ci(pos, neg, confidence=95)


def test_marker_auc_for_withdrawal_against_use_and_control():
    adata = kom.datasets.simulate("protein", seed=4, n_features=120)
    kom.tl.marker_auc(adata, n_boot=200)
    res = adata.uns["marker_auc"]
    t = res["auc"]
    assert t.shape == (240, 9)
    assert set(t["comparison"]) == {"withdrawal vs use", "withdrawal vs control"}
    rab = adata.var_names[adata.var["gene"] == "Rab35"][0]
    r = t[t["feature"] == rab].set_index("negative")
    assert r.loc["control", "auc"] == pytest.approx(1.0)
    assert r.loc["use", "auc"] > 0.9
    g = adata.obs["phase"].astype(str).to_numpy()
    for feat, auc in zip(t["feature"][:25], t["auc"][:25], strict=True):
        x = adata[:, feat].X.ravel()
        keep = np.isin(g, ["withdrawal", "use"]) & ~np.isnan(x)
        y = g[keep] == "withdrawal"
        if 0 < y.sum() < y.size:
            assert auc == pytest.approx(roc_auc_score(y, x[keep]))
        else:
            assert np.isnan(auc)
    assert r.loc["use", "n_pos"] == 6
    assert res["params"]["negative"] == ["use", "control"]
    with pytest.raises(
        KeyNotFoundError, match=r"negative='contrl' is not a level .* Did you mean 'control'"
    ):
        kom.tl.marker_auc(adata, negative="contrl")
    with pytest.raises(KeyNotFoundError, match=r"features='nope' is not a feature of adata"):
        kom.tl.marker_auc(adata, features=["nope"])


def _panel(adata, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KratomOmicsWarning)
        kom.tl.panel_cv(adata, Cs=(0.1, 1.0, 10.0), n_boot=200, **kw)
    return adata.uns["panel_cv"]


def test_panel_of_planted_markers_separates_withdrawal():
    adata = kom.datasets.simulate("protein", seed=2, n_features=80)
    markers = list(adata.var_names[adata.var["gene"].isin(["Rab35", "Hdac2"])])
    res = _panel(adata, features=markers, negative="control")
    s = res["summary"].iloc[0]
    assert s["auc"] >= 0.9
    assert s["ci_low"] <= s["auc"] <= s["ci_high"]
    assert s["n_pos"] == 6
    assert s["n_neg"] == 6
    assert s["scheme"] == "5-fold stratified"
    pred = res["predictions"]
    assert sorted(pred["sample"]) == sorted(adata.obs_names[adata.obs["phase"] != "use"])
    assert pred["fold"].nunique() == 5
    assert (res["coefficients"]["mean_coef"] > 0).all()  # both markers go up in withdrawal
    assert set(res["folds"]["C"]) <= {0.1, 1.0, 10.0}


def test_panel_of_null_features_stays_near_chance():
    aucs = []
    for seed in (11, 12):
        adata = kom.datasets.simulate("protein", seed=seed, n_features=80, n_per_phase=8)
        null = list(adata.var_names[~adata.var["is_changed"]][:5])
        aucs.append(_panel(adata, features=null, negative="control")["summary"]["auc"].iloc[0])
    assert np.mean(aucs) < 0.8


def test_repeated_subjects_are_left_out_together():
    adata = kom.datasets.simulate("protein", seed=3, n_features=60, n_per_phase=5, repeated=True)
    res = _panel(adata, features=None, n_select=5, negative=["control", "use"], n_permutations=2)
    s = res["summary"].iloc[0]
    assert s["scheme"] == "leave-one-subject-out"
    assert s["n_folds"] == 5
    assert s["n_pos"] == 5
    assert s["n_neg"] == 10
    pred = res["predictions"].merge(
        adata.obs[["subject"]].astype(str), left_on="sample", right_index=True
    )
    # each subject's samples are all in one test fold
    assert (pred.groupby("subject")["fold"].nunique() == 1).all()
    assert 0 < s["p_permutation"] <= 1
    assert s["auc"] > 0.8
    assert res["coefficients"]["selected"].max() > 0


def test_panel_warns_for_small_n_and_rejects_bad_requests():
    adata = kom.datasets.simulate("protein", seed=1, n_features=30, n_per_phase=3)
    with pytest.warns(KratomOmicsWarning, match=r"only 3 positive and 3 negative samples"):
        kom.tl.panel_cv(adata, features=list(adata.var_names[:3]), Cs=(1.0,), n_boot=0)
    with pytest.raises(DesignError, match=r"share a level"):
        kom.tl.panel_cv(adata, positive="withdrawal", negative=["withdrawal", "use"])
    with pytest.raises(DesignError, match=r"penalty='l3'"):
        kom.tl.panel_cv(adata, penalty="l3")


def test_auc_and_intervals_match_pROC(data_dir):
    values = pd.read_csv(data_dir / "biomarkers" / "auc_values.csv")
    ref = pd.read_csv(data_dir / "biomarkers" / "pROC_auc.csv", keep_default_na=False)
    ref = ref.set_index("feature")
    x = values.drop(columns=["sample", "label"])
    assert list(x.columns) == list(ref.index)
    y = values["label"].to_numpy() == 1
    xv = x.to_numpy(dtype=float)
    auc, lo, hi = auc_with_ci(xv[y], xv[~y], method="delong")
    np.testing.assert_allclose(auc, ref["auc"], atol=1e-12)
    np.testing.assert_allclose(lo, ref["delong_low"], atol=1e-12)
    np.testing.assert_allclose(hi, ref["delong_high"], atol=1e-12)
    auc_b, lo_b, hi_b = auc_with_ci(xv[y], xv[~y], n_boot=2000, seed=0)
    np.testing.assert_allclose(auc_b, ref["auc"], atol=1e-12)
    np.testing.assert_allclose(lo_b, ref["boot_low"], atol=0.06)
    np.testing.assert_allclose(hi_b, ref["boot_high"], atol=0.06)
    with pytest.raises(DesignError, match=r"method='wald'; expected 'bootstrap' or 'delong'"):
        auc_with_ci(xv[y], xv[~y], method="wald")


def test_marker_auc_delong_interval():
    adata = kom.datasets.simulate("protein", seed=4, n_features=40)
    kom.tl.marker_auc(adata, negative="control", ci_method="delong")
    t = adata.uns["marker_auc"]["auc"]
    assert adata.uns["marker_auc"]["params"]["ci_method"] == "delong"
    ok = t["auc"].between(0.05, 0.95)
    assert (
        (t.loc[ok, "ci_low"] < t.loc[ok, "auc"]) & (t.loc[ok, "auc"] < t.loc[ok, "ci_high"])
    ).all()
