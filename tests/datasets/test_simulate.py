from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, InputFormatError


def test_same_seed_same_data_other_seed_other_data():
    a = kom.datasets.simulate(seed=5, n_features=120)
    b = kom.datasets.simulate(seed=5, n_features=120)
    c = kom.datasets.simulate(seed=6, n_features=120)
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(a.var, b.var)
    assert not np.array_equal(np.nan_to_num(a.X), np.nan_to_num(c.X))


def test_protein_layout_and_planted_markers(protein):
    a = protein
    assert a.shape == (18, 500)
    assert a.X.dtype == np.float64
    assert list(a.obs["phase"].cat.categories) == ["control", "use", "withdrawal"]
    assert (a.obs["phase"].value_counts() == 6).all()
    assert set(a.obs["batch"].astype(str)) == {"B1", "B2"}
    np.testing.assert_allclose(a.layers["raw"], 2.0**a.X, equal_nan=True)
    assert a.var["gene"].is_unique
    rab = a.var.index[a.var["gene"] == "Rab35"][0]
    assert a.var.loc[rab, "true_log2fc_withdrawal_vs_control"] == 1.5
    assert a.var.loc[rab, "true_log2fc_withdrawal_vs_use"] == pytest.approx(1.1)
    assert bool(a.var.loc[rab, "is_changed"])
    # the planted effect is visible in the data
    col = a[:, rab].X.ravel()
    ph = a.obs["phase"].astype(str).to_numpy()
    assert col[ph == "withdrawal"].mean() - col[ph == "control"].mean() == pytest.approx(
        1.5, abs=0.5
    )
    hd = a.var.index[a.var["gene"] == "Hdac2"][0]
    assert a.var.loc[hd, "true_log2fc_withdrawal_vs_control"] == 1.0
    # about fraction_changed of the others change, in the three recorded patterns
    others = a.var[a.var["marker"] == ""]
    assert others["is_changed"].sum() == 50
    assert set(others.loc[others["is_changed"], "true_pattern"]) == {
        "use_only",
        "withdrawal_only",
        "persistent",
    }
    assert a.uns["simulation"]["contrasts"] == [
        "use - control",
        "withdrawal - control",
        "withdrawal - use",
    ]


def test_truth_matches_group_means_on_large_samples():
    a = kom.datasets.simulate(
        seed=2, n_features=200, n_per_phase=200, missing_mnar=0, missing_mcar=0, batch_sd=0
    )
    ph = a.obs["phase"].astype(str).to_numpy()
    diff = a.X[ph == "withdrawal"].mean(0) - a.X[ph == "use"].mean(0)
    np.testing.assert_allclose(diff, a.var["true_log2fc_withdrawal_vs_use"], atol=0.25)


def test_missing_values_are_random_and_intensity_dependent():
    a = kom.datasets.simulate(seed=3, n_features=400, missing_mnar=0.1, missing_mcar=0.02)
    miss = np.isnan(a.X)
    assert 0.08 < miss.mean() < 0.25
    # low-intensity features lose more values than high-intensity ones
    mean = a.var["true_mean"].to_numpy()
    low, high = mean < np.quantile(mean, 0.25), mean > np.quantile(mean, 0.75)
    assert miss[:, low].mean() > 3 * miss[:, high].mean()
    assert miss[:, high].mean() > 0  # some missing at random even where intensity is high
    markers = a.var["marker"] != ""
    assert not miss[:, markers.to_numpy()].any()


def test_variances_follow_a_prior_with_trend_and_outliers():
    a = kom.datasets.simulate(seed=4, n_features=2000, prior_sd=0.3, prior_df=6)
    var = a.var
    assert var["outlier_variance"].sum() == 40
    s2 = var["true_sigma"].to_numpy() ** 2
    normal = ~var["outlier_variance"].to_numpy()
    # low-intensity features are noisier
    mean = a.var["true_mean"].to_numpy()
    assert np.median(s2[normal & (mean < 22)]) > 1.5 * np.median(s2[normal & (mean > 26)])
    assert np.median(s2[~normal]) > 4 * np.median(s2[normal])


def test_batch_effects_are_real():
    a = kom.datasets.simulate(seed=7, n_features=300, batch_sd=0.5, missing_mnar=0, missing_mcar=0)
    b = a.obs["batch"].astype(str).to_numpy()
    ph = a.obs["phase"].astype(str).to_numpy()
    ctrl = ph == "control"
    shift = a.X[ctrl & (b == "B2")].mean(0) - a.X[ctrl & (b == "B1")].mean(0)
    assert np.std(shift) > 0.35


def test_repeated_design_and_time_points():
    a = kom.datasets.simulate(
        seed=1, n_features=300, timepoints=(1, 3, 7), repeated=True, n_per_phase=4
    )
    assert a.n_obs == 4 * 5
    assert set(a.obs["subject"].astype(str)) == {"R01", "R02", "R03", "R04"}
    wd = a.obs[a.obs["phase"] == "withdrawal"]
    assert sorted(wd["timepoint"].unique()) == [1.0, 3.0, 7.0]
    assert a.obs.loc[a.obs["phase"] == "control", "timepoint"].isna().all()
    patt = a.var["true_time_pattern"]
    assert {"persistent", "transient", "recovering", "delayed"} <= set(patt)
    # a transient withdrawal effect is gone by the last time point
    tr = a.var[(patt == "transient") & (a.var["true_pattern"] == "withdrawal_only")]
    assert (tr["true_log2fc_withdrawal_d7_vs_control"] == 0).all()
    assert (tr["true_log2fc_withdrawal_d1_vs_control"] != 0).all()
    # subject effects make repeated samples of one animal correlate
    x = np.nan_to_num(a.X - a.var["true_mean"].to_numpy())
    by_subject = pd.DataFrame(x).groupby(a.obs["subject"].astype(str).to_numpy()).mean()
    assert by_subject.to_numpy().std() > 0.15


def test_histone_ratios_close_within_families(histone):
    h = histone
    fam = h.var["peptide_family"].to_numpy()
    sums = pd.DataFrame(h.layers["raw"].T).groupby(fam).sum(min_count=1).to_numpy()
    np.testing.assert_allclose(sums, 1.0)
    k9 = h.var.index[h.var["marks"].str.contains("H3K9ac")]
    assert set(k9) == {"H3_9_17 K9ac", "H3_9_17 K9acK14ac"}
    assert (h.var.loc[k9, "true_log2fc_withdrawal_vs_control"] < -0.8).all()
    k12 = h.var.index[h.var["marks"].str.contains("H4K12ac")]
    assert len(k12) == 5
    assert (h.var.loc[k12, "true_log2fc_withdrawal_vs_control"] < -0.6).all()
    np.testing.assert_allclose(h.X, np.log2(h.layers["raw"]), equal_nan=True)
    assert (h.layers["area"][~np.isnan(h.layers["area"])] > 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"modality": "rna"}, InputFormatError, "expected 'protein', 'histone' or 'tracks'"),
        ({"n_per_phase": 1}, DesignError, "at least two samples per phase"),
        ({"phases": ["control"]}, DesignError, "at least two phases"),
        ({"fraction_changed": 2}, DesignError, "between 0 and 1"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        kom.datasets.simulate(**kwargs)
