import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, SampleMismatchError
from kratom_omics.io._counts import bam_sample_name

DATA = Path(__file__).parents[1] / "data" / "histone"
FC = DATA / "featurecounts_H3K9ac.txt"
REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata"
real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")


def test_read_featurecounts():
    a = kom.io.read_featurecounts(FC)
    assert a.shape == (4, 5)
    assert list(a.obs_names) == ["Ctl_1", "Ctl_2", "Wd_1", "Wd_2"]
    assert a.obs["bam"].iloc[2] == "/scratch/cuttag/bam/Wd_1.sorted.dedup.bam"
    x = a.to_df()
    assert x.loc["Ctl_2", "Hdac2_promoter"] == 702
    assert x.loc["Wd_2", "Bdnf_exons"] == 0  # zero counts stay zero
    np.testing.assert_array_equal(a.layers["raw"], a.X)
    v = a.var
    assert (v.loc["Rab35_promoter", "chrom"], v.loc["Rab35_promoter", "start"]) == (
        "chr12",
        40151000,
    )
    assert v.loc["Rab35_promoter", "end"] == 40153000
    assert v.loc["Hdac2_promoter", "strand"] == "-"
    # several parts: first chromosome, smallest start (0-based), largest end
    assert (v.loc["Bdnf_exons", "start"], v.loc["Bdnf_exons", "end"]) == (100768000, 100770800)
    assert v.loc["Bdnf_exons", "length"] == 1300
    assert v.loc["bin_chr1_0", "start"] == 0


def test_read_featurecounts_with_sheet_and_peaks():
    sheet = pd.DataFrame(
        {
            "sample": ["Ctl_1", "Ctl_2", "Wd_1", "Wd_2"],
            "phase": ["control"] * 2 + ["withdrawal"] * 2,
        }
    )
    a = kom.io.read_featurecounts(FC, sheet, peaks=DATA / "H3K9ac_Ctl_1_peaks.narrowPeak")
    assert list(a.obs["phase"]) == ["control", "control", "withdrawal", "withdrawal"]
    assert a.var["in_peak"].tolist() == [True, True, False, True, False]
    assert a.var.loc["Hdac2_promoter", "peak"] == "H3K9ac_Ctl_1_peak_2"
    assert a.var.loc["Gapdh_promoter", "peak"] == ""
    b = kom.io.read_featurecounts(FC, peaks=DATA / "H3K27me3_Ctl_1_peaks.broadPeak")
    # bin [0, 5000) ends where the broad peak [5000, 9000) starts: no overlap (half-open)
    assert b.var["in_peak"].tolist() == [False, False, True, False, False]
    assert b.var.loc["Gapdh_promoter", "peak"] == "H3K27me3_Ctl_1_peak_1"
    with pytest.raises(SampleMismatchError, match="in the sample sheet but not the data"):
        kom.io.read_featurecounts(
            FC, pd.concat([sheet, pd.DataFrame({"sample": ["Wd_3"], "phase": ["withdrawal"]})])
        )
    r = kom.io.read_featurecounts(FC, rename={"Ctl_1": "rat01"})
    assert r.obs_names[0] == "rat01"


def test_read_peaks():
    n = kom.io.read_peaks(DATA / "H3K9ac_Ctl_1_peaks.narrowPeak")
    assert n.shape[0] == 4
    assert n.attrs["kind"] == "narrowPeak"
    assert list(n.index[:2]) == ["H3K9ac_Ctl_1_peak_1", "H3K9ac_Ctl_1_peak_2"]
    row = n.loc["H3K9ac_Ctl_1_peak_2"]
    assert (row["chrom"], row["start"], row["end"], row["peak"]) == (
        "chr20",
        38978000,
        38978600,
        288,
    )
    assert row["signal_value"] == pytest.approx(11.3)
    assert row["q_value"] == pytest.approx(40.2)
    b = kom.io.read_peaks(DATA / "H3K27me3_Ctl_1_peaks.broadPeak")
    assert b.attrs["kind"] == "broadPeak"
    assert "peak" not in b.columns
    assert b.loc["H3K27me3_Ctl_1_peak_2", "start"] == 5000
    with pytest.raises(InputFormatError, match="a narrowPeak file has 10"):
        kom.io.read_peaks(DATA / "H3K27me3_Ctl_1_peaks.broadPeak", kind="narrowPeak")


def test_bad_counts(tmp_path):
    with pytest.raises(
        InputFormatError,
        match=r"count '655\.5' for feature 'Hdac2_promoter' in '/scratch/cuttag/bam/Ctl_1"
        r"\.sorted\.dedup\.bam' is not a non-negative integer",
    ):
        kom.io.read_featurecounts(DATA / "bad_featurecounts_fractional.txt")
    p = tmp_path / "x.txt"
    p.write_text("gene\tS1\tS2\ng1\t1\t2\n")
    with pytest.raises(InputFormatError, match="expected featureCounts"):
        kom.io.read_featurecounts(p)
    p.write_text(FC.read_text().replace("Wd_2.sorted", "Wd_1.sorted"))
    with pytest.raises(InputFormatError, match=r"sample name\(s\) \['Wd_1'\] more than once"):
        kom.io.read_featurecounts(p)
    p.write_text("chr1\t500\t100\tp1\t1\t.\t1\t1\t1\t10\n")
    with pytest.raises(InputFormatError, match="start 500 and end 100"):
        kom.io.read_peaks(p)


def test_overlaps_with_nested_peaks():
    from kratom_omics.io._counts import overlapping_peaks

    peaks = pd.DataFrame(
        {"chrom": ["c1", "c1", "c1", "c2"], "start": [0, 100, 300, 0], "end": [1000, 200, 400, 50]},
        index=["long", "inner1", "inner2", "other"],
    )
    var = pd.DataFrame(
        {
            "chrom": ["c1", "c1", "c1", "c2", "c3"],
            "start": [500, 150, 1000, 50, 0],
            "end": [600, 160, 1100, 60, 9],
        }
    )
    hit, name = overlapping_peaks(var, peaks)
    assert hit.tolist() == [True, True, False, False, False]
    assert name.tolist() == ["long", "long", "", "", ""]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/data/S1.bam", "S1"),
        ("S1.sorted.dedup.bam", "S1"),
        ("C:\\bam\\rat_07_filtered.bam", "rat_07"),
        ("Wd-3.q30.markdup.bam", "Wd-3"),
    ],
)
def test_bam_sample_name(path, name):
    assert bam_sample_name(path) == name


def test_bad_coordinates(tmp_path):
    p = tmp_path / "fc.txt"
    p.write_text(FC.read_text().replace("\t40151001\t", "\tNA\t"))
    with pytest.raises(
        InputFormatError, match="column 'Start' holds a value that is not a coordinate"
    ):
        kom.io.read_featurecounts(p)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("OSMOTIC_STRESS_T100_SE_REP2.mLb.clN.sorted.bam", "OSMOTIC_STRESS_T100_SE_REP2"),
        ("/star/S1Aligned.sortedByCoord.out.bam", "S1"),
        ("S2_Aligned.sortedByCoord.out.bam", "S2"),
        ("chip/Wd_1.mRp.clN.bam", "Wd_1"),
        ("Ctl_4.markdup.sorted.bam", "Ctl_4"),
    ],
)
def test_pipeline_suffixes_are_removed_by_the_shared_rule(path, name):
    assert bam_sample_name(path) == name
    assert kom.io.normalize_run_name(path) == name


def test_proteomics_run_names_keep_underscored_words():
    # only alignment files lose '_filtered', '-final', ...: a raw file's name is its own
    assert kom.io.normalize_run_name("D:\\runs\\HeLa_filtered.raw") == "HeLa_filtered"
    assert kom.io.normalize_run_name("S1.mLb.clN") == "S1"  # nf-core's names in a sample sheet


def _counts(tmp_path, bams, **kw):
    counts = kom.datasets.simulate("histone", assay="counts", seed=4, n_per_phase=2)[:, :25]
    counts = counts.copy()
    counts.obs["bam"] = bams
    return counts, kom.datasets.write_featurecounts(counts, tmp_path / "counts.txt", **kw)


NF_BAMS = [
    f"/work/bwa/{s}.mLb.clN.sorted.bam" for s in ("CTL_R1", "CTL_R2", "USE_R1", "USE_R2")
] + ["WD_R1Aligned.sortedByCoord.out.bam", "WD_R2Aligned.sortedByCoord.out.bam"]


def test_names_cleaned_and_matched_to_a_sheet_naming_the_files_otherwise(tmp_path):
    counts, path = _counts(tmp_path, NF_BAMS)
    a = kom.io.read_featurecounts(path)
    assert list(a.obs_names) == ["CTL_R1", "CTL_R2", "USE_R1", "USE_R2", "WD_R1", "WD_R2"]
    assert a.obs["bam"].tolist() == NF_BAMS
    sheet = pd.DataFrame(
        {
            "sample": [
                *["CTL_R1.mLb.clN", "CTL_R2.mLb.clN", "USE_R1", "USE_R2"],
                *["WD_R1Aligned.sortedByCoord.out.bam", "WD_R2"],
            ],
            "phase": ["control"] * 2 + ["use"] * 2 + ["withdrawal"] * 2,
        }
    )
    b = kom.io.read_featurecounts(path, sheet)
    assert b.obs["phase"].tolist() == ["control"] * 2 + ["use"] * 2 + ["withdrawal"] * 2
    np.testing.assert_array_equal(b.X, counts.layers["raw"])


def test_summary_beside_the_counts_becomes_obs_columns(tmp_path):
    _, path = _counts(tmp_path, NF_BAMS, summary=True)
    raw = pd.read_csv(tmp_path / "counts.txt.summary", sep="\t", index_col=0)
    a = kom.io.read_featurecounts(path)
    assert a.obs["Assigned"].tolist() == raw.loc["Assigned"].tolist()
    assert a.obs["Unassigned_NoFeatures"].tolist() == raw.loc["Unassigned_NoFeatures"].tolist()
    np.testing.assert_array_equal(a.obs["Assigned"], a.X.sum(axis=1))
    np.testing.assert_allclose(a.obs["assigned_fraction"], raw.loc["Assigned"] / raw.sum())
    choices = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])["choices"]
    assert choices["summary"]["why"] == "found beside the counts"
    alone = kom.io.read_featurecounts_summary(tmp_path / "counts.txt.summary")
    assert list(alone.index) == list(a.obs_names)
    assert list(alone.columns[:-1]) == list(raw.index)
    assert alone["Assigned"].dtype == np.int64
    assert alone["bam"].tolist() == NF_BAMS
    c = kom.io.read_featurecounts(path, summary=False)
    assert "Assigned" not in c.obs.columns
    a.write_h5ad(tmp_path / "a.h5ad")


def test_summary_of_another_run_is_refused(tmp_path):
    _, path = _counts(tmp_path, NF_BAMS, summary=True)
    other = tmp_path / "counts.txt.summary"
    other.write_text(other.read_text().replace("WD_R2Aligned", "WD_R9Aligned"))
    with pytest.raises(InputFormatError, match=r"lists other BAM files .* summary=False"):
        kom.io.read_featurecounts(path)
    assert kom.io.read_featurecounts(path, summary=False).n_obs == 6


def test_summary_errors_name_the_line(tmp_path):
    p = tmp_path / "c.txt.summary"
    p.write_text("Status\ta.bam\tb.bam\nAssigned\t10\t12\nUnassigned_NoFeatures\t1\tmany\n")
    with pytest.raises(InputFormatError, match=r"line 3: Unassigned_NoFeatures of 'b.bam' is"):
        kom.io.read_featurecounts_summary(p)
    p.write_text("Geneid\ta.bam\nAssigned\t10\n")
    with pytest.raises(InputFormatError, match=r"expected featureCounts' \.summary header"):
        kom.io.read_featurecounts_summary(p)
    p.write_text("Status\ta.bam\nUnassigned_NoFeatures\t10\n")
    with pytest.raises(InputFormatError, match=r"no 'Assigned' row"):
        kom.io.read_featurecounts_summary(p)


def test_saf_with_zero_based_starts_never_gives_negative_starts(tmp_path):
    counts = kom.datasets.simulate("histone", assay="counts", seed=4, n_per_phase=2)[:, :25]
    counts = counts.copy()
    counts.var["start"] = np.arange(25) * 1000  # the first region starts at base 0
    counts.var["end"] = counts.var["start"] + 500
    path = kom.datasets.write_featurecounts(counts, tmp_path / "counts.txt", zero_based_starts=True)
    raw = pd.read_csv(path, sep="\t", comment="#")
    assert raw["Start"].iloc[0] == 0
    a = kom.io.read_featurecounts(path)
    assert a.var["start"].min() == 0
    np.testing.assert_array_equal(a.var["start"], np.maximum(raw["Start"] - 1, 0))
    choices = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])["choices"]
    assert choices["zero_starts"]["value"] == 1
    assert "0-based (BED) starts" in choices["zero_starts"]["why"]


@real
def test_real_featurecounts_names_summary_and_starts():
    path = REAL / "ATAC-seq" / "consensus_peaks.mLb.clN.featureCounts.txt"
    raw = pd.read_csv(path, sep="\t", comment="#")
    bams = list(raw.columns[6:])
    summary = pd.read_csv(f"{path}.summary", sep="\t", index_col=0)
    a = kom.io.read_featurecounts(path)
    assert list(a.obs_names) == [b.split(".")[0] for b in bams]
    assert a.obs["bam"].tolist() == bams
    assert a.obs["Assigned"].tolist() == summary.loc["Assigned", bams].tolist()
    np.testing.assert_allclose(
        a.obs["assigned_fraction"], (summary.loc["Assigned"] / summary.sum())[bams]
    )
    assert (a.var["start"] >= 0).all()
    np.testing.assert_array_equal(a.var["start"], np.maximum(raw["Start"] - 1, 0))
    np.testing.assert_array_equal(a.X.sum(axis=1), raw[bams].sum().to_numpy())
    alone = kom.io.read_featurecounts_summary(f"{path}.summary")
    assert list(alone.index) == list(a.obs_names)
    assert alone.shape == (len(bams), len(summary) + 1)
