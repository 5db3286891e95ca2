"""Real public exports (../shared/realdata, see its README) through the shared reading path.

What each load must give is computed from the raw file with pandas inside the test. Skipped when
``../shared/realdata`` is absent (a user's clone has no ``../shared``).
"""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.datasets import resave
from kratom_omics.errors import InputFormatError

REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")

# file -> ("load", format, kind) or ("refuse", text of the message)
EXPECTED = {
    "einprot/1356_proteinGroups.txt": ("load", "maxquant", None),
    "einprot/PXD028735.pg_matrix.tsv": ("load", "diann", "pg_matrix"),
    "einprot/PXD028735.pr_matrix.tsv": ("load", "diann", "pr_matrix"),
    "einprot/PXD028735.report.tsv": ("load", "diann", "report"),
    "einprot/combined_protein.tsv": ("load", "fragpipe", "current"),
    "einprot/SN_unit_test_subset.tsv": ("load", "spectronaut", "pivot"),
    "MSstatsConvert/mq_pg.csv": ("load", "maxquant", None),
    "AlhatlaniRNAIP_2022/proteinGroups.txt": ("load", "maxquant", None),
    "ATAC-seq/consensus_peaks.mLb.clN.featureCounts.txt": ("load", "featurecounts", None),
    "germ_nucleome/histone_ratios.xlsx": ("load", "epiprofile", None),
    "einprot/1356_sampleAnnot.txt": ("refuse", "looks like a sample sheet"),
    "einprot/PXD028735_sampleAnnot.txt": ("refuse", "looks like a sample sheet"),
    "MSstatsConvert/annotation_mq.csv": ("refuse", "looks like a sample sheet"),
    "MSstatsConvert/fragpipe_input.csv": ("refuse", "an MSstats input table"),
    "quantms.io/PXD019909-DIA.sdrf.tsv": ("refuse", "an SDRF file"),
    "quantms.io/PXD040438.sdrf.tsv": ("refuse", "an SDRF file"),
    "quantms.io/PXD040438.mzTab": ("refuse", "carries no protein abundances"),
    "ATAC-seq/consensus_peaks.mLb.clN.featureCounts.txt.summary": ("refuse", ".summary"),
    "ATAC-seq/OSMOTIC_STRESS_T0_PE_REP1.mLb.clN_peaks.broadPeak": ("refuse", "peak file"),
    "ATAC-seq/OSMOTIC_STRESS_T0_PE_REP1.mLb.clN_peaks.gappedPeak": ("refuse", "peak file"),
    "germ_nucleome/GSC_K27me3.bed": ("refuse", "peak file"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_is_read_or_refused_with_what_it_is(name, tmp_path):
    path = REAL / name
    expected = EXPECTED[name]
    if expected[0] == "refuse":
        with pytest.raises(InputFormatError, match=re.escape(expected[1])):
            kom.io.read(path)
        return
    _, fmt, kind = expected
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format"] == fmt
    assert a.uns["kratom_omics"].get("format_kind") == kind
    assert a.obs_names.is_unique
    assert a.var_names.is_unique
    assert a.X.dtype == np.float64
    assert a.X.shape == (a.n_obs, a.n_vars) == a.layers["raw"].shape
    a.write_h5ad(tmp_path / "a.h5ad")


def _lfq(path: Path, sep: str, prefix: str) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=sep, low_memory=False)
    cols = [c for c in raw.columns if c.startswith(prefix)]
    return raw[cols].replace(0, np.nan)


def test_maxquant_crlf_lfq_values_equal_the_raw_columns():
    path = REAL / "einprot" / "1356_proteinGroups.txt"
    expected = _lfq(path, "\t", "LFQ intensity ")
    a = kom.io.read_maxquant(path)
    assert list(a.obs_names) == [c.removeprefix("LFQ intensity ") for c in expected.columns]
    np.testing.assert_allclose(np.nansum(a.X, axis=1), expected.sum().to_numpy(), rtol=1e-12)
    assert int(np.isnan(a.X).sum()) == int(expected.isna().sum().sum())


def test_r_saved_quoted_csv_values_equal_the_raw_columns():
    path = REAL / "MSstatsConvert" / "mq_pg.csv"
    expected = _lfq(path, ",", "Intensity.")
    a = kom.io.read_maxquant(path, quantity="intensity")
    assert list(a.obs_names) == [c.removeprefix("Intensity.") for c in expected.columns]
    np.testing.assert_allclose(np.nansum(a.X, axis=1), expected.sum().to_numpy(), rtol=1e-12)


def test_pg_matrix_run_sums_equal_the_raw_columns():
    path = REAL / "einprot" / "PXD028735.pg_matrix.tsv"
    raw = pd.read_csv(path, sep="\t")
    runs = [c for c in raw.columns if c.endswith((".raw", ".mzML", ".d", ".wiff"))]
    a = kom.io.read_diann(path)
    assert a.n_obs == len(runs)
    assert a.n_vars == len(raw)
    np.testing.assert_allclose(
        np.nansum(a.X, axis=1), raw[runs].replace(0, np.nan).sum().to_numpy(), rtol=1e-12
    )


def test_featurecounts_counts_equal_the_raw_columns():
    path = REAL / "ATAC-seq" / "consensus_peaks.mLb.clN.featureCounts.txt"
    raw = pd.read_csv(path, sep="\t", comment="#")
    a = kom.io.read_featurecounts(path)
    np.testing.assert_array_equal(a.X.sum(axis=1), raw.iloc[:, 6:].sum().to_numpy())
    assert raw["Start"].iloc[0] == 0  # a SAF written with 0-based starts (nf-core)
    assert a.var["start"].iloc[0] == 0
    np.testing.assert_array_equal(a.var["start"], np.maximum(raw["Start"] - 1, 0))


@pytest.mark.parametrize(
    "name",
    [
        "einprot/1356_proteinGroups.txt",
        "einprot/PXD028735.pg_matrix.tsv",
        "einprot/combined_protein.tsv",
        "ATAC-seq/consensus_peaks.mLb.clN.featureCounts.txt",
    ],
)
def test_real_file_compressed_or_resaved_reads_the_same(name, tmp_path):
    path = REAL / name
    b = kom.io.read(path)
    gz = tmp_path / f"{path.name}.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zipped = tmp_path / f"{path.name}.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(path, path.name)
    plain = tmp_path / "plain.txt"
    plain.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    copies = [
        gz,
        zipped,
        resave(plain, tmp_path / f"excel_{path.name}", encoding="cp1252", newline="\r\n"),
        resave(plain, tmp_path / f"utf16_{path.name}", encoding="utf-16"),
    ]
    for copy in copies:
        a = kom.io.read(copy)
        assert list(a.obs_names) == list(b.obs_names), copy.name
        assert list(a.var_names) == list(b.var_names), copy.name
        np.testing.assert_array_equal(a.X, b.X)


def test_maxquant_n_peptides_are_the_razor_unique_counts():
    for name, sep, column in (
        ("einprot/1356_proteinGroups.txt", "\t", "Razor + unique peptides"),
        ("MSstatsConvert/mq_pg.csv", ",", "Razor...unique.peptides"),
        ("AlhatlaniRNAIP_2022/proteinGroups.txt", "\t", "Razor + unique peptides"),
    ):
        raw = pd.read_csv(REAL / name, sep=sep, low_memory=False)
        a = kom.io.read(REAL / name)
        np.testing.assert_array_equal(a.var["n_peptides"].to_numpy(), raw[column].to_numpy())


def test_maxquant_tmt_crlf_one_sample_per_reporter_channel():
    """A TMTpro 16-plex, one experiment: 16 samples, never one summed sample."""
    path = REAL / "AlhatlaniRNAIP_2022" / "proteinGroups.txt"
    raw = pd.read_csv(path, sep="\t", low_memory=False)
    corrected = [c for c in raw.columns if re.fullmatch(r"Reporter intensity corrected \d+", c)]
    assert len(corrected) == 16
    a = kom.io.read(path)
    assert a.n_obs == 16
    assert a.n_vars == len(raw)
    assert list(a.obs_names) == [f"channel_{c.rsplit(' ', 1)[1]}" for c in corrected]
    expected = raw[corrected].replace(0, np.nan)
    np.testing.assert_allclose(np.nansum(a.X, axis=1), expected.sum().to_numpy(), rtol=1e-12)
    assert int(np.isnan(a.X).sum()) == int(expected.isna().sum().sum())
    uncorrected = [f"Reporter intensity {c.rsplit(' ', 1)[1]}" for c in corrected]
    u = kom.io.read(path, quantity="reporter")
    np.testing.assert_allclose(
        np.nansum(u.X, axis=1), raw[uncorrected].replace(0, np.nan).sum().to_numpy(), rtol=1e-12
    )
    assert a.var["is_contaminant"].sum() == raw["Potential contaminant"].eq("+").sum()
    assert a.var["is_decoy"].sum() == raw["Reverse"].eq("+").sum()


def test_maxquant_tmt_with_an_sdrf_of_its_plex(tmp_path):
    """An SDRF of the 16-plex (one raw file, TMT126 ... TMT134N) pairs every channel."""
    from sdrf_pipelines.converters.channel_map import CHANNEL_MAP

    path = REAL / "AlhatlaniRNAIP_2022" / "proteinGroups.txt"
    labels = list(CHANNEL_MAP["tmt16plex"])
    header = [
        "source name", "characteristics[organism]", "characteristics[disease]", "assay name",
        "technology type", "comment[data file]", "comment[label]", "factor value[treatment]",
    ]  # fmt: skip
    rows = [
        [f"S{i + 1}", "Homo sapiens", "normal", "run 1", "proteomic profiling by mass spectrometry",
         "RNAIP_TMT16.raw", lab, "mock" if i < 8 else "infected"]
        for i, lab in enumerate(labels)
    ]  # fmt: skip
    sdrf = tmp_path / "rnaip.sdrf.tsv"
    sdrf.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    a = kom.io.read(path, sdrf, phases=None)
    assert list(a.obs_names) == [f"RNAIP_TMT16_{lab}" for lab in labels]
    assert a.obs["run"].tolist() == [f"channel_{k}" for k in range(1, 17)]
    raw = pd.read_csv(path, sep="\t", low_memory=False)
    np.testing.assert_array_equal(
        a["RNAIP_TMT16_TMT134N"].X.ravel(),
        raw["Reporter intensity corrected 16"].replace(0, np.nan).to_numpy(),
    )
    assert a.obs["phase"].tolist() == ["mock"] * 8 + ["infected"] * 8


def test_quantms_mztab_refusal_says_what_the_file_holds():
    path = REAL / "quantms.io" / "PXD040438.mzTab"
    kinds = pd.Series([line.split("\t", 1)[0] for line in path.read_text().splitlines()])
    counts = kinds.value_counts()
    prh = next(ln for ln in path.read_text().splitlines() if ln.startswith("PRH"))
    columns = [c for c in prh.split("\t")[1:] if c]
    assert not any(c.startswith("protein_abundance") for c in columns)
    with pytest.raises(InputFormatError) as err:
        kom.io.read(path)
    msg = str(err.value)
    assert f"its protein section ({counts['PRT']} PRT rows) has the columns {columns}" in msg
    assert f"its peptide section ({counts['PEP']} PEP rows) has no 'peptide_abundance_" in msg
    assert f"its PSM section ({counts['PSM']} PSM rows) holds identifications" in msg
    assert "Export a protein quantification mzTab" in msg
