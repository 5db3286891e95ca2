"""Inputs that used to crash a loader (issue 21): infinite and huge numbers, header-only tables,
trailing delimiters, repeated columns, empty names, repeated peak names. Each file is small and
written here."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parents[1] / "data"
PROT = DATA / "proteomics"
HIST = DATA / "histone"
FC = HIST / "featurecounts_H3K9ac.txt"


def edit_cell(path: Path, out: Path, row: int, column: str, value: str) -> Path:
    """Copy a tab-separated table with one cell replaced (row 0 = first data row)."""
    lines = path.read_text().splitlines()
    header_at = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    j = lines[header_at].split("\t").index(column)
    cells = lines[header_at + 1 + row].split("\t")
    cells[j] = value
    lines[header_at + 1 + row] = "\t".join(cells)
    out.write_text("\n".join(lines) + "\n")
    return out


def choices(adata) -> dict:
    steps = adata.uns["kratom_omics"]["provenance"]
    return json.loads(steps[sorted(steps)[0]]["parameters"]).get("choices", {})


# infinite values in the measurements: missing, with a warning naming file, column and count -----
INTENSITIES = [
    ("proteinGroups.txt", "LFQ intensity WD_1", 0, "maxquant"),
    ("report.pg_matrix.tsv", "D:\\Data\\kratom\\WD_1.raw", 0, "diann"),
    ("combined_protein.tsv", "CTRL_1 MaxLFQ Intensity", 0, "fragpipe"),
    ("spectronaut_pivot.tsv", "[1] CTRL_1.raw.PG.Quantity", 0, "spectronaut"),
    ("pg.matrix.tsv", "CTRL_1", 0, "alphadia"),
]


@pytest.mark.parametrize(("name", "column", "row", "fmt"), INTENSITIES)
@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e400"])
def test_infinite_intensity_is_missing_with_a_warning(
    tmp_path, caplog, name, column, row, fmt, value
):
    plain = kom.io.read(PROT / name, format=fmt)
    path = edit_cell(PROT / name, tmp_path / name, row, column, value)
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        a = kom.io.read(path, format=fmt)
    assert np.isfinite(a.X[~np.isnan(a.X)]).all()
    assert np.isnan(a.X).sum() == np.isnan(plain.X).sum() + (0 if np.isnan(plain.X).all() else 1)
    np.testing.assert_array_equal(np.isnan(a.layers["raw"]), np.isnan(a.X))
    assert "1 infinite or too-large value(s)" in caplog.text
    assert str(path) in caplog.text
    assert choices(a)["infinite"]["value"]["cells"] == 1


def test_infinite_values_in_mztab_epiprofile_and_densitometry(tmp_path, caplog):
    text = (PROT / "quant.mzTab").read_text()
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("PRH")).split("\t")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("PRT"))
    cells = lines[k].split("\t")
    cells[header.index("protein_abundance_assay[1]")] = "Infinity"
    lines[k] = "\t".join(cells)
    (tmp_path / "q.mzTab").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="kratom_omics"):
        m = kom.io.read_mztab(tmp_path / "q.mzTab")
    assert np.isnan(m.X[0, 0])
    assert "infinite" in caplog.text

    epi = (HIST / "histone_ratios.xls").read_bytes().decode()
    rows = epi.split("\r\n")
    k = next(i for i, r in enumerate(rows) if r.startswith("H3_9_17 K9ac"))
    cells = rows[k].split("\t")
    cells[1] = "inf"
    rows[k] = "\t".join(cells)
    (tmp_path / "histone_ratios.xls").write_bytes("\r\n".join(rows).encode())
    e = kom.io.read_epiprofile(tmp_path / "histone_ratios.xls")
    assert np.isnan(e[0, "H3_9_17 K9ac"].X[0, 0])
    assert choices(e)["infinite"]["value"]["cells"] == 1

    western = (HIST / "western_blots.csv").read_text().splitlines()
    western[1] = western[1].replace(",100,", ",inf,")
    (tmp_path / "w.csv").write_text("\n".join(western) + "\n")
    w = kom.io.read_densitometry(tmp_path / "w.csv")
    table = w.uns["densitometry"]
    first = table[(table["sample"] == "Ctl_1") & (table["target"] == "H3K9ac")]
    assert first["signal"].isna().all()
    assert choices(w)["infinite"]["value"]["columns"] == ["signal"]


def test_read_counts_must_be_whole_numbers(tmp_path):
    path = edit_cell(FC, tmp_path / "fc.txt", 1, "/scratch/cuttag/bam/Wd_1.sorted.dedup.bam", "inf")
    with pytest.raises(InputFormatError, match=r"line 4: count 'inf' for feature 'Hdac2_promoter'"):
        kom.io.read_featurecounts(path)


# infinite or huge numbers in integer annotation columns --------------------------------------
@pytest.mark.parametrize("value", ["inf", "Infinity", "99999999999999999999999", "1e400"])
def test_integer_annotations_with_inf_or_huge_numbers(tmp_path, value):
    mq = kom.io.read_maxquant(
        edit_cell(PROT / "proteinGroups.txt", tmp_path / "pg.txt", 0, "Peptides", value)
    )
    expected = float(value) if value.startswith("9") else np.nan  # huge but finite: a float
    assert mq.var["n_peptides_all"].dtype == np.float64  # 'Peptides'
    np.testing.assert_allclose(mq.var["n_peptides_all"].iloc[0], expected, rtol=1e-12)
    assert mq.var["n_peptides_all"].iloc[1] > 0
    fp = kom.io.read_fragpipe(
        edit_cell(
            PROT / "combined_protein.tsv", tmp_path / "cp.tsv", 0, "Combined Total Peptides", value
        )
    )
    np.testing.assert_allclose(fp.var["n_peptides"].iloc[0], expected, rtol=1e-12)
    sn = kom.io.read_spectronaut(
        edit_cell(PROT / "spectronaut_report.tsv", tmp_path / "sn.tsv", 0, "R.Replicate", value)
    )
    assert sn.obs["replicate"].dtype == np.float64
    np.testing.assert_allclose(sn.obs.loc["CTRL_1", "replicate"], expected, rtol=1e-12)
    dia = kom.io.read_diann(
        edit_cell(PROT / "report_2x.pg_matrix.tsv", tmp_path / "pg.tsv", 0, "N.Sequences", value)
    )
    np.testing.assert_allclose(dia.var["n_sequences"].iloc[0], expected, rtol=1e-12)
    fc = kom.io.read_featurecounts(edit_cell(FC, tmp_path / "fc.txt", 0, "Length", value))
    np.testing.assert_allclose(fc.var["length"].iloc[0], expected, rtol=1e-12)
    assert fc.var["length"].iloc[1] == 2000
    for adata in (mq, fp, sn, dia, fc):
        adata.write_h5ad(tmp_path / "a.h5ad")


@pytest.mark.parametrize("value", ["inf", "1e400", "NA", "12.5", "-3"])
def test_coordinates_that_are_not_whole_numbers_name_the_line(tmp_path, value):
    with pytest.raises(InputFormatError, match=r"line 3: column 'Start' holds a value that is not"):
        kom.io.read_featurecounts(edit_cell(FC, tmp_path / "fc.txt", 0, "Start", value))
    peaks = (HIST / "H3K9ac_Ctl_1_peaks.narrowPeak").read_text().splitlines()
    cells = peaks[2].split("\t")
    cells[1] = value
    peaks[2] = "\t".join(cells)
    (tmp_path / "p.narrowPeak").write_text("\n".join(peaks) + "\n")
    with pytest.raises(InputFormatError, match=r"line 3: start is .*; expected a whole number"):
        kom.io.read_peaks(tmp_path / "p.narrowPeak")


# the crashes of issue 21 item 5 ---------------------------------------------------------------
def test_featurecounts_header_without_rows(tmp_path):
    lines = FC.read_text().splitlines()[:2]
    (tmp_path / "fc.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFormatError, match="header is there but there are no feature rows"):
        kom.io.read_featurecounts(tmp_path / "fc.txt")
    with pytest.raises(InputFormatError, match="no data found"):
        kom.io.featurecounts_to_zarr(tmp_path / "fc.txt", tmp_path / "fc.zarr")


def test_featurecounts_length_na(tmp_path):
    a = kom.io.read_featurecounts(edit_cell(FC, tmp_path / "fc.txt", 2, "Length", "NA"))
    assert np.isnan(a.var["length"].iloc[2])
    assert a.var["length"].iloc[0] == 2000
    assert a.n_vars == 5


def test_featurecounts_empty_bam_name(tmp_path):
    lines = FC.read_text().splitlines()
    header = lines[1].split("\t")
    header[7] = ""
    lines[1] = "\t".join(header)
    (tmp_path / "fc.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFormatError, match=r"sample 2 \(of 4\) has an empty name"):
        kom.io.read_featurecounts(tmp_path / "fc.txt")


def test_densitometry_rows_with_a_trailing_delimiter(tmp_path):
    lines = (HIST / "western_blots.csv").read_text().splitlines()
    text = "\n".join([lines[0], *(f"{ln}," for ln in lines[1:])]) + "\n"
    (tmp_path / "w.csv").write_text(text)
    a = kom.io.read_densitometry(tmp_path / "w.csv")
    b = kom.io.read_densitometry(HIST / "western_blots.csv")
    np.testing.assert_array_equal(a.X, b.X)
    assert choices(a)["trailing_delimiters"]["value"] == len(lines) - 1


def test_mztab_with_a_repeated_prh_column(tmp_path):
    lines = (PROT / "quant.mzTab").read_text().splitlines()
    out = []
    for ln in lines:
        cells = ln.split("\t")
        if cells[0] in ("PRH", "PRT"):
            cells.append(cells[2])  # 'description' again at the end
        out.append("\t".join(cells))
    (tmp_path / "dup.mzTab").write_text("\n".join(out) + "\n")
    a = kom.io.read_mztab(tmp_path / "dup.mzTab")
    b = kom.io.read_mztab(PROT / "quant.mzTab")
    np.testing.assert_array_equal(a.X, b.X)
    assert choices(a)["repeated_columns"]["value"] == ["description"]
    acc = [
        "\t".join([*ln.split("\t"), ln.split("\t")[1]]) if ln.startswith(("PRH", "PRT")) else ln
        for ln in lines
    ]
    (tmp_path / "acc.mzTab").write_text("\n".join(acc) + "\n")
    with pytest.raises(InputFormatError, match=r"the PRH line names 'accession' more than once"):
        kom.io.read_mztab(tmp_path / "acc.mzTab")


def test_repeated_peak_names_give_a_unique_index(tmp_path):
    peaks = (HIST / "H3K9ac_Ctl_1_peaks.narrowPeak").read_text().splitlines()
    body = [ln for ln in peaks if not ln.startswith("track")]
    name = body[0].split("\t")[3]
    renamed = [ln.replace(ln.split("\t")[3], name) for ln in body]
    (tmp_path / "p.narrowPeak").write_text("\n".join(renamed) + "\n")
    table = kom.io.read_peaks(tmp_path / "p.narrowPeak")
    assert table.index.is_unique
    assert list(table.index) == [name, *(f"{name}-{k}" for k in range(1, len(body)))]
    assert (table["name"] == name).all()


def test_empty_header_cell_in_a_pg_matrix_run_column(tmp_path):
    text = (PROT / "report.pg_matrix.tsv").read_text().replace("D:\\Data\\kratom\\USE_1.raw", "")
    (tmp_path / "pg.tsv").write_text(text)
    with pytest.raises(
        InputFormatError, match=r"column 7 holds values but its header cell is empty"
    ):
        kom.io.read_diann(tmp_path / "pg.tsv")


def test_names_survive_write_h5ad(tmp_path):
    long = "Rab35_" + "x" * 5000
    text = f"id\tdescription\tS/1\tS é2\n{long}\tµg; \x01odd\t1\t2\nP2\t\t3\t4\n"
    (tmp_path / "t.tsv").write_text(text)
    a = kom.io.read_table(tmp_path / "t.tsv")
    a.write_h5ad(tmp_path / "a.h5ad")
    import anndata as ad

    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(back.var_names) == [long, "P2"]
    assert list(back.obs_names) == ["S/1", "S é2"]
    pd.testing.assert_index_equal(back.var_names, a.var_names)


def test_densitometry_header_only(tmp_path):
    (tmp_path / "w.tsv").write_text("sample\ttarget\tsignal\tblot\tnormalizer\tnormalizer_signal\n")
    with pytest.raises(InputFormatError, match=r"there are no rows \(bands\)"):
        kom.io.read(tmp_path / "w.tsv")


def test_damaged_parquet_and_nul_in_parquet_text(tmp_path):
    report = pd.read_csv(PROT / "report.tsv", sep="\t")
    good = tmp_path / "report.parquet"
    report.to_parquet(good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputFormatError, match="not a readable parquet file"):
        kom.io.read(cut)
    report["Genes"] = report["Genes"].str.replace("Rab35", "Rab\x0035")
    report.to_parquet(good)
    a = kom.io.read_diann(good)
    assert "Rab35;Rab1a" in set(a.var["gene"])
    a.write_h5ad(tmp_path / "a.h5ad")
