"""kom.tl.differential: API, designs, contrasts, errors, storage (numbers: test_limma_reference)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics._design import (
    build_design,
    contrast_matrix,
    normalize_contrast,
    parse_contrast,
)
from kratom_omics.errors import DesignError, KeyNotFoundError
from kratom_omics.tl._differential import DETECTION_COLUMNS, TABLE_COLUMNS
from kratom_omics.tl._limma import lm_fit

PHASES = ["control", "use", "withdrawal"]


def simulated(n_per: int = 4, n_feat: int = 60, seed: int = 1) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    phase = np.repeat(PHASES, n_per)
    x = rng.normal(22, 0.3, (phase.size, n_feat))
    x[phase == "withdrawal", 0] += 2.0  # Rab35 up in withdrawal
    x[phase == "withdrawal", 1] -= 1.5  # H3K9ac down
    obs = pd.DataFrame(
        {
            "phase": pd.Categorical(phase, categories=PHASES, ordered=True),
            "batch": np.tile(["b1", "b2"], phase.size // 2),
            "subject": [f"m{i}" for i in range(phase.size)],
        },
        index=[f"s{i}" for i in range(phase.size)],
    )
    var = pd.DataFrame({"gene": ["Rab35", "H3K9ac"] + [f"G{i}" for i in range(2, n_feat)]})
    var.index = [f"P{i:03d}" for i in range(n_feat)]
    a = ad.AnnData(X=x, obs=obs, var=var)
    a.layers["raw"] = 2**x
    return a


# --------------------------------------------------------------------------------------------------
# contrasts
# --------------------------------------------------------------------------------------------------

SYMBOLS = {
    "control": np.array([1.0, 0, 0]),
    "use": np.array([0, 1.0, 0]),
    "withdrawal": np.array([0, 0, 1.0]),
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("withdrawal - control", [-1, 0, 1]),
        ("withdrawal-control", [-1, 0, 1]),
        ("(use + withdrawal)/2 - control", [-1, 0.5, 0.5]),
        ("2*withdrawal - use - control", [-1, -1, 2]),
        ("-control + 0.5*use + withdrawal/2", [-1, 0.5, 0.5]),
        ("`withdrawal` - (control)", [-1, 0, 1]),
        ("1e-1 * (withdrawal - use) * 10", [0, -1, 1]),
    ],
)
def test_parse_contrast(expr: str, expected: list[float]) -> None:
    np.testing.assert_allclose(parse_contrast(expr, SYMBOLS), expected)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("withdrawl - control", r"name='withdrawl' is not a level .* Did you mean 'withdrawal'\?"),
        ("use * control", "multiplies two levels; contrasts must be linear"),
        ("use / control", "divides by a level"),
        ("(use - control", r"has an unclosed '\('"),
        ("use - control)", r"unexpected '\)'"),
        ("use; __import__('os')", "unexpected character ';'"),
        ("use - 1", "adds a number to a level"),
        ("2 + 3", "contains no level or coefficient name"),
        ("use / 0", "divides by zero"),
        ("", "is empty"),
    ],
)
def test_parse_contrast_errors(expr: str, message: str) -> None:
    with pytest.raises((DesignError, KeyNotFoundError), match=message):
        parse_contrast(expr, SYMBOLS)


def test_normalize_contrast() -> None:
    assert normalize_contrast("withdrawal-control") == "withdrawal - control"
    assert normalize_contrast(" (use+withdrawal) / 2-control") == "(use + withdrawal)/2 - control"
    assert normalize_contrast("-control+use") == "-control + use"
    assert normalize_contrast("`24h`-`day 0`") == "`24h` - `day 0`"
    assert normalize_contrast("phase[T.use]-batch[T.b2]/2") == "phase[T.use] - batch[T.b2]/2"


def test_backquoted_levels_that_are_not_identifiers() -> None:
    a = simulated()
    a.obs["time"] = pd.Categorical(
        np.repeat(["day 0", "24h", "7d"], 4), categories=["day 0", "24h", "7d"], ordered=True
    )
    kom.tl.differential(a, "time", ["`24h` - `day 0`", "`7d`-`day 0`"])
    assert a.uns["differential"]["contrasts"] == ["`24h` - `day 0`", "`7d` - `day 0`"]
    kom.tl.differential(a, "phase", ["withdrawal - control"], key_added="ref")
    got = kom.get.differential(a, contrast="`7d` - `day 0`")["log2fc"].to_numpy()
    ref = kom.get.differential(a, "ref")["log2fc"].to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_contrast_matrix_identically_zero() -> None:
    design = build_design(simulated().obs, "phase")
    with pytest.raises(DesignError, match="'use - use' is identically zero"):
        contrast_matrix(design, ["use - use"])


# --------------------------------------------------------------------------------------------------
# designs
# --------------------------------------------------------------------------------------------------


def test_group_design_columns_and_codings() -> None:
    obs = simulated().obs.assign(dose=np.linspace(0, 1, 12))
    d = build_design(obs, "phase", covariates=["batch", "dose"])
    assert d.columns == ["phase[control]", "phase[use]", "phase[withdrawal]", "batch[T.b2]", "dose"]
    assert d.matrix.shape == (12, 5)
    np.testing.assert_array_equal(d.matrix[:, 3], np.tile([0, 1], 6))
    np.testing.assert_allclose(d.matrix[:, 4], np.linspace(0, 1, 12))
    assert d.formula == "~ 0 + phase + batch + dose"


def test_singular_design_names_aliased_columns() -> None:
    a = simulated()
    a.obs["cage"] = np.where(a.obs["phase"] == "withdrawal", "k2", "k1")
    with pytest.raises(
        DesignError, match=r"column\(s\) \['cage\[T.k2\]'\] are linear combinations"
    ):
        kom.tl.differential(a, "phase", covariates=["cage"])


def test_one_subject_per_sample_is_singular() -> None:
    a = simulated()
    with pytest.raises(
        DesignError, match=r"the design is singular: column\(s\) \['subject\[T.m7\]', 'subject"
    ):
        kom.tl.differential(a, "phase", covariates=["subject"])


def test_too_few_samples() -> None:
    a = simulated()[[0, 4]].copy()
    with pytest.raises(DesignError, match="2 columns for 2 samples, leaving no residual degrees"):
        kom.tl.differential(a, "phase")


def test_no_feature_with_residual_df() -> None:
    a = simulated()
    a.X[np.ix_([1, 2, 3, 5, 6, 7, 9, 10, 11], np.arange(a.n_vars))] = np.nan
    with pytest.raises(DesignError, match="no feature has residual degrees of freedom"):
        kom.tl.differential(a, "phase")


def test_bad_keys() -> None:
    a = simulated()
    with pytest.raises(
        KeyNotFoundError, match=r"groupby='phse' is not a column of adata.obs. Did you mean 'phase'"
    ):
        kom.tl.differential(a, "phse")
    with pytest.raises(
        KeyNotFoundError,
        match=r"covariate='bach' is not a column of adata.obs. Did you mean 'batch'",
    ):
        kom.tl.differential(a, "phase", covariates=["bach"])
    with pytest.raises(KeyNotFoundError, match=r"name='withdrawl' .* Did you mean 'withdrawal'"):
        kom.tl.differential(a, "phase", ["withdrawl - control"])
    with pytest.raises(KeyNotFoundError, match="layer='counts' is not a layer of adata"):
        kom.tl.differential(a, "phase", layer="counts")
    a.obs.loc["s3", "phase"] = np.nan
    with pytest.raises(
        DesignError, match=r"adata.obs\['phase'\] is missing for 1 sample\(s\) \['s3'\]"
    ):
        kom.tl.differential(a, "phase")


def test_single_level_and_duplicate_contrasts() -> None:
    a = simulated()
    with pytest.raises(
        DesignError, match=r"has 1 level\(s\) \['b2'\]; differential abundance needs"
    ):
        kom.tl.differential(a[a.obs.batch == "b2"].copy(), "batch")
    with pytest.raises(DesignError, match="given more than once"):
        kom.tl.differential(a, "phase", ["use - control", "use-control"])


def test_weights_errors() -> None:
    a = simulated()
    with pytest.raises(
        DesignError, match=r"weights has shape \(3, 3\); expected \(n_obs, n_vars\) = \(12, 60\)"
    ):
        kom.tl.differential(a, "phase", weights=np.ones((3, 3)))
    a.layers["w"] = np.ones(a.shape)
    a.layers["w"][0, 0] = -1
    with pytest.raises(DesignError, match=r"weights 'w' contain 1 negative value\(s\)"):
        kom.tl.differential(a, "phase", weights="w")
    with pytest.raises(KeyNotFoundError, match="layer='ww' is not a layer of adata"):
        kom.tl.differential(a, "phase", weights="ww")


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


def test_defaults_storage_and_planted_signal() -> None:
    a = simulated()
    kom.tl.differential(a)
    res = a.uns["differential"]
    assert res["contrasts"] == ["use - control", "withdrawal - control"]
    table = res["table"]
    assert list(table.columns) == [*TABLE_COLUMNS, *DETECTION_COLUMNS, "gene"]
    assert isinstance(table.index, pd.RangeIndex)
    assert table.shape == (2 * a.n_vars, 22)
    assert table["n_obs"].dtype == np.int64
    wd = table[table["contrast"] == "withdrawal - control"].set_index("gene")
    assert wd["log2fc"]["Rab35"] == pytest.approx(2.0, abs=0.4)
    assert wd["log2fc"]["H3K9ac"] == pytest.approx(-1.5, abs=0.4)
    assert set(wd.nsmallest(2, "pvalue").index) == {"Rab35", "H3K9ac"}
    assert (wd["padj"] >= wd["pvalue"]).all()
    np.testing.assert_allclose(
        wd["ci_high"] - wd["log2fc"], wd["log2fc"] - wd["ci_low"], rtol=1e-12
    )
    f = res["f_table"]
    assert list(f.columns) == ["feature", "F", "df1", "df2", "pvalue", "padj", "gene"]
    assert (f["df1"] == 2).all()
    p = res["params"]
    assert p["design_columns"] == ["phase[control]", "phase[use]", "phase[withdrawal]"]
    assert p["limma_version_matched"] == "3.62"
    assert p["legacy"] == ""
    assert not any(v is None for v in p.values())
    assert np.ndim(res["prior"]["df_prior"]) == 0
    steps = a.uns["kratom_omics"]["provenance"]
    assert steps[sorted(steps)[-1]]["function"] == "kratom_omics.tl.differential"


def test_h5ad_round_trip(tmp_path: Path) -> None:
    a = simulated()
    a.X[0, :5] = np.nan
    kom.tl.differential(
        a,
        "phase",
        ["withdrawal - control", "(use + withdrawal)/2 - control"],
        robust=True,
        fdr="qvalue",
    )
    kom.tl.differential(a, "phase", trend=True, key_added="trend")
    path = tmp_path / "res.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    for key in ("differential", "trend"):
        pd.testing.assert_frame_equal(
            kom.get.differential(b, key), kom.get.differential(a, key), check_dtype=False
        )
        pd.testing.assert_frame_equal(
            kom.get.differential_f(b, key), kom.get.differential_f(a, key), check_dtype=False
        )
        assert list(b.uns[key]["contrasts"]) == a.uns[key]["contrasts"]
    np.testing.assert_allclose(
        b.uns["differential"]["prior"]["df_prior"], a.uns["differential"]["prior"]["df_prior"]
    )
    pd.testing.assert_frame_equal(
        b.uns["differential"]["contrast_matrix"], a.uns["differential"]["contrast_matrix"]
    )
    assert len(b.uns["differential"]["params"]["pi0"]) == 2
    assert b.uns["trend"]["params"]["trend"]


def test_layer_and_unit_weights_give_same_numbers() -> None:
    a = simulated()
    a.layers["log"] = a.X.copy()
    a.layers["one"] = np.ones(a.shape)
    kom.tl.differential(a, "phase", key_added="x")
    kom.tl.differential(a, "phase", layer="log", key_added="layer")
    kom.tl.differential(a, "phase", weights="one", key_added="w")
    kom.tl.differential(a, "phase", weights=np.ones(a.n_obs), key_added="w1")
    ref = a.uns["x"]["table"]
    for key in ("layer", "w", "w1"):
        np.testing.assert_allclose(a.uns[key]["table"]["t"], ref["t"], rtol=1e-10)
    assert a.uns["w"]["params"]["weights"] == "one"
    assert a.uns["w1"]["params"]["weights"] == "array"


def test_weights_downweight_an_outlier() -> None:
    a = simulated()
    a.X[8, 5] += 5.0  # outlier in withdrawal for feature 5
    w = np.ones(a.shape)
    w[8, 5] = 1e-6
    kom.tl.differential(a, "phase", ["withdrawal - control"], key_added="plain")
    kom.tl.differential(a, "phase", ["withdrawal - control"], weights=w, key_added="weighted")
    assert a.uns["plain"]["table"]["log2fc"][5] > 1.0
    assert abs(a.uns["weighted"]["table"]["log2fc"][5]) < 0.5


def test_batched_fit_matches_per_feature_least_squares() -> None:
    rng = np.random.default_rng(5)
    n, g = 14, 300
    design = np.column_stack([np.repeat(np.eye(3), [5, 5, 4], axis=0), rng.normal(size=n)])
    y = rng.normal(size=(g, n)) + 10
    y[rng.random((g, n)) < 0.2] = np.nan
    y[0, :5] = np.nan  # first group missing: coefficient not estimable
    w = rng.uniform(0.5, 2, (g, n))
    fit = lm_fit(y, design, weights=w)
    for i in range(g):
        ok = np.isfinite(y[i])
        sw = np.sqrt(w[i, ok])
        x = design[ok] * sw[:, None]
        keep = np.linalg.norm(x, axis=0) > 0
        coef, *_ = np.linalg.lstsq(x[:, keep], y[i, ok] * sw, rcond=None)
        np.testing.assert_allclose(fit.coefficients[i, keep], coef, rtol=1e-9)
        assert np.isnan(fit.coefficients[i, ~keep]).all()
        df = ok.sum() - keep.sum()
        assert fit.df_residual[i] == df
        rss = np.sum((y[i, ok] * sw - x[:, keep] @ coef) ** 2)
        np.testing.assert_allclose(fit.sigma[i], np.sqrt(rss / df), rtol=1e-9)
        cov = np.linalg.inv(x[:, keep].T @ x[:, keep])
        np.testing.assert_allclose(fit.stdev_unscaled[i, keep], np.sqrt(np.diag(cov)), rtol=1e-9)


def test_formula_without_groupby_column_uses_column_names() -> None:
    a = simulated()
    a.obs = a.obs.rename(columns={"phase": "stage"})
    kom.tl.differential(a, "phase", ["stage[T.withdrawal]"], formula="~ stage")
    kom.tl.differential(a, "stage", ["withdrawal - control"], key_added="levels")
    np.testing.assert_allclose(
        a.uns["differential"]["table"]["t"], a.uns["levels"]["table"]["t"], rtol=1e-10
    )
    with pytest.raises(DesignError, match="no contrasts given and groupby='phase' does not define"):
        kom.tl.differential(a, "phase", formula="~ stage")
    with pytest.raises(DesignError, match=r"give covariates \['batch'\] inside the formula"):
        kom.tl.differential(a, "stage", formula="~ stage", covariates=["batch"])


def test_bad_arguments() -> None:
    a = simulated()
    with pytest.raises(DesignError, match="key_added='a/b' must be a non-empty string without '/'"):
        kom.tl.differential(a, "phase", key_added="a/b")
    with pytest.raises(DesignError, match=r"fdr='fdrr' is not available\. Did you mean"):
        kom.tl.differential(a, "phase", fdr="fdrr")
    with pytest.raises(DesignError, match="legacy must be None, True or False"):
        kom.tl.differential(a, "phase", legacy="yes")  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="formula '~ 0 \\+ phse' could not be built"):
        kom.tl.differential(a, "phase", formula="~ 0 + phse")


def test_exact_se_uses_each_features_own_design() -> None:
    a = simulated()
    a.obs["batch"] = ["b1", "b1", "b2", "b1", "b1", "b2", "b2", "b2", "b1", "b1", "b1", "b2"]
    rng = np.random.default_rng(9)
    a.X[rng.random(a.shape) < 0.15] = np.nan
    a.X[[0, 1], 3] = np.nan  # two control samples missing for feature 3
    con = ["withdrawal - control", "use - control"]
    kom.tl.differential(a, "phase", con, covariates=["batch"], key_added="limma")
    kom.tl.differential(a, "phase", con, covariates=["batch"], exact_se=True, key_added="exact")
    lim = a.uns["limma"]["table"]
    ex = a.uns["exact"]["table"]
    np.testing.assert_allclose(ex["log2fc"], lim["log2fc"], rtol=1e-12)
    np.testing.assert_allclose(ex["s2_post"], lim["s2_post"], rtol=1e-12)
    d = build_design(a.obs, "phase", covariates=["batch"]).matrix
    c = np.array([-1.0, 0, 1, 0])
    complete = np.isfinite(a.X).all(axis=0)
    assert complete.any()
    assert (~complete).any()
    wd = ex["contrast"] == "withdrawal - control"
    for j in range(a.n_vars):
        ok = np.isfinite(a.X[:, j])
        cov = np.linalg.inv(d[ok].T @ d[ok])
        se = np.sqrt(c @ cov @ c * ex.loc[wd, "s2_post"].iloc[j])
        assert ex.loc[wd, "se"].iloc[j] == pytest.approx(se, rel=1e-9)
        if complete[j]:
            assert lim.loc[wd, "se"].iloc[j] == pytest.approx(se, rel=1e-9)
    differs = ~np.isclose(ex.loc[wd, "se"], lim.loc[wd, "se"], rtol=1e-6)
    assert differs.sum() > 0
    assert not differs[complete].any()
    assert a.uns["exact"]["params"]["exact_se"] is True


def test_all_missing_feature_gives_nan_rows() -> None:
    a = simulated()
    a.X[:, 7] = np.nan
    kom.tl.differential(a, "phase")
    t = a.uns["differential"]["table"]
    rows = t[t["feature"] == "P007"]
    assert rows[["log2fc", "se", "t", "pvalue", "padj", "B"]].isna().all().all()
    assert (rows["n_obs"] == 0).all()
    assert (rows["df_residual"] == 0).all()
    assert t[t["feature"] != "P007"]["pvalue"].notna().all()


def _greedy_limits(xo: np.ndarray, wo: np.ndarray, seeds: list[int], spanweight: float) -> list:
    """limma's find_limits, step by step: grow towards the nearer neighbour (right on ties)."""
    n = xo.size
    out = []
    for s in seeds:
        left = right = s
        curw = wo[s]
        ende, ends = s == n - 1, s == 0
        mdist = 0.0
        while curw < spanweight and (not ende or not ends):
            if ende or (not ends and xo[s] - xo[left - 1] < xo[right + 1] - xo[s]):
                left -= 1
                curw += wo[left]
                ends = left == 0
                mdist = max(mdist, xo[s] - xo[left])
            else:
                right += 1
                curw += wo[right]
                ende = right == n - 1
                mdist = max(mdist, xo[right] - xo[s])
        while left > 0 and xo[left] == xo[left - 1]:
            left -= 1
        while right < n - 1 and xo[right] == xo[right + 1]:
            right += 1
        out.append((left, right, mdist))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_lowess_limits_match_greedy_window_growth(seed: int) -> None:
    from kratom_omics._smooth import _lowess_limits, _lowess_seeds

    rng = np.random.default_rng(seed)
    n = 300
    xo = np.sort(np.round(rng.normal(size=n), 1 if seed % 2 else 3))  # many ties when rounded
    wo = rng.choice([0.0, 0.5, 1.0, 2.0], size=n) if seed > 2 else np.ones(n)
    delta = float(rng.uniform(0.0, 0.05))
    seeds = _lowess_seeds(xo, delta)
    literal, prev = [0], 0  # limma's find_seeds
    for pt in range(1, n - 1):
        if xo[pt] - xo[prev] > delta:
            literal.append(pt)
            prev = pt
    assert seeds == [*literal, n - 1]
    for span in (0.05, 0.3, 0.9, 1.0):
        spanweight = wo.sum() * span
        got = _lowess_limits(xo, wo, seeds, spanweight)
        assert got == _greedy_limits(xo, wo, seeds, spanweight)


def _smoother_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i = np.arange(1, 201)
    x = np.round(np.sin(i) * 3, 1)  # many ties
    y = np.cos(i / 7) + x / 3 + ((i * 37) % 11) / 10
    w = 1 + (i % 5) / 2
    return x, y, w


def test_r_lowess_matches_r() -> None:
    """R 4.2: lowess(x, y, f = 0.3, iter = 3)$y[c(1, 50, 120, 200)] (sorted-x order)."""
    from kratom_omics._smooth import r_lowess

    x, y, _ = _smoother_data()
    fit = r_lowess(x, y, f=0.3, iterations=3)[np.argsort(x, kind="stable")]
    expected = [-0.64739769193783225, -0.14439086206373491, 0.81387714189490445, 1.3809689735530459]
    np.testing.assert_allclose(fit[[0, 49, 119, 199]], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("span", "iterations", "npts", "expected"),
    [
        (
            0.3,
            4,
            50,
            [1.4444610115263821, 0.12946315641450376, 1.1432251093709365, -0.41740796986486273],
        ),
        (
            0.5,
            1,
            200,
            [1.3586927795661472, 0.16472504300122043, 1.1256295441472124, -0.41476493288848948],
        ),
    ],
)
def test_weighted_lowess_matches_limma(
    span: float, iterations: int, npts: int, expected: list
) -> None:
    """limma 3.62: weightedLowess(x, y, w, span, iterations, npts)$fitted[c(1, 50, 120, 200)]."""
    from kratom_omics._smooth import weighted_lowess

    x, y, w = _smoother_data()
    fit = weighted_lowess(x, y, w, span=span, iterations=iterations, npts=npts)
    np.testing.assert_allclose(fit[[0, 49, 119, 199]], expected, rtol=1e-12)


def test_numeric_groupby_levels_sorted_numerically() -> None:
    a = simulated()
    a.obs["day"] = np.repeat([2, 10, 1], 4)
    kom.tl.differential(a, "day")
    assert a.uns["differential"]["contrasts"] == ["`2` - `1`", "`10` - `1`"]
    wd = kom.get.differential(a, contrast="`10`-`1`")
    assert wd.shape[0] == a.n_vars
    assert set(wd["contrast"]) == {"`10` - `1`"}


def test_mostly_zero_variances_warn() -> None:
    from kratom_omics.errors import KratomOmicsWarning

    a = simulated()
    a.X[:, :40] = np.repeat([20.0, 21.0, 22.0], 4)[:, None]  # 40 of 60 features fit exactly
    with pytest.warns(
        KratomOmicsWarning, match="more than half of the residual variances are exactly zero"
    ):
        kom.tl.differential(a, "phase")


def test_tmixture_converts_only_the_candidates_of_the_top_t():
    """limma's tmixture.vector keeps the top proportion/2 of the |t| converted to the largest df;
    converting only the features of smallest tail area (ties included) selects the same features
    with the same values as converting all of them."""
    from kratom_omics.tl._limma._moderate import tmixture_convert, tmixture_top

    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(25, 2000))
        t = rng.standard_t(5, n) * rng.choice([1.0, 3.0], n)
        t[rng.random(n) < 0.05] = 0.0
        df = rng.choice([3.0, 5.0, 8.5, 10.0], n)
        t[:10], df[:10] = t[10:20], df[10:20]  # ties
        top = int(rng.integers(1, n + 1))
        full = tmixture_convert(t, df, 10.0)
        part = tmixture_convert(t, df, 10.0, top=top)
        o_full, o_part = tmixture_top(full, top), tmixture_top(part, top)
        np.testing.assert_array_equal(o_part, o_full)
        np.testing.assert_array_equal(part[o_part], full[o_full])
        if top < (df < 10.0).sum() // 2:  # most converted values were not needed: skipped
            assert (part == -1.0).sum() > 0
