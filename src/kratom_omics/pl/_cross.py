"""Proteins against the marks at their genes' promoters (:func:`kratom_omics.tl.cross_modality`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._style import NS_COLOR, label_points, new_axes, plot_function, quiet, scatter_groups, tx

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from mudata import MuData

__all__ = ["PAIR_GROUPS", "protein_vs_mark"]

#: What is significant in a pair: gid of its scatter collection, colour and legend text.
PAIR_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("neither", NS_COLOR, "neither significant"),
    ("protein", "#dd8452", "protein only"),
    ("mark", "#55a868", "mark only"),
    ("both", "#8172b3", "both significant"),
)

#: Where the mark was read, by region type (the y axis label).
_REGION_TEXT = {
    "promoter": "the promoter",
    "gene_body": "the gene body",
    "peak": "peaks near the gene",
}


def pair_group(pairs: pd.DataFrame) -> np.ndarray:
    """``"both"``, ``"protein"``, ``"mark"`` or ``"neither"``: the sides significant in each pair."""
    p = pairs["protein_significant"].to_numpy(dtype=bool)
    m = pairs["mark_significant"].to_numpy(dtype=bool)
    return np.where(p & m, "both", np.where(p, "protein", np.where(m, "mark", "neither")))


def _pairs_of(data: object, key: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        missing = {"contrast", "gene", "protein_log2fc", "mark_log2fc"} - set(data.columns)
        if missing:
            raise InputFormatError(
                f"the table lacks {sorted(missing)}; pass the pairs of "
                "kom.get.cross_modality (or the data kom.tl.cross_modality ran on)."
            )
        return data
    from ..get._cross import cross_modality

    return cross_modality(data, key)


def _edge(values: np.ndarray) -> np.ndarray:
    """On/off effects (+-inf) drawn at the plot edge."""
    finite = np.isfinite(values)
    if finite.any() and (np.isinf(values)).any():
        edge = 1.1 * float(np.max(np.abs(values[finite])))
        values = np.where(np.isposinf(values), edge, np.where(np.isneginf(values), -edge, values))
    return values


@plot_function
def protein_vs_mark(
    data: pd.DataFrame | AnnData | Mapping[str, AnnData] | MuData,
    contrast: str | None = None,
    *,
    key: str = "cross_modality",
    label: str | Sequence[str] | None = None,
    n_top: int = 5,
    ax: Axes | None = None,
) -> Axes:
    """Scatter of each protein's log2 fold change against the mark's at its gene's promoter.

    One point per protein and region (:func:`kratom_omics.tl.cross_modality`), coloured by which
    side is significant (neither, protein only, mark only, both); the candidate proteins (Rab35,
    Hdac2, ...) are labelled with their gene, and Spearman's correlation over all pairs is given
    in a corner.

    Parameters
    ----------
    data
        The pairs (:func:`kratom_omics.get.cross_modality`), or what ``tl.cross_modality`` ran
        on (a MuData, a mapping of datasets or the protein AnnData).
    contrast
        Contrast to show (default: the first of the pairs).
    key
        Key of ``.uns`` holding the pairs (when ``data`` is not the table).
    label
        Genes to label (letter case ignored); default: the candidate proteins and the ``n_top``
        pairs significant on both sides with the smallest protein adjusted p-values.
    n_top
        Pairs significant on both sides labelled besides the candidates when ``label`` is None.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes (scatter collections with gids ``"neither"``, ``"protein"``, ``"mark"``, ``"both"``;
    gene labels as text annotations with gid ``"gene-label"``; the correlation as text with gid
    ``"correlation"``).
    """
    pairs = _pairs_of(data, key)
    if pairs.empty:
        raise InputFormatError(
            "no protein-region pairs to draw: no protein's gene is a gene of the tracks' regions."
        )
    present = list(pd.unique(pairs["contrast"].astype(str)))
    if contrast is None:
        contrast = present[0]
    elif contrast not in present:
        raise KeyNotFoundError(
            did_you_mean(str(contrast), present, what="contrast").replace(
                "is not available", "is not a contrast of the gene pairs"
            )
        )
    sub = pairs.loc[pairs["contrast"].astype(str) == contrast].reset_index(drop=True)
    x = _edge(pd.to_numeric(sub["protein_log2fc"], errors="coerce").to_numpy(dtype=float))
    y = _edge(pd.to_numeric(sub["mark_log2fc"], errors="coerce").to_numpy(dtype=float))
    group = pair_group(sub)
    ax = new_axes(ax, (5.0, 4.4))
    scatter_groups(ax, x, y, group, PAIR_GROUPS, background="neither", size=18)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8)
    if label is not None:
        wanted = {str(g).casefold() for g in ([label] if isinstance(label, str) else label)}
        rows = np.flatnonzero(sub["gene"].astype(str).str.casefold().isin(wanted).to_numpy())
    else:
        cand = np.flatnonzero((sub["candidate"].astype(str) != "").to_numpy())
        both = np.flatnonzero(group == "both")
        order = np.argsort(sub["protein_padj"].to_numpy(dtype=float)[both], kind="stable")
        top = [int(i) for i in both[order] if i not in set(cand)][: max(n_top, 0)]
        rows = np.array([*cand.tolist(), *top], dtype=int)
    finite = np.isfinite(x[rows]) & np.isfinite(y[rows]) if rows.size else np.array([], bool)
    rows = rows[finite]
    if rows.size:
        label_points(
            ax, x[rows], y[rows], sub["gene"].iloc[rows].tolist(), size=44, gid="gene-label"
        )
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() >= 3:
        from scipy.stats import spearmanr

        with quiet():
            rho = float(spearmanr(x[ok], y[ok]).statistic)
        ax.text(
            0.98,
            0.02,
            f"Spearman rho = {rho:.2f} ({int(ok.sum())} pairs)",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize="x-small",
            gid="correlation",
        )
    marks = [m for m in pd.unique(sub["mark"].astype(str)) if m] if "mark" in sub else []
    kinds = list(pd.unique(sub["region_type"].astype(str))) if "region_type" in sub else []
    where = _REGION_TEXT.get(kinds[0], "the gene") if len(kinds) == 1 else "the gene"
    what = marks[0] if len(marks) == 1 else "mark"
    datasets = (
        list(pd.unique(sub["protein_dataset"].astype(str))) if "protein_dataset" in sub else []
    )
    ax.set_xlabel(
        "protein log2 fold change" + (f" ({tx(datasets[0])})" if len(datasets) == 1 else "")
    )
    ax.set_ylabel(f"{tx(what)} at {where}: log2 fold change")
    ax.set_title(f"protein vs {tx(what)}: {tx(contrast)}", fontsize="medium")
    ax.legend(fontsize="x-small", frameon=False, loc="upper left")
    return ax
