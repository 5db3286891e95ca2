"""kom.tl.differential(method=...): the count methods against R through the whole call, the same
numbers in memory, chunk by chunk and written with out=, the stored parameters, and the errors.

Fixtures: tests/data/limma (make_reference_count_trend.R, make_reference_deqms.R; see README.md).
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError

DATA = Path(__file__).parents[1] / "data" / "limma"
CONTRASTS = ["withdrawal - control", "use - control", "withdrawal - use"]
RTOL = 1e-8
ATOL = 1e-9  # t near 0 on the unequal-df path (R optimize()s tolerance, see LIMMA-NOTES)


def phase_adata(matrix: str = "y_phase_na") -> ad.AnnData:
    y = pd.read_csv(DATA / f"{matrix}.csv", index_col=0)
    obs = pd.read_csv(DATA / "samples_phase.csv", index_col=0)
    obs["phase"] = pd.Categorical(obs["phase"], categories=["control", "use", "withdrawal"])
    adata = ad.AnnData(X=y.T.to_numpy(dtype=float), obs=obs.loc[y.columns])
    adata.var_names = y.index.astype(str)
    counts = pd.read_csv(DATA / "counts_phase.csv", index_col=0)["n_peptides"]
    adata.var["n_peptides"] = counts.reindex(adata.var_names).to_numpy()
    return adata


def close(mine: pd.Series | np.ndarray, ref: pd.Series | np.ndarray, what: str) -> None:
    mine = np.asarray(mine, dtype=float)
    mine = np.where(np.isinf(mine), np.nan, mine)  # on/off log2fc (+-inf) is NA in R
    ref = np.asarray(ref, dtype=float)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref), err_msg=f"{what}: NA differ")
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize(
    ("case", "matrix", "version", "options"),
    [
        ("count_trend", "y_phase", "3.62", {}),
        ("count_trend_robust", "y_phase", "3.54", {"robust": True, "legacy": True}),
        ("na_count_trend", "y_phase_na", "3.62", {}),
        ("na_count_trend_robust", "y_phase_na", "3.62", {"robust": True}),
        ("na_count_trend_legacy", "y_phase_na", "3.62", {"legacy": True}),
    ],
)
def test_count_trend_matches_r_limma_through_differential(
    case: str, matrix: str, version: str, options: dict
) -> None:
    a = phase_adata(matrix)
    kom.tl.differential(a, "phase", CONTRASTS, method="count_trend", **options)
    res = a.uns["differential"]
    table, f = res["table"], res["f_table"]
    con = pd.read_csv(DATA / f"{case}_contrasts_limma{version}.csv.gz")
    feat = pd.read_csv(DATA / f"{case}_features_limma{version}.csv.gz")
    assert list(table["feature"]) == list(con["feature"])
    assert list(table["contrast"]) == list(con["contrast"])
    for rcol, col in {"logFC": "log2fc", "se": "se", "t": "t", "P.Value": "pvalue",
                      "adj.P.Val": "padj", "B": "B"}.items():  # fmt: skip
        close(table[col], con[rcol], f"{case} {col}")
    close(table["s2_post"], np.tile(feat["s2_post"], 3), f"{case} s2_post")
    close(table["df_total"], np.tile(feat["df_total"], 3), f"{case} df_total")
    close(np.broadcast_to(res["prior"]["s2_prior"], (a.n_vars,)), feat["s2_prior"], "s2_prior")
    close(np.broadcast_to(res["prior"]["df_prior"], (a.n_vars,)), feat["df_prior"], "df_prior")
    close(f["F"], feat["F"], f"{case} F")
    assert res["params"]["method"] == "count_trend"
    assert res["params"]["n_peptides"] == "n_peptides"
    assert res["params"]["limma_version_matched"] == ("3.54" if options.get("legacy") else "3.62")


@pytest.mark.parametrize("case", ["phase", "phase_na"])
def test_deqms_matches_r_through_differential(case: str) -> None:
    a = phase_adata("y_phase" if case == "phase" else "y_phase_na")
    kom.tl.differential(a, "phase", CONTRASTS, method="deqms")
    res = a.uns["differential"]
    table = res["table"]
    ref = pd.read_csv(DATA / f"deqms_{case}.csv.gz")
    assert list(table["contrast"]) == list(ref["contrast"])
    close(table["t"], ref["t"], f"deqms {case} t")
    close(table["pvalue"], ref["P.Value"], f"deqms {case} p")
    close(table["padj"], ref["adj.P.Val"], f"deqms {case} BH")
    close(table["s2_post"], ref["s2_post"], f"deqms {case} s2_post")
    close(res["prior"]["s2_prior"], ref["s2_prior"].to_numpy()[: a.n_vars], "s2_prior")
    assert res["prior"]["df_prior"] == pytest.approx(float(ref["df_prior"].iloc[0]), abs=1e-12)
    assert table["B"].isna().all()  # DEqMS computes no B
    assert res["params"]["limma_version_matched"] == ""
    assert res["params"]["deqms_n_features"] == int((table["df_residual"] > 0).sum() / 3)


@pytest.mark.parametrize(
    ("method", "options"), [("count_trend", {}), ("count_trend", {"lfc": 0.5}), ("deqms", {})]
)
def test_count_methods_chunked_and_parquet_equal_in_memory(
    tmp_path: Path, method: str, options: dict
) -> None:
    pytest.importorskip("dask.array")
    a = phase_adata()
    kom.tl.differential(a, "phase", CONTRASTS, method=method, **options)
    b = phase_adata()
    kom.tl.differential(
        b,
        "phase",
        CONTRASTS,
        method=method,
        chunk_size=17,
        scheduler="synchronous",
        out=tmp_path / "res",
        **options,
    )
    assert "table" not in b.uns["differential"]
    chunked = kom.get.differential(b)
    mem = kom.get.differential(a)
    for col in ("log2fc", "t", "pvalue", "padj", "B", "s2_post", "df_total"):
        np.testing.assert_allclose(chunked[col], mem[col], rtol=1e-12, atol=1e-14, err_msg=col)
    f_mem, f_chunked = kom.get.differential_f(a), kom.get.differential_f(b)
    np.testing.assert_allclose(f_chunked["F"], f_mem["F"], rtol=1e-12)
    assert b.uns["differential"]["params"]["method"] == method


def test_method_results_survive_h5ad_and_are_read_by_get_and_plotted(tmp_path: Path) -> None:
    a = kom.datasets.simulate(seed=4, n_features=300, n_per_phase=4, n_batches=1)
    kom.pp.recipe(a, transform="none", groupby="phase")
    a.var["n_peptides"] = 1 + np.random.default_rng(4).poisson(3, a.n_vars)
    for method in ("deqms", "dpc"):
        kom.tl.differential(a, method=method, key_added=method)
    a.write_h5ad(tmp_path / "x.h5ad")
    b = ad.read_h5ad(tmp_path / "x.h5ad")
    assert b.uns["dpc"]["params"]["method"] == "dpc"
    assert b.uns["dpc"]["params"]["dpc_beta1"] == a.uns["dpc"]["params"]["dpc_beta1"]
    assert b.uns["deqms"]["params"]["n_peptides"] == "n_peptides"
    one = kom.get.differential(b, key="deqms", contrast="withdrawal-control")
    assert one.shape[0] == b.n_vars
    assert one["B"].isna().all()
    ax = kom.pl.volcano(b, key="deqms", contrast="withdrawal - control").axes[0]
    drawn = {c.get_gid(): np.isfinite(c.get_offsets()).all(axis=1).sum() for c in ax.collections}
    # every tested feature is drawn at its -log10 p, the significant ones coloured
    assert drawn["ns"] + drawn["up"] + drawn["down"] == int(np.isfinite(one["pvalue"]).sum())
    assert drawn["up"] + drawn["down"] == int((one["padj"] < 0.05).sum()) > 0


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"method": "edgeR"}, DesignError, r"method='edgeR' is not available. Available: \['count_trend', 'deqms', 'dpc', "
         r"'limma'\] \(limma: limma \(lmFit"),
        ({"method": "count_trend"}, KeyNotFoundError, r"needs peptide counts per feature in "
         r"adata.var\['n_pep'\].*use method='limma' or method='dpc'"),
        ({"method": "deqms", "n_peptides": np.zeros(240)}, DesignError,
         r"n_peptides must be a peptide \(or precursor\) count >= 1 .*use method='limma'"),
        ({"method": "count_trend", "trend": True}, DesignError,
         r"trend=True \(on the mean intensity\) cannot be combined"),
        ({"method": "deqms", "lfc": 1.0}, DesignError,
         r"method='deqms' has no TREAT test.*method='count_trend' or 'limma' with lfc="),
        ({"method": "deqms", "robust": True}, DesignError,
         r"robust=True chooses limma's prior estimator.*method='count_trend'"),
        ({"method": "limma", "detection_curve": object()}, DesignError,
         r"detection_curve= is the detection model of method='dpc'"),
        ({"method": "dpc", "covariates": ["batch"]}, DesignError,
         r"cannot take covariates= or formula=.*use method='limma'"),
        ({"method": "dpc", "weights": np.ones(12)}, DesignError, r"cannot take weights="),
        ({"method": "dpc", "exact_se": True}, DesignError, r"cannot take exact_se=True"),
        ({"method": "dpc", "block": "batch"}, DesignError, r"cannot take block='batch'"),
        ({"method": "dpc", "chunk_size": 10}, DesignError,
         r"method='dpc' fits in memory only.*'count_trend' or 'deqms' chunk by chunk"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_is_missing_and_what_works(
    options: dict, error: type, match: str
) -> None:
    a = phase_adata()
    if options.get("method") == "count_trend" and "trend" not in options:
        options = {**options, "n_peptides": "n_pep"}
    with pytest.raises(error, match=match):
        kom.tl.differential(a, "phase", CONTRASTS, **options)
    assert "differential" not in a.uns


def test_dpc_refuses_data_without_informative_missing_values() -> None:
    a = phase_adata("y_phase")  # complete
    with pytest.raises(DesignError, match=r"needs missing values to learn from.*method='limma'"):
        kom.tl.differential(a, "phase", CONTRASTS, method="dpc")


def test_option_conflicts_lists_every_option_a_method_cannot_take() -> None:
    """What the workflow's configuration check reports before any job: every conflict, each the
    sentence `differential` raises for it."""
    from kratom_omics.tl._methods._setup import option_conflicts

    found = option_conflicts(
        "dpc", block="subject", covariates=["batch"], chunked=True, trend=True, robust=True
    )
    assert len(found) == 3
    assert "cannot take block='subject'" in found[0]
    assert "cannot take covariates= or formula=" in found[1]
    assert found[2].startswith("method='dpc' fits in memory only")
    assert option_conflicts("limma", trend=True, robust=True, lfc=1.0, covariates=["b"]) == []
    found = option_conflicts("deqms", trend=True, robust=True, lfc=0.5)
    assert [f.split(";")[0] for f in found] == [
        "method='deqms' trends the prior variance on the peptide counts",
        "method='deqms' has no TREAT test (DEqMS computes none) and lfc=0.5 asks for one",
        "robust=True chooses limma's prior estimator",
    ]
    a = phase_adata()
    with pytest.raises(DesignError) as raised:
        kom.tl.differential(a, "phase", CONTRASTS, method="dpc", covariates=["batch"])
    assert str(raised.value) == option_conflicts("dpc", covariates=["batch"])[0]
