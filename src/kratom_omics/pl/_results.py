"""Plots of differential results: volcano, MA, p-value histogram, heatmap of top features."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import get_matrix
from ..errors import InputFormatError
from ._style import (
    DOWN_COLOR,
    NS_COLOR,
    UP_COLOR,
    biomarker_features,
    contrast_table,
    contrasts_of,
    differential_result,
    fdr_of,
    feature_labels,
    group_colors,
    groupby_of,
    heatmap,
    label_points,
    lfc_of,
    match_features,
    new_axes,
    plot_function,
    quiet,
    sample_order,
    scale_labels,
    scatter_groups,
    tx,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes

__all__ = ["ma", "pvalue_histogram", "top_heatmap", "volcano"]


def _status(table: pd.DataFrame, fdr: float, lfc: float) -> np.ndarray:
    """``"up"``, ``"down"`` or ``"ns"`` per row from ``padj`` and ``log2fc``."""
    padj = pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float)
    fc = pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float)
    sig = (padj < fdr) & (np.abs(fc) >= lfc)
    return np.where(sig & (fc > 0), "up", np.where(sig & (fc < 0), "down", "ns"))


def _labels_for(
    adata: AnnData,
    table: pd.DataFrame,
    label: str | Sequence[str] | None,
    n_top: int,
    contrast: str,
    key: str,
) -> list[str]:
    if label is not None:
        wanted = match_features(adata, label, argument="label")
    else:
        wanted = biomarker_features(adata, contrast, key=key)
        if n_top > 0:
            top = table.sort_values("pvalue", kind="stable")["feature"].head(n_top).tolist()
            wanted += [f for f in top if f not in wanted]
    return [f for f in wanted if f in set(table["feature"])]


def _scatter_by_status(ax: Axes, x: np.ndarray, y: np.ndarray, status: np.ndarray) -> None:
    groups = (
        ("ns", NS_COLOR, "not significant"),
        ("down", DOWN_COLOR, "down"),
        ("up", UP_COLOR, "up"),
    )
    scatter_groups(ax, x, y, status, groups, background="ns", size=16)


def _annotate(
    ax: Axes, adata: AnnData, table: pd.DataFrame, feats: list[str], xcol: str, ycol: np.ndarray
) -> None:
    if not feats:
        return
    pos = pd.Index(table["feature"]).get_indexer(feats)
    names = feature_labels(adata, feats)
    xs = table[xcol].to_numpy(dtype=float)[pos]
    label_points(ax, xs, ycol[pos], names, size=40, gid="feature-label")


#: Parameters and result shared by the docstrings of :func:`volcano` and :func:`ma`.
_CONTRAST_PLOT_PARAMETERS = """adata
    Annotated data with results of :func:`kratom_omics.tl.differential` in ``adata.uns[key]``.
contrast
    Contrast to show, e.g. ``"withdrawal - control"`` (spacing is normalised; default: the first
    one).
key
    Key of the differential result in ``adata.uns``.
fdr
    FDR threshold (default: the one stored with the result, else 0.05).
lfc
    Absolute log2 fold-change threshold for colouring (default: the TREAT threshold ``lfc`` of the
    analysis, else 0).
label
    Features to label, matched by id or gene symbol (case ignored), e.g. ``["Rab35"]``. Default:
    the candidate biomarkers found by :func:`kratom_omics.tl.flag_biomarkers` on this result (under
    any ``key_added``) and the ``n_top`` smallest p-values.
n_top
    Number of top features labelled when ``label`` is None.
ax
    Axes to draw in.

Returns
-------
The Axes (scatter collections with gids ``"ns"``, ``"down"``, ``"up"``; labels as text
annotations)."""


def _shared_doc_text(summary: str) -> str:
    """``summary`` followed by the shared Parameters and Returns sections, indented as docstrings are."""
    body = "\n".join(("    " + ln if ln else "") for ln in _CONTRAST_PLOT_PARAMETERS.split("\n"))
    return summary.rstrip() + "\n\n    Parameters\n    ----------\n" + body + "\n    "


def _finite_fc(table: pd.DataFrame) -> np.ndarray:
    """log2 fold changes with on/off (+-inf) results drawn at the plot edge."""
    fc = pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(fc)
    if (~finite & ~np.isnan(fc)).any() and finite.any():
        edge = 1.1 * np.max(np.abs(fc[finite]))
        fc = np.where(np.isposinf(fc), edge, np.where(np.isneginf(fc), -edge, fc))
    return fc


def _volcano_axes(
    ax: Axes, adata: AnnData, table: pd.DataFrame, key: str, contrast: str, fdr: float, lfc: float
) -> tuple[str, np.ndarray, np.ndarray]:
    """Volcano: log2 fold change against -log10 p, the FDR and fold-change lines, the s0 curve."""
    fc = _finite_fc(table)
    p = pd.to_numeric(table["pvalue"], errors="coerce").to_numpy(dtype=float)
    with quiet():
        y = -np.log10(np.clip(p, 1e-300, 1.0))
    _scatter_by_status(ax, fc, y, _status(table, fdr, lfc))
    padj = pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float)
    passing = p[padj < fdr]
    if passing.size:
        ax.axhline(-np.log10(passing.max()), color="0.4", ls="--", lw=0.8, gid="fdr-line")
    if lfc > 0:
        for v in (-lfc, lfc):
            ax.axvline(v, color="0.4", ls="--", lw=0.8, gid="lfc-line")
    curve = differential_result(adata, key).store.get("s0_curve")
    if isinstance(curve, pd.DataFrame) and {"log2fc", "neg_log10_p"} <= set(curve.columns):
        if "contrast" in curve.columns:
            curve = curve.loc[curve["contrast"].astype(str) == contrast]
        for sign in (1, -1):
            part = curve.loc[np.sign(curve["log2fc"]) == sign].sort_values("log2fc")
            if len(part):
                ax.plot(part["log2fc"], part["neg_log10_p"], color="0.2", lw=1, gid="s0-curve")
    ax.set_xlabel(f"{scale_labels(adata)[1]} ({tx(contrast)})")
    ax.set_ylabel("-log10 p-value")
    return "log2fc", fc, y


def _ma_axes(
    ax: Axes, adata: AnnData, table: pd.DataFrame, key: str, contrast: str, fdr: float, lfc: float
) -> tuple[str, np.ndarray, np.ndarray]:
    """MA: mean log2 abundance against log2 fold change, with the zero line."""
    fc = _finite_fc(table)
    mean = pd.to_numeric(table["mean_log2"], errors="coerce").to_numpy(dtype=float)
    _scatter_by_status(ax, mean, fc, _status(table, fdr, lfc))
    ax.axhline(0, color="0.3", lw=0.8)
    value, effect = scale_labels(adata)
    ax.set_xlabel(f"mean {value}")
    ax.set_ylabel(f"{effect} ({tx(contrast)})")
    return "mean_log2", mean, fc


def _contrast_plot(
    name: str,
    draw: Callable[..., tuple[str, np.ndarray, np.ndarray]],
    size: tuple[float, float],
    summary: str,
) -> Callable[..., Axes]:
    """A plot of one contrast's features coloured by significance: one signature and one
    parameter documentation for :func:`volcano` and :func:`ma`."""

    def plot(
        adata: AnnData,
        contrast: str | None = None,
        *,
        key: str = "differential",
        fdr: float | None = None,
        lfc: float | None = None,
        label: str | Sequence[str] | None = None,
        n_top: int = 5,
        ax: Axes | None = None,
    ) -> Axes:
        table = contrast_table(adata, key, contrast)
        contrast = differential_result(adata, key).contrast(contrast)
        fdr = fdr_of(adata, key, fdr)
        lfc = lfc_of(adata, key, lfc)
        ax = new_axes(ax, size)
        xcol, _, y = draw(ax, adata, table, key, contrast, fdr, lfc)
        labels = _labels_for(adata, table, label, n_top, contrast, key)
        _annotate(ax, adata, table, labels, xcol, y)
        ax.set_title(f"{tx(contrast)} (FDR < {fdr:g})", fontsize="medium")
        ax.legend(fontsize="x-small", frameon=False, loc="upper left")
        return ax

    plot.__name__ = plot.__qualname__ = name
    plot.__doc__ = _shared_doc_text(summary)
    return plot


volcano = plot_function(
    _contrast_plot(
        "volcano",
        _volcano_axes,
        (5.0, 4.2),
        """Volcano plot of one contrast: log2 fold change against -log10 p-value.

    Significant features (``padj < fdr`` and ``|log2fc| >= lfc``) are coloured up/down; dashed lines
    show the fold-change threshold and the p-value at the FDR threshold. When
    ``adata.uns[key]["s0_curve"]`` exists (a DataFrame with columns ``log2fc`` and ``neg_log10_p``,
    optionally ``contrast``), it is drawn.
    """,
    )
)
ma = plot_function(
    _contrast_plot(
        "ma",
        _ma_axes,
        (5.0, 4.0),
        """MA plot of one contrast: mean log2 abundance against log2 fold change.

    Significant features (``padj < fdr`` and ``|log2fc| >= lfc``) are coloured up/down.
    """,
    )
)


@plot_function
def pvalue_histogram(
    adata: AnnData,
    contrast: str | None = None,
    *,
    key: str = "differential",
    bins: int = 20,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of the raw p-values of one contrast with the level expected if no feature changed.

    A flat histogram with a peak near 0 is healthy; a hump or a dip near 1 points to a model
    problem.

    Parameters
    ----------
    adata
        Annotated data with results of :func:`kratom_omics.tl.differential` in ``adata.uns[key]``.
    contrast
        Contrast to show (default: the first one).
    key
        Key of the differential result in ``adata.uns``.
    bins
        Number of equal-width bins on [0, 1].
    ax
        Axes to draw in.

    Returns
    -------
    The Axes (``bins`` bars; a dashed line at ``n / bins``).
    """
    if bins < 1:
        raise InputFormatError(f"bins={bins!r} must be a positive integer, e.g. 20.")
    table = contrast_table(adata, key, contrast)
    contrast = contrast or contrasts_of(adata, key)[0]
    p = pd.to_numeric(table["pvalue"], errors="coerce").to_numpy(dtype=float)
    p = p[np.isfinite(p)]
    ax = new_axes(ax, (4.5, 3.3))
    ax.hist(p, bins=np.linspace(0, 1, bins + 1).tolist(), color="0.55", edgecolor="white")
    ax.axhline(p.size / bins, color="#C44E52", ls="--", lw=1, gid="uniform-level")
    ax.set_xlim(0, 1)
    ax.set_xlabel("p-value")
    ax.set_ylabel("features")
    ax.set_title(tx(contrast), fontsize="medium")
    return ax


@plot_function
def top_heatmap(
    adata: AnnData,
    contrast: str | None = None,
    *,
    key: str = "differential",
    n_top: int = 30,
    groupby: str | None = None,
    layer: str | None = None,
    scale: Literal["zscore", "center", "none"] = "zscore",
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of the top features across samples ordered by phase (and time point).

    Features are ranked by the F-test p-value over all contrasts (``f_table``) when ``contrast`` is
    None and it is stored, else by the p-value of ``contrast`` (the first one by default). Values
    are z-scored (or centred) per feature; missing values are left blank. A bar above the heatmap
    shows each sample's phase.

    Parameters
    ----------
    adata
        Annotated data with results of :func:`kratom_omics.tl.differential` in ``adata.uns[key]``.
    contrast
        Contrast to rank by (None: the F-test when available).
    key
        Key of the differential result in ``adata.uns``.
    n_top
        Number of features shown.
    groupby
        Column ordering and colouring samples (default: the analysis' ``groupby``, else
        ``"phase"``).
    layer
        Layer of values shown (default ``.X``).
    scale
        ``"zscore"`` (default), ``"center"`` or ``"none"``, per feature.
    palette
        Colours per level overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes of the heatmap (``n_top x n_obs``; the phase bar is an inset Axes with gid
    ``"phase-bar"``).
    """
    from matplotlib.colors import ListedColormap

    if n_top < 1:
        raise InputFormatError(f"n_top={n_top!r} must be a positive integer, e.g. 30.")
    if scale not in ("zscore", "center", "none"):
        raise InputFormatError(
            f"scale={scale!r} is not supported; use 'zscore', 'center' or 'none'."
        )
    res = differential_result(adata, key)
    groupby = groupby_of(adata, key, groupby)
    f_table = res.table("f_table") if res.has("f_table") else None
    if contrast is None and f_table is not None and len(f_table):
        ranked = f_table.sort_values("pvalue", kind="stable")["feature"].astype(str)
        what = "F-test"
    else:
        ranked = contrast_table(adata, key, contrast).sort_values("pvalue", kind="stable")[
            "feature"
        ]
        what = contrast or contrasts_of(adata, key)[0]
    feats = [f for f in ranked if f in set(adata.var_names)][:n_top]
    order = sample_order(adata, groupby)
    cols = adata.var_names.get_indexer(feats)
    m = get_matrix(adata, layer)[np.ix_(order, cols)].T
    with quiet():
        if scale != "none":
            m = m - np.nanmean(m, axis=1, keepdims=True)
        if scale == "zscore":
            sd = np.nanstd(m, axis=1, ddof=1, keepdims=True)
            m = m / np.where(sd > 0, sd, 1.0)
    ax = new_axes(ax, (max(5.0, 0.3 * adata.n_obs + 3), max(3.5, 0.22 * len(feats) + 1.8)))
    names = adata.obs_names.to_numpy().astype(str)[order]
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1.0
    heatmap(
        ax,
        m,
        feature_labels(adata, feats),
        names,
        cmap="RdBu_r",
        vmin=-lim if scale != "none" else None,
        vmax=lim if scale != "none" else None,
        label={"zscore": "z-score", "center": "centred log2", "none": "log2"}[scale],
    )
    ax.tick_params(axis="both", labelsize="x-small")
    colors = group_colors(adata, groupby, palette=palette)
    levels = list(colors)
    codes = np.array(
        [levels.index(str(v)) if str(v) in levels else -1 for v in adata.obs[groupby].astype(str)]
    )[order]
    bar = ax.inset_axes((0.0, 1.01, 1.0, 0.04))
    bar.imshow(
        codes[None, :],
        aspect="auto",
        cmap=ListedColormap([colors[lv] for lv in levels]),
        vmin=0,
        vmax=max(len(levels) - 1, 1),
        interpolation="nearest",
    )
    bar.set_gid("phase-bar")
    bar.set_axis_off()
    ax.set_title(f"top {len(feats)} features by {tx(what)}", fontsize="medium", pad=18)
    ax.set_xlabel("")
    return ax
