"""mzTab 1.0: assays -> runs and study variables, null cells, identification-only files."""

from __future__ import annotations

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
