"""Histone views: peptidoform composition, mark fold-change heatmap, western-blot values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import get_matrix
from .._results import Result, is_result
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._style import (
    differential_result,
    fdr_of,
    feature_labels,
    group_colors,
    groupby_of,
    heatmap,
    match_features,
    new_axes,
    new_figure,
    plot_function,
    quiet,
    tx,
)
from ._trajectories import stages

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["family_fractions", "histone_composition", "mark_heatmap", "western"]


def family_fractions(
    adata: AnnData,
    groupby: str = "phase",
    *,
    layer: str | None = "raw",
    family: str = "peptide_family",
    timepoint: str | None = "timepoint",
) -> pd.DataFrame:
    """Mean fraction of each peptidoform within its peptide family, per stage (what
    :func:`histone_composition` draws).

    Values of each sample are closed within each family (divided by the family's sum over observed
    forms) before averaging, so the fractions of a family sum to 1 in every stage. ``layer="raw"``
    (the ratios or areas as loaded) is used as is; ``layer=None`` uses ``2**X`` (log2 values).

    Parameters
    ----------
    adata
        Histone peptidoform data with ``adata.var[family]``.
    groupby
        Column of ``adata.obs`` holding the ordered phases.
    layer
        ``"raw"`` (default; ``2**X`` when absent) or None for ``2**X``.
    family
        Column of ``adata.var`` naming each feature's peptide family.
    timepoint
        Column of ``adata.obs`` splitting phases by time point (when present).

    Returns
    -------
    Long DataFrame with columns ``family``, ``feature``, ``label``, ``stage``, ``fraction``; nothing
    is written to ``adata``.
    """
    if family not in adata.var.columns:
        raise KeyNotFoundError(
            did_you_mean(family, adata.var.columns, what="family").replace(
                "is not available",
                "is not a column of adata.var (histone data carry 'peptide_family')",
            )
        )
    if layer is not None and layer not in adata.layers:
        layer = None
    m = get_matrix(adata, layer)
    if layer is None:
        m = np.exp2(m)
    m = np.where(np.isfinite(m) & (m >= 0), m, 0.0)
    fam = adata.var[family].astype(str).to_numpy()
    codes, uniq = pd.factorize(fam)
    # family sums per sample through one indicator matrix product (no loop over features)
    indicator = np.zeros((adata.n_vars, uniq.size))
    indicator[np.arange(adata.n_vars), codes] = 1.0
    sums = m @ indicator
    with quiet():
        frac = m / sums[:, codes]
    st = stages(adata, groupby, timepoint=timepoint)
    names = list(st["stage"].cat.categories)
    onehot = (st["stage"].cat.codes.to_numpy()[:, None] == np.arange(len(names))[None, :]).astype(
        float
    )
    frac0 = np.nan_to_num(frac, nan=0.0)
    counts = onehot.T @ np.isfinite(frac)
    with quiet():
        means = (onehot.T @ frac0) / counts
    labels = (
        adata.var["peptidoform"].astype(str).to_numpy()
        if "peptidoform" in adata.var.columns
        else adata.var_names.to_numpy().astype(str)
    )
    out = pd.DataFrame(
        {
            "family": np.repeat(fam[None, :], len(names), axis=0).ravel(),
            "feature": np.repeat(
                adata.var_names.to_numpy().astype(str)[None, :], len(names), axis=0
            ).ravel(),
            "label": np.repeat(labels[None, :], len(names), axis=0).ravel(),
            "stage": np.repeat(np.array(names, dtype=object), adata.n_vars),
            "fraction": means.ravel(),
        }
    )
    return out


@plot_function
def histone_composition(
    adata: AnnData,
    groupby: str = "phase",
    *,
    families: str | Sequence[str] | None = None,
    layer: str | None = "raw",
    family: str = "peptide_family",
    timepoint: str | None = "timepoint",
    ncols: int = 4,
) -> Figure:
    """Stacked bars of peptidoform fractions within each peptide family, one bar per phase (stage).

    Parameters
    ----------
    adata
        Histone peptidoform data with ``adata.var[family]`` (and ``peptidoform`` for labels).
    groupby
        Column of ``adata.obs`` holding the ordered phases.
    families
        Families to show (default: all, in order of appearance).
    layer
        ``"raw"`` (ratios/areas as loaded, default; falls back to ``2**X`` when absent) or None for
        ``2**X``.
    family
        Column of ``adata.var`` naming each feature's peptide family.
    timepoint
        Column of ``adata.obs`` splitting withdrawal by time point (when present).
    ncols
        Panels per row.

    Returns
    -------
    The Figure, one Axes per family (title = family); each bar segment is a ``Rectangle`` whose
    height is the mean fraction (see :func:`family_fractions`).
    """
    table = family_fractions(adata, groupby, layer=layer, family=family, timepoint=timepoint)
    all_fams = list(pd.unique(table["family"]))
    if families is None:
        chosen = all_fams
    else:
        chosen = [families] if isinstance(families, str) else list(families)
        for f in chosen:
            if f not in all_fams:
                raise KeyNotFoundError(did_you_mean(f, all_fams, what="families"))
    stage_names = list(pd.unique(table["stage"]))
    fig, axes = new_figure(
        len(chosen), ncols=ncols, panel_size=(max(2.6, 0.55 * len(stage_names) + 1.8), 3.4)
    )
    for ax, fam in zip(axes, chosen, strict=True):
        sub = table.loc[table["family"] == fam]
        wide = sub.pivot(index="stage", columns="label", values="fraction").reindex(stage_names)
        wide = wide[list(pd.unique(sub["label"]))]
        colors = _tab20(wide.shape[1])
        bottom = np.zeros(len(stage_names))
        x = np.arange(len(stage_names))
        for k, lab in enumerate(wide.columns):
            h = np.nan_to_num(wide[lab].to_numpy(dtype=float))
            ax.bar(
                x,
                h,
                bottom=bottom,
                color=colors[k],
                label=tx(lab),
                width=0.75,
                edgecolor="white",
                linewidth=0.3,
            )
            bottom += h
        ax.set_xticks(x, [tx(n) for n in stage_names], rotation=45, ha="right", fontsize="small")
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("fraction of family")
        ax.set_title(tx(fam), fontsize="medium")
        ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _tab20(n: int) -> list[tuple[float, float, float]]:
    """``n`` colours of matplotlib's tab20, repeated after 20 (seaborn's ``color_palette("tab20",
    n)``, without importing seaborn)."""
    from matplotlib import colormaps

    base = colormaps["tab20"](np.linspace(0, 1, 20))[:, :3]
    return [(float(r), float(g), float(b)) for r, g, b in (base[i % 20] for i in range(n))]


def _mark_tokens(adata: AnnData) -> pd.Series | None:
    for col in ("marks", "mark", "marker"):
        if col in adata.var.columns:
            return adata.var[col].astype(str)
    return None


@plot_function
def mark_heatmap(
    adata: AnnData,
    *,
    key: str = "differential",
    marks: str | Sequence[str] | None = None,
    contrasts: Sequence[str] | None = None,
    fdr: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of log2 fold changes of histone features (rows) across contrasts (columns).

    Cells are annotated ``*`` where ``padj < fdr``. Rows are the features carrying a modification
    (``var``
    ``marks``/``mark`` not empty or ``unmod``), or those carrying one of ``marks``.

    Parameters
    ----------
    adata
        Histone data with results of :func:`kratom_omics.tl.differential` in ``adata.uns[key]``.
    key
        Key of the differential result in ``adata.uns``.
    marks
        Marks to keep, e.g. ``["H3K9ac", "H4K12ac"]`` (matched case-insensitively within ``;``
        groups); default all modified features (all features when no mark column exists).
    contrasts
        Contrasts (columns) in order (default: all stored).
    fdr
        FDR threshold of the ``*`` annotation (default: the stored one, else 0.05).
    ax
        Axes to draw in.

    Returns
    -------
    The Axes of the heatmap (rows = features, columns = contrasts, values = log2fc).
    """
    res = differential_result(adata, key)
    table = res.table().copy()
    table["feature"] = table["feature"].astype(str)
    all_contrasts = res.contrasts
    cols = all_contrasts if contrasts is None else list(contrasts)
    for c in cols:
        if c not in all_contrasts:
            raise KeyNotFoundError(did_you_mean(c, all_contrasts, what="contrasts"))
    fdr = fdr_of(adata, key, fdr)
    tokens = _mark_tokens(adata)
    if tokens is None:
        feats = list(adata.var_names.astype(str))
    else:
        low = tokens.str.lower()
        if marks is None:
            keep = ~low.isin(["", "unmod", "nan", "none"])
        else:
            wanted = {m.lower() for m in ([marks] if isinstance(marks, str) else marks)}
            split = low.str.split(";").explode().str.strip()
            hit = split.isin(wanted).groupby(level=0, sort=False).any()
            keep = hit.reindex(low.index).fillna(False).astype(bool)
            if not keep.any():
                avail = sorted({t for t in split.unique() if t not in ("", "unmod", "nan")})
                raise KeyNotFoundError(
                    f"marks={marks!r} match no feature's mark in adata.var (case ignored). "
                    f"Available: {avail[:30]}"
                )
        feats = list(adata.var_names.astype(str)[keep.to_numpy()])
    sub = table.loc[table["feature"].isin(feats) & table["contrast"].astype(str).isin(cols)]
    fc = sub.pivot(index="feature", columns="contrast", values="log2fc").reindex(
        index=feats, columns=cols
    )
    padj = sub.pivot(index="feature", columns="contrast", values="padj").reindex(
        index=feats, columns=cols
    )
    fc = fc.dropna(how="all")
    padj = padj.reindex(fc.index)
    annot = np.where(padj.to_numpy(dtype=float) < fdr, "*", "")
    values = fc.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    ax = new_axes(ax, (max(3.5, 1.1 * len(cols) + 2.5), max(3.0, 0.24 * len(fc) + 1.5)))
    heatmap(
        ax,
        np.clip(values, -lim, lim),
        list(fc.index),
        cols,
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        annot=annot,
        label="log2 fold change",
    )
    ax.tick_params(axis="y", labelsize="x-small")
    ax.tick_params(axis="x", labelsize="small", rotation=30)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(f"log2 fold change (* FDR < {fdr:g})", fontsize="medium")
    return ax


def western_tests(
    adata: AnnData,
    features: Sequence[str],
    *,
    groupby: str,
    layer: str | None,
    key: str,
    reference: str,
) -> pd.DataFrame:
    """One test result per feature and non-reference level: stored differential results or Welch's
    t-test."""
    store = adata.uns.get(key)
    levels = [
        lv for lv in group_colors(adata, groupby) if (adata.obs[groupby].astype(str) == lv).any()
    ]
    rows: list[dict[str, object]] = []
    if is_result(store):
        table = Result(key, store).table().copy()
        table["feature"] = table["feature"].astype(str)
        for lv in levels:
            if lv == reference:
                continue
            c = f"{lv} - {reference}"
            sel = table.loc[(table["contrast"].astype(str) == c) & table["feature"].isin(features)]
            rows.extend(
                {"feature": f, "level": lv, "p": float(p), "test": "moderated t, adjusted p"}
                for f, p in zip(sel["feature"], sel["padj"], strict=True)
            )
        if rows:
            return pd.DataFrame(rows)
    from scipy import stats  # only here: the stored results need no test

    m = get_matrix(adata, layer)[:, adata.var_names.get_indexer(list(features))]
    values = adata.obs[groupby].astype(str).to_numpy()
    ref = m[values == reference]
    for lv in levels:
        if lv == reference:
            continue
        other = m[values == lv]
        with quiet():
            t = stats.ttest_ind(other, ref, axis=0, equal_var=False, nan_policy="omit")
        pv = np.asarray(t.pvalue, dtype=float)
        for f, p in zip(features, pv, strict=True):
            rows.append({"feature": f, "level": lv, "p": float(p), "test": "Welch t-test"})
    return pd.DataFrame(rows)


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    stars = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"
    return f"{stars}\np={p:.2g}"


@plot_function
def western(
    adata: AnnData,
    features: str | Sequence[str] | None = None,
    *,
    groupby: str | None = None,
    layer: str | None = None,
    key: str = "differential",
    reference: str | None = None,
    relative_to_reference: bool = True,
    scale: Literal["auto", "log2", "linear"] = "auto",
    ncols: int = 3,
    palette: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Figure:
    """Normalised western-blot values per phase: bar (mean +- SEM), animals as points, tests against
    control.

    Values on the log2 scale (as :func:`kratom_omics.io.read_densitometry` stores them: log2 fold of
    control) are drawn as folds (``2**x``). Each non-reference phase is annotated with its test
    against the ``reference`` phase: the adjusted p-value of contrast ``"<phase> - <reference>"``
    from ``adata.uns[key]`` when stored (the analysis the study reports), otherwise Welch's
    two-sample t-test on the values as stored (log2 when log2).

    Parameters
    ----------
    adata
        Densitometry data: samples x targets (e.g. ``H3K9ac``, ``HDAC2``), values normalised to a
        loading control.
    features
        Targets by id or gene symbol (default: all features).
    groupby
        Column with the phases (default: the analysis' ``groupby``, else ``"phase"``).
    layer
        Layer of values (default ``.X``).
    key
        Key of the differential result in ``adata.uns`` used for the annotations.
    reference
        Reference phase (default: the first level).
    relative_to_reference
        Divide by the reference phase mean, so the reference is 1 (fold of control).
    scale
        Scale of the values: ``"auto"`` (log2 when ``.X`` was log-transformed, as recorded in
        ``adata.uns["kratom_omics"]``, or a layer's values are all below 64), ``"log2"`` or
        ``"linear"``.
    ncols
        Panels per row.
    palette
        Colours per phase overriding ``adata.uns[f"{groupby}_colors"]``.
    seed
        Seed of the horizontal jitter.

    Returns
    -------
    The Figure, one Axes per target: bars (``Rectangle`` patches, height = mean), points (gid
    ``"animals"``) and test annotations (texts with gid ``"test"``). Writes
    ``adata.uns[f"{groupby}_colors"]``.
    """
    groupby = groupby_of(adata, key, groupby)
    feats = (
        list(adata.var_names.astype(str)) if features is None else match_features(adata, features)
    )
    colors = group_colors(adata, groupby, palette=palette)
    values = adata.obs[groupby].astype(str).to_numpy()
    levels = [lv for lv in colors if (values == lv).any()]
    reference = reference if reference is not None else levels[0]
    if reference not in levels:
        raise KeyNotFoundError(did_you_mean(reference, levels, what="reference"))
    if scale not in ("auto", "log2", "linear"):
        raise InputFormatError(f"scale={scale!r} is not supported; use 'auto', 'log2' or 'linear'.")
    from ..pp._common import is_log2

    m = get_matrix(adata, layer)[:, adata.var_names.get_indexer(feats)]
    if is_log2(adata, layer, scale):
        m = np.exp2(m)
    if relative_to_reference:
        with quiet():
            m = m / np.nanmean(m[values == reference], axis=0, keepdims=True)
    tests = western_tests(adata, feats, groupby=groupby, layer=layer, key=key, reference=reference)
    rng = np.random.default_rng(seed)
    fig, axes = new_figure(
        len(feats), ncols=ncols, panel_size=(max(2.8, 0.9 * len(levels) + 1.2), 3.4)
    )
    for j, (ax, title) in enumerate(zip(axes, feature_labels(adata, feats), strict=True)):
        y = m[:, j]
        top = np.nanmax(y) if np.isfinite(y).any() else 1.0
        for k, lv in enumerate(levels):
            v = y[values == lv]
            v = v[np.isfinite(v)]
            mean = v.mean() if v.size else np.nan
            sem = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan
            ax.bar(
                k,
                mean,
                yerr=sem,
                color=colors[lv],
                alpha=0.55,
                width=0.7,
                capsize=4,
                edgecolor=colors[lv],
            )
            ax.scatter(
                k + rng.uniform(-0.15, 0.15, v.size),
                v,
                color=colors[lv],
                edgecolors="black",
                linewidths=0.4,
                s=22,
                zorder=3,
                gid="animals",
            )
            if lv != reference and len(tests):
                hit = tests.loc[(tests["feature"] == feats[j]) & (tests["level"] == lv), "p"]
                if len(hit):
                    ax.text(
                        k,
                        top * 1.05,
                        _p_text(float(hit.iloc[0])),
                        ha="center",
                        va="bottom",
                        fontsize="x-small",
                        gid="test",
                    )
        ax.set_xticks(np.arange(len(levels)), [tx(lv) for lv in levels])
        ax.set_ylim(0, top * 1.3 if np.isfinite(top) and top > 0 else 1)
        ax.set_title(tx(title))
        ax.set_ylabel(
            f"relative to {tx(reference)}" if relative_to_reference else "normalised signal"
        )
    if len(tests):
        fig.suptitle(f"vs {reference}: {tests['test'].iloc[0]}", fontsize="small")
    return fig
