"""kom.tl.power: simulation from the fitted prior through the engine, checked against closed forms."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kratom_omics as kom
from kratom_omics.errors import DesignError, ResultNotFoundError


@pytest.fixture(scope="module")
def fitted(protein: ad.AnnData) -> ad.AnnData:
    adata = protein.copy()
    kom.tl.differential(adata, "phase")
    return adata


def _blank() -> ad.AnnData:
    return ad.AnnData(np.zeros((4, 2)))


def test_known_variance_matches_the_noncentral_t() -> None:
    # df_prior = inf: every feature has variance s2 and the moderated t of a changed feature is a
    # noncentral t with df_total = G * (2n - 2) (limma caps df_prior + df_residual at the total);
    # Bonferroni's cut-off alpha / G is the same for every feature
    g, alpha, s2, lfc = 500, 0.05, 0.04, 0.5
    sizes = [3, 4, 6]
    table = kom.tl.power(
        _blank(),
        df_prior=np.inf,
        s2_prior=s2,
        log2fc=lfc,
        alpha=alpha,
        n_per_group=sizes,
        pi1=0.2,
        n_features=g,
        n_groups=2,
        n_sim=20,
        adjust="bonferroni",
        seed=1,
    )
    expected = []
    for n in sizes:
        df = g * (2 * n - 2)
        ncp = lfc / np.sqrt(2 * s2 / n)
        crit = stats.t.isf(alpha / g / 2, df)
        expected.append(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    # closed form: 0.202, 0.360, 0.669; Monte Carlo standard error about 0.015
    np.testing.assert_allclose(table["power"], expected, atol=0.035)
    assert (table["fdr_achieved"] < 0.01).all()
    # an ordinary t-test with 2n - 2 df would have far less power (0.005 at n = 3)
    assert table["power"].iloc[0] > 0.15


def test_power_grows_with_n_and_with_the_effect(fitted: ad.AnnData) -> None:
    common = {"n_per_group": [3, 5, 8], "n_features": 400, "n_sim": 5, "seed": 2}
    small = kom.tl.power(fitted, log2fc=0.5, key_added="small", **common)
    large = kom.tl.power(fitted, log2fc=1.0, key_added="large", **common)
    assert list(small.columns) == [
        "n_per_group",
        "power",
        "power_se",
        "fdr_achieved",
        "n_discoveries",
        "n_sim",
    ]
    assert small["n_per_group"].tolist() == [3, 5, 8]
    assert np.all(np.diff(small["power"]) > 0)
    assert np.all(np.diff(large["power"]) > 0)
    assert np.all(large["power"] > small["power"])
    assert large["power"].iloc[-1] > 0.9
    # BH keeps the achieved FDR near or below its level
    assert large.loc[large["n_discoveries"] > 5, "fdr_achieved"].max() < 0.05 + 0.04


def test_prior_is_read_from_the_differential_result(fitted: ad.AnnData) -> None:
    table = kom.tl.power(
        fitted, log2fc=1.0, power=0.8, n_per_group=range(3, 7), n_features=300, n_sim=3
    )
    res = fitted.uns["power"]
    prior = fitted.uns["differential"]["prior"]
    assert res["params"]["df_prior"] == pytest.approx(prior["df_prior"])
    assert res["params"]["s2_prior"] == pytest.approx(prior["s2_prior"])
    assert res["params"]["n_groups"] == 3  # the phases of the stored analysis
    first = table.loc[table["power"] >= 0.8, "n_per_group"].iloc[0]
    assert table.attrs["n_required"] == first == res["n_required"]
    pd.testing.assert_frame_equal(res["table"], table)
    again = kom.tl.power(
        fitted, log2fc=1.0, n_per_group=range(3, 7), n_features=300, n_sim=3, key_added="again"
    )
    pd.testing.assert_frame_equal(again, table)


def test_target_not_reached_and_per_feature_prior(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    kom.tl.differential(adata, "phase", robust=True, key_added="robust")
    assert np.size(adata.uns["robust"]["prior"]["df_prior"]) == adata.n_vars
    table = kom.tl.power(adata, "robust", log2fc=0.2, n_per_group=[3, 4], n_features=200, n_sim=2)
    assert table.attrs["n_required"] is None
    assert np.isnan(adata.uns["power"]["n_required"])
    assert adata.uns["power"]["params"]["prior_per_feature"] is True
    assert (table["power"] < 0.3).all()


def test_bad_arguments_raise_clear_errors(fitted: ad.AnnData) -> None:
    with pytest.raises(
        ResultNotFoundError,
        match=r"key='differential': adata.uns\['differential'\] holds no fitted prior; run "
        r"kom.tl.differential",
    ):
        kom.tl.power(_blank())
    with pytest.raises(DesignError, match=r"n_per_group must be integers >= 2 .*got \[1, 3\]"):
        kom.tl.power(fitted, n_per_group=[1, 3])
    with pytest.raises(DesignError, match=r"alpha must be in \(0, 1\); got alpha=1.5"):
        kom.tl.power(fitted, alpha=1.5)
    with pytest.raises(
        DesignError, match=r"pi1=0.0001 x n_features=1000 plants no changed feature"
    ):
        kom.tl.power(fitted, pi1=0.0001)
    with pytest.raises(DesignError, match=r"s2_prior must be > 0"):
        kom.tl.power(_blank(), df_prior=4.0, s2_prior=0.0)


def test_h5ad_round_trip(tmp_path: Path) -> None:
    adata = _blank()
    kom.tl.power(adata, df_prior=5.0, s2_prior=0.05, n_per_group=[3, 4], n_features=100, n_sim=2)
    path = tmp_path / "power.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.uns["power"]["table"], adata.uns["power"]["table"])
    assert back.uns["power"]["params"]["df_prior"] == 5.0
