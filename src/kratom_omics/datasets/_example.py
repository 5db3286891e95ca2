"""The example data set: one simulated study written in real tool formats."""

from __future__ import annotations

import os
from pathlib import Path

from ._simulate import simulate
from ._writers import write_maxquant, write_samples
from ._writers_histone import write_densitometry, write_epiprofile

__all__ = ["EXAMPLE_FILES", "write_example_data"]

#: Files of the example data set and what writes them.
EXAMPLE_FILES = {
    "samples.tsv": "sample sheet (phase, subject, batch)",
    "proteinGroups.txt": "MaxQuant protein groups (LFQ intensity, iBAQ, contaminants, reverse hits)",
    "histone_ratios.xls": "EpiProfile 2.0 histone peptidoform ratios, areas and retention times",
    "western_blot.tsv": "western-blot densitometry with loading controls",
}


def write_example_data(
    out: str | os.PathLike, *, seed: int = 0, n_features: int = 500, n_per_phase: int = 6
) -> list[Path]:
    """Simulate one withdrawal study (proteomics and histone marks on the same animals) and write it in
    the formats of MaxQuant, EpiProfile and a densitometry table, with its sample sheet.

    The same ``seed`` always writes byte-identical files.

    Parameters
    ----------
    out
        Directory to write into (created if needed).
    seed
        Seed of the simulation.
    n_features, n_per_phase
        Size of the simulated proteomics study.

    Returns
    -------
    The paths written, in the order of :data:`EXAMPLE_FILES`.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    protein = simulate("protein", seed=seed, n_features=n_features, n_per_phase=n_per_phase)
    histone = simulate("histone", seed=seed + 1, n_per_phase=n_per_phase)
    written = [out / "samples.tsv", out / "proteinGroups.txt"]
    write_samples(protein, written[0])
    write_maxquant(protein, written[1], seed=seed)
    write_epiprofile(histone, out / "histone_ratios.xls")
    western = simulate("histone", assay="western", seed=seed + 2, n_per_phase=n_per_phase)
    write_densitometry(western, out / "western_blot.tsv")
    written += [out / "histone_ratios.xls", out / "western_blot.tsv"]
    return written
