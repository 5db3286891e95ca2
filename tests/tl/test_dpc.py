"""Detection probability curve and the missing-values-as-evidence fit (method='dpc').

Checked against hand computations: the curve is recovered from data drawn with a known logistic
detection curve, the conditional moments of a missing value and the maximum-likelihood group mean
against direct numerical integration and maximisation with scipy.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

import kratom_omics as kom
from kratom_omics.errors import DesignError
from kratom_omics.tl._limma import contrasts_fit, ebayes, lm_fit
from kratom_omics.tl._methods import DetectionCurve, dpc_linear_fit, fit_detection_curve
from kratom_omics.tl._methods._dpc import _tilted_moments, group_means_with_dropout


def draw(b0: float, b1: float, seed: int, g: int = 1500, n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mu = rng.normal(20, 2, g)
    sd = np.sqrt(0.1 * 5 / rng.chisquare(5, g))
    y = mu[:, None] + sd[:, None] * rng.standard_normal((g, n))
    y[rng.random(y.shape) >= special.expit(b0 + b1 * y)] = np.nan
    return y


@pytest.mark.parametrize(("b0", "b1"), [(-18.0, 1.0), (-9.0, 0.5)])
def test_curve_recovered_from_data_with_known_detection(b0: float, b1: float) -> None:
    curve = fit_detection_curve(draw(b0, b1, seed=int(-b0)))
    assert curve.beta1 == pytest.approx(b1, rel=0.06)
    assert curve.midpoint() == pytest.approx(-b0 / b1, abs=0.15)
    assert curve.probability(-b0 / b1) == pytest.approx(0.5, abs=0.05)


def test_conditional_moments_of_a_missing_value_by_quadrature() -> None:
    curve = DetectionCurve(beta0=-18.0, beta1=1.0, n_features=1, n_missing=1, iterations=1)
    m, tau = np.array([17.0, 19.5, 23.0]), np.array([0.4, 1.0, 0.3])
    mean, var, prob = _tilted_moments(m, tau, curve)
    for i in range(3):

        def dens(y: float, i: int = i) -> float:
            return stats.norm.pdf(y, m[i], tau[i]) * special.expit(-(-18.0 + y))

        lo, hi = m[i] - 10 * tau[i], m[i] + 10 * tau[i]
        mass = integrate.quad(dens, lo, hi, epsabs=1e-13)[0]
        mu1 = integrate.quad(lambda y, i=i: y * dens(y), lo, hi, epsabs=1e-13)[0] / mass
        mu2 = integrate.quad(lambda y, i=i, c=mu1: (y - c) ** 2 * dens(y), lo, hi, epsabs=1e-13)[0]
        assert prob[i] == pytest.approx(mass, rel=1e-6)
        assert mean[i] == pytest.approx(mu1, rel=1e-8)
        assert var[i] == pytest.approx(mu2 / mass, rel=1e-6)
    # a missing value lies below the centre, and is less spread
    assert np.all(mean < m)
    assert np.all(var < tau**2)


def test_group_mean_is_the_maximum_likelihood_estimate() -> None:
    curve = DetectionCurve(beta0=-9.0, beta1=0.5, n_features=1, n_missing=1, iterations=1)
    y = np.array([[18.2, np.nan, np.nan, 21.0], [18.6, 18.9, np.nan, 21.0]])
    mask = np.array([True, True, True, False])
    s2 = np.array([0.25, 0.09])
    mu, weight, nmis = group_means_with_dropout(y, mask, s2, curve)
    assert list(nmis) == [2, 1]
    for i in range(2):
        sd = np.sqrt(s2[i])
        obs = y[i, :3][np.isfinite(y[i, :3])]

        def nll(m: float, i: int = i, sd: float = sd, obs: np.ndarray = obs) -> float:
            pmis = integrate.quad(
                lambda v: stats.norm.pdf(v, m, sd) * special.expit(-(-9.0 + 0.5 * v)),
                m - 12 * sd,
                m + 12 * sd,
                epsabs=1e-14,
            )[0]
            return -(np.sum(stats.norm.logpdf(obs, m, sd)) + nmis[i] * np.log(pmis))

        best = optimize.minimize_scalar(nll, bracket=(17.0, 18.5), tol=1e-12).x
        assert mu[i] == pytest.approx(best, abs=1e-6)
        assert mu[i] < obs.mean()  # missing values pull the mean down
        # information of a missing value relative to an observed one, by finite differences
        h = 1e-3
        info_mis = (nll(best + h) - 2 * nll(best) + nll(best - h)) / h**2 - obs.size / s2[i]
        assert weight[i] == pytest.approx(info_mis * s2[i] / nmis[i], abs=1e-3)
        assert 0 < weight[i] < 1


def two_groups(y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    groups = np.repeat([0, 1], y.shape[1] // 2)
    masks = [groups == 0, groups == 1]
    return np.column_stack([m.astype(float) for m in masks]), masks


def test_dpc_fit_keeps_complete_and_onoff_features_as_limma() -> None:
    y = draw(-14.0, 0.7, seed=5, g=600, n=6)
    y[0, 3:] = np.nan  # group 2 missing: on/off
    y[1, :] = [20.1, 20.3, 19.9, 19.0, np.nan, np.nan]  # seen 3/3 and 1/3
    design, masks = two_groups(y)
    fit, info = dpc_linear_fit(y, design, masks)
    plain = lm_fit(y, design)
    complete = np.isfinite(y).all(axis=1)
    np.testing.assert_allclose(fit.coefficients[complete], plain.coefficients[complete])
    np.testing.assert_allclose(fit.stdev_unscaled[complete], plain.stdev_unscaled[complete])
    np.testing.assert_array_equal(
        fit.sigma[np.isfinite(fit.sigma)], plain.sigma[np.isfinite(plain.sigma)]
    )
    np.testing.assert_array_equal(fit.df_residual, plain.df_residual)
    assert np.isnan(fit.coefficients[0, 1])
    assert info["n_onoff_kept"] >= 1
    # seen 3/3 and 1/3: the missing values lower group 2's mean and add (a little) precision
    assert fit.coefficients[1, 1] < 19.0
    assert fit.stdev_unscaled[1, 1] < plain.stdev_unscaled[1, 1] == pytest.approx(1.0)
    eb = ebayes(contrasts_fit(fit, np.array([[-1.0], [1.0]])), fit)
    eb_plain = ebayes(contrasts_fit(plain, np.array([[-1.0], [1.0]])), plain)
    assert abs(eb.t[1, 0]) > abs(eb_plain.t[1, 0])


def test_dpc_errors_name_what_is_missing_and_what_works() -> None:
    y = draw(-14.0, 0.7, seed=6, g=300, n=6)
    _design, masks = two_groups(y)
    complete = np.where(np.isfinite(y), y, 20.0)
    with pytest.raises(DesignError, match=r"needs missing values to learn from.*method='limma'"):
        fit_detection_curve(complete)
    rng = np.random.default_rng(0)
    random_missing = complete.copy()
    random_missing[rng.random(y.shape) < 0.1] = np.nan
    random_missing[:150] += 4.0
    random_missing[:150][rng.random((150, 6)) < 0.2] = np.nan  # more missing at high intensity
    with pytest.raises(DesignError, match=r"does not rise with intensity.*method='limma'"):
        fit_detection_curve(random_missing)
    with pytest.raises(DesignError, match=r"at least two groups.*method='limma'"):
        dpc_linear_fit(y, np.ones((6, 1)), [np.ones(6, dtype=bool)])
    with pytest.raises(DesignError, match=r"design ~ 0 \+ group.*method='limma'"):
        dpc_linear_fit(y, np.column_stack([np.ones(6), masks[1]]), masks)


def adata_from(y: np.ndarray, var: dict | None = None) -> ad.AnnData:
    obs = pd.DataFrame(
        {"phase": pd.Categorical(np.repeat(["control", "withdrawal"], y.shape[1] // 2))},
        index=[f"s{i}" for i in range(y.shape[1])],
    )
    a = ad.AnnData(X=y.T.copy(), obs=obs)
    a.var_names = [f"p{i}" for i in range(y.shape[0])]
    for k, v in (var or {}).items():
        a.var[k] = v
    return a


def test_dpc_through_differential_keeps_the_onoff_results() -> None:
    y = draw(-14.0, 0.7, seed=7, g=300, n=6)
    a = adata_from(y)
    kom.tl.differential(a, "phase", "withdrawal - control")
    ref = a.uns["differential"]["table"]
    kom.tl.differential(a, "phase", "withdrawal - control", method="dpc", key_added="dpc")
    res = a.uns["dpc"]
    dpc = res["table"]
    assert list(dpc.columns) == list(ref.columns)
    assert (dpc["reason"] == ref["reason"]).all()  # on/off results unchanged
    onoff = np.isinf(ref["log2fc"].to_numpy())
    assert onoff.sum() > 0
    np.testing.assert_array_equal(dpc["log2fc"].to_numpy()[onoff], ref["log2fc"].to_numpy()[onoff])
    # residual variances and df come from the observed values, as limma has them
    np.testing.assert_array_equal(dpc["df_residual"], ref["df_residual"])
    complete = (dpc["n_obs"] == 6).to_numpy()
    np.testing.assert_allclose(dpc["log2fc"][complete], ref["log2fc"][complete], rtol=1e-12)
    changed = ~complete & np.isfinite(ref["log2fc"].to_numpy())
    assert (dpc["log2fc"][changed] != ref["log2fc"][changed]).all()
    p = res["params"]
    assert p["method"] == "dpc"
    assert p["dpc_curve"] == "fitted"
    # every missing value of a feature with each group detected at least once is used
    miss = np.isnan(y)
    kept = ~miss[:, :3].all(axis=1) & ~miss[:, 3:].all(axis=1)
    assert p["dpc_n_filled"] == int(miss[kept].sum()) > 0
    assert p["dpc_beta1"] > 0
    assert p["limma_version_matched"] == ""  # not limma's numbers
    # a curve given beforehand is used as it is
    curve = DetectionCurve(p["dpc_beta0"], p["dpc_beta1"], 1, 1, 1)
    kom.tl.differential(
        a, "phase", "withdrawal - control", method="dpc", detection_curve=curve, key_added="dpc2"
    )
    assert a.uns["dpc2"]["params"]["dpc_curve"] == "given"
    np.testing.assert_array_equal(a.uns["dpc2"]["table"]["t"], dpc["t"])


REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "einprot"


@pytest.mark.skipif(not (REAL / "PXD028735.pg_matrix.tsv").exists(), reason="no ../shared")
def test_dpc_on_the_lfq_bench_adds_true_calls_at_the_same_fdp() -> None:
    sheet = pd.read_csv(REAL / "PXD028735_sampleAnnot.txt", sep="\t")
    sheet = sheet.rename(columns={"group": "phase"})
    a = kom.io.read_diann(REAL / "PXD028735.pg_matrix.tsv", samples=sheet, phases=None)
    kom.pp.recipe(a, groupby="phase")
    # truth from the raw protein names: human 1:1, yeast and E. coli changed
    raw = pd.read_csv(REAL / "PXD028735.pg_matrix.tsv", sep="\t", usecols=["Protein.Names"])
    species = raw["Protein.Names"].str.extract(r"_(HUMAN|YEAST|ECOLI)")[0]
    changed_names = set(raw.loc[species.isin(["YEAST", "ECOLI"]), "Protein.Names"])
    changed = a.var["protein_names"].isin(changed_names).to_numpy()
    out = {}
    for method in ("limma", "dpc"):
        kom.tl.differential(a, "phase", "A - B", method=method, key_added=method)
        table = a.uns[method]["table"]
        called = (table["padj"] < 0.05).to_numpy()
        out[method] = (
            called.sum(),
            (called & ~changed).sum() / called.sum(),
            called[changed].mean(),
        )
    assert out["limma"][0] == 2312  # today's default recipe + limma
    assert out["dpc"][0] > out["limma"][0]
    assert out["dpc"][1] <= min(out["limma"][1], 0.05)
    assert out["dpc"][2] > 0.75 > out["limma"][2]
