"""kom.tl.panel_tests against R (aov, TukeyHSD, multcomp Dunnett; tests/data/panels) and statsmodels."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError, ResultNotFoundError

DATA = Path(__file__).parents[1] / "data" / "panels"
PHASES = ["control", "use", "withdrawal"]


def _panel() -> ad.AnnData:
    table = pd.read_csv(DATA / "panel_values.csv").set_index("sample")
    obs = table[["phase", "subject"]].copy()
    obs["phase"] = pd.Categorical(obs["phase"], categories=PHASES, ordered=True)
    x = table.drop(columns=["phase", "subject"])
    adata = ad.AnnData(
        x.to_numpy(dtype=float), obs=obs, var=pd.DataFrame(index=x.columns.astype(str))
    )
    adata.var["gene"] = adata.var_names
    return adata


@pytest.fixture(scope="module")
def panel() -> ad.AnnData:
    adata = _panel()
    kom.tl.panel_tests(adata, tests=("anova", "tukey", "dunnett"), mixed=False)
    return adata


def test_anova_matches_r_aov(panel: ad.AnnData) -> None:
    ref = pd.read_csv(DATA / "aov_reference.csv")
    got = kom.get.panel_tests(panel, test="anova").set_index("feature").loc[ref["feature"]]
    np.testing.assert_allclose(got["F"], ref["F"], rtol=1e-10)
    np.testing.assert_array_equal(got["df1"], ref["df1"])
    np.testing.assert_array_equal(got["df2"], ref["df2"])  # Rab35: 2 NaN dropped, df2 = 10
    np.testing.assert_allclose(got["pvalue"], ref["pvalue"], rtol=1e-9)
    assert got.loc["Rab35", "n_obs"] == 13
    assert (got["note"] == "").all()
    padj = np.minimum.accumulate((ref["pvalue"] * 4 / ref["pvalue"].rank()).sort_values()[::-1])
    np.testing.assert_allclose(got["padj"].sort_values(), np.sort(padj.to_numpy()), rtol=1e-10)


@pytest.mark.parametrize("conf", [0.95, 0.9])
def test_tukey_matches_r_tukeyhsd(conf: float) -> None:
    adata = _panel()
    kom.tl.panel_tests(adata, tests=["tukey"], mixed=False, confidence=conf)
    ref = pd.read_csv(DATA / "tukeyhsd_reference.csv")
    ref = ref.loc[ref["conf"] == conf]
    got = kom.get.panel_tests(adata, test="tukey")
    assert len(got) == len(ref) == 12
    # R names a pair "withdrawal-control" for mean(withdrawal) - mean(control)
    got["comparison"] = got["group"] + "-" + got["reference"]
    merged = ref.merge(got, on=["feature", "comparison"], validate="1:1")
    assert len(merged) == 12
    np.testing.assert_allclose(merged["estimate"], merged["diff"], rtol=1e-12)
    # R's qtukey iterates to eps = 1e-4; its intervals differ from the exact ones in the 5th digit
    np.testing.assert_allclose(merged["ci_low"], merged["lwr"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(merged["ci_high"], merged["upr"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(merged["pvalue"], merged["p_adj"], rtol=1e-5, atol=1e-8)
    assert merged["contrast"].tolist()[:3] == [
        "use - control",
        "withdrawal - control",
        "withdrawal - use",
    ]


def test_dunnett_matches_r_multcomp(panel: ad.AnnData) -> None:
    ref = pd.read_csv(DATA / "dunnett_multcomp_reference.csv")
    got = kom.get.panel_tests(panel, test="dunnett")
    merged = ref.merge(got, left_on=["feature", "comparison"], right_on=["feature", "contrast"])
    assert len(merged) == 8
    np.testing.assert_allclose(merged["estimate_x"], merged["estimate_y"], rtol=1e-12)
    np.testing.assert_allclose(merged["se_y"], merged["se_x"], rtol=1e-10)
    np.testing.assert_allclose(merged["statistic"], merged["t"], rtol=1e-10)
    # both integrate the multivariate t numerically (randomised QMC / Genz-Bretz)
    np.testing.assert_allclose(merged["pvalue_y"], merged["pvalue_x"], rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(merged["ci_low"], merged["lwr"], atol=5e-3)
    np.testing.assert_allclose(merged["ci_high"], merged["upr"], atol=5e-3)
    assert set(merged["reference"]) == {"control"}


def test_mixed_model_matches_direct_statsmodels_fit() -> None:
    import statsmodels.formula.api as smf

    adata = _panel()
    kom.tl.panel_tests(adata, tests=["anova"], mixed=True)
    assert adata.uns["panel_tests"]["params"]["mixed_run"] is True
    got = kom.get.panel_tests(adata, test="mixed")
    frame = adata.obs.copy()
    frame["y"] = np.asarray(adata.obs_vector("H3K9ac"), dtype=float)
    direct = smf.mixedlm(
        "y ~ C(phase, Treatment('control'))", frame.astype({"phase": str}), groups="subject"
    ).fit(reml=True)
    rows = got.loc[got["feature"] == "H3K9ac"].set_index("group")
    for level in ("use", "withdrawal"):
        name = f"C(phase, Treatment('control'))[T.{level}]"
        assert rows.loc[level, "estimate"] == pytest.approx(direct.fe_params[name], rel=1e-6)
        assert rows.loc[level, "se"] == pytest.approx(direct.bse_fe[name], rel=1e-5)
        assert rows.loc[level, "pvalue"] == pytest.approx(direct.pvalues[name], rel=1e-4)
    assert rows["subject_var"].iloc[0] == pytest.approx(
        float(direct.cov_re.iloc[0, 0]), rel=1e-4, abs=1e-8
    )
    assert rows["residual_var"].iloc[0] == pytest.approx(direct.scale, rel=1e-5)
    assert rows["n_subjects"].iloc[0] == 6
    # Rab35 is fit on its 13 observed values
    assert got.loc[got["feature"] == "Rab35", "n_obs"].tolist() == [13, 13]


def test_mixed_auto_runs_only_when_subjects_repeat() -> None:
    adata = _panel()
    kom.tl.panel_tests(adata, tests=["anova"])  # R01..R05 repeat across phases
    assert "mixed" in adata.uns["panel_tests"]
    adata.obs["subject"] = [f"A{i}" for i in range(adata.n_obs)]
    kom.tl.panel_tests(adata, tests=["anova"])
    assert "mixed" not in adata.uns["panel_tests"]
    assert adata.uns["panel_tests"]["params"]["mixed_run"] is False


def test_too_few_values_give_nan_with_a_note() -> None:
    adata = _panel()
    x = adata.X.copy()
    control = (adata.obs["phase"] == "control").to_numpy()
    x[:, 3] = np.nan
    x[[0, 5, 9], 3] = [0.1, 0.2, 0.3]  # one value per group: no residual df
    x[control, 2] = np.nan  # Rab35: no control value
    adata.X = x
    kom.tl.panel_tests(adata, tests=("anova", "tukey", "dunnett"), mixed=False)
    anova = kom.get.panel_tests(adata, test="anova").set_index("feature")
    assert np.isnan(anova.loc["H3", "F"])
    assert np.isnan(anova.loc["H3", "pvalue"])
    assert anova.loc["H3", "note"] == "too few observations: 3 value(s) in 3 group(s)"
    assert anova.loc["Rab35", "df1"] == 1.0  # use vs withdrawal only
    tukey = kom.get.panel_tests(adata, test="tukey")
    rab = tukey.loc[tukey["feature"] == "Rab35"].set_index("contrast")
    assert np.isnan(rab.loc["use - control", "pvalue"])
    assert np.isfinite(rab.loc["withdrawal - use", "pvalue"])
    dunnett = kom.get.panel_tests(adata, test="dunnett")
    rab = dunnett.loc[dunnett["feature"] == "Rab35"]
    assert rab["pvalue"].isna().all()
    assert set(rab["note"]) == {"no observed value in the control group 'control'"}
    h3 = dunnett.loc[dunnett["feature"] == "H3"]
    assert h3["note"].iloc[0] == "too few observations: 3 value(s) in 3 group(s)"
    # the other features are unaffected
    ref = pd.read_csv(DATA / "aov_reference.csv").set_index("feature")
    assert anova.loc["H3K9ac", "F"] == pytest.approx(ref.loc["H3K9ac", "F"], rel=1e-10)


def test_all_missing_feature_and_large_offsets() -> None:
    adata = _panel()
    ref = pd.read_csv(DATA / "aov_reference.csv").set_index("feature")
    x = adata.X.copy()
    x[:, 0] += 1e6  # e.g. raw intensities: the sums of squares must not cancel
    x[:, 3] = np.nan
    adata.X = x
    kom.tl.panel_tests(adata, tests=("anova", "tukey"), mixed=False)
    anova = kom.get.panel_tests(adata, test="anova").set_index("feature")
    assert anova.loc["H3K9ac", "F"] == pytest.approx(ref.loc["H3K9ac", "F"], rel=1e-6)
    assert anova.loc["H3", "note"] == "too few observations: 0 value(s) in 0 group(s)"
    assert anova.loc["H3", "n_obs"] == 0
    tukey = kom.get.panel_tests(adata, test="tukey")
    assert tukey.loc[tukey["feature"] == "H3", "pvalue"].isna().all()


def test_bad_arguments_raise_clear_errors() -> None:
    adata = _panel()
    with pytest.raises(
        KeyNotFoundError,
        match=r"control='ctrl' is not a level of 'phase'.*Available: \['control', 'use', 'withdrawal'\]",
    ):
        kom.tl.panel_tests(adata, control="ctrl")
    with pytest.raises(
        DesignError, match=r"tests='tukeyhsd' is not available. Did you mean 'tukey'"
    ):
        kom.tl.panel_tests(adata, tests=["tukeyhsd"])
    with pytest.raises(
        KeyNotFoundError, match=r"groupby='phse' is not a column of adata.obs. Did you mean 'phase'"
    ):
        kom.tl.panel_tests(adata, "phse")
    with pytest.raises(DesignError, match="mixed must be True, False or 'auto'"):
        kom.tl.panel_tests(adata, mixed="yes")
    with pytest.raises(KeyNotFoundError, match=r"subject='animal' is not a column of adata.obs"):
        kom.tl.panel_tests(adata, mixed=True, subject="animal")
    one = adata[adata.obs["phase"] == "control"].copy()
    with pytest.raises(DesignError, match=r"groupby='phase' has 1 level\(s\) \['control'\]"):
        kom.tl.panel_tests(one)


def test_getter_filters_and_errors(panel: ad.AnnData) -> None:
    wd = kom.get.panel_tests(panel, test="dunnett", contrast="withdrawal - control")
    assert wd.shape[0] == 4
    assert set(wd["contrast"]) == {"withdrawal - control"}
    assert wd.index.tolist() == [0, 1, 2, 3]
    with pytest.raises(
        ResultNotFoundError, match=r"test='mixed' was not run for adata.uns\['panel_tests'\]"
    ):
        kom.get.panel_tests(panel, test="mixed")
    with pytest.raises(ResultNotFoundError, match=r"key='nope': no panel test results"):
        kom.get.panel_tests(panel, key="nope")
    with pytest.raises(KeyNotFoundError, match=r"the 'anova' table has no contrasts"):
        kom.get.panel_tests(panel, test="anova", contrast="use - control")
    with pytest.raises(KeyNotFoundError, match=r"contrast='withdrawal-ctrl' is not a contrast"):
        kom.get.panel_tests(panel, test="tukey", contrast="withdrawal-ctrl")


def test_h5ad_round_trip(tmp_path: Path) -> None:
    adata = _panel()
    kom.tl.panel_tests(adata, tests=("anova", "tukey", "dunnett"), mixed=True)
    path = tmp_path / "panel.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    for test in ("anova", "tukey", "dunnett", "mixed"):
        a = kom.get.panel_tests(adata, test=test)
        b = kom.get.panel_tests(back, test=test)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert back.uns["panel_tests"]["params"]["control"] == "control"
