"""kom.tl.timecourse: planted time patterns recovered, saturated model = cell means, TOST numbers."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError
from kratom_omics.tl._timecourse import r_ns

TRUE_FC = [f"true_log2fc_withdrawal_d{d}_vs_control" for d in (1, 3, 7)]


@pytest.fixture(scope="module")
def course() -> ad.AnnData:
    a = kom.datasets.simulate(
        "protein",
        seed=3,
        n_features=400,
        n_per_phase=10,
        effect_size=2.0,
        fraction_changed=0.2,
        timepoints=(1, 3, 7),
        repeated=True,
    )
    kom.tl.timecourse(a, block="subject")
    return a


def truth(a: ad.AnnData) -> np.ndarray:
    eff = np.abs(a.var[TRUE_FC].to_numpy())
    tp = a.var["true_time_pattern"].to_numpy().astype(str)
    return np.where(eff.max(axis=1) == 0, "none", tp)  # use-only changes: nothing in withdrawal


def test_recovers_planted_time_patterns(course: ad.AnnData) -> None:
    res = course.uns["timecourse"]
    rec = res["recovery"]
    tp = truth(course)
    assert {"persistent", "transient", "recovering", "delayed"} <= set(tp)
    called = rec["pattern"].to_numpy()
    for pattern in ("persistent", "transient", "recovering", "delayed"):
        assert np.mean(called[tp == pattern] == pattern) >= 0.65, pattern
    assert np.mean(called[tp == "none"] == "none") >= 0.95
    # any change over time: the time-varying patterns, not the persistent or null features
    fsig = res["f_table"]["padj"].to_numpy() < 0.05
    varying = np.isin(tp, ["transient", "recovering", "delayed"])
    assert fsig[varying].mean() >= 0.75
    assert fsig[tp == "persistent"].mean() <= 0.1
    assert fsig[tp == "none"].mean() <= 0.02
    # recovery (equivalence at day 7): shown for returning features, never for still-changed ones
    recovered = rec["recovered"].to_numpy()
    assert recovered[np.isin(tp, ["transient", "recovering"])].mean() >= 0.5
    assert recovered[np.isin(tp, ["persistent", "delayed"])].sum() == 0
    # withdrawal effect (curve averaged over time) is found for persistent features
    t = res["table"]
    wc = t[t["contrast"] == "withdrawal - control"]
    padj = wc["padj"].to_numpy()[tp == "persistent"]
    padj = padj[np.isfinite(padj)]  # NaN: a time point entirely missing (curve not estimable)
    assert padj.size >= 10
    assert (padj < 0.05).mean() >= 0.9
    assert res["params"]["correlation"] == pytest.approx(0.5, abs=0.25)


def test_table_layout_and_h5ad(course: ad.AnnData, tmp_path) -> None:
    res = course.uns["timecourse"]
    assert res["contrasts"] == [
        "withdrawal - control",
        "withdrawal - use",
        "withdrawal[1] - control",
        "withdrawal[3] - control",
        "withdrawal[7] - control",
    ]
    assert res["table"].shape[0] == 5 * course.n_vars
    assert res["f_table"]["df1"].unique().tolist() == [2.0]
    assert res["params"]["df"] == 2
    assert res["params"]["timepoints"] == [1.0, 3.0, 7.0]
    path = tmp_path / "tc.h5ad"
    course.write_h5ad(path)
    b = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(b.uns["timecourse"]["recovery"], res["recovery"])


def cells(a: ad.AnnData) -> ad.AnnData:
    b = a.copy()
    lab = b.obs["phase"].astype(str).to_numpy().astype(object)
    w = lab == "withdrawal"
    lab[w] = [f"w{int(t)}" for t in b.obs["timepoint"].to_numpy()[w]]
    b.obs["cell"] = pd.Categorical(lab, categories=["control", "use", "w1", "w3", "w7"])
    return b


@pytest.mark.parametrize("block", [None, "subject"])
@pytest.mark.parametrize("basis", ["spline", "poly"])
def test_saturated_curve_equals_cell_means(block: str | None, basis: str) -> None:
    a = kom.datasets.simulate("protein", seed=5, n_features=80, timepoints=(1, 3, 7), repeated=True)
    kom.tl.timecourse(a, basis=basis, df=2, block=block)
    b = cells(a)
    kom.tl.differential(
        b,
        "cell",
        ["(w1 + w3 + w7)/3 - control", "(w1 + w3 + w7)/3 - use", "w7 - control", "w1 - control"],
        block=block,
    )
    tc = a.uns["timecourse"]["table"].set_index(["contrast", "feature"])
    de = b.uns["differential"]["table"].set_index(["contrast", "feature"])
    pairs = {
        "withdrawal - control": "(w1 + w3 + w7)/3 - control",
        "withdrawal - use": "(w1 + w3 + w7)/3 - use",
        "withdrawal[7] - control": "w7 - control",
        "withdrawal[1] - control": "w1 - control",
    }
    # limma's contrasts.fit uses one correlation matrix of the complete design, so standard errors
    # of features with missing values depend on the parametrisation; complete features agree fully
    complete = tc.loc["withdrawal - control", "n_obs"].to_numpy() == a.n_obs
    assert complete.sum() >= 25
    for mine, ref in pairs.items():
        for col in ("log2fc", "se", "t", "pvalue", "B", "df_total"):
            x = tc.loc[mine, col].to_numpy(dtype=float)
            y = de.loc[ref, col].to_numpy(dtype=float)
            if col != "log2fc":
                x, y = x[complete], y[complete]
            else:  # a time point entirely missing makes the whole curve inestimable
                x, y = x[np.isfinite(x)], y[np.isfinite(x)]
                assert x.size >= 60
            y = np.where(np.isinf(y), np.nan, y)  # differential marks on/off rows with +-inf
            # B: limma's var.prior comes from the top t's of a contrast, and features without an
            # identifiable curve (NaN here, estimated from cell means) shift it slightly
            rtol = 1e-4 if col == "B" else 1e-7
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-10, err_msg=f"{mine} {col}")
    if block is not None:
        assert a.uns["timecourse"]["params"]["correlation"] == pytest.approx(
            b.uns["differential"]["params"]["correlation"], rel=1e-10
        )


def test_recovery_is_tost_on_moderated_t() -> None:
    a = kom.datasets.simulate("protein", seed=7, n_features=60, timepoints=(1, 7), repeated=False)
    kom.tl.timecourse(a, recovery_margin=0.4, key_added="tc")
    res = a.uns["tc"]
    rec = res["recovery"]
    row = res["table"][res["table"]["contrast"] == "withdrawal[7] - control"]
    est = row["log2fc"].to_numpy()
    se = row["se"].to_numpy()
    dft = row["df_total"].to_numpy()
    np.testing.assert_allclose(rec["log2fc"], est, rtol=1e-12)
    lower = stats.t.sf((est + 0.4) / se, dft)
    upper = stats.t.cdf((est - 0.4) / se, dft)
    np.testing.assert_allclose(rec["pvalue_lower"], lower, rtol=1e-10)
    np.testing.assert_allclose(rec["pvalue_upper"], upper, rtol=1e-10)
    np.testing.assert_allclose(rec["pvalue"], np.maximum(lower, upper), rtol=1e-10)
    # an estimate right at 0 with small se is equivalent; one beyond the margin never is
    assert (rec["pvalue"].to_numpy()[np.abs(est) > 0.4] >= 0.5).all()
    # two time points: one time term, linear; spline and poly are the same straight line
    assert res["params"]["df"] == 1
    kom.tl.timecourse(a, basis="poly", recovery_margin=0.4, key_added="tc_poly")
    np.testing.assert_allclose(
        a.uns["tc_poly"]["f_table"]["F"], res["f_table"]["F"], rtol=1e-9, equal_nan=True
    )


def test_bad_arguments() -> None:
    a = kom.datasets.simulate("protein", seed=8, n_features=20, timepoints=(1, 3, 7))
    with pytest.raises(DesignError, match=r"df=3 time terms need at least 4 distinct time points"):
        kom.tl.timecourse(a, df=3)
    with pytest.raises(DesignError, match=r"basis='bspline'; expected 'spline'"):
        kom.tl.timecourse(a, basis="bspline")
    with pytest.raises(DesignError, match=r"withdrawal='withdrawl' is not a level"):
        kom.tl.timecourse(a, withdrawal="withdrawl")
    with pytest.raises(KeyNotFoundError, match=r"time='day' is not a column"):
        kom.tl.timecourse(a, time="day")
    with pytest.raises(DesignError, match=r"recovery_margin must be a positive"):
        kom.tl.timecourse(a, recovery_margin=0)
    b = a.copy()
    w = np.flatnonzero(b.obs["phase"].astype(str).to_numpy() == "withdrawal")[0]
    b.obs.iloc[w, b.obs.columns.get_loc("timepoint")] = np.nan
    with pytest.raises(DesignError, match=r"missing or not numeric for 1 withdrawal sample"):
        kom.tl.timecourse(b)


DATA = Path(__file__).parents[1] / "data" / "limma"


def timecourse_adata() -> ad.AnnData:
    y = pd.read_csv(DATA / "y_timecourse.csv", index_col=0)
    obs = pd.read_csv(DATA / "samples_timecourse.csv", index_col=0)
    obs["phase"] = pd.Categorical(obs["phase"], categories=["control", "use", "withdrawal"])
    a = ad.AnnData(X=y.T.to_numpy(dtype=float), obs=obs.loc[y.columns])
    a.var_names = y.index.astype(str)
    return a


@pytest.mark.parametrize("version", ["3.62", "3.54"])
def test_spline_time_course_matches_r_limma(version: str) -> None:
    """Non-saturated curve (4 days, spline df = 2) against R limma + splines::ns (see README)."""
    a = timecourse_adata()
    kom.tl.timecourse(a, df=2, recovery_margin=0.5, legacy=True if version == "3.54" else None)
    res = a.uns["timecourse"]
    con = pd.read_csv(DATA / f"timecourse_contrasts_limma{version}.csv.gz")
    feat = pd.read_csv(DATA / f"timecourse_features_limma{version}.csv.gz")
    assert res["params"]["n_curve_not_estimable"] == 0
    t = res["table"]
    assert list(t["contrast"]) == list(con["contrast"])
    cols = {"logFC": "log2fc", "se": "se", "t": "t", "P.Value": "pvalue", "adj.P.Val": "padj"}
    for rcol, col in {**cols, "B": "B"}.items():
        np.testing.assert_allclose(t[col], con[rcol], rtol=1e-8, atol=1e-10, err_msg=col)
    f = res["f_table"]
    np.testing.assert_allclose(f["F"], feat["F"], rtol=1e-8, err_msg="F")
    np.testing.assert_allclose(f["pvalue"], feat["F.p.value"], rtol=1e-8, err_msg="F p")
    np.testing.assert_allclose(f["padj"], feat["F.adj"], rtol=1e-8, err_msg="F padj")
    rec = res["recovery"]
    np.testing.assert_allclose(rec["pvalue_lower"], feat["p_lower"], rtol=1e-8)
    np.testing.assert_allclose(rec["pvalue_upper"], feat["p_upper"], rtol=1e-8)
    np.testing.assert_allclose(rec["padj"], feat["p_equiv_adj"], rtol=1e-8)


def test_spline_basis_equals_r_ns() -> None:
    # R: ns(c(1, 2, 4, 7, 1.5, 3), knots = 3, Boundary.knots = c(1, 7)) (3 = median of 1, 2, 4, 7)
    x = np.array([1, 2, 4, 7, 1.5, 3.0])
    expected = np.array(
        [
            [0.0, 0.0],
            [0.28371700060114829, -0.161896867027355645],
            [0.57475225750922632, -0.132351354505535812],
            [0.30188169918284852, 0.818870980490290834],
            [0.14646514603881108, -0.086837420956620004],
            [0.49372766939050489, -0.229569934967636308],
        ]
    )
    np.testing.assert_allclose(r_ns(x, np.array([1, 2, 4, 7.0]), 2), expected, atol=1e-14)
    # df = 3: interior knots at the 1/3 and 2/3 quantiles
    b3 = r_ns(x, np.array([1, 2, 4, 7.0]), 3)
    np.testing.assert_allclose(
        b3[3], [-0.153061224489795866, 0.40816326530612235, 0.74489795918367352], atol=1e-14
    )


def test_on_off_time_points_are_reported() -> None:
    a = kom.datasets.simulate("protein", seed=9, n_features=30, timepoints=(1, 3, 7))
    x = np.array(a.X, dtype=float)
    phase = a.obs["phase"].astype(str).to_numpy()
    day = a.obs["timepoint"].to_numpy()
    x[:, 0] = 20.0 + np.arange(a.n_obs) * 0.01
    x[phase == "withdrawal", 0] = np.nan  # gone during withdrawal
    x[:, 1] = 21.0 + np.arange(a.n_obs) * 0.01
    x[(phase == "withdrawal") & (day == 7), 1] = np.nan  # gone at day 7 only
    a.X = x
    kom.tl.timecourse(a, df=2)
    res = a.uns["timecourse"]
    t = res["table"].set_index(["feature", "contrast"])
    f0, f1 = a.var_names[0], a.var_names[1]
    row = t.loc[(f0, "withdrawal - control")]
    assert row["log2fc"] == -np.inf
    assert np.isnan(row["t"])
    assert (row["n_detected_a"], row["n_a"], row["n_detected_b"]) == (0, 18, 6)
    assert (
        row["reason"]
        == "on/off: absent in withdrawal[1] + withdrawal[3] + withdrawal[7], detected in control"
    )
    assert row["detection_pvalue"] == pytest.approx(stats.fisher_exact([[0, 18], [6, 0]]).pvalue)
    assert t.loc[(f0, "withdrawal - use"), "log2fc"] == -np.inf
    # absent at day 7 only: the curve (3 terms) is not identifiable from 2 days
    assert res["params"]["n_curve_not_estimable"] >= 2  # f0, f1 (+ simulated missingness)
    assert t.loc[(f1, "withdrawal[7] - control"), "log2fc"] == -np.inf
    assert t.loc[(f1, "withdrawal[7] - control"), "reason"].startswith(
        "on/off: absent in withdrawal[7]"
    )
    both = t.loc[(f1, "withdrawal - control")]
    assert np.isnan(both["log2fc"])
    assert both["reason"] == "contrast not estimable (a group it involves is missing)"
    assert np.isnan(res["f_table"].set_index("feature").loc[f1, "F"])
    assert np.isnan(res["recovery"].set_index("feature").loc[f1, "pvalue"])
