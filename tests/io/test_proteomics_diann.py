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


# files written by kom.datasets in DIA-NN's layouts -------------------------------------------
REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata" / "einprot"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def study():
    return kom.datasets.simulate("protein", seed=5, n_features=30, n_per_phase=3)


def _provenance(adata):
    return json.loads(adata.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])


def _expected_from_report(raw: pd.DataFrame, qcol: str) -> pd.DataFrame:
    """Protein-group quantities from a long report with pandas: q-value filters, one per run."""
    keep = (raw["Q.Value"] <= 0.01) & (raw["PG.Q.Value"] <= 0.01)
    if "Decoy" in raw:
        keep &= raw["Decoy"] == 0
    rows = raw[keep]
    wide = rows.drop_duplicates(["Run", "Protein.Group"]).pivot(
        index="Run", columns="Protein.Group", values=qcol
    )
    return wide, rows


def test_pr_matrix_metadata_columns_are_never_runs_and_groups_are_combined(study, tmp_path):
    path = kom.datasets.write_diann_precursors(
        study, tmp_path / "report.pr_matrix.tsv", kind="pr_matrix"
    )
    raw = pd.read_csv(path, sep="\t")
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format_kind"] == "pr_matrix"
    assert list(a.obs_names) == list(study.obs_names)  # not 'Proteotypic', 'Precursor.Charge'
    assert list(a.var["protein_group"]) == list(pd.unique(raw["Protein.Group"]))
    runs = [c for c in raw.columns if c.endswith(".raw")]
    quantified = raw[raw[runs].notna().any(axis=1)]
    peptides = quantified.groupby("Protein.Group")["Stripped.Sequence"].nunique()
    precursors = quantified.groupby("Protein.Group")["Precursor.Id"].nunique()
    np.testing.assert_array_equal(a.var["n_peptides"], peptides.loc[a.var["protein_group"]])
    np.testing.assert_array_equal(a.var["n_precursors"], precursors.loc[a.var["protein_group"]])
    assert (a.var["n_precursors"] > a.var["n_peptides"]).any()  # charge states are not peptides
    single = raw.groupby("Protein.Group").filter(lambda g: len(g) == 1).set_index("Protein.Group")
    for group, row in single.iterrows():
        np.testing.assert_array_equal(
            a[:, a.var["protein_group"] == group].X.ravel(), row[runs].to_numpy(dtype=float)
        )
    # MaxLFQ recovers the planted protein profiles (runs relative to each other)
    x = pd.DataFrame(np.log2(a.X), index=a.obs_names, columns=a.var["protein_group"])
    truth = pd.DataFrame(
        np.log2(study.layers["raw"]), index=study.obs_names, columns=study.var_names
    )
    diff = (x - x.mean()) - (truth[x.columns] - truth[x.columns].mean())
    assert float(np.nanstd(diff.to_numpy())) < 0.2
    choices = _provenance(a)["choices"]
    assert choices["aggregation"]["value"] == "maxlfq"


def test_pr_matrix_names_the_pg_matrix_beside_it(study, tmp_path, caplog):
    kom.datasets.write_diann(study, tmp_path / "report.pg_matrix.tsv")
    pr = kom.datasets.write_diann_precursors(
        study, tmp_path / "report.pr_matrix.tsv", kind="pr_matrix"
    )
    with caplog.at_level("INFO", logger="kratom_omics"):
        kom.io.read_diann(pr)
    assert (
        f"DIA-NN's own protein quantities are in '{tmp_path / 'report.pg_matrix.tsv'}'"
        in caplog.text
    )


@pytest.mark.parametrize("version", ["1.8", "2.x"])
def test_written_report_values_and_peptide_counts(study, tmp_path, version):
    name = "report.parquet" if version == "2.x" else "report.tsv"
    path = kom.datasets.write_diann_precursors(
        study, tmp_path / name, version=version, decoys=version == "2.x"
    )
    raw = pd.read_parquet(path) if version == "2.x" else pd.read_csv(path, sep="\t")
    expected, rows = _expected_from_report(raw, "PG.MaxLFQ")
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format_kind"] == "report"
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    np.testing.assert_array_equal(got.loc[expected.index, expected.columns], expected)
    peptides = rows.groupby("Protein.Group")["Stripped.Sequence"].nunique()
    np.testing.assert_array_equal(a.var["n_peptides"], peptides.loc[a.var["protein_group"]])
    if version == "2.x":
        assert (raw["Decoy"] == 1).sum() > 0
        assert _provenance(a)["choices"]["decoys"]["value"] == int((raw["Decoy"] == 1).sum())
        # decoys sit where their group was not seen: they must not fill those cells
        truth = pd.DataFrame(study.layers["raw"], index=study.obs_names, columns=study.var_names)
        assert not (got.notna() & truth[got.columns].isna()).to_numpy().any()


def test_report_17_without_maxlfq_falls_back_to_pg_quantity(study, tmp_path, caplog):
    path = kom.datasets.write_diann_precursors(study, tmp_path / "report.tsv", version="1.7")
    raw = pd.read_csv(path, sep="\t")
    assert "PG.MaxLFQ" not in raw
    expected, _ = _expected_from_report(raw, "PG.Quantity")
    with caplog.at_level("WARNING", logger="kratom_omics"):
        a = kom.io.read_diann(path)
    assert "the report has no 'PG.MaxLFQ' column" in caplog.text
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    np.testing.assert_array_equal(got.loc[expected.index, expected.columns], expected)
    params = _provenance(a)
    assert params["quantity"] == "quantity"
    assert "'PG.Quantity' read instead" in params["choices"]["quantity"]["why"]
    with pytest.raises(InputFormatError, match=r"missing column\(s\) \['PG.MaxLFQ'\]"):
        kom.io.read_diann(path, quantity="maxlfq")


def test_comma_separated_tsv_is_read_as_such(study, tmp_path):
    path = kom.datasets.write_diann_precursors(study, tmp_path / "report.tsv")
    commas = kom.datasets.resave(path, tmp_path / "comma" / "report.tsv", sep=",")
    a, b = kom.io.read(path), kom.io.read(commas)
    np.testing.assert_array_equal(a.X, b.X)
    assert _provenance(b)["choices"]["delimiter"]["value"] == "comma"


def test_pg_matrix_2x_n_peptides_from_n_sequences(study, tmp_path):
    path = tmp_path / "report.pg_matrix.tsv"
    kom.datasets.write_diann(study, path, version="2.x")
    raw = pd.read_csv(path, sep="\t")
    assert "Protein.Ids" not in raw
    a = kom.io.read(path)
    assert a.n_obs == study.n_obs
    np.testing.assert_array_equal(a.var["n_peptides"], raw["N.Sequences"])


def test_multiplexed_report_is_refused(study, tmp_path):
    path = kom.datasets.write_diann_precursors(study, tmp_path / "report.parquet", version="2.x")
    raw = pd.read_parquet(path)
    raw["Channel"] = np.where(np.arange(len(raw)) % 2, "L", "H")
    raw.to_parquet(path)
    with pytest.raises(
        InputFormatError, match=r"multiplexed \(plexDIA\) report with channels \['H', 'L'\]"
    ):
        kom.io.read(path)


@needs_real
def test_real_pr_matrix_against_the_raw_file_and_diann_pg_matrix():
    path = REAL / "PXD028735.pr_matrix.tsv"
    raw = pd.read_csv(path, sep="\t")
    runs = [c for c in raw.columns if c.endswith(".mzML")]
    a = kom.io.read(path)
    assert a.n_obs == len(runs) == 6
    assert a.n_vars == raw["Protein.Group"].nunique()
    quantified = raw[raw[runs].fillna(0).gt(0).any(axis=1)]
    peptides = quantified.groupby("Protein.Group")["Stripped.Sequence"].nunique()
    n = peptides.reindex(a.var["protein_group"]).fillna(0).to_numpy()
    np.testing.assert_array_equal(a.var["n_peptides"], n)
    # DIA-NN's own pg_matrix: the file lists the first 100 precursors only, so most groups miss
    # precursors DIA-NN used; the run-to-run profiles still agree closely
    pg = pd.read_csv(REAL / "PXD028735.pg_matrix.tsv", sep="\t").set_index("Protein.Group")[runs]
    ours = pd.DataFrame(a.X.T, index=a.var["protein_group"], columns=runs)
    common = ours.index.intersection(pg.index)
    x, y = np.log2(ours.loc[common]), np.log2(pg.loc[common].replace(0, np.nan))
    profile = (x.sub(x.mean(axis=1), axis=0) - y.sub(y.mean(axis=1), axis=0)).stack()
    assert len(profile) > 250
    assert float(profile.abs().median()) < 0.15


@needs_real
def test_real_report_peptide_counts_after_filters():
    path = REAL / "PXD028735.report.tsv"
    raw = pd.read_csv(path, sep="\t")
    rows = raw[(raw["Q.Value"] <= 0.01) & (raw["PG.Q.Value"] <= 0.01)]
    a = kom.io.read(path)
    peptides = rows.groupby("Protein.Group")["Stripped.Sequence"].nunique()
    np.testing.assert_array_equal(a.var["n_peptides"], peptides.loc[a.var["protein_group"]])
    expected = rows.drop_duplicates(["Run", "Protein.Group"]).pivot(
        index="Run", columns="Protein.Group", values="PG.MaxLFQ"
    )
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    np.testing.assert_array_equal(got.loc[expected.index, expected.columns], expected)
