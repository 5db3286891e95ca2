"""Repeated measures: duplicate_correlation and differential(block=) against R limma + statmod.

Fixtures: tests/data/limma (inputs and outputs: make_reference_designs.R; see README.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError, KratomOmicsWarning
from kratom_omics.tl._dupcor import _glmgam_fit, duplicate_correlation_matrix

DATA = Path(__file__).parents[1] / "data" / "limma"
CON = ["withdrawal - control", "use - control", "withdrawal - use"]
RTOL = 1e-8
ATOL = 1e-10
CONTRAST_COLUMNS = {
    "logFC": "log2fc",
    "se": "se",
    "CI.L": "ci_low",
    "CI.R": "ci_high",
    "t": "t",
    "P.Value": "pvalue",
    "adj.P.Val": "padj",
    "B": "B",
}
FEATURE_COLUMNS = {
    "AveExpr": "mean_log2",
    "df_total": "df_total",
    "s2_post": "s2_post",
    "df_residual": "df_residual",
}
CASES = {
    "repeated": ("y_repeated", {}),
    "repeated_na": ("y_repeated_na", {}),
    "repeated_na_trend_robust": ("y_repeated_na", {"trend": True, "robust": True}),
}


def make_adata(matrix: str) -> ad.AnnData:
    y = pd.read_csv(DATA / f"{matrix}.csv", index_col=0)
    obs = pd.read_csv(DATA / "samples_repeated.csv", index_col=0)
    obs["phase"] = pd.Categorical(
        obs["phase"], categories=["control", "use", "withdrawal"], ordered=True
    )
    adata = ad.AnnData(X=y.T.to_numpy(dtype=float), obs=obs.loc[y.columns])
    adata.var_names = y.index.astype(str)
    return adata


def reference(case: str, version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    con = pd.read_csv(DATA / f"{case}_contrasts_limma{version}.csv.gz")
    feat = pd.read_csv(DATA / f"{case}_features_limma{version}.csv.gz")
    return con, feat


def close(mine, ref, what: str) -> None:
    mine = np.asarray(mine, dtype=float)
    mine = np.where(np.isinf(mine), np.nan, mine)  # on/off log2fc is NA in limma
    ref = np.asarray(ref, dtype=float)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg=f"{what}: NA positions")
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("matrix", ["y_repeated", "y_repeated_na"])
def test_duplicate_correlation_matches_r(matrix: str) -> None:
    case = "repeated" if matrix == "y_repeated" else "repeated_na"
    _, feat = reference(case, "3.62")
    adata = make_adata(matrix)
    kom.tl.duplicate_correlation(adata, "subject", "phase")
    res = adata.uns["duplicate_correlation"]
    # achieved: 4e-16 absolute on the consensus, 6e-14 on the per-feature atanh correlations
    assert res["params"]["consensus_correlation"] == pytest.approx(feat["consensus"][0], abs=1e-12)
    t = res["table"]
    assert list(t["feature"]) == list(feat["feature"])
    np.testing.assert_array_equal(np.isnan(t["atanh_correlation"]), feat["atanh_cor"].isna())
    np.testing.assert_allclose(t["atanh_correlation"], feat["atanh_cor"], rtol=1e-10, atol=1e-12)
    assert res["params"]["n_estimated"] == int(feat["atanh_cor"].notna().sum())


@pytest.mark.parametrize("version", ["3.62", "3.54"])
@pytest.mark.parametrize("case", list(CASES))
def test_blocked_differential_matches_r(case: str, version: str) -> None:
    matrix, options = CASES[case]
    adata = make_adata(matrix)
    kom.tl.differential(
        adata,
        "phase",
        CON,
        block="subject",
        legacy=True if version == "3.54" else None,
        **options,
    )
    res = adata.uns["differential"]
    con, feat = reference(case, version)
    assert res["params"]["correlation"] == pytest.approx(feat["consensus"][0], abs=1e-12)
    assert res["params"]["correlation_estimated"] is True
    assert res["params"]["block"] == "subject"
    table = res["table"]
    assert list(table["contrast"]) == list(con["contrast"])
    for rcol, col in CONTRAST_COLUMNS.items():
        close(table[col], con[rcol], f"{case} {version} {col}")
    for rcol, col in FEATURE_COLUMNS.items():
        close(table[col], np.tile(feat[rcol].to_numpy(), len(CON)), f"{case} {version} {col}")
    n = adata.n_vars
    close(np.broadcast_to(res["prior"]["df_prior"], (n,)), feat["df_prior"], "df_prior")
    close(np.broadcast_to(res["prior"]["s2_prior"], (n,)), feat["s2_prior"], "s2_prior")
    f = res["f_table"]
    close(f["F"], feat["F"], "F")
    close(f["pvalue"], feat["F.p.value"], "F p-value")


def test_given_correlation_is_used_and_block_differs_from_fixed_subject() -> None:
    adata = make_adata("y_repeated")
    kom.tl.differential(adata, "phase", CON, block="subject", correlation=0.2, key_added="c02")
    kom.tl.differential(adata, "phase", CON, block="subject", correlation=0.0, key_added="c0")
    kom.tl.differential(adata, "phase", CON, key_added="ols")
    p = adata.uns["c02"]["params"]
    assert p["correlation"] == 0.2
    assert p["correlation_estimated"] is False
    # correlation 0 is ordinary least squares
    np.testing.assert_allclose(
        adata.uns["c0"]["table"]["t"], adata.uns["ols"]["table"]["t"], rtol=1e-9, atol=1e-12
    )
    assert not np.allclose(adata.uns["c02"]["table"]["t"], adata.uns["ols"]["table"]["t"])


def test_survives_h5ad(tmp_path) -> None:
    adata = make_adata("y_repeated_na")
    kom.tl.duplicate_correlation(adata)
    kom.tl.differential(adata, "phase", CON, block="subject")
    adata.write_h5ad(tmp_path / "rm.h5ad")
    b = ad.read_h5ad(tmp_path / "rm.h5ad")
    assert b.uns["differential"]["params"]["correlation"] == pytest.approx(0.3541839757270584)
    assert b.uns["duplicate_correlation"]["table"].shape == (200, 3)


def test_block_errors() -> None:
    adata = make_adata("y_repeated")
    with pytest.raises(KeyNotFoundError, match=r"block='subjet' is not a column.*'subject'"):
        kom.tl.differential(adata, "phase", CON, block="subjet")
    with pytest.raises(DesignError, match=r"strictly between -1 and 1; got 1\.0"):
        kom.tl.differential(adata, "phase", CON, block="subject", correlation=1.0)
    with pytest.raises(DesignError, match=r"correlation=0\.3 needs block="):
        kom.tl.differential(adata, "phase", CON, correlation=0.3)
    with pytest.raises(DesignError, match="cannot be combined with weights"):
        kom.tl.differential(adata, "phase", CON, block="subject", weights=np.ones(adata.n_obs))
    adata.obs.loc[adata.obs_names[0], "subject"] = np.nan
    with pytest.raises(DesignError, match=r"missing for 1 sample\(s\) \['r01'\]"):
        kom.tl.duplicate_correlation(adata)


def test_degenerate_blocks_warn_and_give_zero() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(20, 8))
    design = np.column_stack([np.ones(8), np.repeat([0.0, 1.0], 4)])
    with pytest.warns(KratomOmicsWarning, match="blocks all of size 1"):
        res = duplicate_correlation_matrix(y, design, np.arange(8))
    assert res.consensus == 0.0
    # block equal to the group: already in the design
    with pytest.warns(KratomOmicsWarning, match="already encoded"):
        res = duplicate_correlation_matrix(y, design, np.repeat(["a", "b"], 4))
    assert res.consensus == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = duplicate_correlation_matrix(y, design, np.tile(["a", "b", "c", "d"], 2))
    assert -1 / 3 < res.consensus < 0.99


def test_glmgam_recovers_gamma_regression() -> None:
    # E[y] = 2 + 3 d, gamma noise: the identity-link gamma GLM recovers the coefficients
    rng = np.random.default_rng(7)
    d = np.linspace(0, 4, 400)
    x = np.column_stack([np.ones_like(d), d])
    mu = 2 + 3 * d
    y = rng.gamma(shape=50, scale=mu / 50, size=(2, d.size))
    start = np.tile([1.0, 1.0], (2, 1))
    beta = _glmgam_fit(x, y, start, tol=1e-10, maxit=100)
    np.testing.assert_allclose(beta, [[2, 3], [2, 3]], rtol=0.05)
