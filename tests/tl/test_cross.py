"""Modalities linked by gene: H3K9ac signal tracks and proteins, and track candidates by mark."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import DesignError, KeyNotFoundError, ResultNotFoundError
from kratom_omics.tl._cross import PAIR_COLUMNS, gene_pairs

PAIRS = ["use - control", "withdrawal - control", "withdrawal - use"]
ALPHA, LFC = 0.05, 0.58


@pytest.fixture(scope="module")
def _study():
    """Proteins and H3K9ac at their genes' promoters (the same genes; losses planted where the
    protein changes), each with its differential result."""
    p = kom.datasets.simulate("protein", seed=5, n_features=120)
    t = kom.datasets.simulate("tracks", seed=5, n_features=120)
    kom.tl.differential(p, "phase", PAIRS)
    kom.tl.differential(t, "phase", PAIRS)
    return p, t


@pytest.fixture
def study(_study):
    p, t = _study
    return {"protein": p.copy(), "tracks": t.copy()}


def test_track_candidates_are_matched_by_the_mark_not_by_names(study):
    t = study["tracks"]
    kom.tl.flag_biomarkers(t, n_boot=50)
    res = t.uns["biomarkers"]
    cand = res["candidates"].set_index("candidate")
    assert res["params"]["modality"] == "histone"
    assert res["params"]["mark"] == "H3K9ac"
    # every promoter carries H3K9ac: the candidate is matched to all of them
    assert cand.loc["H3K9ac", "n_features"] == t.n_vars
    assert cand.loc["H3K9ac", "status"] == "concordant"
    best = cand.loc["H3K9ac", "best_feature"]
    diff = kom.get.differential(t, contrast="withdrawal - control").set_index("feature")
    assert diff.loc[best, "padj"] == diff["padj"].min()
    assert cand.loc["H3K9ac", "log2fc"] == pytest.approx(diff.loc[best, "log2fc"])
    assert cand.loc["H3K9ac", "n_significant"] == int(
        ((diff["padj"] < ALPHA) & (diff["log2fc"].abs() >= LFC)).sum()
    )
    assert cand.loc["Rab35", "status"] == "not measured"
    assert "pairs the protein with the mark at its gene's promoter" in cand.loc["Rab35", "note"]
    assert cand.loc["H4K12ac", "note"] == "these tracks hold H3K9ac, another mark"
    feats = res["features"]
    assert set(feats["candidates"]) == {"H3K9ac"}
    # AUC intervals for the features a candidate may report, not for every promoter
    padj = feats["padj"].to_numpy()
    least = feats.groupby("contrast")["padj"].transform("min").to_numpy() == padj
    want = feats["significant"].to_numpy() | least
    np.testing.assert_array_equal(np.isfinite(feats["auc_ci_low"].to_numpy()), want)
    assert np.isfinite(cand.loc["H3K9ac", "auc_ci_low"])


def test_a_region_named_after_a_mark_is_not_that_mark(study):
    t = study["tracks"]
    t.uns["tracks"]["mark"] = "H3K4me3"
    t.var_names = ["H3K9ac_site", *t.var_names[1:]]
    t.uns["differential"]["table"]["feature"] = (
        t.uns["differential"]["table"]["feature"]
        .astype(str)
        .replace({t.uns["differential"]["table"]["feature"].iloc[0]: "H3K9ac_site"})
    )
    kom.tl.flag_biomarkers(t, n_boot=0)
    cand = t.uns["biomarkers"]["candidates"].set_index("candidate")
    assert cand.loc["H3K9ac", "status"] == "not measured"
    assert cand.loc["H3K9ac", "note"] == "these tracks hold H3K4me3, another mark"
    t.uns["tracks"]["mark"] = ""
    kom.tl.flag_biomarkers(t, n_boot=0)
    cand = t.uns["biomarkers"]["candidates"].set_index("candidate")
    assert cand.loc["H3K9ac", "note"].startswith("the tracks' mark is not recorded; read them")


def test_each_protein_beside_the_mark_at_its_promoter(study, tmp_path):
    p, t = study["protein"], study["tracks"]
    table = kom.tl.cross_modality(study, n_boot=0)
    # the candidates side by side, as for marker-name data
    assert table.set_index("candidate").loc["H3K9ac", "dataset"] == "tracks"
    assert table.set_index("candidate").loc["Rab35", "dataset"] == "protein"
    pairs = kom.get.cross_modality(study)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    assert len(pairs) == 120 * 3  # every gene in both, every contrast
    assert "cross_modality" not in t.uns
    assert p.uns["cross_modality"]["params"]["marks"] == ["H3K9ac"]
    assert p.uns["cross_modality"]["params"]["mark_datasets"] == ["tracks"]
    # Rab35: the two differential results side by side
    pd_ = kom.get.differential(p, contrast="withdrawal - control").set_index("gene")
    td = kom.get.differential(t, contrast="withdrawal - control").set_index("feature")
    row = pairs[(pairs["gene"] == "Rab35") & (pairs["contrast"] == "withdrawal - control")].iloc[0]
    assert row["protein_feature"] == pd_.loc["Rab35", "feature"]
    assert row["protein_log2fc"] == pd_.loc["Rab35", "log2fc"]
    assert row["protein_padj"] == pd_.loc["Rab35", "padj"]
    assert row["region"] == "Rab35_promoter"
    assert row["mark_log2fc"] == td.loc["Rab35_promoter", "log2fc"]
    assert row["mark_padj"] == td.loc["Rab35_promoter", "padj"]
    assert (row["mark"], row["region_type"], row["tss_distance"]) == ("H3K9ac", "promoter", 0)
    assert row["protein_log2fc"] > 1  # planted: the protein up ...
    assert row["mark_log2fc"] < -0.5  # ... and H3K9ac lost at its promoter
    assert not row["same_direction"]
    # flags computed from the two results with the candidate thresholds
    sig_p = (pairs["protein_padj"] < ALPHA) & (pairs["protein_log2fc"].abs() >= LFC)
    sig_m = (pairs["mark_padj"] < ALPHA) & (pairs["mark_log2fc"].abs() >= LFC)
    np.testing.assert_array_equal(pairs["protein_significant"], sig_p)
    np.testing.assert_array_equal(pairs["both_significant"], sig_p & sig_m)
    same = np.sign(pairs["protein_log2fc"]) == np.sign(pairs["mark_log2fc"])
    defined = pairs["same_direction"].notna()
    assert defined.mean() > 0.95
    np.testing.assert_array_equal(pairs.loc[defined, "same_direction"].astype(bool), same[defined])
    # planted losses at the promoters of the changed proteins: found together
    both = pairs[pairs["both_significant"] & (pairs["contrast"] == "withdrawal - control")]
    changed = set(t.var.loc[t.var["is_changed"], "gene"])
    assert len(both) >= 1
    assert set(both["gene"]) <= changed
    # the candidates first, each over its contrasts, in the list's order (Cnr1 is not simulated)
    assert pairs["candidate"].iloc[:6].tolist() == ["Rab35"] * 3 + ["Hdac2"] * 3
    assert (pairs["candidate"].iloc[6:] == "").all()
    rest = pairs.iloc[6:]
    assert rest["both_significant"].is_monotonic_decreasing
    # stored: survives h5ad
    p.write_h5ad(tmp_path / "p.h5ad")
    back = kom.get.cross_modality(ad.read_h5ad(tmp_path / "p.h5ad"))
    pd.testing.assert_frame_equal(back, pairs)
    steps = p.uns["kratom_omics"]["provenance"]
    assert list(steps.values())[-1]["function"] == "kratom_omics.tl.cross_modality"


def test_symbols_split_on_semicolons_and_matched_ignoring_case(study):
    p, t = study["protein"], study["tracks"]
    rab = p.var.index[p.var["gene"] == "Rab35"][0]
    p.var.loc[rab, "gene"] = "Rab1a;RAB35"  # a protein group, another spelling
    t.var.loc["Hdac2_promoter", "gene"] = "HDAC2"
    pairs = gene_pairs(study)
    wc = pairs[pairs["contrast"] == "withdrawal - control"].set_index("region")
    assert wc.loc["Rab35_promoter", "protein_feature"] == rab
    assert wc.loc["Rab35_promoter", "candidate"] == "Rab35"
    assert wc.loc["Hdac2_promoter", "gene"] == "HDAC2"  # the region's own spelling
    assert wc.loc["Hdac2_promoter", "candidate"] == "Hdac2"


def test_peaks_kept_within_max_distance(study):
    p, t = study["protein"], study["tracks"]
    t.uns["tracks"]["region_type"] = "peak"
    dist = np.arange(t.n_vars) * 100.0
    t.var["tss_distance"] = dist
    t.var.loc[t.var_names[3], "gene"] = ""  # a peak near no gene
    kom.tl.cross_modality(study, n_boot=0, max_distance=1000)
    pairs = kom.get.cross_modality(study, contrast="use - control")
    assert sorted(pairs["tss_distance"]) == [0, 100, 200, 400, 500, 600, 700, 800, 900, 1000]
    assert set(pairs["region_type"]) == {"peak"}
    assert p.uns["cross_modality"]["params"]["max_distance"] == 1000
    with pytest.raises(DesignError, match=r"max_distance=-5; expected a number of bases >= 0"):
        gene_pairs(study, max_distance=-5)


def test_a_mudata_holds_one_table(study):
    mudata = pytest.importorskip("mudata")
    from kratom_omics.io._study import mudata_options

    with mudata_options():
        md = mudata.MuData(study)
    kom.tl.cross_modality(md, n_boot=0)
    assert set(md.uns["cross_modality"]) == {"params", "pairs"}
    pairs = kom.get.cross_modality(md, gene=["rab35", "HDAC2"])
    assert sorted(set(pairs["gene"])) == ["Hdac2", "Rab35"]
    assert len(pairs) == 6


def test_get_filters(study):
    kom.tl.cross_modality(study, n_boot=0)
    every = kom.get.cross_modality(study)
    wc = kom.get.cross_modality(study, contrast="withdrawal - control")
    assert set(wc["contrast"]) == {"withdrawal - control"}
    assert len(wc) == len(every) // 3
    cand = kom.get.cross_modality(study, candidates_only=True)
    assert sorted(set(cand["candidate"])) == ["Hdac2", "Rab35"]
    both = kom.get.cross_modality(study, both_significant=True)
    assert len(both) == int(every["both_significant"].sum()) > 0
    with pytest.raises(KeyNotFoundError, match=r"'withdrawal-control' is not a contrast of the"):
        kom.get.cross_modality(study, contrast="withdrawal-control")


def test_marker_name_data_keep_their_view_and_have_no_pairs(study, caplog):
    h = kom.datasets.simulate("histone", seed=5, n_per_phase=4)
    kom.tl.differential(h, "phase", PAIRS)
    mapping = {"protein": study["protein"], "histone": h}
    with caplog.at_level(logging.INFO, logger="kratom_omics"):
        table = kom.tl.cross_modality(mapping, n_boot=0)
    assert "no gene pairs (no signal-track dataset)" in caplog.text
    pd.testing.assert_frame_equal(table, kom.get.biomarkers(mapping, table="cross"))
    assert table.set_index("candidate").loc["H3K9ac", "dataset"] == "histone"
    assert all("cross_modality" not in a.uns for a in mapping.values())
    with pytest.raises(ResultNotFoundError, match=r"no gene pairs under .uns\['cross_modality'\]"):
        kom.get.cross_modality(mapping)


def test_no_shared_contrast_and_missing_results(study, caplog):
    t = study["tracks"]
    kom.tl.differential(t, "phase", ["use - withdrawal"])
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        pairs = gene_pairs(study)
    assert "share no contrast" in caplog.text
    assert pairs.empty
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    del t.uns["differential"]
    with pytest.raises(ResultNotFoundError, match=r"dataset 'tracks' has no differential result"):
        gene_pairs(study)
    with pytest.raises(DesignError, match=r"alpha=2; expected an FDR level"):
        gene_pairs(study, alpha=2)
