"""Spectronaut long (decimal comma, precursor repeats, Filtered) and pivot reports."""

from __future__ import annotations

import csv
import json
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


# files written by kom.datasets ---------------------------------------------------------------
REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def study():
    return kom.datasets.simulate("protein", seed=8, n_features=25, n_per_phase=2)


def _params(adata):
    return json.loads(adata.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])


def test_r_mangled_pivot_with_fasta_ids(study, tmp_path):
    path = kom.datasets.write_spectronaut(
        study, tmp_path / "pivot.tsv", r_names=True, fasta_ids=True
    )
    raw = pd.read_csv(path, sep="\t")
    cols = [f"X.{i + 1}..{s}.raw.PG.Quantity" for i, s in enumerate(study.obs_names)]
    assert set(cols) <= set(raw.columns)
    a = kom.io.read(path)
    assert list(a.obs_names) == list(study.obs_names)
    expected = raw[cols].replace("Filtered", np.nan).astype(float).to_numpy().T
    np.testing.assert_array_equal(a.X, expected)
    assert list(a.var_names) == list(study.var["protein_ids"])  # '1/sp|Q..|..' -> 'Q..'
    assert a.var["protein_group"].iloc[0] == raw["PG.ProteinGroups"].iloc[0]
    assert raw["PG.ProteinGroups"].iloc[0].startswith("1/sp|")
    np.testing.assert_array_equal(
        a.var["n_peptides"], raw["PG.NrOfStrippedSequencesIdentified..Experiment.wide."]
    )
    assert _params(a)["choices"]["column_names"]["value"] == "R make.names"


@pytest.mark.parametrize("level", ["precursor", "fragment"])
def test_long_reports_without_pg_quantity_are_combined(study, tmp_path, level):
    protein = kom.datasets.write_spectronaut(study, tmp_path / "protein.tsv", kind="long")
    path = kom.datasets.write_spectronaut(
        study, tmp_path / f"{level}.tsv", kind="long", level=level
    )
    raw = pd.read_csv(path, sep="\t")
    assert "PG.Quantity" not in raw
    a = kom.io.read(path)
    params = _params(a)
    assert params["level"] == level
    assert params["choices"]["aggregation"]["value"] == (
        "maxlfq(FG.Quantity)" if level == "precursor" else "maxlfq(F.PeakArea)"
    )
    rows = raw[(raw["EG.Qvalue"] <= 0.01) & (raw["PG.Qvalue"] <= 0.01)]
    peptides = rows.groupby("PG.ProteinGroups")["PEP.StrippedSequence"].nunique()
    np.testing.assert_array_equal(a.var["n_peptides"], peptides.loc[a.var["protein_group"]])
    if level == "fragment":  # the summed fragments give the precursor level's numbers
        loss = rows["F.FrgLossType"] != "noloss"  # among the rows passing the filters
        assert params["choices"]["fragments_skipped"]["value"] == int(loss.sum())
        prec = kom.datasets.write_spectronaut(
            study, tmp_path / "p.tsv", kind="long", level="precursor"
        )
        np.testing.assert_allclose(a.X, kom.io.read(prec).X, rtol=1e-6)
    # same runs and groups as the protein-level report, profiles close to its PG.Quantity
    b = kom.io.read(protein)
    assert list(a.var_names) == list(b.var_names)
    x, y = np.log2(a.X), np.log2(b.X)
    diff = (x - np.nanmean(x, axis=0)) - (y - np.nanmean(y, axis=0))
    assert float(np.nanstd(diff)) < 0.2


def test_long_protein_report_filters_q_values(study, tmp_path):
    path = kom.datasets.write_spectronaut(study, tmp_path / "long.tsv", kind="long")
    raw = pd.read_csv(path, sep="\t")
    rows = raw[raw["EG.Qvalue"] <= 0.01]
    expected = rows.drop_duplicates(["R.FileName", "PG.ProteinGroups"]).pivot(
        index="R.FileName", columns="PG.ProteinGroups", values="PG.Quantity"
    )
    a = kom.io.read(path)
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    np.testing.assert_array_equal(got.loc[expected.index, expected.columns], expected)
    loose = kom.io.read(path, q_value=None)
    assert int(np.isnan(loose.X).sum()) <= int(np.isnan(a.X).sum())


@needs_real
def test_real_r_mangled_pivot_against_the_raw_file():
    path = REAL / "einprot" / "SN_unit_test_subset.tsv"
    raw = pd.read_csv(path, sep="\t")
    cols = [c for c in raw.columns if c.endswith(".PG.Quantity")]
    a = kom.io.read(path)
    assert a.n_obs == len(cols) == 6
    assert a.obs_names[0] == "LFQ_24min_500ng_2Th_3ms_A_01"
    np.testing.assert_allclose(
        np.nansum(a.X, axis=1), raw[cols].replace(0, np.nan).sum().to_numpy(), rtol=1e-12
    )
    np.testing.assert_array_equal(
        a.var["n_peptides"], raw["PG.NrOfStrippedSequencesIdentified..Experiment.wide."]
    )
