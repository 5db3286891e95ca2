"""Modalities side by side: candidate markers by name, and proteins with the marks at their genes.

Two views of a study with several modalities:

- by marker name (:func:`kratom_omics.tl._biomarkers.cross_table`): each modality's candidate
  table, the protein candidates (Rab35, Hdac2) beside the histone-mark candidates (H3K9ac), as
  proteomics, histone mass spectrometry and western blots report them;
- by gene (:func:`gene_pairs`): a signal-track dataset (:func:`kratom_omics.io.read_bigwig`) holds
  one mark over regions that carry a ``gene`` (promoters: their gene; peaks: the gene whose TSS is
  nearest within ``max_distance``). Each protein is paired with the regions of its gene: the
  symbols of the protein's ``.var["gene"]`` (a protein group's symbols joined by ``;``) are
  matched, ignoring letter case, to the regions' ``gene``. Per contrast both effects stand side by
  side, with whether they change the same way and whether both are significant (the
  :func:`~kratom_omics.tl.flag_biomarkers` definition: ``padj < alpha`` and
  ``|log2fc| >= min_abs_log2fc``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, record_provenance, track_info, track_mark
from .._defaults import BIOMARKERS
from .._results import get_result, is_result
from ..errors import DesignError, InputFormatError, ResultNotFoundError
from ._biomarkers import (
    _SYMBOL_COLUMNS,
    _as_mapping,
    _flag,
    _infer_modality,
    cross_table,
    flag_biomarkers,
    match_candidates,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = ["PAIR_COLUMNS", "cross_modality", "gene_pairs", "pair_sides"]

logger = logging.getLogger("kratom_omics")

#: Columns of the gene-pair table, one row per protein, region and contrast.
PAIR_COLUMNS: tuple[str, ...] = (
    "contrast",
    "gene",
    "candidate",
    "protein_dataset",
    "protein_feature",
    "protein_log2fc",
    "protein_padj",
    "protein_significant",
    "mark_dataset",
    "mark",
    "region",
    "region_type",
    "chrom",
    "start",
    "end",
    "tss_distance",
    "mark_log2fc",
    "mark_padj",
    "mark_significant",
    "same_direction",
    "both_significant",
)


def pair_sides(mapping: Mapping[str, AnnData]) -> tuple[list[str], list[str]]:
    """Names of the datasets with proteins (protein or mixed data with gene symbols) and of the
    signal-track datasets whose regions carry genes."""
    proteins, tracks = [], []
    for name, ad in mapping.items():
        if track_info(ad) is not None:
            if "gene" in ad.var.columns:
                tracks.append(str(name))
            continue
        if _infer_modality(ad) in ("protein", "mixed") and _symbol_column(ad.var) is not None:
            proteins.append(str(name))
    return proteins, tracks


def _symbol_column(var: pd.DataFrame) -> str | None:
    for col in _SYMBOL_COLUMNS:
        if col in var.columns:
            return col
    return None


def _effects(adata: AnnData, key: str, name: str, alpha: float, lfc: float) -> pd.DataFrame:
    """``feature, contrast, log2fc, padj, significant`` of a dataset's differential result."""
    if not is_result(adata.uns.get(key)):
        raise ResultNotFoundError(
            f"dataset {name!r} has no differential result under adata.uns[{key!r}]; run "
            f"kom.tl.differential on it first (key_added={key!r})."
        )
    table = get_result(adata, key).table()
    out = pd.DataFrame(
        {
            "feature": table["feature"].astype(str).to_numpy(),
            "contrast": table["contrast"].astype(str).to_numpy(),
            "log2fc": pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float),
            "padj": pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float),
        }
    )
    return _flag(out, alpha, lfc)[["feature", "contrast", "log2fc", "padj", "significant"]]


def _protein_symbols(var: pd.DataFrame, col: str) -> pd.DataFrame:
    """One row per (protein, symbol): the ``;``-separated symbols of ``var[col]``."""
    cells = var[col].astype(object).where(var[col].notna(), "").astype(str)
    long = cells.str.split(";").explode().str.strip()
    out = pd.DataFrame({"protein_feature": long.index.astype(str), "symbol": long.to_numpy()})
    out = out[out["symbol"] != ""]
    out["key"] = out["symbol"].str.casefold()
    return out.drop_duplicates(["protein_feature", "key"])


def _regions(adata: AnnData, max_distance: int | None) -> pd.DataFrame:
    """The regions of a track dataset that carry a gene (within ``max_distance`` of its TSS)."""
    var = adata.var
    gene = var["gene"].astype(object).where(var["gene"].notna(), "").astype(str).str.strip()
    dist = (
        pd.to_numeric(var["tss_distance"], errors="coerce")
        if "tss_distance" in var.columns
        else pd.Series(np.nan, index=var.index)
    )
    keep = gene != ""
    if max_distance is not None:
        keep &= dist.abs() <= max_distance
    record = track_info(adata) or {}
    out = pd.DataFrame(
        {
            "region": var.index.astype(str),
            "gene": gene.to_numpy(),
            "region_type": str(record.get("region_type") or "region"),
            "chrom": var["chrom"].astype(str).to_numpy() if "chrom" in var else "",
            "start": pd.to_numeric(var["start"], errors="coerce").to_numpy()
            if "start" in var
            else np.nan,
            "end": pd.to_numeric(var["end"], errors="coerce").to_numpy()
            if "end" in var
            else np.nan,
            "tss_distance": dist.to_numpy(dtype=float),
        }
    )[keep.to_numpy()]
    out["key"] = out["gene"].str.casefold()
    return out


def _candidate_names(
    adata: AnnData, cands: pd.DataFrame, symbols: pd.DataFrame
) -> dict[tuple[str, str], str]:
    """``(protein feature, symbol key) -> candidate`` for the protein candidates of the list."""
    rows = cands[cands["modality"] == "protein"].reset_index(drop=True)
    if rows.empty:
        return {}
    matches = match_candidates(adata.var, rows, "protein")
    names = np.asarray(adata.var_names, dtype=str)
    out: dict[tuple[str, str], str] = {}
    by_feature = symbols.groupby("protein_feature")["key"].apply(list).to_dict()
    for i, hit in matches.items():
        cand = str(rows["candidate"].iat[i])
        aliases = {cand.casefold()} | {
            a.strip().casefold() for a in str(rows["aliases"].iat[i] or "").split(";") if a.strip()
        }
        for feature in names[hit]:
            keys = by_feature.get(feature, [])
            chosen = [k for k in keys if k in aliases] or keys
            for k in chosen:
                out.setdefault((feature, k), cand)
    return out


def gene_pairs(
    data: Mapping[str, AnnData] | MuData,
    candidates: str | os.PathLike | pd.DataFrame | None = None,
    *,
    key: str = "differential",
    alpha: float = BIOMARKERS.alpha,
    min_abs_log2fc: float = BIOMARKERS.min_abs_log2fc,
    max_distance: int | None = None,
) -> pd.DataFrame:
    """Pair each protein with the regions of its gene in every signal-track dataset.

    Parameters
    ----------
    data
        Mapping of dataset name to AnnData, or a MuData, each with a differential result under
        ``key``. Datasets with ``.uns["tracks"]`` (:func:`kratom_omics.io.read_bigwig`) give the
        marks; protein (or western-blot) datasets with gene symbols give the proteins.
    candidates
        Candidate list naming the protein candidates (default: the shipped list).
    key
        Key of the differential results.
    alpha, min_abs_log2fc
        A side is significant when ``padj < alpha`` and ``|log2fc| >= min_abs_log2fc``.
    max_distance
        Keep only regions whose gene's TSS lies within this many bases (``.var["tss_distance"]``);
        default: every region that carries a gene.

    Returns
    -------
    DataFrame with :data:`PAIR_COLUMNS`, one row per protein, region and contrast present in both
    results: the protein candidates first (in the candidate list's order, each over the
    contrasts), then the pairs significant on both sides, then by the protein's adjusted p-value.
    ``same_direction`` is missing where either effect is missing or 0.
    """
    from ..io._candidates import read_candidates

    if not 0 < alpha < 1:
        raise DesignError(f"alpha={alpha}; expected an FDR level between 0 and 1 (e.g. 0.05).")
    if min_abs_log2fc < 0:
        raise DesignError(
            f"min_abs_log2fc={min_abs_log2fc}; expected 0 or a positive log2 fold change."
        )
    if max_distance is not None and (
        isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer))
    ):
        raise DesignError(f"max_distance={max_distance!r}; expected a whole number of bases.")
    if max_distance is not None and max_distance < 0:
        raise DesignError(f"max_distance={max_distance}; expected a number of bases >= 0.")
    mapping = {str(k): v for k, v in _as_mapping(data).items()}
    proteins, tracks = pair_sides(mapping)
    frames = []
    cands = read_candidates(candidates) if proteins and tracks else None
    for pname in proteins:
        pdata = mapping[pname]
        peff = _effects(pdata, key, pname, alpha, min_abs_log2fc)
        col = _symbol_column(pdata.var)
        if col is None:  # pragma: no cover - pair_sides keeps datasets with a symbol column
            continue
        symbols = _protein_symbols(pdata.var, col)
        cand_of = _candidate_names(pdata, cands, symbols) if cands is not None else {}
        for tname in tracks:
            tdata = mapping[tname]
            teff = _effects(tdata, key, tname, alpha, min_abs_log2fc)
            pairs = symbols.merge(_regions(tdata, max_distance), on="key", how="inner")
            if pairs.empty:
                logger.info("cross_modality: no gene of %r is a gene of %r", pname, tname)
                continue
            shared = [c for c in pd.unique(peff["contrast"]) if c in set(teff["contrast"])]
            if not shared:
                logger.warning(
                    "cross_modality: %r and %r share no contrast (%s; %s); no gene pairs",
                    pname,
                    tname,
                    sorted(set(peff["contrast"])),
                    sorted(set(teff["contrast"])),
                )
                continue
            p = peff[peff["contrast"].isin(shared)].rename(
                columns={
                    "feature": "protein_feature",
                    "log2fc": "protein_log2fc",
                    "padj": "protein_padj",
                    "significant": "protein_significant",
                }
            )
            t = teff[teff["contrast"].isin(shared)].rename(
                columns={
                    "feature": "region",
                    "log2fc": "mark_log2fc",
                    "padj": "mark_padj",
                    "significant": "mark_significant",
                }
            )
            both = pairs.merge(p, on="protein_feature").merge(t, on=["region", "contrast"])
            both["protein_dataset"] = pname
            both["mark_dataset"] = tname
            both["mark"] = track_mark(tdata)
            both["candidate"] = [
                cand_of.get((f, k), "")
                for f, k in zip(both["protein_feature"], both["key"], strict=True)
            ]
            both["_c"] = both["contrast"].map({c: i for i, c in enumerate(shared)})
            frames.append(both)
    if not frames:
        return _empty_pairs()
    out = pd.concat(frames, ignore_index=True)
    ps, ms = np.sign(out["protein_log2fc"]), np.sign(out["mark_log2fc"])
    defined = (ps.notna() & ms.notna() & (ps != 0) & (ms != 0)).to_numpy()
    same = pd.array((ps == ms).to_numpy(), dtype="boolean")
    same[~defined] = pd.NA
    out["same_direction"] = same
    out["both_significant"] = out["protein_significant"] & out["mark_significant"]
    # the candidates first (in the list's order, each over its contrasts), then the other pairs
    # significant on both sides, then by the protein's adjusted p-value
    rank = {c: i for i, c in enumerate(cands["candidate"])} if cands is not None else {}
    is_cand = (out["candidate"] != "").to_numpy()
    out["_r"] = out["candidate"].map(rank).fillna(len(rank)).to_numpy()
    first = out[is_cand].sort_values(["_r", "gene", "_c"], kind="stable")
    rest = out[~is_cand].sort_values(
        ["both_significant", "protein_padj", "mark_padj", "_c"],
        ascending=[False, True, True, True],
        kind="stable",
        na_position="last",
    )
    out = pd.concat([first, rest])
    return _typed(out.reindex(columns=list(PAIR_COLUMNS)).reset_index(drop=True))


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """Column types that survive h5ad: text as str, flags as bool, coordinates as numbers."""
    text: tuple[str, ...] = ("contrast", "gene", "candidate", "protein_dataset")
    text += ("protein_feature", "mark_dataset", "mark", "region", "region_type", "chrom")
    for c in text:
        out[c] = out[c].astype(str)
    for c in ("protein_significant", "mark_significant", "both_significant"):
        out[c] = out[c].astype(bool)
    out["same_direction"] = out["same_direction"].astype("boolean")
    for c in ("protein_log2fc", "protein_padj", "mark_log2fc", "mark_padj", "tss_distance"):
        out[c] = out[c].astype(float)
    for c in ("start", "end"):
        out[c] = pd.to_numeric(out[c], errors="coerce").round().astype("Int64")
    return out


def _empty_pairs() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in PAIR_COLUMNS}))


def cross_modality(
    data: Mapping[str, AnnData] | MuData,
    candidates: str | os.PathLike | pd.DataFrame | None = None,
    *,
    key: str = "differential",
    key_added: str = "biomarkers",
    pairs_key: str = "cross_modality",
    alpha: float = BIOMARKERS.alpha,
    min_abs_log2fc: float = BIOMARKERS.min_abs_log2fc,
    max_distance: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Put the modalities of a study side by side: candidates by name, proteins with their marks.

    Every dataset's candidate markers are flagged (:func:`flag_biomarkers`, where not done yet)
    and returned side by side, contrast by contrast. When the study holds signal tracks
    (:func:`kratom_omics.io.read_bigwig`) and proteins, each protein is also paired with the mark
    at its gene's promoter (or the peaks near its gene): the symbols of its ``.var["gene"]``
    (split on ``;``) are matched, ignoring case, to the regions' ``gene``, and per contrast the
    protein's and the mark's effects are put side by side, with whether they change the same way
    and whether both are significant (see :func:`gene_pairs`). The pairs are stored with their
    parameters; :func:`kratom_omics.get.cross_modality` returns them.

    Parameters
    ----------
    data
        Mapping of modality name to AnnData (``{"protein": adata_p, "tracks": adata_t}``) or a
        MuData, each with a differential result under ``key``. Names ``"protein"``/``"histone"`` set
        the modality; track datasets are known by their ``.uns["tracks"]``.
    candidates
        Candidate list for :func:`flag_biomarkers` and the pairs (default: the shipped list).
    key
        Key of the differential results.
    key_added
        Key under which each dataset's :func:`flag_biomarkers` result is stored (computed when
        missing).
    pairs_key
        Key of ``.uns`` receiving the gene pairs.
    alpha, min_abs_log2fc
        Significance as in :func:`flag_biomarkers` (candidates and pairs).
    max_distance
        Pairs: keep only regions whose gene's TSS lies within this many bases (default: every
        region with a gene, as the loader named them).
    n_boot, seed
        Passed to :func:`flag_biomarkers`.

    Returns
    -------
    DataFrame with one row per candidate, ordered by contrast then modality (protein, histone),
    columns ``contrast, modality, candidate, expected, observed, log2fc, padj, significant,
    concordant, auc, auc_direction, status, best_feature, n_features, dataset, evidence``. Writes
    ``adata.uns[key_added]`` of each dataset that had no result yet and, with track and protein
    datasets, ``uns[pairs_key]`` = ``{"params", "pairs"}`` (the :data:`PAIR_COLUMNS` table): of
    the MuData, or of each protein dataset of a mapping (its own pairs).
    """
    mapping = _as_mapping(data)
    if not mapping:
        raise InputFormatError("cross_modality: no dataset given; pass {'protein': adata, ...}.")
    pairs_key = check_key_added(pairs_key, argument="pairs_key")
    for name, ad in mapping.items():
        if key_added not in ad.uns:
            mod = name if name in ("protein", "histone") and track_info(ad) is None else None
            flag_biomarkers(
                ad,
                key,
                candidates,
                alpha=alpha,
                min_abs_log2fc=min_abs_log2fc,
                key_added=key_added,
                modality=mod,  # type: ignore[arg-type]
                n_boot=n_boot,
                seed=seed,
            )
    table = cross_table(mapping, key_added)
    proteins, tracks = pair_sides({str(k): v for k, v in mapping.items()})
    if not (proteins and tracks):
        logger.info(
            "cross_modality: no gene pairs (%s)",
            "no signal-track dataset" if not tracks else "no protein dataset with gene symbols",
        )
        return table
    pairs = gene_pairs(
        mapping,
        candidates,
        key=key,
        alpha=alpha,
        min_abs_log2fc=min_abs_log2fc,
        max_distance=max_distance,
    )
    params: dict[str, Any] = {
        "key": key,
        "alpha": alpha,
        "min_abs_log2fc": min_abs_log2fc,
        "max_distance": -1 if max_distance is None else int(max_distance),
        "candidates": "default"
        if candidates is None
        else ("DataFrame" if isinstance(candidates, pd.DataFrame) else str(candidates)),
        "protein_datasets": proteins,
        "mark_datasets": tracks,
        "marks": [track_mark(mapping[t]) for t in tracks],
    }
    if not isinstance(data, Mapping):  # MuData: one table for the study
        data.uns[pairs_key] = {"params": params, "pairs": pairs}
    else:
        for name in proteins:
            own = pairs[pairs["protein_dataset"] == name].reset_index(drop=True)
            ad = mapping[name]
            ad.uns[pairs_key] = {"params": {**params, "protein_datasets": [name]}, "pairs": own}
            record_provenance(
                ad, "kratom_omics.tl.cross_modality", {**params, "pairs_key": pairs_key}
            )
    n_both = int(pairs.drop_duplicates(["gene", "region", "contrast"])["both_significant"].sum())
    logger.info(
        "cross_modality: %d protein-region pairs over %d gene(s) and %d contrast(s); %d "
        "significant on both sides",
        len(pairs),
        pairs["gene"].str.casefold().nunique(),
        pairs["contrast"].nunique(),
        n_both,
    )
    return table
