"""Spectronaut long (decimal comma, precursor repeats, Filtered) and pivot reports."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parent.parent / "data" / "proteomics"


def test_long_report_decimal_comma():
    a = kom.io.read_spectronaut(DATA / "spectronaut_report.tsv")
    assert list(a.obs_names) == ["CTRL_1", "CTRL_2", "WD_1", "WD_2"]
    assert list(a.var_names) == ["Q5U316", "Q6P6W3"]  # precursor rows collapsed
    np.testing.assert_array_equal(
        a[:, "Q5U316"].X.ravel(), [1523000.5, 1498000.0, 3120000.75, 2987000.5]
    )
    np.testing.assert_array_equal(a[:, "Q6P6W3"].X.ravel(), [402000.25, np.nan, 815000.0, np.nan])
    assert a.obs["condition"].tolist() == ["control", "control", "withdrawal", "withdrawal"]
    assert a.obs["replicate"].tolist() == [1, 2, 1, 2]
    assert a.var.loc["Q5U316", "gene"] == "Rab35;Rab1a"


def test_long_report_with_sheet_keeps_condition():
    sheet = pd.DataFrame(
        {
            "sample": ["CTRL_1", "CTRL_2", "WD_1", "WD_2"],
            "phase": ["control"] * 2 + ["withdrawal"] * 2,
        }
    )
    a = kom.io.read_proteomics(DATA / "spectronaut_report.tsv", sheet)
    assert a.obs["phase"].tolist() == ["control", "control", "withdrawal", "withdrawal"]
    assert a.obs["condition"].tolist() == ["control", "control", "withdrawal", "withdrawal"]


def test_pivot_report():
    a = kom.io.read_proteomics(DATA / "spectronaut_pivot.tsv")
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]  # '.raw' and '[n] ' removed
    assert list(a.var_names) == ["Q5U316", "Q6P6W3", "P63018"]
    np.testing.assert_array_equal(a[:, "Q6P6W3"].X.ravel(), [402000.0, np.nan, 815000.75])
    assert np.isnan(a["CTRL_1", "P63018"].X[0, 0])  # NaN cell
    assert a.var.loc["Q5U316", "protein_ids"] == "Q5U316;Q6NYB7"


def test_pivot_decimal_comma_semicolon_csv(tmp_path):
    text = (DATA / "spectronaut_pivot.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines()]
    path = tmp_path / "pivot.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        for row in rows:  # European export: decimal comma, ';' between fields, quoted text
            writer.writerow([c.replace(".", ",") if c[:1].isdigit() else c for c in row])
    a = kom.io.read_spectronaut(path)
    assert a["CTRL_1", "Q5U316"].X[0, 0] == pytest.approx(1523000.5)
    assert a["USE_1", "Q5U316"].X[0, 0] == pytest.approx(1734000.25)


def test_non_numeric_quantity(tmp_path):
    text = (DATA / "spectronaut_pivot.tsv").read_text().replace("815000.75", "n.d.")
    path = tmp_path / "pivot.tsv"
    path.write_text(text)
    with pytest.raises(
        InputFormatError,
        match=r"column '\[3\] WD_1\.raw\.PG\.Quantity' has a non-numeric value 'n\.d\.' "
        r"at feature 'Q6P6W3'",
    ):
        kom.io.read_spectronaut(path)


def test_not_a_protein_report(tmp_path):
    path = tmp_path / "report.tsv"
    path.write_text("PG.ProteinGroups\tPG.Genes\tEG.PrecursorId\nQ5U316\tRab35\t_GTVFLK_.2\n")
    with pytest.raises(
        InputFormatError, match=r"not a Spectronaut protein report: expected a long"
    ):
        kom.io.read_spectronaut(path)


def test_generic_quantity_names_mean_pg_quantity():
    a = kom.io.read_proteomics(DATA / "spectronaut_pivot.tsv", quantity="lfq")
    b = kom.io.read_spectronaut(DATA / "spectronaut_pivot.tsv", quantity="PG.Quantity")
    np.testing.assert_array_equal(a.X, b.X)
    with pytest.raises(InputFormatError, match=r"'\[1\] <run>\.PG\.MS2Quantity' columns"):
        kom.io.read_spectronaut(DATA / "spectronaut_pivot.tsv", quantity="PG.MS2Quantity")
