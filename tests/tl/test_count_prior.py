"""Count-aware variance priors against R: limma's eBayes(trend = log(n_peptides)) and DEqMS.

Fixtures: tests/data/limma (make_reference_count_trend.R, make_reference_deqms.R; see README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from kratom_omics.errors import DesignError
from kratom_omics.tl._limma import contrasts_fit, lm_fit
from kratom_omics.tl._methods import count_covariate, deqms_moderation, ebayes_count_trend
from kratom_omics.tl._methods._count_prior import _deqms_prior_df

DATA = Path(__file__).parents[1] / "data" / "limma"
LEVELS = ["control", "use", "withdrawal"]
# columns: withdrawal - control, use - control, withdrawal - use
CONTRASTS = np.array([[-1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 1.0]])
RTOL = 1e-8
ATOL = 1e-9  # t near 0 on the unequal-df path (R optimize()s tolerance, see LIMMA-NOTES)


def fit_phase(matrix: str):  # type: ignore[no-untyped-def]
    samples = pd.read_csv(DATA / "samples_phase.csv")
    design = np.column_stack([(samples["phase"] == lv).to_numpy(float) for lv in LEVELS])
    y = pd.read_csv(DATA / f"{matrix}.csv", index_col=0).to_numpy(dtype=float)
    fit = lm_fit(y, design)
    return fit, contrasts_fit(fit, CONTRASTS)


def counts() -> np.ndarray:
    return pd.read_csv(DATA / "counts_phase.csv")["n_peptides"].to_numpy()


def close(mine: np.ndarray, ref: np.ndarray, what: str) -> None:
    mine = np.asarray(mine, dtype=float)
    ref = np.asarray(ref, dtype=float)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg=f"{what}: NA differ")
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL, err_msg=what)


CASES = [
    # case, matrix, version, options, covariate transform
    ("count_trend", "y_phase", "3.62", {}, "log"),
    ("count_trend", "y_phase", "3.54", {"legacy": True}, "log"),
    ("count_trend_robust", "y_phase", "3.62", {"robust": True}, "log"),
    ("count_trend_robust", "y_phase", "3.54", {"robust": True, "legacy": True}, "log"),
    ("na_count_trend", "y_phase_na", "3.62", {}, "log"),
    ("na_count_trend", "y_phase_na", "3.54", {"legacy": True}, "log"),
    ("na_count_trend_legacy", "y_phase_na", "3.62", {"legacy": True}, "log"),
    ("na_count_trend_robust", "y_phase_na", "3.62", {"robust": True}, "log"),
    ("na_count_trend_robust", "y_phase_na", "3.54", {"robust": True, "legacy": True}, "log"),
    ("count_trend_single", "y_phase", "3.62", {}, "single"),
    ("count_trend_single", "y_phase", "3.54", {"legacy": True}, "single"),
]


@pytest.mark.parametrize(("case", "matrix", "version", "options", "transform"), CASES)
def test_count_trend_matches_r_limma(
    case: str, matrix: str, version: str, options: dict, transform: str
) -> None:
    fit, cfit = fit_phase(matrix)
    n = counts() if transform == "log" else np.maximum(counts() - 2, 1)
    amean = fit.amean.copy()
    eb = ebayes_count_trend(cfit, fit, count_covariate(n, n.size), **options)
    con = pd.read_csv(DATA / f"{case}_contrasts_limma{version}.csv.gz")
    feat = pd.read_csv(DATA / f"{case}_features_limma{version}.csv.gz")
    g = n.size
    close(eb.t.T.reshape(-1), con["t"], f"{case} {version} t")
    close(eb.p_value.T.reshape(-1), con["P.Value"], f"{case} {version} p")
    close(eb.lods.T.reshape(-1), con["B"], f"{case} {version} B")
    close(eb.s2_post, feat["s2_post"], f"{case} {version} s2_post")
    close(eb.df_total, feat["df_total"], f"{case} {version} df_total")
    close(np.broadcast_to(eb.df_prior, (g,)), feat["df_prior"], f"{case} {version} df_prior")
    close(np.broadcast_to(eb.s2_prior, (g,)), feat["s2_prior"], f"{case} {version} s2_prior")
    close(eb.f_stat, feat["F"], f"{case} {version} F")
    close(eb.f_p_value, feat["F.p.value"], f"{case} {version} F p")
    np.testing.assert_array_equal(fit.amean, amean)  # the fit itself is left alone


def test_count_trend_prior_falls_with_count() -> None:
    fit, cfit = fit_phase("y_phase")
    n = counts()
    eb = ebayes_count_trend(cfit, fit, np.log(n))
    s2 = np.asarray(eb.s2_prior)
    assert np.median(s2[n == 1]) > np.median(s2[n >= 10])


def test_count_trend_knot_on_maximum_is_a_clear_error() -> None:
    # limma stops with "Problem with covariate" here (make_reference_count_trend.R checks it)
    fit, cfit = fit_phase("y_phase")
    few = np.log(np.minimum(counts(), 3))
    with pytest.raises(DesignError, match=r"67% of the features share the largest count \(3\)"):
        ebayes_count_trend(cfit, fit, few, legacy=True)
    # limma's lowess trend of the unequal-df path has no knots
    eb = ebayes_count_trend(cfit, fit, few, legacy=False)
    assert np.all(np.isfinite(eb.s2_post))


@pytest.mark.parametrize("case", ["phase", "phase_na"])
def test_deqms_matches_r_computation(case: str) -> None:
    fit, cfit = fit_phase("y_phase" if case == "phase" else "y_phase_na")
    res = deqms_moderation(cfit, fit, counts())
    ref = pd.read_csv(DATA / f"deqms_{case}.csv.gz")
    g = fit.sigma.size
    assert res.df_prior == pytest.approx(float(ref["df_prior"].iloc[0]), abs=1e-12)
    close(res.t.T.reshape(-1), ref["t"], f"deqms {case} t")
    close(res.p_value.T.reshape(-1), ref["P.Value"], f"deqms {case} p")
    close(res.s2_post, ref["s2_post"].to_numpy()[:g], f"deqms {case} s2_post")
    close(res.s2_prior, ref["s2_prior"].to_numpy()[:g], f"deqms {case} s2_prior")
    lo = ref["loess"].to_numpy()[:g]
    fitted = np.isfinite(lo)
    close(res.loess_fitted[fitted], lo[fitted], f"deqms {case} loess")
    # features without a variance (df_residual 0) get the curve's prediction and NaN statistics
    x = np.log2(counts())
    inside = (x >= x[fitted].min()) & (x <= x[fitted].max())
    assert np.array_equal(np.isfinite(res.loess_fitted), fitted | inside)
    assert np.array_equal(~fitted, fit.df_residual == 0)
    assert np.all(np.isnan(res.t[~fitted]))


def test_deqms_prior_df_grid_search_by_hand() -> None:
    # trigamma(d0/2) = m has the root d0 = 4 exactly for m = trigamma(2)
    assert _deqms_prior_df(float(special.polygamma(1, 2.0)), 100) == pytest.approx(4.0)
    # between grid points: the nearer one (trigamma is decreasing)
    m = float(special.polygamma(1, 4.04 / 2))
    assert _deqms_prior_df(m, 100) == pytest.approx(4.0)
    # no spread beyond sampling noise: the search runs to the end of the grid (d0 = numgenes)
    assert _deqms_prior_df(-0.1, 50) == pytest.approx(50.0)
    # huge spread: the first grid point
    assert _deqms_prior_df(1e6, 50) == pytest.approx(0.1)


def test_count_covariate_bad_counts() -> None:
    with pytest.raises(DesignError, match=r"1 feature\(s\) have a missing or smaller value"):
        count_covariate([3, np.nan, 2], 3)
    with pytest.raises(DesignError, match=r"first: position 0, value 0.0"):
        count_covariate([0, 1, 2], 3)
    with pytest.raises(DesignError, match=r"expected one peptide count per feature \(4,\)"):
        count_covariate([1, 2, 3], 4)
    np.testing.assert_allclose(count_covariate([1, 2, 8], 3), np.log([1, 2, 8]))


def test_deqms_needs_distinct_counts() -> None:
    fit, cfit = fit_phase("y_phase")
    with pytest.raises(DesignError, match="takes 2 distinct value"):
        deqms_moderation(cfit, fit, np.where(counts() > 3, 4, 1))
