"""FragPipe combined_protein.tsv: MaxLFQ vs Intensity vs spectral counts, contaminants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
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


# files written by kom.datasets ---------------------------------------------------------------
REAL = Path(__file__).parents[2] / ".." / "shared" / "realdata"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata is absent")


@pytest.fixture(scope="module")
def study():
    return kom.datasets.simulate("protein", seed=6, n_features=20, n_per_phase=2)


def _params(adata):
    return json.loads(adata.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])


def test_written_current_layout_reads_maxlfq_and_peptides(study, tmp_path):
    path = kom.datasets.write_fragpipe(study, tmp_path / "combined_protein.tsv")
    raw = pd.read_csv(path, sep="\t")
    a = kom.io.read(path)
    assert list(a.obs_names) == list(study.obs_names)
    cols = [f"{s} MaxLFQ Intensity" for s in study.obs_names]
    np.testing.assert_array_equal(a.X, raw[cols].replace(0, np.nan).to_numpy().T)
    np.testing.assert_array_equal(a.var["n_peptides"], raw["Combined Total Peptides"])
    assert a.var["is_contaminant"].tolist()[-1]  # contam_sp|P00761|TRYP_PIG


def test_fallback_to_intensity_without_maxlfq_is_logged(study, tmp_path, caplog):
    path = kom.datasets.write_fragpipe(study, tmp_path / "combined_protein.tsv", maxlfq=False)
    raw = pd.read_csv(path, sep="\t")
    with caplog.at_level("WARNING", logger="kratom_omics"):
        a = kom.io.read_fragpipe(path)
    assert (
        "no '<sample> MaxLFQ Intensity' columns: '<sample> Intensity' read instead" in caplog.text
    )
    cols = [f"{s} Intensity" for s in study.obs_names]
    np.testing.assert_array_equal(a.X, raw[cols].replace(0, np.nan).to_numpy().T)
    assert _params(a)["quantity"] == "intensity"
    assert _params(a)["choices"]["quantity"]["value"] == "intensity"


def test_philosopher_layout_one_sample_per_sample_genes_kept(study, tmp_path):
    path = kom.datasets.write_fragpipe(
        study, tmp_path / "combined_protein.tsv", layout="philosopher"
    )
    raw = pd.read_csv(path, sep="\t")
    assert "Protein" not in raw  # the older layout has 'Protein Group' instead
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format_kind"] == "philosopher"
    assert list(a.obs_names) == list(study.obs_names)  # not tripled into Total/Unique/Razor
    cols = [f"{s} Razor Intensity" for s in study.obs_names]
    np.testing.assert_array_equal(a.X, raw[cols].replace(0, np.nan).to_numpy().T)
    assert a.var["gene"].tolist() == raw["Gene Names"].tolist()
    np.testing.assert_array_equal(a.var["n_peptides"], raw["Unique Stripped Peptides"])
    assert _params(a)["layout"] == "philosopher"
    total = kom.io.read_fragpipe(path, quantity="total")
    cols = [f"{s} Total Intensity" for s in study.obs_names]
    np.testing.assert_array_equal(total.X, raw[cols].replace(0, np.nan).to_numpy().T)
    with pytest.raises(InputFormatError, match=r"no '<sample> MaxLFQ Intensity' columns"):
        kom.io.read_fragpipe(path, quantity="lfq")


@needs_real
def test_real_combined_protein_values_and_peptides():
    path = REAL / "einprot" / "combined_protein.tsv"
    raw = pd.read_csv(path, sep="\t")
    cols = [c for c in raw.columns if c.endswith(" MaxLFQ Intensity")]
    a = kom.io.read(path)
    assert list(a.obs_names) == [c.removesuffix(" MaxLFQ Intensity") for c in cols]
    np.testing.assert_array_equal(a.X, raw[cols].replace(0, np.nan).to_numpy().T)
    np.testing.assert_array_equal(a.var["n_peptides"], raw["Combined Total Peptides"])
    named = raw["Gene"].notna().to_numpy()
    assert a.var["gene"].to_numpy()[named].tolist() == raw["Gene"][named].tolist()


@needs_real
def test_real_msstats_csv_is_refused_naming_the_protein_table():
    with pytest.raises(InputFormatError, match=r"MSstats input table .*combined_protein\.tsv"):
        kom.io.read(REAL / "MSstatsConvert" / "fragpipe_input.csv")


@needs_real
def test_real_header_text_in_protein_id_gives_its_first_word():
    a = kom.io.read(REAL / "einprot" / "combined_protein.tsv")
    assert a.var_names[0] == "contam_A2I7N1"
    assert a.var["entry_name"].iloc[0] == "contam_A2I7N1 TREMBL:A2I7N1 (Bos taurus) SERPINA3-5"
    assert bool(a.var["is_contaminant"].iloc[0])
    assert not any(" " in v for v in a.var_names)
