"""The track simulator: planted promoter losses linked to the protein simulation, written files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kratom_omics as kom
from kratom_omics.errors import InputFormatError

pyBigWig = pytest.importorskip("pyBigWig")


def test_losses_planted_where_the_protein_changes() -> None:
    sim = kom.datasets.simulate("tracks", seed=2, n_features=120, n_per_phase=3)
    protein = kom.datasets.simulate("protein", seed=2, n_features=120)
    assert sim.shape == (9, 120)
    assert sorted(sim.var["gene"]) == sorted(protein.var["gene"])
    moved = set(protein.var.loc[protein.var["true_log2fc_withdrawal_vs_control"] != 0, "gene"])
    lost = set(sim.var.loc[sim.var["true_log2fc_withdrawal_vs_control"] < 0, "gene"])
    assert lost == moved
    assert {"Rab35", "Hdac2"} <= lost
    rab = sim.var.loc["Rab35_promoter"]
    assert (rab["true_log2fc_use_vs_control"], rab["true_log2fc_withdrawal_vs_control"]) == (
        -0.5,
        -1.2,
    )
    assert rab["protein_log2fc_withdrawal_vs_control"] == 1.5
    np.testing.assert_allclose(sim.X, np.log2(sim.layers["raw"]))
    assert sim.uns["simulation"]["modality"] == "tracks"
    again = kom.datasets.simulate("tracks", seed=2, n_features=120, n_per_phase=3)
    np.testing.assert_array_equal(again.X, sim.X)


def test_written_files(tmp_path: Path) -> None:
    sim = kom.datasets.simulate_tracks(seed=1, n_features=40, n_per_phase=2)
    paths = kom.datasets.write_tracks(sim, tmp_path)
    sheet = pd.read_csv(paths["samples"], sep="\t")
    assert sheet.columns.tolist() == [
        "sample",
        "phase",
        "subject",
        "batch",
        "spikein_reads",
        "mark",
        "path",
    ]
    assert set(sheet["mark"]) == {"H3K9ac"}
    assert sheet["path"].iloc[0] == f"tracks/{sim.obs_names[0]}.bw"
    with gzip.open(paths["annotation"], "rt") as fh:
        lines = [ln.split("\t") for ln in fh if not ln.startswith("#")]
    genes = [ln for ln in lines if ln[2] == "gene"]
    assert len(genes) == 40
    rab = next(ln for ln in genes if 'gene_name "Rab35"' in ln[8])
    row = sim.var.loc["Rab35_promoter"]
    assert (rab[0], int(rab[3]) - 1, int(rab[4])) == (
        row["chrom"],
        row["gene_start"],
        row["gene_end"],
    )
    # the mean signal over each promoter in the bigWig is the simulated value (pyBigWig's own
    # exact mean, with the bigWig's UCSC chromosome names)
    bw = pyBigWig.open(str(paths["tracks"][1]))
    assert "chr1" in bw.chroms()
    assert "chrM" in bw.chroms()
    got = [
        bw.stats(f"chr{c}", int(s), int(e), type="mean", exact=True)[0]
        for c, s, e in sim.var[["chrom", "start", "end"]].itertuples(index=False)
    ]
    bw.close()
    np.testing.assert_allclose(got, sim.layers["raw"][1], rtol=1e-6)
    # and the loader reads the same from the sheet and the Ensembl-named GTF
    a = kom.io.read_bigwig(paths["samples"], paths["annotation"], progress=False)
    assert list(a.var_names) == list(sim.var_names)
    np.testing.assert_allclose(a.X, sim.layers["raw"], rtol=1e-6)
    # the sheet's mark column says what the tracks hold, as the simulation does
    assert a.uns["tracks"]["mark"] == sim.uns["tracks"]["mark"] == "H3K9ac"
    assert a.uns["tracks"]["region_type"] == "promoter"
    with pytest.raises(InputFormatError, match="not a track simulation"):
        kom.datasets.write_tracks(kom.datasets.simulate("protein", n_features=10), tmp_path)
