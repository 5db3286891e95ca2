"""FragPipe combined_protein.tsv: MaxLFQ vs Intensity vs spectral counts, contaminants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

DATA = Path(__file__).parent.parent / "data" / "proteomics"
PATH = DATA / "combined_protein.tsv"


def test_maxlfq_default():
    a = kom.io.read_fragpipe(PATH)
    assert list(a.obs_names) == [
        "CTRL_1",
        "USE_1",
        "WD_1",
    ]  # not 'CTRL_1 MaxLFQ' or 'CTRL_1 Unique'
    assert list(a.var_names) == ["Q5U316", "Q6P6W3", "P00761"]
    np.testing.assert_array_equal(a[:, "Q5U316"].X.ravel(), [1.0e8, 1.5e8, 3.1e8])
    assert np.isnan(a["USE_1", "Q6P6W3"].X[0, 0])
    var = a.var
    assert var["is_contaminant"].tolist() == [False, False, True]  # contam_ prefix
    assert var.loc["Q5U316", "protein_ids"] == "Q5U316;Q6NYB7"  # with indistinguishable proteins
    assert var.loc["Q5U316", "gene"] == "Rab35"
    assert var["n_peptides"].tolist() == [9, 6, 5]
    assert var.loc["P00761", "gene"] == "P00761"


@pytest.mark.parametrize(("quantity", "expected"), [("intensity", 2.2e8), ("maxlfq", 1.0e8)])
def test_quantity(quantity, expected):
    a = kom.io.read_fragpipe(PATH, quantity=quantity)
    assert a["CTRL_1", "Q5U316"].X[0, 0] == pytest.approx(expected)


def test_missing_quantity_lists_available():
    with pytest.raises(
        InputFormatError,
        match=r"no '<sample> Razor Intensity' columns.*\['maxlfq', 'intensity', 'unique', 'total', "
        r"'maxlfq_unique', 'maxlfq_total'\]",
    ):
        kom.io.read_fragpipe(PATH, quantity="razor")


def test_auto_detection():
    a = kom.io.read_proteomics(PATH, quantity="intensity")
    assert a["WD_1", "Q6P6W3"].X[0, 0] == pytest.approx(9.6e7)
