"""The committed example data are exactly what the simulator writes, and they load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kratom_omics as kom
from kratom_omics.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_data"


def test_committed_files_equal_a_fresh_regeneration(tmp_path):
    assert main(["example-data", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(kom.datasets.EXAMPLE_FILES)
    for name in written:
        assert (EXAMPLE / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"example_data/{name} differs from a regeneration; run `kratom-omics example-data example_data`"
        )


def test_workflow_sample_sheet_is_the_example_one():
    assert (ROOT / "config" / "samples.tsv").read_bytes() == (EXAMPLE / "samples.tsv").read_bytes()


@pytest.mark.parametrize(
    ("name", "n_features", "fmt"),
    [
        ("proteinGroups.txt", 511, "maxquant"),
        ("histone_ratios.xls", 49, "epiprofile"),
        ("western_blot.tsv", 6, "densitometry"),
    ],
)
def test_example_files_load_with_the_sample_sheet(name, n_features, fmt):
    adata = kom.io.read(EXAMPLE / name, EXAMPLE / "samples.tsv")
    assert adata.uns["kratom_omics"]["format"] == fmt
    assert adata.n_obs == 18
    assert adata.n_vars == n_features
    assert list(adata.obs["phase"].cat.categories) == ["control", "use", "withdrawal"]


def test_example_proteins_carry_the_planted_rab35_effect():
    adata = kom.io.read(EXAMPLE / "proteinGroups.txt", EXAMPLE / "samples.tsv")
    rab = adata[:, adata.var["gene"] == "Rab35"]
    x = np.log2(rab.X.ravel())
    ph = adata.obs["phase"].astype(str).to_numpy()
    assert x[ph == "withdrawal"].mean() - x[ph == "control"].mean() == pytest.approx(1.5, abs=0.4)
    assert adata.var["is_contaminant"].sum() == 6
    assert adata.var["is_decoy"].sum() == 5
