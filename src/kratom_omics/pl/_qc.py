"""Quality-control plots: detection, missingness, distributions, correlation, PCA, coefficient of
variation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import check_obs_key, get_matrix
from ..errors import InputFormatError
from ._style import (
    group_colors,
    heatmap,
    new_axes,
    new_figure,
    plot_function,
    quiet,
    sample_order,
    tx,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["correlation", "cv", "detected", "intensity_distributions", "missingness", "pca"]

logger = logging.getLogger("kratom_omics")


def _display_matrix(adata: AnnData, layer: str | None) -> tuple[np.ndarray, str]:
    """The matrix to show and its axis label; ``layers["raw"]`` (as loaded) is shown as log2."""
    m = get_matrix(adata, layer)
    if layer == "raw":
        with quiet():
            m = np.where(m > 0, np.log2(np.where(m > 0, m, 1.0)), np.nan)
        return m, "log2(raw)"
    return m, "log2 value" if layer is None else f"{layer}"


def _sample_colors(adata: AnnData, groupby: str, palette: Mapping[str, str] | None) -> list[str]:
    colors = group_colors(adata, groupby, palette=palette)
    return [colors.get(str(v), "#999999") for v in adata.obs[groupby].astype(str)]


def _phase_legend(ax: Axes, colors: Mapping[str, str], present: Sequence[str], title: str) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colors[p], label=tx(p)) for p in colors if p in set(present)]
    ax.legend(
        handles=handles,
        title=title,
        fontsize="small",
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )


def _samples_on_x(ax: Axes, adata: AnnData, order: np.ndarray, groupby: str, *, pad: float) -> None:
    """One x tick per sample, named in ``order``, ``pad`` of room beyond the outer ones, and the
    legend of the ``groupby`` colours."""
    ax.set_xticks(
        np.arange(adata.n_obs),
        [tx(n) for n in adata.obs_names[order]],
        rotation=90,
        fontsize="x-small",
    )
    ax.set_xlabel("sample")
    ax.set_xlim(-pad, adata.n_obs - 1 + pad)
    _phase_legend(
        ax, group_colors(adata, groupby), adata.obs[groupby].astype(str).tolist(), groupby
    )


@plot_function
def detected(
    adata: AnnData,
    groupby: str = "phase",
    *,
    layer: str | None = None,
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Bar chart of the number of features detected (non-missing) per sample, coloured by phase.

    Parameters
    ----------
    adata
        Annotated data (samples x features), NaN = not detected.
    groupby
        Column of ``adata.obs`` colouring the bars.
    layer
        Layer to count in (default ``.X``).
    palette
        Colours per level overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw in (a new figure when None).

    Returns
    -------
    The Axes (one bar per sample, samples ordered by phase). Writes
    ``adata.uns[f"{groupby}_colors"]``.
    """
    check_obs_key(adata, groupby)
    order = sample_order(adata, groupby)
    counts = np.isfinite(get_matrix(adata, layer)).sum(axis=1)[order]
    colors = np.asarray(_sample_colors(adata, groupby, palette), dtype=object)[order]
    ax = new_axes(ax, (max(4.0, 0.25 * adata.n_obs + 1.5), 3.2))
    x = np.arange(adata.n_obs)
    ax.bar(x, counts, color=list(colors), edgecolor="none")
    ax.set_ylabel("features detected")
    ax.axhline(adata.n_vars, color="0.3", lw=0.8, ls=":")
    _samples_on_x(ax, adata, order, groupby, pad=0.6)
    return ax


@plot_function
def missingness(
    adata: AnnData,
    *,
    layer: str | None = None,
    n_bins: int = 20,
    ax: Axes | None = None,
) -> Axes:
    """Fraction of samples missing per feature against its mean observed intensity.

    Missing-not-at-random data (typical for mass spectrometry) show more missing values at low
    intensity.

    Parameters
    ----------
    adata
        Annotated data (samples x features), NaN = missing.
    layer
        Layer to use (default ``.X``; ``"raw"`` is shown as log2).
    n_bins
        Number of intensity bins of the binned-mean trend line.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes: one point per feature observed at least once, and the binned trend line.
    """
    m, label = _display_matrix(adata, layer)
    observed = np.isfinite(m)
    keep = observed.any(axis=0)
    with quiet():
        mean = np.nanmean(m[:, keep], axis=0)
    frac = 1.0 - observed[:, keep].mean(axis=0)
    ax = new_axes(ax, (4.5, 3.5))
    ax.scatter(mean, frac, s=8, alpha=0.5, color="0.3", edgecolors="none", label="feature")
    if mean.size >= 2 and n_bins >= 1:
        edges = np.linspace(mean.min(), mean.max(), n_bins + 1)
        idx = np.clip(np.digitize(mean, edges) - 1, 0, n_bins - 1)
        sums = np.bincount(idx, weights=frac, minlength=n_bins)
        ns = np.bincount(idx, minlength=n_bins)
        centers = 0.5 * (edges[:-1] + edges[1:])
        ok = ns > 0
        ax.plot(centers[ok], sums[ok] / ns[ok], color="#C44E52", lw=2, label="binned mean")
    ax.set_xlabel(f"mean observed {label}")
    ax.set_ylabel("fraction of samples missing")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", frameon=False, loc="upper right")
    return ax


@plot_function
def intensity_distributions(
    adata: AnnData,
    groupby: str = "phase",
    *,
    layer: str | None = None,
    before: str | None = None,
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Box plots of the values of each sample, coloured by phase; optionally before and after a
    step.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs`` colouring the boxes.
    layer
        Layer shown (default ``.X``, e.g. normalised log2 values); ``"raw"`` is shown as log2.
    before
        A second layer (e.g. ``"raw"`` or the log2 values before normalisation) drawn as a light,
        hatched box left of each sample's box, to compare distributions before and after
        normalisation.
    palette
        Colours per level overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes: one box per sample (two with ``before``), samples ordered by phase.
    """
    check_obs_key(adata, groupby)
    order = sample_order(adata, groupby)
    after, label = _display_matrix(adata, layer)
    colors = np.asarray(_sample_colors(adata, groupby, palette), dtype=object)[order]
    ax = new_axes(ax, (max(4.5, 0.3 * adata.n_obs * (2 if before else 1) + 1.5), 3.5))
    x = np.arange(adata.n_obs, dtype=float)

    def _boxes(m: np.ndarray, pos: np.ndarray, width: float, light: bool) -> None:
        data = [col[np.isfinite(col)] for col in m[order]]
        bp = ax.boxplot(
            data,
            positions=pos,
            widths=width,
            patch_artist=True,
            showfliers=False,
            manage_ticks=False,
        )
        for patch, c in zip(bp["boxes"], colors, strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.35 if light else 0.9)
            if light:
                patch.set_hatch("//")
        for med in bp["medians"]:
            med.set_color("black")
            med.set_gid("median")

    if before is not None:
        m_before, label_before = _display_matrix(adata, before)
        _boxes(m_before, x - 0.2, 0.35, light=True)
        _boxes(after, x + 0.2, 0.35, light=False)
        ax.set_title(f"hatched: {label_before}; solid: {label}", fontsize="small")
    else:
        _boxes(after, x, 0.7, light=False)
    ax.set_ylabel(label)
    _samples_on_x(ax, adata, order, groupby, pad=0.7)
    return ax


@plot_function
def correlation(
    adata: AnnData,
    groupby: str = "phase",
    *,
    layer: str | None = None,
    method: Literal["pearson", "spearman"] = "pearson",
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of sample-sample correlations (pairwise-complete features), samples ordered by phase.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs`` ordering the samples and colouring their tick labels.
    layer
        Layer to correlate (default ``.X``).
    method
        ``"pearson"`` or ``"spearman"``.
    palette
        Colours per level overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes holding the heatmap (matrix ``n_obs x n_obs``).
    """
    if method not in ("pearson", "spearman"):
        raise InputFormatError(f"method={method!r} is not supported; use 'pearson' or 'spearman'.")
    check_obs_key(adata, groupby)
    order = sample_order(adata, groupby)
    m, _ = _display_matrix(adata, layer)
    names = adata.obs_names.to_numpy().astype(str)[order]
    corr = pd.DataFrame(m[order].T, columns=names).corr(method=method, min_periods=3)
    ax = new_axes(ax, (max(4.5, 0.28 * adata.n_obs + 2.5), max(4.0, 0.28 * adata.n_obs + 1.5)))
    heatmap(ax, corr.to_numpy(), names, names, cmap="viridis", label=f"{method} correlation")
    ax.set_aspect("equal")
    colors = np.asarray(_sample_colors(adata, groupby, palette), dtype=object)[order]
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for t, c in zip(ticks, colors, strict=True):
            t.set_color(c)
            t.set_fontsize("x-small")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return ax


def _pca_input(m: np.ndarray, missing: str, min_complete: int) -> tuple[np.ndarray, str]:
    complete = np.isfinite(m).all(axis=0)
    if missing == "complete" and complete.sum() >= min_complete:
        return m[:, complete], f"{int(complete.sum())} complete features"
    observed = np.isfinite(m).any(axis=0)
    sub = m[:, observed]
    if missing in ("complete", "mean"):
        fill = np.nanmean(sub, axis=0)
        how = "feature mean"
    elif missing == "min":
        fill = np.nanmin(sub, axis=0)
        how = "feature minimum"
    else:
        raise InputFormatError(
            f"missing={missing!r} is not supported; use 'complete', 'mean' or 'min'."
        )
    out = np.where(np.isfinite(sub), sub, fill[None, :])
    return out, f"{int(observed.sum())} features, missing set to the {how} (plot only)"


def _pca(x: np.ndarray, n_comps: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample coordinates and explained variance ratios of the first ``n_comps`` principal
    components of ``x`` (samples x features), centred.

    The numbers of scanpy's ``sc.pp.pca(zero_center=True)`` (scikit-learn's PCA), signs included:
    each component's sign makes the largest absolute loading positive (``svd_flip`` with
    ``u_based_decision=False``). Computed with one thin SVD (a report's figures are drawn in
    processes of their own, which then need not import scanpy and scikit-learn, about 1 s).
    """
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean(axis=0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    u, s, vt = u[:, :n_comps], s[:n_comps], vt[:n_comps]
    signs = np.sign(vt[np.arange(n_comps), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    coords = u * (s * signs)[None, :]
    total = float((xc**2).sum())
    ratio = s**2 / total if total > 0 else np.zeros_like(s)
    return coords, ratio


@plot_function
def pca(
    adata: AnnData,
    color: str | Sequence[str] = ("phase", "batch"),
    *,
    layer: str | None = None,
    missing: Literal["complete", "mean", "min"] = "complete",
    components: tuple[int, int] = (1, 2),
    min_complete: int = 20,
    palette: Mapping[str, str] | None = None,
) -> Figure:
    """PCA of the samples, one panel per ``color`` column (default phase and batch).

    The PCA (the numbers of scanpy's ``sc.pp.pca`` on centred values) uses the features observed
    in every sample when ``missing="complete"`` and at least ``min_complete`` such features exist;
    otherwise (or with ``missing="mean"``/``"min"``) missing values are filled with the feature
    mean/minimum for the plot only.
    ``adata`` is not changed, except for the stored colours.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    color
        ``.obs`` column(s) to colour by; columns absent from ``.obs`` are skipped with a log
        message,
        except when none is present.
    layer
        Layer to use (default ``.X``).
    missing
        How to handle missing values, see above.
    components
        The two principal components (1-based) to show.
    min_complete
        Fewest complete features for ``missing="complete"``.
    palette
        Colours per phase overriding ``adata.uns["phase_colors"]``.

    Returns
    -------
    The Figure (one Axes per colour column; axes labelled ``PCk (x.x%)``). Writes
    ``adata.uns[f"{column}_colors"]`` for each colour column.
    """
    cols = [color] if isinstance(color, str) else list(color)
    present = [c for c in cols if c in adata.obs.columns]
    for c in cols:
        if c not in present:
            logger.info("pca: obs column %r not present; panel skipped", c)
    if not present:
        check_obs_key(adata, cols[0] if cols else "phase", argument="color")
    c1, c2 = components
    m, _ = _display_matrix(adata, layer)
    x, how = _pca_input(m, missing, min_complete)
    n_comps = max(c1, c2)
    if n_comps > min(x.shape) - 1:
        raise InputFormatError(
            f"components={components!r} needs at least {n_comps + 1} samples and features; "
            f"got {x.shape[0]} samples and {x.shape[1]} usable features."
        )
    coords, ratio = _pca(x, n_comps)
    fig, axes = new_figure(len(present), ncols=len(present), panel_size=(4.2, 3.6))
    for ax, col in zip(axes, present, strict=True):
        colors = group_colors(adata, col, palette=palette if col == "phase" else None)
        values = adata.obs[col].astype(str).to_numpy()
        for level, c in colors.items():
            sel = values == level
            if sel.any():
                ax.scatter(
                    coords[sel, c1 - 1],
                    coords[sel, c2 - 1],
                    color=c,
                    label=tx(level),
                    s=36,
                    edgecolors="white",
                )
        ax.set_xlabel(f"PC{c1} ({100 * ratio[c1 - 1]:.1f}%)")
        ax.set_ylabel(f"PC{c2} ({100 * ratio[c2 - 1]:.1f}%)")
        ax.set_title(tx(col))
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"PCA on {how}", fontsize="small")
    return fig


@plot_function
def cv(
    adata: AnnData,
    groupby: str = "phase",
    *,
    layer: str | None = None,
    log2: bool = True,
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Coefficient of variation (%) of each feature within each phase, as box plots.

    For log2 data (``log2=True``) the CV is computed on the linear scale (``2**x``), which is how
    proteomics CVs are usually reported. Features with fewer than 2 values in a phase are left out
    there.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs`` defining the groups.
    layer
        Layer to use (default ``.X``).
    log2
        Whether the values are log2 (then back-transformed before computing the CV).
    palette
        Colours per level overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw in.

    Returns
    -------
    The Axes: one box per level of ``groupby``, labelled with the median CV.
    """
    check_obs_key(adata, groupby)
    m = get_matrix(adata, layer)
    if log2:
        m = np.exp2(m)
    colors = group_colors(adata, groupby, palette=palette)
    values = adata.obs[groupby].astype(str).to_numpy()
    levels = [lv for lv in colors if (values == lv).any()]
    data = []
    for lv in levels:
        sub = m[values == lv]
        n = np.isfinite(sub).sum(axis=0)
        with quiet():
            sd = (
                np.nanstd(sub, axis=0, ddof=1)
                if sub.shape[0] > 1
                else np.full(sub.shape[1], np.nan)
            )
            mean = np.nanmean(sub, axis=0)
            v = 100.0 * sd / mean
        data.append(v[(n >= 2) & np.isfinite(v)])
    ax = new_axes(ax, (max(3.5, 1.1 * len(levels) + 1.5), 3.5))
    bp = ax.boxplot(data, patch_artist=True, showfliers=False, widths=0.6)
    for patch, lv in zip(bp["boxes"], levels, strict=True):
        patch.set_facecolor(colors[lv])
    for med in bp["medians"]:
        med.set_color("black")
    ax.set_xticks(np.arange(1, len(levels) + 1), [tx(lv) for lv in levels])
    for i, d in enumerate(data, start=1):
        if d.size:
            ax.annotate(
                f"{np.median(d):.1f}%",
                (i, np.median(d)),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize="x-small",
            )
    ax.set_ylabel("CV (%)" + (" of 2^x" if log2 else ""))
    ax.set_xlabel(groupby)
    return ax
