from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, SampleMismatchError
from kratom_omics.io._counts import bam_sample_name

DATA = Path(__file__).parents[1] / "data" / "histone"
FC = DATA / "featurecounts_H3K9ac.txt"


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
