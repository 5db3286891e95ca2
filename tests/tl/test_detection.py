"""On/off markers: detection counts, Fisher's exact test and +-inf log2fc in the differential table."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kratom_omics as kom
from kratom_omics.tl._detection import contrast_sides, fisher_exact_counts

matplotlib.use("Agg")

PHASES = ["control", "use", "withdrawal"]


def onoff_data() -> ad.AnnData:
    rng = np.random.default_rng(0)
    phase = np.repeat(PHASES, 4)
    x = rng.normal(20, 1, (12, 6))
    x[phase == "control", 0] = np.nan  # on in use and withdrawal
    x[phase == "withdrawal", 1] = np.nan  # off in withdrawal
    x[[0, 1], 2] = np.nan  # partly missing in control: limma still estimates it
    x[:, 3] = np.nan  # never detected
    x[phase == "use", 4] = np.nan
    x[[4 + 0, 8 + 0], 5] = np.nan
    obs = pd.DataFrame(
        {"phase": pd.Categorical(phase, categories=PHASES, ordered=True)},
        index=[f"s{i}" for i in range(12)],
    )
    var = pd.DataFrame({"gene": [f"G{i}" for i in range(6)]}, index=[f"P{i}" for i in range(6)])
    return ad.AnnData(x, obs=obs, var=var)


@pytest.mark.parametrize(
    "table",
    [[[4, 0], [0, 4]], [[2, 2], [4, 0]], [[0, 5], [3, 2]], [[3, 1], [3, 1]], [[1, 7], [6, 2]]],
)
def test_fisher_matches_scipy_on_hand_counts(table):
    (da, ua), (db, ub) = table
    p = fisher_exact_counts(
        np.array([da, da]), np.array([da + ua] * 2), np.array([db, db]), np.array([db + ub] * 2)
    )
    expected = stats.fisher_exact(table).pvalue
    np.testing.assert_allclose(p, [expected, expected], rtol=1e-14)


def test_fisher_known_values():
    # 4/4 vs 0/4: 2 / C(8,4) = 2/70
    p = fisher_exact_counts(np.array([4, 2]), np.array([4, 4]), np.array([0, 4]), np.array([4, 4]))
    np.testing.assert_allclose(p, [2 / 70, 0.42857142857142855], rtol=1e-12)


def test_contrast_sides_from_levels():
    vec = {lv: np.eye(3)[i] for i, lv in enumerate(PHASES)}
    cmat = np.array([[-1.0, -1.0, 1.0, 0.0], [0.0, 0.5, -1.0, 1.0], [1.0, 0.5, 0.0, 0.0]])
    sides = contrast_sides(cmat, vec)
    assert sides[0] == (["withdrawal"], ["control"])
    assert sides[1] == (["use", "withdrawal"], ["control"])
    assert sides[2] == (["control"], ["use"])
    assert sides[3] is None  # a single level is not a comparison of two sides


def test_differential_table_on_off_rows():
    a = onoff_data()
    kom.tl.differential(a, contrasts=["withdrawal - control", "use - control", "withdrawal - use"])
    t = a.uns["differential"]["table"].set_index(["feature", "contrast"])
    for col in ("n_detected_a", "n_a", "n_detected_b", "n_b", "detection_pvalue", "reason"):
        assert col in t.columns
    on = t.loc[("P0", "withdrawal - control")]
    assert on["log2fc"] == np.inf
    assert np.isnan(on["t"])
    assert np.isnan(on["pvalue"])
    assert np.isnan(on["padj"])
    assert np.isnan(on["B"])
    assert np.isnan(on["se"])
    assert (on["n_detected_a"], on["n_a"], on["n_detected_b"], on["n_b"]) == (4, 4, 0, 4)
    assert on["detection_pvalue"] == pytest.approx(stats.fisher_exact([[4, 0], [0, 4]]).pvalue)
    assert on["reason"] == "on/off: detected in withdrawal, absent in control"
    off = t.loc[("P1", "withdrawal - control")]
    assert off["log2fc"] == -np.inf
    assert off["reason"] == "on/off: absent in withdrawal, detected in control"
    # both sides detected in use - control for P1: an ordinary limma result
    ok = t.loc[("P1", "use - control")]
    assert np.isfinite(ok["log2fc"])
    assert np.isfinite(ok["t"])
    assert ok["reason"] == ""
    assert ok["detection_pvalue"] == 1.0
    # partial missingness: limma estimates it, the detection test is still reported
    part = t.loc[("P2", "withdrawal - control")]
    assert np.isfinite(part["t"])
    assert (part["n_detected_a"], part["n_detected_b"]) == (4, 2)
    assert part["detection_pvalue"] == pytest.approx(stats.fisher_exact([[4, 0], [2, 2]]).pvalue)
    never = t.loc[("P3", "use - control")]
    assert np.isnan(never["log2fc"])
    assert never["reason"] == "not detected in any sample"
    # absent in use: withdrawal - use is +inf, use - control is -inf
    assert t.loc[("P4", "withdrawal - use"), "log2fc"] == np.inf
    assert t.loc[("P4", "use - control"), "log2fc"] == -np.inf
    assert np.isfinite(t.loc[("P4", "withdrawal - control"), "t"])
    n_inf = int(np.isinf(t["log2fc"]).sum())
    assert n_inf == 6  # P0, P1 and P4 in two contrasts each
    assert t.loc[("P0", "use - control"), "log2fc"] == np.inf
    assert t.loc[("P1", "withdrawal - use"), "log2fc"] == -np.inf


def test_limma_columns_unchanged_by_detection():
    a = onoff_data()
    kom.tl.differential(a, contrasts=["withdrawal - control"])
    t = a.uns["differential"]["table"].set_index("feature")
    # the finite rows carry limma's numbers: P5 missing one use and one withdrawal sample
    row = t.loc["P5"]
    assert np.isfinite(row["t"])
    assert row["n_obs"] == 10
    assert (row["n_detected_a"], row["n_a"], row["n_detected_b"], row["n_b"]) == (3, 4, 4, 4)


def test_combined_contrast_sides_and_covariate_contrast():
    a = onoff_data()
    a.obs["batch"] = np.tile(["b1", "b2"], 6)
    kom.tl.differential(
        a,
        contrasts=["(use + withdrawal)/2 - control"],
        covariates=["batch"],
    )
    t = a.uns["differential"]["table"].set_index("feature")
    assert t.loc["P0", "log2fc"] == np.inf
    assert (t.loc["P0", "n_a"], t.loc["P0", "n_b"]) == (8, 4)
    assert t.loc["P0", "reason"] == "on/off: detected in use + withdrawal, absent in control"
    kom.tl.differential(a, contrasts=["batch[T.b2]"], formula="~ phase + batch", key_added="cov")
    t2 = a.uns["cov"]["table"]
    assert t2["detection_pvalue"].isna().all()
    assert t2["n_a"].isna().all()


def test_on_off_survives_h5ad_and_plots(tmp_path):
    a = onoff_data()
    kom.tl.differential(a, contrasts=["withdrawal - control"])
    path = tmp_path / "onoff.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    t = b.uns["differential"]["table"].set_index("feature")
    assert t.loc["P0", "log2fc"] == np.inf
    assert t.loc["P1", "log2fc"] == -np.inf
    assert t.loc["P0", "reason"].startswith("on/off")
    ax = kom.pl.volcano(b, contrast="withdrawal - control").axes[0]
    assert ax is not None
    ax = kom.pl.ma(b, contrast="withdrawal - control").axes[0]
    assert ax is not None
