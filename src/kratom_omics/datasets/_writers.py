"""Write simulated data in the formats real tools produce (the project's example data)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._files import atomic_write_text
from ..errors import InputFormatError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["write_diann", "write_maxquant", "write_samples"]

# A few contaminants as MaxQuant's contaminants.fasta names them (accession, gene, protein name).
_CONTAMINANTS = (
    ("P02769", "ALB", "Serum albumin"),
    ("P00761", "", "Trypsin"),
    ("P35908", "KRT2", "Keratin, type II cytoskeletal 2 epidermal"),
    ("P13645", "KRT10", "Keratin, type I cytoskeletal 10"),
    ("P04264", "KRT1", "Keratin, type II cytoskeletal 1"),
    ("Q04695", "KRT17", "Keratin, type I cytoskeletal 17"),
)


_PROTEIN_NAMES = {"Rab35": "Ras-related protein Rab-35", "Hdac2": "Histone deacetylase 2"}


def _fasta_header(ids: str, gene: str, name: str) -> str:
    first = ids.split(";")[0]
    if first.startswith(("CON__", "REV__")):
        return "" if first.startswith("REV__") else first.removeprefix("CON__")
    entry = f"{gene.upper()}_RAT" if gene else f"{first}_RAT"
    gn = f" GN={gene}" if gene else ""
    return (
        f">tr|{first}|{entry} {name or 'Uncharacterized protein'} OS=Rattus norvegicus OX=10116{gn}"
    )


def write_samples(adata: AnnData, path: str | os.PathLike) -> None:
    """Write ``adata.obs`` as a tab-separated sample sheet.

    Parameters
    ----------
    adata
        Data whose ``.obs`` holds ``phase`` and optionally ``subject``, ``batch``, ``timepoint``, ...
    path
        Output file.

    Returns
    -------
    None; writes ``path`` (columns ``sample``, ``phase``, then the optional standard columns).
    """
    cols = [
        c for c in ("phase", "subject", "batch", "timepoint", "region", "sex") if c in adata.obs
    ]
    sheet = adata.obs[cols].copy()
    sheet.insert(0, "sample", adata.obs_names)
    atomic_write_text(
        sheet.to_csv(sep="\t", index=False, lineterminator="\n", na_rep=""), Path(path)
    )


def write_maxquant(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    seed: int = 0,
    quantities: Sequence[str] = ("intensity", "ibaq", "lfq"),
    majority: bool = True,
    r_names: bool = False,
) -> None:
    """Write a simulated protein AnnData as a MaxQuant ``proteinGroups.txt``.

    ``LFQ intensity <sample>`` holds ``layers["raw"]``; ``Intensity <sample>`` is the same before LFQ's
    per-sample normalisation (a sample loading factor) and ``iBAQ <sample>`` divides it by the number of
    theoretically observable peptides. Missing values are written as 0, as MaxQuant does. Contaminant
    (``CON__``) and reverse-decoy (``REV__``) rows, a few proteins only identified by site and a few protein
    groups without gene names are added, with MaxQuant's ``+`` flags.

    Parameters
    ----------
    adata
        A protein simulation (``.layers["raw"]`` intensities, ``.var`` with ``gene`` and ``protein_ids``).
    path
        Output file, conventionally ``proteinGroups.txt``.
    seed
        Seed of the extra rows and flags.
    quantities
        The per-sample columns written, of ``"intensity"``, ``"ibaq"`` and ``"lfq"`` (a run
        without LFQ has ``Intensity <sample>`` only; a table without iBAQ lacks those).
    majority
        Write ``Majority protein IDs`` (some exports and older versions lack it).
    r_names
        Write the header as R names it after ``read.delim`` (``Protein.IDs``,
        ``LFQ.intensity.CTRL_1``, ``Razor...unique.peptides``); with
        :func:`~kratom_omics.datasets.resave` (``sep=","``) this is an R-saved CSV.

    Returns
    -------
    None; writes ``path`` atomically.
    """
    unknown = sorted(set(quantities) - {"intensity", "ibaq", "lfq"})
    if unknown:
        raise InputFormatError(
            f"quantities={list(quantities)}; {unknown} are not MaxQuant quantities (intensity, "
            "ibaq, lfq)."
        )
    rng = np.random.default_rng(seed)
    lfq = np.nan_to_num(
        np.asarray(adata.layers["raw"], dtype=float).T, nan=0.0
    )  # features x samples
    samples = list(adata.obs_names)
    n, m = lfq.shape
    genes = adata.var["gene"].astype(str).to_numpy().copy()
    acc = adata.var["protein_ids"].astype(str).to_numpy()
    # groups: every 25th protein shares its group with a second accession of a paralog-like entry
    second = [
        f"{a};{b}" if i % 25 == 7 else a
        for i, (a, b) in enumerate(zip(acc, np.roll(acc, 1), strict=True))
    ]
    no_gene = np.zeros(n, dtype=bool)
    no_gene[
        rng.choice(
            np.flatnonzero(adata.var.get("marker", pd.Series("", index=adata.var_names)) == ""),
            size=max(1, n // 100),
            replace=False,
        )
    ] = True
    genes[no_gene] = ""
    only_site = np.zeros(n, dtype=bool)
    only_site[
        rng.choice(
            np.flatnonzero(~no_gene & (lfq.sum(axis=1) > 0)), size=max(1, n // 150), replace=False
        )
    ] = True

    n_con = len(_CONTAMINANTS)
    n_rev = max(2, n // 100)
    extra = n_con + n_rev
    level = np.nanmedian(np.where(lfq > 0, lfq, np.nan))
    extra_lfq = np.where(
        rng.random((extra, m)) < 0.3,
        0.0,
        level * 2.0 ** rng.normal(-2.0, 1.5, (extra, 1)) * 2.0 ** rng.normal(0, 0.3, (extra, m)),
    )
    lfq_all = np.vstack([lfq, extra_lfq])
    ids = (
        second
        + [f"CON__{a}" for a, _, _ in _CONTAMINANTS]
        + [f"REV__{a}" for a in rng.choice(acc, n_rev, replace=False)]
    )
    gene_col = list(genes) + [g for _, g, _ in _CONTAMINANTS] + [""] * n_rev
    names = (
        [_PROTEIN_NAMES.get(g, "") for g in genes] + [p for _, _, p in _CONTAMINANTS] + [""] * n_rev
    )
    total = n + extra
    loading = 2.0 ** rng.normal(0.0, 0.25, m)
    intensity = np.round(lfq_all * loading)
    n_theo = rng.integers(8, 60, total)
    ibaq = np.round(intensity / n_theo[:, None])
    peptides = np.where(lfq_all.max(axis=1) > 0, rng.integers(1, 40, total), 1)
    razor = np.maximum(1, peptides - rng.integers(0, 3, total))
    unique = np.maximum(1, razor - rng.integers(0, 2, total))

    def plus(mask: np.ndarray) -> list[str]:
        return ["+" if v else "" for v in mask]

    is_con = np.r_[np.zeros(n, bool), np.ones(n_con, bool), np.zeros(n_rev, bool)]
    is_rev = np.r_[np.zeros(n + n_con, bool), np.ones(n_rev, bool)]
    cols: dict[str, object] = {
        "Protein IDs": ids,
        "Majority protein IDs": ids,
        "Peptide counts (all)": [
            ";".join([str(p)] * len(i.split(";"))) for p, i in zip(peptides, ids, strict=True)
        ],
        "Peptide counts (razor+unique)": [str(p) for p in razor],
        "Peptide counts (unique)": [str(p) for p in unique],
        "Protein names": names,
        "Gene names": gene_col,
        "Fasta headers": [
            _fasta_header(i, g, p) for i, g, p in zip(ids, gene_col, names, strict=True)
        ],
        "Number of proteins": [len(i.split(";")) for i in ids],
        "Peptides": peptides,
        "Razor + unique peptides": razor,
        "Unique peptides": unique,
        "Sequence coverage [%]": np.round(rng.uniform(2, 60, total), 1),
        "Mol. weight [kDa]": np.round(rng.uniform(10, 250, total), 3),
        "Q-value": np.round(rng.uniform(0, 0.005, total), 6),
        "Score": np.round(rng.uniform(5, 323, total), 3),
        "Intensity": intensity.sum(axis=1).astype(np.int64),
    }
    if "intensity" in quantities:
        for j, s in enumerate(samples):
            cols[f"Intensity {s}"] = intensity[:, j].astype(np.int64)
    if "ibaq" in quantities:
        cols["iBAQ"] = ibaq.sum(axis=1).astype(np.int64)
        for j, s in enumerate(samples):
            cols[f"iBAQ {s}"] = ibaq[:, j].astype(np.int64)
    if "lfq" in quantities:
        for j, s in enumerate(samples):
            cols[f"LFQ intensity {s}"] = np.round(lfq_all[:, j]).astype(np.int64)
    cols["MS/MS count"] = peptides * 3
    cols["Only identified by site"] = plus(np.r_[only_site, np.zeros(extra, bool)])
    cols["Reverse"] = plus(is_rev)
    cols["Potential contaminant"] = plus(is_con)
    cols["id"] = np.arange(total)
    if not majority:
        del cols["Majority protein IDs"]
    table = pd.DataFrame(cols)
    if r_names:
        table.columns = [re.sub(r"[^0-9A-Za-z._]", ".", c) for c in table.columns]
    atomic_write_text(table.to_csv(sep="\t", index=False, lineterminator="\n"), Path(path))


def write_diann(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    run_dir: str = "D:\\Data\\kratom",
    version: str = "1.8",
    seed: int = 0,
) -> None:
    """Write a simulated protein AnnData as a DIA-NN ``report.pg_matrix.tsv``.

    DIA-NN 1.8 layout: the annotation columns ``Protein.Group``, ``Protein.Ids``,
    ``Protein.Names``, ``Genes`` and ``First.Protein.Description`` are followed by one column per
    run, named by the run's raw-file path as DIA-NN writes it (``<run_dir>\\<sample>.raw``);
    missing values are empty cells and intensities are written with two decimals. DIA-NN 2.x
    layout (``version="2.x"``): no ``Protein.Ids``; ``N.Sequences`` and
    ``N.Proteotypic.Sequences`` (the planted peptide counts of
    :func:`kratom_omics.datasets.write_diann_precursors` with the same ``seed``) before the runs.
    The precursor matrix and the main report are written by
    :func:`kratom_omics.datasets.write_diann_precursors`.

    Parameters
    ----------
    adata
        A protein simulation (``.layers["raw"]`` intensities, ``.var`` with ``gene`` and
        ``protein_ids``).
    path
        Output file, conventionally ``report.pg_matrix.tsv``.
    run_dir
        Folder of the raw files in the run columns' names.
    version
        ``"1.8"`` or ``"2.x"``.
    seed
        ``version="2.x"``: seed of the planted peptides counted in ``N.Sequences``.

    Returns
    -------
    None; writes ``path`` atomically.
    """
    raw = np.asarray(adata.layers["raw"], dtype=float).T  # features x samples
    acc = adata.var["protein_ids"].astype(str).to_numpy()
    genes = adata.var["gene"].astype(str).to_numpy()
    cols: dict[str, object] = {
        "Protein.Group": acc,
        "Protein.Ids": acc,
        "Protein.Names": [f"{g.upper()}_RAT" for g in genes],
        "Genes": genes,
        "First.Protein.Description": [_PROTEIN_NAMES.get(g, "") for g in genes],
    }
    if version == "2.x":
        from ._writers_proteomics import _plant

        del cols["Protein.Ids"]
        n_seq = _plant(adata, seed).catalogue.groupby("protein")["sequence"].nunique()
        cols["N.Sequences"] = n_seq.reindex(range(len(acc))).fillna(0).astype(int).to_numpy()
        cols["N.Proteotypic.Sequences"] = cols["N.Sequences"]
    elif version != "1.8":
        raise InputFormatError(f"version={version!r}; expected '1.8' or '2.x'.")
    sep = "\\" if "\\" in run_dir else "/"
    runs = [f"{run_dir}{sep}{s}.raw" for s in adata.obs_names]
    values = pd.DataFrame(np.round(raw, 2), columns=runs)
    table = pd.concat([pd.DataFrame(cols), values], axis=1)
    text = table.to_csv(sep="\t", index=False, lineterminator="\n", na_rep="")
    atomic_write_text(text, Path(path))
