"""mzTab 1.0: assays -> runs and study variables, null cells, identification-only files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parent.parent / "data" / "proteomics"


def test_assays_are_samples():
    a = kom.io.read_proteomics(DATA / "quant.mzTab")
    assert list(a.obs_names) == ["CTRL_1", "CTRL_2", "WD_1", "WD_2"]
    assert a.obs["assay"].tolist() == ["assay[1]", "assay[2]", "assay[3]", "assay[4]"]
    assert a.obs["study_variable"].tolist() == ["control", "control", "withdrawal", "withdrawal"]
    assert a.obs["ms_run"].iloc[0] == "file:///data/kratom/CTRL_1.mzML"
    assert a.obs["sample_description"].iloc[3] == "rat 4, mitragynine withdrawal day 1"
    # assay abundances, never the study-variable summaries (1.1e8, 3.0e8)
    np.testing.assert_array_equal(a[:, "Q5U316"].X.ravel(), [1.0e8, 1.2e8, 3.1e8, 2.9e8])
    np.testing.assert_array_equal(a[:, "Q6P6W3"].X.ravel(), [4.0e7, np.nan, 8.1e7, 8.5e7])
    assert a.var.loc["Q5U316", "protein_ids"] == "Q5U316;Q6NYB7;F1LQ99"
    assert a.var.loc["Q5U316", "gene"] == "Rab35"  # GN= of the description
    assert a.var["is_decoy"].tolist() == [False, False, True]
    assert a.var.loc["DECOY_P63018", "gene"] == "DECOY_P63018"


def test_sample_sheet_join():
    sheet = pd.DataFrame(
        {
            "sample": ["CTRL_1", "CTRL_2", "WD_1", "WD_2"],
            "phase": ["control"] * 2 + ["withdrawal"] * 2,
        }
    )
    a = kom.io.read_mztab(DATA / "quant.mzTab", sheet)
    assert a.obs["phase"].tolist() == ["control", "control", "withdrawal", "withdrawal"]
    assert a.obs["study_variable"].tolist() == ["control", "control", "withdrawal", "withdrawal"]


def test_identification_only():
    with pytest.raises(
        InputFormatError, match=r"carries no protein abundances .*identification-only"
    ):
        kom.io.read_proteomics(DATA / "identification_only.mzTab")


def test_short_row_reads_missing_values_and_a_cut_file_is_truncated(tmp_path):
    lines = (DATA / "quant.mzTab").read_text().splitlines()
    cells = lines[-1].split("\t")
    lines[-1] = "\t".join(cells[:10])
    path = tmp_path / "short.mzTab"
    path.write_text("\n".join(lines) + "\n")
    a = kom.io.read_mztab(path)
    full = kom.io.read_mztab(DATA / "quant.mzTab")
    accession = cells[1]
    assert list(a.var_names) == list(full.var_names)
    assert np.isnan(a[:, accession].X).all()  # the abundances beyond the 9 cells are missing
    assert not np.isnan(full[:, accession].X).all()
    np.testing.assert_array_equal(a[:, :-1].X, full[:, :-1].X)
    cut = tmp_path / "cut.mzTab"
    cut.write_text("\n".join(lines))
    with pytest.raises(
        InputFormatError, match=rf"looks truncated: its last line \({len(lines)}\) has 9 of the"
    ):
        kom.io.read_mztab(cut)


def test_labelled_assays_sharing_a_run(tmp_path):
    """TMT-style: several assays per ms_run get '<run>_assay<n>' names."""
    text = (DATA / "quant.mzTab").read_text()
    text = text.replace("assay[2]-ms_run_ref\tms_run[2]", "assay[2]-ms_run_ref\tms_run[1]")
    path = tmp_path / "tmt.mzTab"
    path.write_text(text)
    a = kom.io.read_mztab(path)
    assert list(a.obs_names) == ["CTRL_1_assay1", "CTRL_1_assay2", "WD_1_assay3", "WD_2_assay4"]
    assert a.obs["ms_run"].iloc[1] == "file:///data/kratom/CTRL_1.mzML"


def test_not_mztab(tmp_path):
    path = tmp_path / "x.mzTab"
    path.write_text("accession\tvalue\nP1\t1\n")
    with pytest.raises(
        InputFormatError, match=r"not an mzTab file: line 1 starts with 'accession'"
    ):
        kom.io.read_mztab(path)


def test_agrees_with_pyteomics():
    """pyteomics' mzTab parser (an independent reader) gives the same assay abundances."""
    mztab = pytest.importorskip("pyteomics.mztab")
    table = mztab.MzTab(str(DATA / "quant.mzTab")).protein_table
    expected = table[[f"protein_abundance_assay[{i}]" for i in range(1, 5)]].astype(float)
    expected = expected.mask(expected == 0)  # zeros are missing in kratom-omics
    a = kom.io.read_mztab(DATA / "quant.mzTab")
    assert list(a.var_names) == list(table.index)
    np.testing.assert_array_equal(a.X, expected.to_numpy().T)


# OpenMS / quantms exports ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim():
    return kom.datasets.simulate("protein", seed=21, n_features=25, n_per_phase=2)


def _prt(path: Path) -> pd.DataFrame:
    """The PRT rows of an mzTab file as text, with pandas (independent of the reader)."""
    lines = path.read_text().splitlines()
    header = next(ln for ln in lines if ln.startswith("PRH")).split("\t")
    rows = [ln.split("\t") for ln in lines if ln.startswith("PRT")]
    return pd.DataFrame(rows, columns=header)


@pytest.mark.parametrize("result_type", ["new", "old"])
def test_openms_protein_details_rows_are_skipped(tmp_path, sim, result_type):
    path = tmp_path / "openms.mzTab"
    kom.datasets.write_mztab(sim, path, result_type=result_type)
    prt = _prt(path)
    type_col = "opt_global_result_type" if result_type == "new" else "opt_global_protein_group_type"
    quantified = prt[
        prt[type_col] != ("protein_details" if result_type == "new" else "single_protein")
    ]
    assert prt["accession"].duplicated().any()  # the file lists proteins twice
    a = kom.io.read(path)
    assert a.var_names.is_unique
    assert list(a.var_names) == list(quantified["accession"])
    assays = [c for c in prt.columns if c.startswith("protein_abundance_assay")]
    expected = quantified[assays].replace("null", np.nan).astype(float).replace(0, np.nan)
    np.testing.assert_allclose(a.X, expected.to_numpy().T, rtol=1e-6)
    assert not np.isnan(a.X).all(axis=0).any()  # no all-missing duplicates
    params = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert sum(params["choices"]["skipped_rows"]["value"].values()) == len(prt) - len(quantified)
    group = quantified[quantified["ambiguity_members"].str.contains(",")].iloc[0]
    assert a.var.loc[group["accession"], "protein_ids"] == group["ambiguity_members"].replace(
        ",", ";"
    )


def test_contaminant_and_decoy_prefixes(tmp_path, sim):
    path = tmp_path / "quantms.mzTab"
    kom.datasets.write_mztab(sim, path)
    a = kom.io.read(path)
    assert a.var.loc["sp|CONTAMINANT_P02769|ALBU_BOVIN", "is_contaminant"]
    decoys = [v for v in a.var_names if v.startswith("DECOY_")]
    assert decoys == ["DECOY_" + a.var_names[0]]
    assert a.var.loc[decoys, "is_decoy"].all()
    assert a.var["is_contaminant"].sum() == 1
    assert a.var["is_decoy"].sum() == 1
    kept = kom.pp.remove_flagged(a, copy=True)
    assert kept.n_vars == a.n_vars - 2


def test_fractions_merged_into_one_sample_name(tmp_path, sim):
    path = tmp_path / "fractions.mzTab"
    layout = kom.datasets.write_mztab(sim, path, fractions=2)
    text = path.read_text()
    assert "assay[1]-ms_run_ref\tms_run[1],ms_run[7]" in text
    assert "control_01_F2.mzML" in text
    a = kom.io.read(path)
    assert list(a.obs_names) == list(sim.obs_names)  # control_01_F1 + control_01_F2 -> control_01
    assert list(layout.index) == list(a.obs_names)
    assert a.obs.loc["control_01", "data_file"] == "control_01_F1.mzML;control_01_F2.mzML"
    params = json.loads(a.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])
    assert params["choices"]["fractions_merged"]["value"]["control_01"] == [
        "control_01_F1",
        "control_01_F2",
    ]


def test_sample_names_from_informative_study_variables(tmp_path, sim):
    named = tmp_path / "named.mzTab"
    kom.datasets.write_mztab(sim, named, study_variables="samples")
    text = named.read_text()
    # rename the runs so that only the study variables carry the sample names
    for k, s in enumerate(sim.obs_names, start=1):
        text = text.replace(f"/{s}.mzML", f"/run{k:02d}.mzML")
    named.write_text(text)
    a = kom.io.read(named)
    assert list(a.obs_names) == list(sim.obs_names)
    assert a.obs["data_file"].iloc[0] == "run01.mzML"
    # 'no description given' (OpenMS without a design) names nothing: the runs do
    generic = tmp_path / "generic.mzTab"
    kom.datasets.write_mztab(sim, generic, study_variables="generic")
    g = kom.io.read(generic)
    assert list(g.obs_names) == list(sim.obs_names)
    assert set(g.obs["study_variable"]) == {"no description given"}
    # study variables that group assays are the grouping, not names
    phases = tmp_path / "phases.mzTab"
    kom.datasets.write_mztab(sim, phases, study_variables="phases")
    p = kom.io.read(phases)
    assert list(p.obs_names) == list(sim.obs_names)
    assert p.obs["study_variable"].tolist() == [str(x) for x in sim.obs["phase"]]


def test_tmt_assays_one_sample_per_reagent_and_sdrf(tmp_path, sim):
    path = tmp_path / "tmt.mzTab"
    layout = kom.datasets.write_mztab(sim, path, labels="tmt10")
    text = path.read_text()
    assert "assay[2]-quantification_reagent\t[, , TMT reagent 127N, ]" in text
    a = kom.io.read(path)
    assert list(a.obs_names) == list(layout.index)
    assert list(a.obs_names[:3]) == ["tmt_plex1_TMT126", "tmt_plex1_TMT127N", "tmt_plex1_TMT127C"]
    assert a.obs["label"].tolist()[:2] == ["TMT126", "TMT127N"]
    assert set(a.obs["plex"]) == {"tmt_plex1"}
    prt = _prt(path)
    quantified = prt[prt["opt_global_result_type"] != "protein_details"]
    expected = quantified["protein_abundance_assay[3]"].replace("null", np.nan).astype(float)
    np.testing.assert_allclose(a["tmt_plex1_TMT127C"].X.ravel(), expected.to_numpy(), rtol=1e-6)
    # an SDRF of the plex; its label spelled differently still pairs by data file and label
    header = [
        "source name", "characteristics[organism]", "assay name", "technology type",
        "comment[data file]", "comment[label]", "factor value[phase]",
    ]  # fmt: skip
    rows = [
        [s, "Rattus norvegicus", "run1", "proteomic profiling by mass spectrometry",
         "tmt_plex1.raw", lab.lower(), str(sim.obs.loc[s, "phase"])]
        for s, lab in zip(layout["sample"], layout["label"], strict=True)
    ]  # fmt: skip
    sdrf = tmp_path / "tmt.sdrf.tsv"
    sdrf.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    b = kom.io.read(path, sdrf)
    assert list(b.obs_names) == [f"tmt_plex1_{lab.lower()}" for lab in layout["label"]]
    assert b.obs["run"].tolist() == list(a.obs_names)
    np.testing.assert_array_equal(b.X, a.X)
    assert b.obs["phase"].tolist() == [str(p) for p in sim.obs["phase"]]


def test_reagent_labels_of_the_specification():
    from kratom_omics.io._mztab import _reagent_label

    assert _reagent_label("[PRIDE, PRIDE:0000114, iTRAQ reagent 114, subsample1]") == "ITRAQ114"
    assert _reagent_label("[PRIDE, PRIDE:0000115, iTRAQ reagent, 115]") == "ITRAQ115"
    assert _reagent_label("[PRIDE, PRIDE:0000285, TMT reagent 126, ]") == "TMT126"
    assert _reagent_label("[, , TMT reagent 131C, ]") == "TMT131C"
    assert _reagent_label("[MS, MS:1002038, unlabeled sample, ]") is None
    assert _reagent_label("[MS, MS:1002038, SILAC heavy, ]") is None


def test_study_variable_columns_when_no_assay_columns(tmp_path):
    lines = (DATA / "quant.mzTab").read_text().splitlines()
    header = next(ln for ln in lines if ln.startswith("PRH")).split("\t")
    keep = [i for i, c in enumerate(header) if not c.startswith("protein_abundance_assay")]
    out = [
        "\t".join(ln.split("\t")[i] for i in keep if i < len(ln.split("\t")))
        if ln.startswith(("PRH", "PRT"))
        else ln
        for ln in lines
    ]
    path = tmp_path / "sv.mzTab"
    path.write_text("\n".join(out) + "\n")
    a = kom.io.read_mztab(path)
    assert list(a.obs_names) == ["control", "withdrawal"]
    prt = _prt(DATA / "quant.mzTab")
    expected = prt["protein_abundance_study_variable[1]"].replace("null", np.nan).astype(float)
    np.testing.assert_allclose(a["control"].X.ravel(), expected.replace(0, np.nan))


def test_writer_output_agrees_with_pyteomics(tmp_path, sim):
    mztab = pytest.importorskip("pyteomics.mztab")
    path = tmp_path / "openms.mzTab"
    kom.datasets.write_mztab(sim, path, fractions=2)
    table = mztab.MzTab(str(path)).protein_table
    table = table[table["opt_global_result_type"] != "protein_details"]
    cols = [c for c in table.columns if c.startswith("protein_abundance_assay")]
    expected = table[cols].astype(float)
    a = kom.io.read_mztab(path)
    assert list(a.var_names) == list(table.index)
    np.testing.assert_allclose(a.X, expected.mask(expected == 0).to_numpy().T, rtol=1e-12)
