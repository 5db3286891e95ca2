"""AlphaPept results_proteins.csv and AlphaDIA pg.matrix.tsv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
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


# AlphaDIA files written by kom.datasets --------------------------------------------------------
@pytest.fixture(scope="module")
def study():
    return kom.datasets.simulate("protein", seed=9, n_features=20, n_per_phase=2)


def _params(adata):
    return json.loads(adata.uns["kratom_omics"]["provenance"]["step_000"]["parameters"])


@pytest.mark.parametrize(("name", "version"), [("pg.matrix.parquet", "2"), ("pg.matrix.tsv", "1")])
def test_alphadia_pg_matrix_parquet_and_tsv(study, tmp_path, name, version):
    path = kom.datasets.write_alphadia(study, tmp_path / name, version=version)
    raw = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path, sep="\t")
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format"] == "alphadia"
    assert a.uns["kratom_omics"]["format_kind"] == "pg_matrix"
    assert list(a.obs_names) == list(raw.columns[1:])
    np.testing.assert_array_equal(a.X, raw.iloc[:, 1:].to_numpy(dtype=float).T)
    assert list(a.var["protein_group"]) == list(raw.iloc[:, 0])


def test_alphadia_2_precursors_read_pg_intensity(study, tmp_path):
    path = kom.datasets.write_alphadia(study, tmp_path / "precursors.parquet", kind="precursors")
    raw = pd.read_parquet(path)
    a = kom.io.read(path)
    assert a.uns["kratom_omics"]["format_kind"] == "precursors"
    expected = raw.drop_duplicates(["raw.name", "pg.name"]).pivot(
        index="raw.name", columns="pg.name", values="pg.intensity"
    )
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    np.testing.assert_array_equal(got.loc[expected.index, expected.columns], expected)
    peptides = raw.groupby("pg.name")["precursor.sequence"].nunique()
    np.testing.assert_array_equal(a.var["n_peptides"], peptides.loc[a.var["protein_group"]])
    genes = raw.drop_duplicates("pg.name").set_index("pg.name")["pg.genes"]
    assert a.var["gene"].tolist() == genes.loc[a.var["protein_group"]].tolist()
    assert _params(a)["quantity"] == "pg.intensity"


def test_alphadia_1_precursors_combined_with_maxlfq(study, tmp_path, caplog):
    path = kom.datasets.write_alphadia(
        study, tmp_path / "precursors.tsv", kind="precursors", version="1"
    )
    raw = pd.read_csv(path, sep="\t")
    assert {"run", "pg", "pg_qval", "intensity"} <= set(raw.columns)
    with caplog.at_level("INFO", logger="kratom_omics"):
        a = kom.io.read(path)
    assert "AlphaDIA's own protein quantities are in pg.matrix.tsv" in caplog.text
    seen = raw.groupby(["run", "pg"]).size().unstack()
    got = pd.DataFrame(a.X, index=a.obs_names, columns=a.var["protein_group"])
    assert (got.notna() == seen.loc[got.index, got.columns].notna()).all().all()
    one = raw.groupby("pg").filter(lambda g: g["mod_seq_charge_hash"].nunique() == 1)
    single = one.pivot(index="run", columns="pg", values="intensity")
    np.testing.assert_array_equal(got.loc[single.index, single.columns], single)


def test_alphadia_precursors_decoys_and_channels(study, tmp_path):
    path = kom.datasets.write_alphadia(
        study, tmp_path / "precursors.tsv", kind="precursors", version="1"
    )
    raw = pd.read_csv(path, sep="\t")
    raw.loc[raw.index[:5], "decoy"] = 1
    raw.to_csv(path, sep="\t", index=False)
    a = kom.io.read(path)
    assert _params(a)["choices"]["decoys"]["value"] == 5
    raw.loc[raw.index[::2], "channel"] = 4
    raw.to_csv(path, sep="\t", index=False)
    with pytest.raises(
        InputFormatError, match=r"multiplexed AlphaDIA search with channels \['0', '4'\]"
    ):
        kom.io.read(path)


def test_alphadia_wrong_table_is_refused(tmp_path):
    path = tmp_path / "pg.matrix.tsv"
    path.write_text("protein\tA\tB\nQ5U316\t1\t2\n")
    with pytest.raises(
        InputFormatError, match="not an AlphaDIA table: the first column is 'protein'"
    ):
        kom.io.read_alphadia(path)
