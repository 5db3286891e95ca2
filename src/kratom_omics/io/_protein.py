"""Protein-group annotation and the AnnData every proteomics reader returns.

:func:`protein_var` builds ``.var`` from the protein ids, genes and flags a tool reports;
:func:`finish` turns the features x samples values into the samples x features AnnData (zeros to
missing, infinite values to missing, sample sheet joined) with the reader's provenance.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import build_anndata

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["finish", "protein_var"]

logger = logging.getLogger("kratom_omics")

SamplesArg = str | os.PathLike | pd.DataFrame | None
JoinArg = Literal["exact", "inner"]

CONTAMINANT_PREFIXES = ("CON__", "contam_", "Cont_", "CONTAM_")
DECOY_PREFIXES = ("REV__", "rev_", "DECOY_", "decoy_", "XXX_")


# annotation ---------------------------------------------------------------------------------------
def _texts(series: pd.Series) -> list[str | None]:
    """Cells as text, ``None`` for missing (plain Python: much faster than the string accessor)."""
    return [None if v is None or v is pd.NA or v != v else str(v) for v in series.tolist()]


def _series(values: list[str | None], index: pd.Index) -> pd.Series:
    return pd.Series([np.nan if v is None else v for v in values], index=index, dtype=object)


def first_entry(series: pd.Series, sep: str = ";") -> pd.Series:
    """The first of ``sep``-joined entries, stripped (NaN for missing)."""
    firsts = [None if t is None else t.split(sep, 1)[0].strip() for t in _texts(series)]
    return _series(firsts, series.index)


def join_symbols(series: pd.Series, seps: str = ";,") -> pd.Series:
    """Normalise a gene-symbol column to ``;``-joined symbols without blanks (NaN when none)."""
    split = re.compile(rf"\s*[{re.escape(seps)}]\s*")
    plain = re.compile(rf"[\s{re.escape(seps)}]")
    joined = [
        None if t is None else split.sub(";", t.strip()).strip(";") if plain.search(t) else t
        for t in _texts(series)
    ]
    return _series([t or None for t in joined], series.index)


def genes_from_headers(series: pd.Series) -> pd.Series:
    """Gene symbols (``;``-joined, each once) from UniProt FASTA headers (``GN=Rab35``)."""
    found = series.astype("string").str.findall(r"\bGN=([^\s;]+)").explode().dropna()
    pairs = found.reset_index().drop_duplicates()
    joined = pairs.groupby(pairs.columns[0], sort=False)[pairs.columns[1]].agg(";".join)
    return joined.reindex(series.index).astype(object)


def fill_genes(genes: pd.Series | None, texts: pd.Series) -> pd.Series:
    """Fill missing gene symbols with the ``GN=`` symbols of FASTA headers or descriptions."""
    if genes is None:
        return genes_from_headers(texts)
    need = genes.isna().to_numpy()
    if not need.any():
        return genes
    out = genes.astype(object).copy()
    out[need] = genes_from_headers(texts[need]).to_numpy()
    return out


def prefix_flag(ids: pd.Series, prefixes: Sequence[str]) -> np.ndarray:
    start = tuple(prefixes)
    return np.array([t is not None and t.startswith(start) for t in _texts(ids)], dtype=bool)


def plus_flag(series: pd.Series | None, n: int) -> np.ndarray:
    """MaxQuant-style ``+`` markers (also ``True``/``TRUE``/``1``) as booleans."""
    if series is None:
        return np.zeros(n, dtype=bool)
    marked = {"+", "true", "1", "yes"}
    return np.array(
        [t is not None and t.strip().lower() in marked for t in _texts(series)], dtype=bool
    )


def protein_var(
    protein_ids: pd.Series,
    *,
    genes: pd.Series | None,
    source: str,
    leading: pd.Series | None = None,
    contaminant: np.ndarray | None = None,
    decoy: np.ndarray | None = None,
    extra: Mapping[str, pd.Series | np.ndarray] | None = None,
) -> pd.DataFrame:
    """Build ``.var`` for protein groups: index = leading protein id (made unique later).

    Columns: ``protein_ids`` (all, ``;``-joined), ``protein_leading``, ``gene`` (all symbols
    ``;``-joined, the leading protein id where the tool reports none), ``gene_leading``,
    ``is_contaminant``, ``is_decoy`` and the ``extra`` columns.
    """
    where = protein_ids.index
    semicolon = re.compile(r"\s*;\s*")
    ids = _series(
        [None if t is None else semicolon.sub(";", t.strip()) for t in _texts(protein_ids)],
        pd.RangeIndex(len(protein_ids)),
    )
    lead = first_entry(ids) if leading is None else first_entry(leading.reset_index(drop=True))
    empty = lead.isna() | (lead.astype(str) == "")
    if empty.any():
        at = np.flatnonzero(empty.to_numpy())[:10]
        rows = (
            f"line(s) {[int(v) for v in where[at]]}"
            if where.name == "line"
            else f"row(s) {[int(i) + 1 for i in at]}"
        )
        raise InputFormatError(
            f"{source}: empty protein id on {rows}; every protein group needs an identifier."
        )
    n = len(ids)
    if genes is None:
        gene = pd.Series([np.nan] * n, dtype=object)
    else:
        gene = join_symbols(genes.reset_index(drop=True))
    missing = gene.isna().to_numpy()
    if missing.any():
        logger.info(
            "%s: %d of %d protein groups have no gene name; using the leading protein id instead",
            source,
            int(missing.sum()),
            n,
        )
        gene = gene.where(~missing, lead)
    var = pd.DataFrame(
        {
            "protein_ids": ids.astype(object).to_numpy(),
            "protein_leading": lead.to_numpy(),
            "gene": gene.to_numpy(),
            "gene_leading": first_entry(gene).to_numpy(),
        }
    )
    is_con = prefix_flag(lead, CONTAMINANT_PREFIXES)
    is_dec = prefix_flag(lead, DECOY_PREFIXES)
    var["is_contaminant"] = is_con | (contaminant if contaminant is not None else False)
    var["is_decoy"] = is_dec | (decoy if decoy is not None else False)
    for key, col in (extra or {}).items():
        var[key] = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
    var.index = pd.Index(lead.astype(str).to_numpy())
    return var


# the AnnData ------------------------------------------------------------------------------------
def finish(
    values: pd.DataFrame,
    var: pd.DataFrame,
    *,
    source: str,
    reader: str,
    parameters: Mapping[str, Any],
    obs: pd.DataFrame | None = None,
) -> AnnData:
    """Assemble the AnnData: ``values`` is features x samples (rows aligned with ``var``).

    Zeros become NaN (the tools write 0 for "not quantified"); ``obs`` (index: data sample names)
    adds columns to ``.obs``. The sample sheet is joined by the reader's decorator
    (:mod:`kratom_omics.io._loader`).
    """
    mat = values.to_numpy(dtype=np.float64, copy=True)
    zeros = mat == 0
    if zeros.any():
        logger.info("%s: %d zero values set to missing (NaN)", source, int(zeros.sum()))
        mat[zeros] = np.nan
    names = [str(c) for c in values.columns]
    table = pd.DataFrame(mat.T, index=names, columns=var.index)
    adata = build_anndata(table, var, source=source, reader=reader, parameters=parameters)
    if obs is not None:
        for col in obs.columns:
            adata.obs[col] = obs[col].reindex(names).to_numpy()
    return adata
