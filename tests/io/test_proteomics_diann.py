"""DIA-NN: pg_matrix (1.8 and 2.x), main report (TSV and parquet), q-value filters, run paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError, KeyNotFoundError

DATA = Path(__file__).parent.parent / "data" / "proteomics"


def test_pg_matrix_windows_paths_become_run_names():
    a = kom.io.read_diann(DATA / "report.pg_matrix.tsv")
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]
    assert a.obs["file"].tolist()[0] == r"D:\Data\kratom\CTRL_1.raw"
    assert list(a.var_names) == ["Q5U316", "Q6P6W3", "P63018"]
    np.testing.assert_array_equal(a[:, "Q5U316"].X.ravel(), [1523000.5, 1734000.25, 3120000.0])
    assert np.isnan(a[:, "Q6P6W3"].X[1, 0])  # empty cell
    rab = a.var.loc["Q5U316"]
    assert rab["protein_group"] == "Q5U316;Q6NYB7"
    assert rab["protein_ids"] == "Q5U316;Q6NYB7;F1LQ99"
    assert rab["gene"] == "Rab35;Rab1a"
    assert rab["gene_leading"] == "Rab35"
    assert rab["description"] == "Ras-related protein Rab-35"
    assert a.var.loc["P63018", "gene"] == "P63018"  # no gene: leading protein


def test_pg_matrix_2x_posix_paths_and_extra_annotations():
    sheet = pd.DataFrame({"sample": ["WD_1", "CTRL_1"], "phase": ["withdrawal", "control"]})
    a = kom.io.read_diann(DATA / "report_2x.pg_matrix.tsv", sheet)
    assert list(a.obs_names) == ["WD_1", "CTRL_1"]
    assert a.obs["file"].tolist() == ["/data/kratom/WD_1.d", "/data/kratom/CTRL_1.mzML"]
    assert a.var["n_sequences"].tolist() == [7, 5]  # annotation, not a run
    assert a.shape == (2, 2)
    np.testing.assert_array_equal(a.X, [[4350.0, 1200.0], [2100.5, np.nan]])


def test_report_filters_and_deduplicates_precursors():
    a = kom.io.read_diann(DATA / "report.tsv")
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]
    # Q9Z1B2 only has a precursor at Q.Value 0.05: filtered out
    assert list(a.var_names) == ["Q5U316", "Q6P6W3", "P63018"]
    np.testing.assert_allclose(a[:, "Q5U316"].X.ravel(), [1.5e6, 1.7e6, 3.1e6])
    # HDAC2 in USE_1 has PG.Q.Value 0.03: missing there
    np.testing.assert_allclose(a[:, "Q6P6W3"].X.ravel(), [4.0e5, np.nan, 8.2e5])
    assert a.var.loc["Q5U316", "gene"] == "Rab35;Rab1a"
    params = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert params["filters"] == {"PG.Q.Value": 0.01, "Q.Value": 0.01}
    assert params["quantity"] == "maxlfq"


def test_report_options():
    a = kom.io.read_diann(DATA / "report.tsv", quantity="quantity", pg_q_value=None)
    np.testing.assert_allclose(a[:, "Q6P6W3"].X.ravel(), [4.4e5, 4.95e5, 9.02e5])
    loose = kom.io.read_diann(DATA / "report.tsv", q_value=0.1, pg_q_value=None)
    assert "Q9Z1B2" in loose.var_names
    assert np.isnan(loose[["CTRL_1", "USE_1"], "Q9Z1B2"].X).all()
    assert loose["WD_1", "Q9Z1B2"].X[0, 0] == pytest.approx(5.0e4)
    with pytest.raises(KeyNotFoundError, match="quantity='ibaq' is not a DIA-NN protein quantity"):
        kom.io.read_diann(DATA / "report.tsv", quantity="ibaq")
    with pytest.raises(InputFormatError, match=r"no 'Lib\.PG\.Q\.Value'"):
        kom.io.read_diann(DATA / "report.tsv", lib_pg_q_value=0.01)
    with pytest.raises(InputFormatError, match="no precursor row passes the q-value filters"):
        kom.io.read_diann(DATA / "report.tsv", q_value=1e-6)
    lfq = kom.io.read_diann(DATA / "report.tsv", quantity="lfq")
    np.testing.assert_array_equal(lfq.X, kom.io.read_diann(DATA / "report.tsv").X)


def test_pg_matrix_ignores_quantity(caplog):
    with caplog.at_level("WARNING", logger="kratom_omics"):
        a = kom.io.read_proteomics(DATA / "report.pg_matrix.tsv", quantity="lfq")
    assert "one quantity per run; quantity='lfq' is ignored" in caplog.text
    assert a["WD_1", "Q5U316"].X[0, 0] == 3120000.0
    for name in ("pg.matrix.tsv", "quant.mzTab"):
        assert kom.io.read_proteomics(DATA / name, quantity="lfq").n_obs > 0


def test_report_parquet_2x(tmp_path):
    """DIA-NN 2.x writes report.parquet without File.Name and with Lib.PG.Q.Value."""
    report = pd.read_csv(DATA / "report.tsv", sep="\t")
    report = report.drop(columns=["File.Name"])
    report["Lib.PG.Q.Value"] = np.where(report["Protein.Group"] == "P63018", 0.02, 0.001)
    path = tmp_path / "report.parquet"
    report.to_parquet(path)
    assert kom.io.detect_proteomics_format(path) == "diann"
    a = kom.io.read_proteomics(path)
    np.testing.assert_allclose(a[:, "Q5U316"].X.ravel(), [1.5e6, 1.7e6, 3.1e6])
    b = kom.io.read_proteomics(path, lib_pg_q_value=0.01)
    assert "P63018" not in b.var_names
    assert "Q5U316" in b.var_names


def test_duplicated_run_names(tmp_path):
    lines = (DATA / "report.pg_matrix.tsv").read_text().splitlines()
    lines[0] = lines[0].replace(r"D:\Data\kratom\USE_1.raw", r"E:\backup\CTRL_1.raw")
    path = tmp_path / "report.pg_matrix.tsv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFormatError, match=r"have the same run name 'CTRL_1'"):
        kom.io.read_diann(path)


def test_report_without_run_column_uses_file_names(tmp_path):
    report = pd.read_csv(DATA / "report.tsv", sep="\t").drop(columns=["Run"])
    path = tmp_path / "report.tsv"
    report.to_csv(path, sep="\t", index=False)
    a = kom.io.read_diann(path)
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]
    assert a.obs["file"].iloc[2] == r"D:\Data\kratom\WD_1.raw"


def test_report_non_numeric_quantity(tmp_path):
    report = pd.read_csv(DATA / "report.tsv", sep="\t")
    report["PG.MaxLFQ"] = report["PG.MaxLFQ"].astype(object)
    report.loc[4, "PG.MaxLFQ"] = "#VALUE!"
    path = tmp_path / "report.tsv"
    report.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputFormatError, match="non-numeric value '#VALUE!'") as err:
        kom.io.read_diann(path)
    assert "column 'PG.MaxLFQ' has a non-numeric value '#VALUE!' at feature 'P63018'" in str(
        err.value
    )
    assert str(path) in str(err.value)


def test_pg_matrix_run_named_like_an_annotation(tmp_path):
    path = tmp_path / "report.pg_matrix.tsv"
    path.write_text(
        "Protein.Group\tProtein.Ids\tGenes\tLast.Protein.Description\tRat.A\tRat.B\n"
        "Q5U316\tQ5U316\tRab35\tRas-related protein Rab-35\t10.5\t20\n"
    )
    a = kom.io.read_diann(path)
    assert list(a.obs_names) == ["Rat.A", "Rat.B"]  # numeric dotted columns are runs
    np.testing.assert_array_equal(a.X.ravel(), [10.5, 20.0])
