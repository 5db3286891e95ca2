from __future__ import annotations

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, SampleMismatchError

SHEET = "sample\tphase\tbatch\nS1\tcontrol\tb1\nS2\tcontrol\tb2\nS3\twithdrawal\tb1\nS4\twithdrawal\tb2\n"


@pytest.fixture
def sheet(tmp_path):
    p = tmp_path / "samples.tsv"
    p.write_text(SHEET)
    return p


def test_feature_rows_with_annotations(tmp_path, sheet):
    p = tmp_path / "table.tsv"
    p.write_text(
        "protein\tgene\tS3\tS1\tS2\tS4\n"
        "P1\tRab35\t10.5\t8\t\t11\n"
        "P2\tHdac2\t7\tNA\t6.5\t7.25\n"
        "P3\tGapdh\t20\t20\t20\t0\n"
    )
    adata = kom.io.read_table(p, sheet)
    assert adata.shape == (4, 3)
    assert list(adata.obs_names) == ["S1", "S2", "S3", "S4"]  # sample-sheet order
    assert list(adata.var_names) == ["P1", "P2", "P3"]
    assert adata.var["gene"].tolist() == ["Rab35", "Hdac2", "Gapdh"]
    np.testing.assert_array_equal(adata.X[:, 0], [8, np.nan, 10.5, 11])
    np.testing.assert_array_equal(adata.layers["raw"], adata.X)
    assert adata.X.dtype == np.float64
    assert adata.X[3, 2] == 0  # zeros kept unless asked
    assert list(adata.obs["phase"].astype(str)) == [
        "control",
        "control",
        "withdrawal",
        "withdrawal",
    ]
    steps = adata.uns["kratom_omics"]["provenance"]
    assert steps["step_000"]["function"] == "kratom_omics.io.read_table"


def test_zero_as_missing_and_decimal_comma(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('id;A;B\nf1;"1,5";0\nf2;2;"3,25"\n')
    adata = kom.io.read_table(p, decimal=",", zero_as_missing=True)
    np.testing.assert_array_equal(adata.X, [[1.5, 2.0], [np.nan, 3.25]])


def test_sample_rows_orientation(tmp_path, sheet):
    p = tmp_path / "t.csv"
    p.write_text("sample,H3K9ac,H4K12ac\nS1,1.0,2.0\nS2,1.5,2.5\nS3,0.5,1.0\nS4,0.25,1.5\n")
    adata = kom.io.read_table(p, sheet, orientation="samples")
    assert adata.shape == (4, 2)
    assert adata["S4", "H3K9ac"].X.item() == 0.25


def test_mismatch_lists_both_sides(tmp_path, sheet):
    p = tmp_path / "t.tsv"
    p.write_text("id\tS1\tS2\tS3\tS5\nf1\t1\t2\t3\t4\n")
    with pytest.raises(SampleMismatchError, match=r"not the sample sheet: \['S5'\]") as info:
        kom.io.read_table(p, sheet, sample_columns=["S1", "S2", "S3", "S5"])
    msg = str(info.value)
    assert "in the data but not the sample sheet: ['S5']" in msg
    assert "in the sample sheet but not the data: ['S4']" in msg
    inner = kom.io.read_table(p, sheet, sample_columns=["S1", "S2", "S3", "S5"], join="inner")
    assert list(inner.obs_names) == ["S1", "S2", "S3"]


def test_run_paths_match_sheet_names(tmp_path, sheet):
    p = tmp_path / "t.tsv"
    cols = ["D:\\runs\\S1.raw", "/data/S2.mzML", "S3.d", "S4"]
    p.write_text("id\t" + "\t".join(cols) + "\nf1\t1\t2\t3\t4\n")
    adata = kom.io.read_table(p, sheet, sample_columns=cols)
    assert list(adata.obs_names) == ["S1", "S2", "S3", "S4"]
    assert adata.obs["run"].tolist() == cols


def test_non_numeric_cell_is_named(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("id\tS1\tS2\nf1\t1\t2\nf2\t3\toops\n")
    with pytest.raises(
        InputFormatError, match=r"column 'S2' has a non-numeric value 'oops' at feature 'f2'"
    ):
        kom.io.read_table(p, sample_columns=["S1", "S2"])


def test_duplicated_sample_columns(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("id\tS1\tS1\nf1\t1\t2\n")
    with pytest.raises(InputFormatError, match=r"duplicated column"):
        kom.io.read_table(p)


def test_duplicate_feature_ids_made_unique(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("id\tS1\tS2\nf1\t1\t2\nf1\t3\t4\n")
    adata = kom.io.read_table(p)
    assert list(adata.var_names) == ["f1", "f1-1"]


def test_single_column_hints_at_delimiter(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("id S1 S2\nf1 1 2\n")
    with pytest.raises(InputFormatError, match="Check the delimiter"):
        kom.io.read_table(p)


def test_partly_empty_annotations_survive_h5ad(tmp_path):
    import anndata as ad

    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample\tphase\tnote\nS1\tcontrol\tpilot\nS2\twithdrawal\t\n")
    p = tmp_path / "t.tsv"
    p.write_text("id\tgene\tdescription\tS1\tS2\nf1\tRab35\t\t1\t2\nf2\t\t\t3\t4\n")
    adata = kom.io.read_table(p, sheet)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert back.var["gene"].iloc[0] == "Rab35"
    assert back.var["gene"].isna().iloc[1]
    assert back.var["description"].isna().all()
    assert back.obs["note"].iloc[0] == "pilot"
    assert back.obs["note"].isna().iloc[1]


def test_read_names_empty_and_unknown_files(tmp_path):
    empty = tmp_path / "report.tsv"
    empty.write_text("")
    with pytest.raises(InputFormatError, match=r"report.tsv' is empty; export the table"):
        kom.io.read(empty)
    other = tmp_path / "notes.tsv"
    other.write_text("a\tb\n1\t2\n")
    with pytest.raises(
        InputFormatError, match=r"could not recognise the format .* EpiProfile \(file name"
    ):
        kom.io.read(other)
    with pytest.raises(
        InputFormatError, match=r"format='maxqaunt' is not available. Did you mean 'maxquant'"
    ):
        kom.io.read(other, format="maxqaunt")
