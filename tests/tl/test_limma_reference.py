"""kom.tl.differential against R limma 3.62 (default) and 3.54 (legacy=True), all columns.

Fixtures: tests/data/limma (inputs: make_inputs.py, outputs: make_reference.R; see README.md).
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom

DATA = Path(__file__).parents[1] / "data" / "limma"
CON4 = [
    "withdrawal - control",
    "use - control",
    "withdrawal - use",
    "(use + withdrawal)/2 - control",
]
CON3 = CON4[:3]
RTOL = 1e-8
ATOL = 1e-10

# case -> (matrix, sample sheet, groupby, contrasts, options)
CASES: dict[str, tuple[str, str, str, list[str], dict]] = {
    "two": ("y_two", "samples_two", "group", ["B - A"], {}),
    "phase": ("y_phase", "samples_phase", "phase", CON4, {}),
    "phase_trend": ("y_phase", "samples_phase", "phase", CON4, {"trend": True}),
    "phase_robust": ("y_phase", "samples_phase", "phase", CON4, {"robust": True}),
    "phase_trend_robust": (
        "y_phase",
        "samples_phase",
        "phase",
        CON4,
        {"trend": True, "robust": True},
    ),
    "phase_weights": ("y_phase", "samples_phase", "phase", CON4, {"weights": "w"}),
    "na": ("y_phase_na", "samples_phase", "phase", CON4, {}),
    "na_trend": ("y_phase_na", "samples_phase", "phase", CON4, {"trend": True}),
    "na_robust": ("y_phase_na", "samples_phase", "phase", CON4, {"robust": True}),
    "na_trend_robust": (
        "y_phase_na",
        "samples_phase",
        "phase",
        CON4,
        {"trend": True, "robust": True},
    ),
    "na_weights": ("y_phase_na", "samples_phase", "phase", CON4, {"weights": "w"}),
    "phase_arrayweights": ("y_phase", "samples_phase", "phase", CON4, {"weights": "per_sample"}),
    "na_arrayweights": ("y_phase_na", "samples_phase", "phase", CON4, {"weights": "per_sample"}),
    "batch": ("y_phase", "samples_phase", "phase", CON3, {"covariates": ["batch"]}),
    "na_batch": ("y_phase_na", "samples_phase", "phase", CON3, {"covariates": ["batch"]}),
    "na_dose": ("y_phase_na", "samples_phase", "phase", CON3, {"covariates": ["dose"]}),
    "paired": (
        "y_paired",
        "samples_paired",
        "phase",
        ["withdrawal - control"],
        {"covariates": ["subject"]},
    ),
}

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


def make_adata(matrix: str, samples: str, *, with_weights: bool = False) -> ad.AnnData:
    y = pd.read_csv(DATA / f"{matrix}.csv", index_col=0)
    obs = pd.read_csv(DATA / f"{samples}.csv", index_col=0)
    if "phase" in obs:
        levels = [lv for lv in ("control", "use", "withdrawal") if lv in set(obs["phase"])]
        obs["phase"] = pd.Categorical(obs["phase"], categories=levels, ordered=True)
    adata = ad.AnnData(X=y.T.to_numpy(dtype=float), obs=obs.loc[y.columns])
    adata.var_names = y.index.astype(str)
    adata.var["gene"] = [f"G{i}" for i in range(adata.n_vars)]
    if with_weights:
        adata.layers["w"] = pd.read_csv(DATA / "weights_phase.csv", index_col=0).T.to_numpy(
            dtype=float
        )
    return adata


def reference(case: str, version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    con = pd.read_csv(DATA / f"{case}_contrasts_limma{version}.csv.gz")
    feat = pd.read_csv(DATA / f"{case}_features_limma{version}.csv.gz")
    return con, feat


def close(mine: np.ndarray, ref: np.ndarray, what: str) -> None:
    mine = np.asarray(mine, dtype=float)
    mine = np.where(np.isinf(mine), np.nan, mine)  # on/off log2fc (+-inf) is NA in limma
    ref = np.asarray(ref, dtype=float)
    np.testing.assert_array_equal(
        np.isnan(mine), np.isnan(ref), err_msg=f"{what}: NA positions differ"
    )
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=ATOL, err_msg=what)


def check_against(
    adata: ad.AnnData, case: str, version: str, key: str = "differential", *, f_test: bool = True
) -> None:
    res = adata.uns[key]
    con, feat = reference(case, version)
    table = res["table"]
    assert list(table["feature"]) == list(con["feature"])
    assert list(table["contrast"]) == list(con["contrast"])
    for rcol, col in CONTRAST_COLUMNS.items():
        close(table[col], con[rcol], f"{case} {version} {col}")
    k = len(res["contrasts"])
    for rcol, col in FEATURE_COLUMNS.items():
        close(table[col], np.tile(feat[rcol].to_numpy(), k), f"{case} {version} {col}")
    n = adata.n_vars
    close(
        np.broadcast_to(res["prior"]["df_prior"], (n,)),
        feat["df_prior"],
        f"{case} {version} df_prior",
    )
    close(
        np.broadcast_to(res["prior"]["s2_prior"], (n,)),
        feat["s2_prior"],
        f"{case} {version} s2_prior",
    )
    if not f_test:
        return
    f = res["f_table"]
    close(f["F"], feat["F"], f"{case} {version} F")
    close(f["pvalue"], feat["F.p.value"], f"{case} {version} F p-value")
    close(f["padj"], feat["F.adj"], f"{case} {version} F adjusted p-value")


@pytest.mark.parametrize("version", ["3.62", "3.54"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_r_limma(case: str, version: str) -> None:
    matrix, samples, groupby, contrasts, options = CASES[case]
    adata = make_adata(matrix, samples, with_weights="weights" in options)
    if options.get("weights") == "per_sample":  # R: seq(0.5, 2, length.out = 12)
        options = {**options, "weights": np.linspace(0.5, 2, adata.n_obs)}
    kom.tl.differential(
        adata, groupby, contrasts, legacy=True if version == "3.54" else None, **options
    )
    check_against(adata, case, version)
    assert adata.uns["differential"]["params"]["limma_version_matched"] == version


def test_legacy_true_matches_limma_362_legacy() -> None:
    adata = make_adata("y_phase_na", "samples_phase")
    kom.tl.differential(adata, "phase", CON4, legacy=True)
    check_against(adata, "na_legacy", "3.62")
    # the unequal-df estimator differs from the legacy one on these data
    kom.tl.differential(adata, "phase", CON4, key_added="new")
    assert adata.uns["new"]["prior"]["df_prior"] != pytest.approx(
        adata.uns["differential"]["prior"]["df_prior"]
    )


@pytest.mark.parametrize(
    ("case", "options"),
    [("phase_unequal", {}), ("phase_trend_robust_unequal", {"trend": True, "robust": True})],
)
def test_legacy_false_forces_unequal_df_estimator(case: str, options: dict) -> None:
    adata = make_adata("y_phase", "samples_phase")
    kom.tl.differential(adata, "phase", CON4, legacy=False, **options)
    check_against(adata, case, "3.62")
    assert adata.uns["differential"]["params"]["legacy_path_used"] is False


@pytest.mark.parametrize(
    ("case", "version", "matrix", "options"),
    [
        ("na_treat", "3.62", "y_phase_na", {"lfc": 0.5}),
        (
            "phase_treat_trend_robust",
            "3.62",
            "y_phase",
            {"lfc": 0.3, "trend": True, "robust": True},
        ),
        (
            "phase_treat_trend_robust",
            "3.54",
            "y_phase",
            {"lfc": 0.3, "trend": True, "robust": True},
        ),
    ],
)
def test_treat_matches_r(case: str, version: str, matrix: str, options: dict) -> None:
    adata = make_adata(matrix, "samples_phase")
    kom.tl.differential(adata, "phase", CON4, legacy=True if version == "3.54" else None, **options)
    # limma's treat() computes no B and no F: B is NaN here too, the F table is the ordinary F
    check_against(adata, case, version, f_test=False)
    table = adata.uns["differential"]["table"]
    assert table["B"].isna().all()
    inside = table["log2fc"].abs() <= options["lfc"]
    assert inside.any()
    assert (table.loc[inside, "t"] == 0).all()
    assert adata.uns["differential"]["params"]["lfc"] == options["lfc"]


def test_formula_matches_group_design() -> None:
    adata = make_adata("y_phase_na", "samples_phase")
    kom.tl.differential(adata, "phase", CON3, formula="~ 0 + phase + batch")
    check_against(adata, "na_batch", "3.62")
    assert adata.uns["differential"]["params"]["design_columns"] == [
        "phase[control]",
        "phase[use]",
        "phase[withdrawal]",
        "batch[T.b2]",
    ]


def test_formula_with_intercept_maps_level_contrasts() -> None:
    adata = make_adata("y_phase", "samples_phase")
    kom.tl.differential(adata, "phase", CON3, formula="~ phase + batch")
    check_against(adata, "batch", "3.62")
    cm = adata.uns["differential"]["contrast_matrix"]
    wu = cm[cm["contrast"] == "withdrawal - use"]
    assert list(wu["coefficient"]) == [
        "Intercept",
        "phase[T.use]",
        "phase[T.withdrawal]",
        "batch[T.b2]",
    ]
    np.testing.assert_array_equal(wu["weight"].to_numpy(), [0, -1, 1, 0])


def test_special_features_follow_limma() -> None:
    """f000: withdrawal missing; f001: no residual df; f002: batch b2 absent; f003: no control."""
    adata = make_adata("y_phase_na", "samples_phase")
    kom.tl.differential(adata, "phase", CON3, covariates=["batch"])
    t = adata.uns["differential"]["table"].set_index(["feature", "contrast"])
    assert not np.isfinite(t.loc[("f000", "withdrawal - control"), "log2fc"])  # on/off
    assert not np.isnan(t.loc[("f000", "use - control"), "log2fc"])
    assert t.loc[("f001", "use - control"), "df_residual"] == 0
    prior = adata.uns["differential"]["prior"]
    assert t.loc[("f001", "use - control"), "s2_post"] == pytest.approx(
        prior["s2_prior"], rel=1e-12
    )
    assert t.loc[("f001", "use - control"), "df_total"] == pytest.approx(
        prior["df_prior"], rel=1e-12
    )
    # nuisance batch coefficient dropped for f002: phase contrasts still estimated on 3 coefficients
    row = t.loc[("f002", "withdrawal - control")]
    n_obs = int(np.isfinite(adata[:, "f002"].X).sum())
    assert not np.isnan(row["t"])
    assert row["n_obs"] == n_obs == 7
    assert row["df_residual"] == n_obs - 3
    f = adata.uns["differential"]["f_table"].set_index("feature")
    assert np.isnan(f.loc["f000", "F"])
    assert np.isnan(f.loc["f003", "F"])
    assert not np.isnan(f.loc["f002", "F"])
