import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.datasets._writers_histone import write_densitometry, write_featurecounts
from kratom_omics.errors import InputFormatError


@pytest.fixture(scope="module")
def western():
    return kom.datasets.simulate(modality="histone", assay="western", seed=4, n_batches=3)


@pytest.fixture(scope="module")
def counts():
    return kom.datasets.simulate(modality="histone", assay="counts", seed=5, n_features=300)


def test_western_planted_changes(western):
    assert western.shape == (18, 6)
    assert list(western.var_names) == ["H3K9ac", "H4K12ac", "H3", "H4", "Hdac2", "Rab35"]
    assert western.var.loc["H3K9ac", "normalizer"] == "H3"
    assert western.var.loc["Rab35", "normalizer"] == "Gapdh"
    means = western.to_df().groupby(western.obs["phase"], observed=True).mean()
    wd = means.loc["withdrawal"] - means.loc["control"]
    truth = western.var["true_log2fc_withdrawal_vs_control"]
    assert truth["H3K9ac"] == -1.2
    assert truth["Rab35"] == 1.5
    np.testing.assert_allclose(wd, truth, atol=0.35)
    assert wd["H3K9ac"] < -0.8
    assert wd["H4K12ac"] < -0.6
    assert wd["Hdac2"] > 0.6
    assert wd["Rab35"] > 1.0
    assert abs(wd["H3"]) < 0.3
    assert western.var["is_changed"].tolist() == [True, True, False, False, True, True]
    # every blot holds every phase, and on each blot the control folds average to 1
    long = western.uns["densitometry"]
    assert set(long.columns) == {"sample", "target", "signal", "blot", "lane"}
    assert long.shape[0] == 18 * 7
    for blot, grp in western.obs.groupby("blot"):
        assert set(grp["phase"]) == {"control", "use", "withdrawal"}
        fold = 2.0 ** western[grp.index].to_df()
        ctl = fold[grp["phase"] == "control"]
        np.testing.assert_allclose(ctl.mean(), 1.0, err_msg=blot)
    assert western.uns["simulation"]["assay"] == "western"


def test_western_round_trip(western, tmp_path):
    out = write_densitometry(western, tmp_path / "western.csv")
    text = out.read_text().splitlines()
    assert text[0] == "sample,target,signal,blot,lane"
    assert len(text) == 18 * 7 + 1
    back = kom.io.read_densitometry(out, western.obs[["phase", "subject", "batch"]])
    np.testing.assert_allclose(back.X, western.X, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(back.layers["raw"], western.layers["raw"])
    western.write_h5ad(tmp_path / "w.h5ad")
    r = ad.read_h5ad(tmp_path / "w.h5ad")
    assert r.uns["densitometry"].shape == (18 * 7, 5)


def test_counts_global_loss_and_spikein(counts):
    x = counts.layers["raw"]
    assert np.array_equal(x, np.round(x))
    assert x.min() >= 0
    assert int(counts.var["is_spikein"].sum()) == 30
    assert int(counts.var["is_background"].sum()) == 50
    assert counts.var_names[0] == "Rab35_promoter"
    assert counts.var.loc["Rab35_promoter", "true_log2fc_withdrawal_vs_control"] == pytest.approx(
        -1.4
    )
    prom = (~counts.var["is_spikein"] & ~counts.var["is_background"]).to_numpy()
    unchanged = prom & ~(counts.var["true_pattern"].to_numpy() != "none")
    assert unchanged.sum() == 0  # every promoter carries the global loss
    plain = kom.pp.calc_norm_factors(counts, copy=True)
    kom.pp.log_cpm(plain)
    spiked = kom.pp.calc_norm_factors(counts, method="spikein", copy=True)
    kom.pp.log_cpm(spiked)
    ph = counts.obs["phase"]

    def shift(a):
        m = a.to_df().loc[:, prom].groupby(ph, observed=True).mean().median(axis=1)
        return m["withdrawal"] - m["control"]

    assert abs(shift(plain)) < 0.25  # TMM hides the global loss
    assert shift(spiked) == pytest.approx(-0.8, abs=0.2)  # spike-in scaling keeps it
    kom.pp.voom(spiked, "phase")
    w = spiked.layers["weights"]
    assert w.shape == counts.shape
    assert np.all(w > 0)


def test_counts_featurecounts_round_trip(counts, tmp_path):
    out = write_featurecounts(counts, tmp_path / "counts.txt")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# Program:featureCounts v2.0.3; Command:")
    head = lines[1].split("\t")
    assert head[:6] == ["Geneid", "Chr", "Start", "End", "Strand", "Length"]
    assert head[6] == "/data/cuttag/control_01.sorted.dedup.bam"
    back = kom.io.read_featurecounts(out, counts.obs[["phase", "subject", "batch"]])
    np.testing.assert_array_equal(back.X, counts.layers["raw"])
    pd.testing.assert_series_equal(back.var["start"], counts.var["start"], check_dtype=False)
    pd.testing.assert_series_equal(back.var["end"], counts.var["end"], check_dtype=False)
    assert list(back.obs_names) == list(counts.obs_names)


def test_simulate_dispatch():
    a = kom.datasets.simulate(modality="histone", seed=2, n_per_phase=3)
    b = kom.datasets.simulate(modality="histone", assay="ptm", seed=2, n_per_phase=3)
    np.testing.assert_array_equal(a.X, b.X)
    w = kom.datasets.simulate(modality="histone", assay="western", n_per_phase=3, timepoints=(1, 7))
    assert w.n_obs == 3 + 3 + 6
    assert "true_log2fc_withdrawal_d7_vs_control" in w.var.columns
    with pytest.raises(InputFormatError, match="assay='western' is for modality='histone'"):
        kom.datasets.simulate(modality="protein", assay="western")
    with pytest.raises(InputFormatError, match="assay='elisa'"):
        kom.datasets.simulate(modality="histone", assay="elisa")
