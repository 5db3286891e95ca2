"""AlphaPept results_proteins.csv and AlphaDIA pg.matrix.tsv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parent.parent / "data" / "proteomics"


def test_alphapept_lfq_and_intensity():
    a = kom.io.read_proteomics(DATA / "results_proteins.csv")
    assert list(a.obs_names) == ["CTRL_1", "WD_1"]
    assert list(a.var_names) == ["Q5U316", "Q6P6W3", "REV__Q5U317"]
    np.testing.assert_array_equal(a[:, "Q5U316"].X.ravel(), [1.0e8, 3.1e8])
    assert a.var.loc["Q5U316", "protein_ids"] == "Q5U316;Q6NYB7"
    assert a.var.loc["Q5U316", "protein_group"] == "sp|Q5U316|RAB35_RAT,sp|Q6NYB7|RAB1A_RAT"
    assert a.var["is_decoy"].tolist() == [False, False, True]
    assert np.isnan(a[:, "REV__Q5U317"].X).all()
    raw = kom.io.read_alphapept(DATA / "results_proteins.csv", quantity="intensity")
    np.testing.assert_array_equal(raw[:, "Q5U316"].X.ravel(), [2.2e8, 4.1e8])
    assert raw["CTRL_1", "REV__Q5U317"].X[0, 0] == 1.2e6


def test_alphapept_wrong_file():
    with pytest.raises(InputFormatError, match="not an AlphaPept protein table: no '<sample>_LFQ'"):
        kom.io.read_alphapept(DATA / "pg.matrix.tsv")


def test_alphadia_matrix(tmp_path):
    a = kom.io.read_proteomics(DATA / "pg.matrix.tsv")
    assert list(a.obs_names) == ["CTRL_1", "USE_1", "WD_1"]
    assert list(a.var_names) == ["Q5U316", "Q6P6W3"]
    assert a.var.loc["Q5U316", "protein_ids"] == "Q5U316;Q6NYB7"
    np.testing.assert_array_equal(a[:, "Q6P6W3"].X.ravel(), [402000.0, np.nan, 815000.75])
    # AlphaDIA 2 renamed 'pg' to 'pg.name'
    renamed = tmp_path / "pg.matrix.tsv"
    renamed.write_text((DATA / "pg.matrix.tsv").read_text().replace("pg\t", "pg.name\t", 1))
    b = kom.io.read_proteomics(renamed)
    np.testing.assert_array_equal(b.X, a.X)
