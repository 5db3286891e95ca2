"""Proteins paired with the marks at their genes (:func:`kratom_omics.tl.cross_modality`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError, ResultNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = ["cross_modality"]


def _stored(data: AnnData | Mapping[str, AnnData] | MuData, key: str) -> list[pd.DataFrame]:
    """The pair tables stored under ``uns[key]`` of the MuData, the AnnData or the datasets."""
    holders: list[object] = []
    mod = getattr(data, "mod", None)
    if isinstance(mod, Mapping):  # MuData: the study's table, else its datasets'
        holders = [data] if key in getattr(data, "uns", {}) else list(mod.values())
    elif isinstance(data, Mapping):
        holders = list(data.values())
    elif hasattr(data, "uns"):
        holders = [data]
    else:
        raise InputFormatError(
            f"data is a {type(data).__name__}; expected an AnnData, a mapping of dataset name to "
            "AnnData or a MuData."
        )
    tables = []
    for h in holders:
        value = getattr(h, "uns", {}).get(key)
        if isinstance(value, Mapping) and isinstance(value.get("pairs"), pd.DataFrame):
            tables.append(value["pairs"])
    return tables


def cross_modality(
    data: AnnData | Mapping[str, AnnData] | MuData,
    key: str = "cross_modality",
    *,
    contrast: str | Sequence[str] | None = None,
    gene: str | Sequence[str] | None = None,
    candidates_only: bool = False,
    both_significant: bool = False,
) -> pd.DataFrame:
    """Return the proteins paired with the marks at their genes' promoters.

    Parameters
    ----------
    data
        What :func:`kratom_omics.tl.cross_modality` was run on: a MuData (the study's table), a
        mapping of dataset name to AnnData (the tables of its protein datasets, one after the
        other), or one protein AnnData.
    key
        Key of ``.uns`` holding the pairs (``pairs_key`` of ``tl.cross_modality``).
    contrast
        Keep only rows of this contrast (or these contrasts).
    gene
        Keep only these genes (symbols, letter case ignored), e.g. ``["Rab35", "Hdac2"]``.
    candidates_only
        Keep only proteins of the candidate list (Rab35, Hdac2, ...).
    both_significant
        Keep only pairs significant on both sides.

    Returns
    -------
    A copy of the pair table with a fresh integer index: ``contrast, gene, candidate,
    protein_dataset, protein_feature, protein_log2fc, protein_padj, protein_significant,
    mark_dataset, mark, region, region_type, chrom, start, end, tss_distance, mark_log2fc,
    mark_padj, mark_significant, same_direction, both_significant``.
    """
    tables = _stored(data, key)
    if not tables:
        raise ResultNotFoundError(
            f"no gene pairs under .uns[{key!r}]; run kom.tl.cross_modality on a study holding "
            "protein and signal-track datasets (kom.io.read_bigwig) first."
        )
    out = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0].copy()
    if contrast is not None:
        wanted = [contrast] if isinstance(contrast, str) else list(contrast)
        present = list(pd.unique(out["contrast"].astype(str)))
        for c in wanted:
            if c not in present:
                raise KeyNotFoundError(
                    did_you_mean(c, present, what="contrast").replace(
                        "is not available", "is not a contrast of the gene pairs"
                    )
                )
        out = out[out["contrast"].isin(wanted)]
    if gene is not None:
        genes = [gene] if isinstance(gene, str) else list(gene)
        keys = {str(g).casefold() for g in genes}
        out = out[out["gene"].astype(str).str.casefold().isin(keys)]
    if candidates_only:
        out = out[out["candidate"].astype(str) != ""]
    if both_significant:
        out = out[out["both_significant"].astype(bool)]
    return out.reset_index(drop=True)
