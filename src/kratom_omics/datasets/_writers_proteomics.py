"""Write a simulated protein study as the precursor- and protein-level files of DIA tools.

The writers take a protein simulation (``kom.datasets.simulate("protein")``: ``.layers["raw"]``
intensities, ``.var`` with ``gene`` and ``protein_ids``) and write it in the real layouts of
DIA-NN (pr_matrix, main report 1.7/1.8 TSV and 2.x parquet), FragPipe (current and older
Philosopher ``combined_protein.tsv``), Spectronaut (pivot, also with R-mangled names; long reports
at protein, precursor and fragment level) and AlphaDIA (``pg.matrix`` and precursor tables of 1.x
and 2.x). Column names follow the tools' documentation and source (see the loaders' docstrings);
the values are simulated.

Precursors are planted under each protein: every protein gets 1 to 8 peptides (a few seen in two
charge states), each with its own response factor, so a precursor's quantity is the protein's
planted intensity times that factor with 10 % noise; a precursor is missing where its protein is
and, at random, in 15 % of the other runs (never all of a protein's precursors in a run). Protein
quantities the tools write (``PG.MaxLFQ``, ``PG.Quantity``, ``MaxLFQ Intensity``, ``pg.intensity``,
...) are the planted protein intensities.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._files import atomic_write_text
from ..errors import InputFormatError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["write_alphadia", "write_diann_precursors", "write_fragpipe", "write_spectronaut"]

_AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


@dataclass
class _Precursors:
    """Long table of planted precursors: one row per precursor and run where it was seen."""

    table: pd.DataFrame  # protein, precursor, sequence, modified, charge, run, value
    catalogue: pd.DataFrame  # one row per precursor (all, seen or not)
    raw: np.ndarray  # samples x proteins planted intensities (NaN missing)


def _runs(adata: AnnData) -> list[str]:
    return [str(s) for s in adata.obs_names]


def _plant(adata: AnnData, seed: int) -> _Precursors:
    rng = np.random.default_rng(seed)
    raw = np.asarray(adata.layers["raw"], dtype=np.float64)
    n_samples, n_proteins = raw.shape
    rows = []
    for p in range(n_proteins):
        n_pep = int(min(8, 1 + rng.poisson(2.0)))
        for _ in range(n_pep):
            length = int(rng.integers(7, 18))
            seq = "".join(rng.choice(_AMINO, length - 1)) + rng.choice(["K", "R"])
            modified = seq.replace("C", "C(UniMod:4)")
            charges = [2, 3] if rng.random() < 0.2 else [int(rng.choice([2, 3]))]
            for z in charges:
                rows.append((p, f"{modified}{z}", seq, modified, z, 2.0 ** rng.normal(-1.5, 1.0)))
    cat = pd.DataFrame(
        rows, columns=["protein", "precursor", "sequence", "modified", "charge", "factor"]
    )
    values = raw[:, cat["protein"].to_numpy()] * cat["factor"].to_numpy()[None, :]
    values = values * 2.0 ** rng.normal(0.0, 0.14, values.shape)  # samples x precursors
    drop = rng.random(values.shape) < 0.15
    values[drop] = np.nan
    # a protein seen in a run keeps at least one precursor there (the catalogue is by protein)
    owner = cat["protein"].to_numpy()
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    seen_any = np.add.reduceat(~np.isnan(values), starts, axis=1) > 0  # samples x proteins
    lost = ~np.isnan(raw) & ~seen_any
    s_idx, p_idx = np.nonzero(lost)
    first = starts[p_idx]
    values[s_idx, first] = raw[s_idx, p_idx] * cat["factor"].to_numpy()[first]
    runs = _runs(adata)
    seen = np.argwhere(~np.isnan(values))  # (sample, precursor)
    table = cat.iloc[seen[:, 1]].reset_index(drop=True)
    table["run"] = [runs[i] for i in seen[:, 0]]
    table["run_index"] = seen[:, 0]
    table["value"] = values[seen[:, 0], seen[:, 1]]
    table = table.sort_values(["run_index", "protein", "precursor"], kind="stable")
    per_run = pd.DataFrame({f"run{j}": values[j] for j in range(n_samples)}, index=cat.index)
    cat = pd.concat([cat, per_run], axis=1)
    return _Precursors(table.reset_index(drop=True), cat, raw)


def _ids(adata: AnnData) -> tuple[np.ndarray, np.ndarray]:
    return (
        adata.var["protein_ids"].astype(str).to_numpy(),
        adata.var["gene"].astype(str).to_numpy(),
    )


def _write_table(table: pd.DataFrame, path: Path, *, sep: str = "\t") -> None:
    if path.name.lower().endswith(".parquet"):
        tmp = path.with_name(f".{path.name}.part")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return
    atomic_write_text(table.to_csv(sep=sep, index=False, lineterminator="\n", na_rep=""), path)


# DIA-NN -----------------------------------------------------------------------------------------
def write_diann_precursors(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    kind: Literal["pr_matrix", "report"] = "report",
    version: Literal["1.7", "1.8", "2.x"] = "1.8",
    decoys: bool = False,
    run_dir: str = "D:\\Data\\kratom",
    seed: int = 0,
) -> Path:
    """Write a protein simulation as a DIA-NN precursor matrix or main report.

    Parameters
    ----------
    adata
        A protein simulation (see the module docstring).
    path
        Output file: ``report.pr_matrix.tsv``; ``report.tsv`` (1.7/1.8) or ``report.parquet``
        (2.x; the suffix decides).
    kind
        ``"pr_matrix"``: ``Protein.Group``, ``Protein.Ids``, ``Protein.Names``, ``Genes``,
        ``First.Protein.Description``, ``Proteotypic``, ``Stripped.Sequence``,
        ``Modified.Sequence``, ``Precursor.Charge``, ``Precursor.Id`` then one column per run
        (named by its raw-file path) of ``Precursor.Normalised`` quantities, empty when missing.
        ``"report"``: one row per precursor and run seen.
    version
        ``"1.8"``: the 1.8 report columns (``File.Name``, ``Run``, ..., ``PG.Quantity``,
        ``PG.Normalised``, ``PG.MaxLFQ``, ``Q.Value``, ``PG.Q.Value``, ...); ``"1.7"``: the same
        without the MaxLFQ columns; ``"2.x"``: the 2.x parquet columns (``Run.Index``, ``Run``,
        ``Channel`` (empty: label-free), ``Precursor.Lib.Index``, ``Decoy``, ``PG.TopN``,
        ``PG.MaxLFQ``, ``Lib.PG.Q.Value``, ``Global.PG.Q.Value``; no ``File.Name``,
        ``PG.Quantity``, ``PG.Normalised``).
    decoys
        2.x only: add decoy rows (``Decoy`` = 1, as ``--report-decoys`` writes them) in runs
        where their protein group was not seen, with passing q-values.
    run_dir
        Folder of the raw files in ``File.Name`` and the pr_matrix run columns.
    seed
        Seed of the planted precursors and q-values.

    Returns
    -------
    The path written. About 5 % of precursor rows get ``Q.Value`` above 0.01 and 4 % of protein
    group/run pairs ``PG.Q.Value`` 0.02, so the loaders' filters have rows to remove.
    """
    out = Path(path)
    pre = _plant(adata, seed)
    rng = np.random.default_rng(seed + 1)
    ids, genes = _ids(adata)
    runs = _runs(adata)
    sep = "\\" if "\\" in run_dir else "/"
    files = [f"{run_dir}{sep}{r}.raw" for r in runs]
    names = np.array([f"{g.upper()}_RAT" for g in genes])
    if kind == "pr_matrix":
        cat = pre.catalogue
        p = cat["protein"].to_numpy()
        table = pd.DataFrame(
            {
                "Protein.Group": ids[p],
                "Protein.Ids": ids[p],
                "Protein.Names": names[p],
                "Genes": genes[p],
                "First.Protein.Description": "",
                "Proteotypic": 1,
                "Stripped.Sequence": cat["sequence"],
                "Modified.Sequence": cat["modified"],
                "Precursor.Charge": cat["charge"],
                "Precursor.Id": cat["precursor"],
            }
        )
        runs_table = pd.DataFrame({f: cat[f"run{j}"].round(1) for j, f in enumerate(files)})
        _write_table(pd.concat([table, runs_table], axis=1), out)
        return out
    if kind != "report":
        raise InputFormatError(f"kind={kind!r}; expected 'pr_matrix' or 'report'.")
    t = pre.table
    p = t["protein"].to_numpy()
    s = t["run_index"].to_numpy()
    pg = pre.raw[s, p]
    run_factor = 2.0 ** rng.normal(0, 0.1, len(runs))
    pg_quantity = t.groupby(["run_index", "protein"])["value"].transform("sum").to_numpy()
    qv = rng.uniform(1e-5, 8e-3, len(t))
    qv[rng.random(len(t)) < 0.05] = rng.uniform(0.011, 0.05)
    pair_q = rng.uniform(1e-5, 5e-3, pre.raw.shape)
    pair_q[rng.random(pre.raw.shape) < 0.04] = 0.02
    cols: dict[str, object] = {}
    if version != "2.x":
        cols["File.Name"] = [files[i] for i in s]
    else:
        cols["Run.Index"] = s
    cols["Run"] = t["run"].to_numpy()
    if version == "2.x":
        cols["Channel"] = ""
        cols["Precursor.Id"] = t["precursor"].to_numpy()
        cols["Modified.Sequence"] = t["modified"].to_numpy()
        cols["Stripped.Sequence"] = t["sequence"].to_numpy()
        cols["Precursor.Charge"] = t["charge"].to_numpy()
        cols["Precursor.Lib.Index"] = t.groupby("precursor").ngroup().to_numpy()
        cols["Decoy"] = 0
        cols["Proteotypic"] = 1
    cols["Protein.Group"] = ids[p]
    cols["Protein.Ids"] = ids[p]
    cols["Protein.Names"] = names[p]
    cols["Genes"] = genes[p]
    if version != "2.x":
        cols["PG.Quantity"] = np.round(pg_quantity, 1)
        cols["PG.Normalised"] = np.round(pg_quantity * run_factor[s], 1)
    if version == "1.8":
        cols["PG.MaxLFQ"] = np.round(pg, 1)
    if version != "2.x":
        cols["Modified.Sequence"] = t["modified"].to_numpy()
        cols["Stripped.Sequence"] = t["sequence"].to_numpy()
        cols["Precursor.Id"] = t["precursor"].to_numpy()
        cols["Precursor.Charge"] = t["charge"].to_numpy()
    cols["Q.Value"] = qv
    cols["PEP"] = np.minimum(1.0, qv * 3)
    cols["Global.Q.Value"] = qv
    cols["Protein.Q.Value"] = pair_q[s, p]
    cols["PG.Q.Value"] = pair_q[s, p]
    cols["Global.PG.Q.Value"] = pair_q[s, p]
    cols["GG.Q.Value"] = pair_q[s, p]
    if version != "2.x":
        cols["Proteotypic"] = 1
    cols["Precursor.Quantity"] = np.round(t["value"].to_numpy() / run_factor[s], 1)
    cols["Precursor.Normalised"] = np.round(t["value"].to_numpy(), 1)
    if version == "2.x":
        cols["PG.TopN"] = np.round(pg_quantity, 1)
        cols["PG.MaxLFQ"] = np.round(pg, 1)
        cols["Genes.MaxLFQ"] = np.round(pg, 1)
        cols["Lib.Q.Value"] = qv
        cols["Lib.PG.Q.Value"] = 0.0
    cols["RT"] = np.round(rng.uniform(5, 60, len(t)), 3)
    table = pd.DataFrame(cols)
    if decoys and version == "2.x":
        table = pd.concat([table, _diann_decoys(table, pre, ids, names, genes, rng)])
    _write_table(table, out)
    return out


def _diann_decoys(
    table: pd.DataFrame,
    pre: _Precursors,
    ids: np.ndarray,
    names: np.ndarray,
    genes: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    missing = np.argwhere(np.isnan(pre.raw))  # (sample, protein) never seen
    if len(missing) == 0:
        return table.iloc[:0]
    pick = missing[rng.permutation(len(missing))[: max(1, len(missing) // 2)]]
    rows = []
    runs = list(pd.unique(table["Run"]))
    for s, p in pick:
        row = table.iloc[0].to_dict()
        row.update(
            {
                "Run.Index": int(s),
                "Run": runs[int(s)] if int(s) < len(runs) else str(s),
                "Precursor.Id": f"DECOY_{p}_{s}2",
                "Modified.Sequence": f"DECOY_{p}_{s}",
                "Stripped.Sequence": f"DECOY{p}X{s}",
                "Decoy": 1,
                "Protein.Group": ids[p],
                "Protein.Ids": ids[p],
                "Protein.Names": names[p],
                "Genes": genes[p],
                "PG.MaxLFQ": 1234.5,
                "PG.TopN": 1234.5,
                "Q.Value": 0.001,
                "PG.Q.Value": 0.001,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=table.columns)


# FragPipe ---------------------------------------------------------------------------------------
def write_fragpipe(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    layout: Literal["current", "philosopher"] = "current",
    maxlfq: bool = True,
    seed: int = 0,
) -> Path:
    """Write a protein simulation as a FragPipe ``combined_protein.tsv``.

    Parameters
    ----------
    adata
        A protein simulation.
    path
        Output file.
    layout
        ``"current"`` (FragPipe with IonQuant: ``Protein``, ``Protein ID``, ``Entry Name``,
        ``Gene``, ..., ``Combined Total Peptides``, blocks of ``<s> Spectral Count``, ``<s> Unique
        Spectral Count``, ``<s> Total Spectral Count``, ``<s> Intensity``, ``<s> Unique
        Intensity``, ``<s> Total Intensity`` and, with ``maxlfq``, ``<s> MaxLFQ Intensity``,
        ``<s> MaxLFQ Unique Intensity``, ``<s> MaxLFQ Total Intensity``; a ``contam_`` trypsin
        row) or ``"philosopher"`` (older Philosopher: ``Protein Group``, ``SubGroup``, ``Protein
        ID``, ``Entry Name``, ``Gene Names``, ..., ``Unique Stripped Peptides``, then per sample
        ``Total``/``Unique``/``Razor`` ``Spectral Count`` and ``Intensity``).
    maxlfq
        ``layout="current"``: write the MaxLFQ columns (without them the loader falls back to
        ``<s> Intensity``).
    seed
        Seed of counts and loading factors.

    Returns
    -------
    The path written. ``MaxLFQ Intensity`` holds the planted intensities; ``Intensity`` (current)
    and ``Razor Intensity`` (philosopher) the planted intensities times a per-sample loading
    factor; zeros for missing, as FragPipe writes them.
    """
    out = Path(path)
    rng = np.random.default_rng(seed)
    pre = _plant(adata, seed)
    ids, genes = _ids(adata)
    runs = _runs(adata)
    raw = np.nan_to_num(pre.raw.T, nan=0.0)  # proteins x samples
    n = raw.shape[0]
    loading = 2.0 ** rng.normal(0, 0.2, len(runs))
    intensity = np.round(raw * loading, 1)
    peptides = pre.catalogue.groupby("protein")["sequence"].nunique().reindex(range(n)).to_numpy()
    spc = np.where(raw > 0, rng.integers(1, 30, raw.shape), 0)
    entry = np.array([f"{g.upper()}_RAT" for g in genes])
    desc = [f"Protein {g}" for g in genes]
    cols: dict[str, object] = {}
    if layout == "current":
        cols.update(
            {
                "Protein": [f"sp|{a}|{e}" for a, e in zip(ids, entry, strict=True)],
                "Protein ID": ids,
                "Entry Name": entry,
                "Gene": genes,
                "Protein Length": rng.integers(100, 900, n),
                "Organism": "Rattus norvegicus",
                "Protein Existence": "1:Experimental evidence at protein level",
                "Description": desc,
                "Protein Probability": 1.0,
                "Top Peptide Probability": 0.999,
                "Combined Total Peptides": peptides,
                "Combined Spectral Count": spc.sum(axis=1),
                "Combined Unique Spectral Count": spc.sum(axis=1),
                "Combined Total Spectral Count": spc.sum(axis=1) + 1,
            }
        )
        blocks = [
            ("Spectral Count", spc),
            ("Unique Spectral Count", spc),
            ("Total Spectral Count", spc + (spc > 0)),
            ("Intensity", intensity),
            ("Unique Intensity", np.round(intensity * 0.8, 1)),
            ("Total Intensity", np.round(intensity * 1.1, 1)),
        ]
        if maxlfq:
            blocks += [
                ("MaxLFQ Intensity", np.round(raw, 1)),
                ("MaxLFQ Unique Intensity", np.round(raw * 0.8, 1)),
                ("MaxLFQ Total Intensity", np.round(raw * 1.1, 1)),
            ]
        for suffix, values in blocks:
            for j, r in enumerate(runs):
                cols[f"{r} {suffix}"] = values[:, j]
        cols["Indistinguishable Proteins"] = ""
        table = pd.DataFrame(cols)
        contam = {c: table[c].iloc[0] for c in table.columns}
        contam.update(
            {
                "Protein": "contam_sp|P00761|TRYP_PIG",
                "Protein ID": "P00761",
                "Entry Name": "TRYP_PIG",
                "Gene": "",
                "Description": "Trypsin",
            }
        )
        table = pd.concat([table, pd.DataFrame([contam])], ignore_index=True)
    elif layout == "philosopher":
        cols.update(
            {
                "Protein Group": np.arange(1, n + 1),
                "SubGroup": [f"{i}-a" for i in range(1, n + 1)],
                "Protein ID": ids,
                "Entry Name": entry,
                "Gene Names": genes,
                "Protein Length": rng.integers(100, 900, n),
                "Coverage": np.round(rng.uniform(2, 60, n), 2),
                "Organism": "Rattus norvegicus",
                "Protein Existence": "1:Experimental evidence at protein level",
                "Description": desc,
                "Protein Probability": 1.0,
                "Top Peptide Probability": 0.999,
                "Unique Stripped Peptides": peptides,
                "Summarized Total Spectral Count": spc.sum(axis=1) + 1,
                "Summarized Unique Spectral Count": spc.sum(axis=1),
                "Summarized Razor Spectral Count": spc.sum(axis=1),
            }
        )
        for j, r in enumerate(runs):
            cols[f"{r} Total Spectral Count"] = spc[:, j] + (spc[:, j] > 0)
            cols[f"{r} Unique Spectral Count"] = spc[:, j]
            cols[f"{r} Razor Spectral Count"] = spc[:, j]
            cols[f"{r} Total Intensity"] = np.round(intensity[:, j] * 1.1, 1)
            cols[f"{r} Unique Intensity"] = np.round(intensity[:, j] * 0.8, 1)
            cols[f"{r} Razor Intensity"] = intensity[:, j]
        cols["Indistinguishable Proteins"] = ""
        table = pd.DataFrame(cols)
    else:
        raise InputFormatError(f"layout={layout!r}; expected 'current' or 'philosopher'.")
    _write_table(table, out)
    return out


# Spectronaut ------------------------------------------------------------------------------------
def _make_names(name: str) -> str:
    """R's ``make.names`` for a column name."""
    out = re.sub(r"[^0-9A-Za-z._]", ".", name)
    if not re.match(r"^([A-Za-z]|\.(?![0-9]))", out):
        out = "X" + out
    return out


def write_spectronaut(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    kind: Literal["pivot", "long"] = "pivot",
    level: Literal["protein", "precursor", "fragment"] = "protein",
    r_names: bool = False,
    fasta_ids: bool = False,
    seed: int = 0,
) -> Path:
    """Write a protein simulation as a Spectronaut report.

    Parameters
    ----------
    adata
        A protein simulation.
    path
        Output file.
    kind
        ``"pivot"``: ``PG.ProteinGroups``, ``PG.Genes``, ``PG.ProteinDescriptions``,
        ``PG.NrOfStrippedSequencesIdentified (Experiment-wide)``, then per run ``[n]
        <run>.raw.PG.IsSingleHit`` and ``[n] <run>.raw.PG.Quantity`` (``Filtered`` when missing).
        ``"long"``: ``R.Condition``, ``R.FileName``, ``R.Replicate``, ``PG.ProteinAccessions``,
        ``PG.ProteinGroups``, ``PG.Genes``, ``PG.Qvalue``, ``PEP.StrippedSequence``,
        ``EG.ModifiedSequence``, ``EG.PrecursorId``, ``EG.Qvalue``, ``FG.Charge`` and the
        quantities of ``level``.
    level
        Long reports: ``"protein"`` (precursor rows repeating ``PG.Quantity``), ``"precursor"``
        (``FG.Quantity`` per precursor row, no ``PG.Quantity``) or ``"fragment"`` (three ``y``
        fragments per precursor with ``F.FrgIon``, ``F.Charge``, ``F.FrgLossType``,
        ``F.ExcludedFromQuantification``, ``F.PeakArea`` whose sum is the precursor quantity, and
        a neutral-loss fragment that must not be counted).
    r_names
        Pivot only: write every header as R's ``make.names`` leaves it
        (``X.1..CTRL_1.raw.PG.Quantity``), as a report read and re-saved in R.
    fasta_ids
        Write protein groups as ``1/sp|<accession>|<GENE>_RAT``.
    seed
        Seed of the planted precursors and q-values.

    Returns
    -------
    The path written. ``PG.Quantity`` holds the planted intensities.
    """
    out = Path(path)
    rng = np.random.default_rng(seed + 2)
    pre = _plant(adata, seed)
    ids, genes = _ids(adata)
    runs = _runs(adata)
    groups = (
        np.array([f"1/sp|{a}|{g.upper()}_RAT" for a, g in zip(ids, genes, strict=True)])
        if fasta_ids
        else ids
    )
    if kind == "pivot":
        n_pep = pre.catalogue.groupby("protein")["sequence"].nunique()
        cols: dict[str, object] = {
            "PG.ProteinGroups": groups,
            "PG.Genes": genes,
            "PG.ProteinDescriptions": [f"Protein {g}" for g in genes],
            "PG.NrOfStrippedSequencesIdentified (Experiment-wide)": n_pep.reindex(
                range(len(ids))
            ).to_numpy(),
        }
        for j, r in enumerate(runs):
            values = pre.raw[j]
            cols[f"[{j + 1}] {r}.raw.PG.IsSingleHit"] = np.where(np.isnan(values), "", "False")
        for j, r in enumerate(runs):
            values = pre.raw[j]
            cols[f"[{j + 1}] {r}.raw.PG.Quantity"] = [
                "Filtered" if np.isnan(v) else f"{v:.2f}" for v in values
            ]
        table = pd.DataFrame(cols)
        if r_names:
            table.columns = [_make_names(c) for c in table.columns]
        _write_table(table, out)
        return out
    if kind != "long":
        raise InputFormatError(f"kind={kind!r}; expected 'pivot' or 'long'.")
    t = pre.table
    p = t["protein"].to_numpy()
    s = t["run_index"].to_numpy()
    phase = adata.obs["phase"].astype(str).to_numpy() if "phase" in adata.obs else runs
    eg_q = rng.uniform(1e-5, 8e-3, len(t))
    eg_q[rng.random(len(t)) < 0.05] = 0.03
    cols = {
        "R.Condition": [phase[i] for i in s],
        "R.FileName": t["run"].to_numpy(),
        "R.Replicate": s + 1,
        "PG.ProteinAccessions": ids[p],
        "PG.ProteinGroups": groups[p],
        "PG.Genes": genes[p],
        "PG.Qvalue": 0.001,
    }
    if level == "protein":
        cols["PG.Quantity"] = np.round(pre.raw[s, p], 2)
    cols.update(
        {
            "PEP.StrippedSequence": t["sequence"].to_numpy(),
            "EG.ModifiedSequence": [f"_{m}_" for m in t["modified"]],
            "EG.PrecursorId": [
                f"_{m}_.{z}" for m, z in zip(t["modified"], t["charge"], strict=True)
            ],
            "EG.Qvalue": eg_q,
            "FG.Charge": t["charge"].to_numpy(),
        }
    )
    if level in ("protein", "precursor"):
        cols["FG.Quantity"] = np.round(t["value"].to_numpy(), 2)
        table = pd.DataFrame(cols)
    elif level == "fragment":
        base = pd.DataFrame(cols)
        share = rng.dirichlet(np.ones(3), len(t))  # three fragments sum to the precursor
        frags = []
        for k, ion in enumerate(("y3", "y4", "y5")):
            part = base.copy()
            part["F.FrgIon"] = ion
            part["F.Charge"] = 1
            part["F.FrgLossType"] = "noloss"
            part["F.ExcludedFromQuantification"] = "False"
            part["F.PeakArea"] = np.round(t["value"].to_numpy() * share[:, k], 3)
            frags.append(part)
        loss = base.copy()
        loss["F.FrgIon"] = "y4"
        loss["F.Charge"] = 1
        loss["F.FrgLossType"] = "H2O"
        loss["F.ExcludedFromQuantification"] = "True"
        loss["F.PeakArea"] = np.round(t["value"].to_numpy() * 0.5, 3)
        frags.append(loss)
        table = pd.concat(frags).sort_index(kind="stable").reset_index(drop=True)
    else:
        raise InputFormatError(f"level={level!r}; expected 'protein', 'precursor' or 'fragment'.")
    _write_table(table, out)
    return out


# AlphaDIA ---------------------------------------------------------------------------------------
def write_alphadia(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    kind: Literal["pg_matrix", "precursors"] = "pg_matrix",
    version: Literal["1", "2"] = "2",
    seed: int = 0,
) -> Path:
    """Write a protein simulation as an AlphaDIA protein matrix or precursor table.

    Parameters
    ----------
    adata
        A protein simulation.
    path
        Output file; ``.parquet`` (AlphaDIA 2's default) or ``.tsv``.
    kind
        ``"pg_matrix"``: ``pg`` (1.x) or ``pg.name`` (2.x) then one column per run.
        ``"precursors"``: one row per precursor and run; 1.x internal names (``run``,
        ``precursor_idx``, ``sequence``, ``charge``, ``mods``, ``mod_sites``, ``mod_seq_hash``,
        ``mod_seq_charge_hash``, ``intensity``, ``qval``, ``decoy``, ``channel``, ``pg``,
        ``proteins``, ``genes``, ``pg_master``, ``pg_qval``) or 2.x output names (``raw.name``,
        ``precursor.*``, ``pg.name``, ``pg.proteins``, ``pg.genes``, ``pg.master_protein``,
        ``pg.qval``, ``pg.intensity``).
    version
        ``"1"`` or ``"2"``.
    seed
        Seed of the planted precursors.

    Returns
    -------
    The path written. Protein intensities (``pg.matrix``, ``pg.intensity``) are the planted ones.
    """
    out = Path(path)
    pre = _plant(adata, seed)
    ids, genes = _ids(adata)
    runs = _runs(adata)
    if kind == "pg_matrix":
        table = pd.DataFrame(
            {"pg.name" if version == "2" else "pg": ids}
            | {r: np.round(pre.raw[j], 2) for j, r in enumerate(runs)}
        )
        _write_table(table, out)
        return out
    if kind != "precursors":
        raise InputFormatError(f"kind={kind!r}; expected 'pg_matrix' or 'precursors'.")
    t = pre.table
    p = t["protein"].to_numpy()
    s = t["run_index"].to_numpy()
    hashes = pd.util.hash_pandas_object(t["precursor"], index=False).to_numpy() % (1 << 62)
    seq_hashes = pd.util.hash_pandas_object(t["modified"], index=False).to_numpy() % (1 << 62)
    cols = {
        "run": t["run"].to_numpy(),
        "precursor_idx": t.groupby("precursor").ngroup().to_numpy(),
        "sequence": t["sequence"].to_numpy(),
        "charge": t["charge"].to_numpy(),
        "mods": np.where(t["sequence"].str.contains("C"), "Carbamidomethyl@C", ""),
        "mod_sites": "",
        "mod_seq_hash": seq_hashes,
        "mod_seq_charge_hash": hashes,
        "intensity": np.round(t["value"].to_numpy(), 2),
        "qval": np.round(np.random.default_rng(seed + 3).uniform(1e-5, 9e-3, len(t)), 6),
        "decoy": 0,
        "channel": 0,
        "pg": ids[p],
        "proteins": ids[p],
        "genes": genes[p],
        "pg_master": ids[p],
        "pg_qval": 0.001,
    }
    table = pd.DataFrame(cols)
    if version == "2":
        rename = {
            "run": "raw.name",
            "precursor_idx": "precursor.idx",
            "sequence": "precursor.sequence",
            "charge": "precursor.charge",
            "mods": "precursor.mods",
            "mod_sites": "precursor.mod_sites",
            "mod_seq_hash": "precursor.mod_seq_hash",
            "mod_seq_charge_hash": "precursor.mod_seq_charge_hash",
            "intensity": "precursor.intensity",
            "qval": "precursor.qval",
            "decoy": "precursor.decoy",
            "channel": "precursor.channel",
            "pg": "pg.name",
            "proteins": "pg.proteins",
            "genes": "pg.genes",
            "pg_master": "pg.master_protein",
            "pg_qval": "pg.qval",
        }
        table = table.rename(columns=rename)
        table["pg.intensity"] = np.round(pre.raw[s, p], 2)
    _write_table(table, out)
    return out
