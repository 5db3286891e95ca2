"""kom.tl.adjust_pvalues against R's p.adjust and qvalue (tests/data/limma/make_padjust.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import kratom_omics as kom
from kratom_omics.errors import DesignError
from kratom_omics.tl._multitest import pi0_bootstrap

DATA = Path(__file__).parents[1] / "data" / "limma"
# R 4.2: x <- seq(0.05, 0.95, 0.05); smooth.spline(x, sin(4 * x) + x^2, df = 3)$y[c(1, 10, 19)]
R_SMOOTH = [0.45598554208213748, 1.03195878451557022, 0.37040911913939778]


@pytest.fixture(scope="module")
def pvals() -> np.ndarray:
    return pd.read_csv(DATA / "pvalues.csv")["p"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return pd.read_csv(DATA / "padjust_R.csv")


@pytest.mark.parametrize("method", ["bh", "by", "bonferroni", "holm"])
def test_matches_r(pvals: np.ndarray, ref: pd.DataFrame, method: str) -> None:
    adj, info = kom.tl.adjust_pvalues(pvals, method)
    np.testing.assert_array_equal(np.isnan(adj), np.isnan(pvals))
    np.testing.assert_allclose(adj, ref[method].to_numpy(), rtol=1e-12, atol=0)
    assert info == {}


@pytest.mark.parametrize(
    ("pi0_method", "column", "pi0_column"),
    [("smoother", "qvalue_smoother", "pi0_smoother"), ("bootstrap", "qvalue", "pi0")],
)
def test_qvalue_matches_r_qvalue_package(
    pvals: np.ndarray, ref: pd.DataFrame, pi0_method: str, column: str, pi0_column: str
) -> None:
    adj, info = kom.tl.adjust_pvalues(pvals, "qvalue", pi0_method=pi0_method)
    np.testing.assert_array_equal(np.isnan(adj), np.isnan(pvals))
    assert info["pi0"] == pytest.approx(ref[pi0_column].iloc[0], rel=1e-10)
    np.testing.assert_allclose(adj, ref[column].to_numpy(), rtol=1e-10, atol=0)


def test_qvalue_default_is_the_smoother(pvals: np.ndarray, ref: pd.DataFrame) -> None:
    _, info = kom.tl.adjust_pvalues(pvals, "qvalue")
    assert info["pi0"] == pytest.approx(0.654511444450779, rel=1e-10)
    with pytest.raises(DesignError, match="pi0_method='spline' is not available"):
        kom.tl.adjust_pvalues(pvals, "qvalue", pi0_method="spline")


def test_smooth_spline_matches_r() -> None:
    """R: smooth.spline(seq(0.05, 0.95, 0.05), y, df = 3)$y with y = sin(4 * x) + x^2."""
    from kratom_omics.tl._multitest import smooth_spline_fit

    x = np.arange(0.05, 0.951, 0.05)
    fit = smooth_spline_fit(x, np.sin(4 * x) + x**2, 3)
    assert fit.shape == (19,)
    np.testing.assert_allclose(fit[[0, 9, 18]], R_SMOOTH, rtol=1e-9)


@pytest.mark.parametrize(
    ("method", "sm"),
    [("bh", "fdr_bh"), ("by", "fdr_by"), ("bonferroni", "bonferroni"), ("holm", "holm")],
)
def test_matches_statsmodels(pvals: np.ndarray, method: str, sm: str) -> None:
    ok = ~np.isnan(pvals)
    adj, _ = kom.tl.adjust_pvalues(pvals, method)
    np.testing.assert_allclose(adj[ok], multipletests(pvals[ok], method=sm)[1], rtol=1e-12)


def test_none_and_aliases(pvals: np.ndarray) -> None:
    adj, _ = kom.tl.adjust_pvalues(pvals, "none")
    np.testing.assert_array_equal(adj, pvals)
    a, _ = kom.tl.adjust_pvalues(pvals, "BH")
    b, _ = kom.tl.adjust_pvalues(pvals, "fdr_bh")
    np.testing.assert_array_equal(a, b)


def test_small_examples() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    adj, _ = kom.tl.adjust_pvalues(p, "bh")
    np.testing.assert_allclose(adj, [0.04, 0.16 / 3, np.nan, 0.16 / 3, 0.5], rtol=1e-12)
    holm, _ = kom.tl.adjust_pvalues(p, "holm")
    np.testing.assert_allclose(holm, [0.04, 0.09, np.nan, 0.09, 0.5])
    empty, _ = kom.tl.adjust_pvalues(np.array([np.nan, np.nan]), "bh")
    assert np.isnan(empty).all()


def test_pi0_of_uniform_p_is_near_one() -> None:
    rng = np.random.default_rng(0)
    assert pi0_bootstrap(rng.uniform(size=5000)) == pytest.approx(1.0, abs=0.05)


def test_qvalue_without_large_pvalues_fails_clearly() -> None:
    p = np.linspace(1e-6, 0.04, 200)
    with pytest.raises(DesignError, match=r"estimated pi0 is .* <= 0; .* Use fdr='bh'"):
        kom.tl.adjust_pvalues(p, "qvalue")


def test_bad_method_and_values() -> None:
    with pytest.raises(DesignError, match=r"fdr='bhh' is not available\. Did you mean 'bh'\?"):
        kom.tl.adjust_pvalues(np.array([0.1]), "bhh")
    with pytest.raises(DesignError, match=r"p-values must lie in \[0, 1\]; got 1 outside"):
        kom.tl.adjust_pvalues(np.array([0.1, 1.5]), "bh")


def test_bh_overwrite_writes_into_the_input_and_gives_the_same_values() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(5000)
    p[:40] = p[40:80]  # ties
    ref, _ = kom.tl.adjust_pvalues(p.copy(), "bh")
    q = p.copy()
    got, _ = kom.tl.adjust_pvalues(q, "bh", overwrite=True)
    assert np.shares_memory(got, q)
    np.testing.assert_array_equal(got, ref)
    r = p.copy()
    r[3] = np.nan  # a missing p-value: a new array, the input is left alone
    got2, _ = kom.tl.adjust_pvalues(r, "bh", overwrite=True)
    assert not np.shares_memory(got2, r)
    assert np.isnan(r[3])
    assert r[4] == p[4]
