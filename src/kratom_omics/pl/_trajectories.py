"""Phase trajectories: control -> use -> withdrawal (and withdrawal time points), per feature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._core import check_obs_key, get_matrix
from ..errors import InputFormatError
from ._style import (
    feature_labels,
    group_colors,
    match_features,
    new_figure,
    plot_function,
    scale_labels,
    tx,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["stages", "trajectories"]


def stages(
    adata: AnnData,
    groupby: str = "phase",
    *,
    timepoint: str | None = "timepoint",
    timepoint_prefix: str = "d",
) -> pd.DataFrame:
    """The ordered stages of a study: each phase, split by time point where time points are
    recorded.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs`` holding the ordered phases.
    timepoint
        Column of ``adata.obs`` with numeric time points (ignored when absent or None). A phase
        whose samples carry time points is split into one stage per time point, named ``"<phase>
        <prefix><time>"``.
    timepoint_prefix
        Text put before the time in stage names (``"d"`` gives ``"withdrawal d7"``).

    Returns
    -------
    DataFrame indexed like ``adata.obs`` with columns ``stage`` (ordered categorical), ``phase`` and
    ``position`` (0-based x position of the stage). Nothing is written to ``adata``.
    """
    check_obs_key(adata, groupby)
    col = adata.obs[groupby]
    levels = (
        [str(c) for c in col.cat.categories]
        if isinstance(col.dtype, pd.CategoricalDtype)
        else [str(v) for v in pd.unique(col.dropna())]
    )
    phase = col.astype(str).to_numpy()
    if timepoint is not None and timepoint in adata.obs.columns:
        tp = pd.to_numeric(adata.obs[timepoint], errors="coerce").to_numpy(dtype=float)
    else:
        tp = np.full(adata.n_obs, np.nan)
    names: list[str] = []
    stage = np.empty(adata.n_obs, dtype=object)
    for lv in levels:
        sel = phase == lv
        if not sel.any():
            continue
        times = np.unique(tp[sel & np.isfinite(tp)])
        if times.size == 0:
            names.append(lv)
            stage[sel] = lv
            continue
        if (sel & ~np.isfinite(tp)).any():
            names.append(lv)
            stage[sel & ~np.isfinite(tp)] = lv
        for t in times:
            name = f"{lv} {timepoint_prefix}{t:g}"
            names.append(name)
            stage[sel & (tp == t)] = name
    cat = pd.Categorical(stage, categories=names, ordered=True)
    return pd.DataFrame(
        {"stage": cat, "phase": phase, "position": cat.codes.astype(int)},
        index=adata.obs_names.copy(),
    )


def _ci(values: np.ndarray, level: float) -> tuple[float, float, float, int]:
    from scipy.special import stdtrit  # scipy.stats' t quantile, without importing scipy.stats

    v = values[np.isfinite(values)]
    n = v.size
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, np.nan, np.nan, 1
    half = float(stdtrit(n - 1, 0.5 + level / 2) * v.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def trajectory_summary(
    adata: AnnData,
    features: str | Sequence[str] = "Rab35",
    *,
    groupby: str = "phase",
    layer: str | None = None,
    level: float = 0.95,
    timepoint: str | None = "timepoint",
) -> pd.DataFrame:
    """Mean and t-based confidence interval per feature and stage (drawn by :func:`trajectories`).

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    features
        Features by id or gene symbol (case ignored, ``;`` groups split).
    groupby
        Column of ``adata.obs`` holding the ordered phases.
    layer
        Layer of values (default ``.X``).
    level
        Confidence level.
    timepoint
        Column of ``adata.obs`` splitting phases by time point (when present).

    Returns
    -------
    DataFrame with columns ``feature``, ``stage``, ``mean``, ``ci_low``, ``ci_high``, ``n``.
    """
    feats = match_features(adata, features)
    st = stages(adata, groupby, timepoint=timepoint)
    m = get_matrix(adata, layer)[:, adata.var_names.get_indexer(feats)]
    rows = []
    for j, f in enumerate(feats):
        for s in st["stage"].cat.categories:
            sel = (st["stage"] == s).to_numpy()
            mean, lo, hi, n = _ci(m[sel, j], level)
            rows.append(
                {"feature": f, "stage": s, "mean": mean, "ci_low": lo, "ci_high": hi, "n": n}
            )
    return pd.DataFrame(rows)


@plot_function
def trajectories(
    adata: AnnData,
    features: str | Sequence[str] = "Rab35",
    *,
    groupby: str = "phase",
    layer: str | None = None,
    subject: str | None = "subject",
    timepoint: str | None = "timepoint",
    level: float = 0.95,
    ncols: int = 3,
    palette: Mapping[str, str] | None = None,
    ax: Axes | None = None,
    seed: int = 0,
) -> Figure:
    """Trajectory of each feature across phases: animals, lines per subject, mean and confidence
    interval.

    Stages run in phase order (control -> use -> withdrawal), withdrawal split by time point when
    ``adata.obs[timepoint]`` is set. Each animal is a point (jittered horizontally, coloured by
    phase); the values of the same subject at different stages (repeated measures) are joined by
    thin grey lines; the mean and the t-based ``level`` confidence interval of each stage are drawn
    in black and joined.

    Parameters
    ----------
    adata
        Annotated data (samples x features), log2 values in ``.X``.
    features
        Features by id or gene symbol, matched case-insensitively within ``;``-separated groups
        (``"rab35"`` matches gene ``"Rab35;Rab35b"``); default ``"Rab35"``.
    groupby
        Column of ``adata.obs`` holding the ordered phases.
    layer
        Layer of values (default ``.X``).
    subject
        Column of ``adata.obs`` identifying animals (lines join their samples); None or absent: no
        lines.
    timepoint
        Column of ``adata.obs`` with withdrawal time points; None or absent: one stage per phase.
    level
        Confidence level of the intervals.
    ncols
        Panels per row when several features are shown.
    palette
        Colours per phase overriding ``adata.uns[f"{groupby}_colors"]``.
    ax
        Axes to draw a single feature in (the returned Figure is then ``ax.figure``).
    seed
        Seed of the horizontal jitter.

    Returns
    -------
    The Figure, one Axes per feature (title = gene symbol or id). In each Axes the points are one
    ``PathCollection`` per stage with gid ``"animals"``, the subject lines have gid ``"subject"``
    and the means with intervals form the errorbar container with gid ``"mean-ci"``. Writes
    ``adata.uns[f"{groupby}_colors"]``.
    """
    if not 0 < level < 1:
        raise InputFormatError(f"level={level!r} must be between 0 and 1, e.g. 0.95.")
    feats = match_features(adata, features)
    if ax is not None and len(feats) != 1:
        raise InputFormatError(
            f"ax= draws one feature but features={features!r} matched {len(feats)}: {feats[:10]}; "
            "pass a single feature or leave ax=None to get one panel per feature."
        )
    colors = group_colors(adata, groupby, palette=palette)
    st = stages(adata, groupby, timepoint=timepoint)
    names = list(st["stage"].cat.categories)
    pos = st["position"].to_numpy()
    phase = st["phase"].to_numpy()
    m = get_matrix(adata, layer)[:, adata.var_names.get_indexer(feats)]
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.12, 0.12, adata.n_obs)
    has_subject = subject is not None and subject in adata.obs.columns
    subj = adata.obs[subject].astype(str).to_numpy() if has_subject else None
    if ax is None:
        fig, axes = new_figure(
            len(feats), ncols=ncols, panel_size=(max(3.2, 0.9 * len(names) + 1.4), 3.4)
        )
    else:
        fig, axes = ax.figure, [ax]  # type: ignore[assignment]
    titles = feature_labels(adata, feats)
    for j, (a, title) in enumerate(zip(axes, titles, strict=True)):
        y = m[:, j]
        x = pos + jitter
        if subj is not None:
            frame = pd.DataFrame({"s": subj, "x": x, "y": y, "p": pos}).loc[np.isfinite(y)]
            frame = frame.sort_values(["s", "p"])
            for _, g in frame.groupby("s", sort=False):
                if g["p"].nunique() > 1:
                    a.plot(g["x"], g["y"], color="0.6", lw=0.7, alpha=0.8, zorder=1, gid="subject")
        for k, s in enumerate(names):
            sel = (pos == k) & np.isfinite(y)
            lv = phase[pos == k][0]
            a.scatter(
                x[sel],
                y[sel],
                color=colors.get(lv, "0.5"),
                s=22,
                edgecolors="white",
                linewidths=0.5,
                zorder=2,
                gid="animals",
                label=tx(s),
            )
        summary = [_ci(y[pos == k], level) for k in range(len(names))]
        means = np.array([s[0] for s in summary])
        err = np.array([[s[0] - s[1], s[2] - s[0]] for s in summary]).T
        cont = a.errorbar(
            np.arange(len(names)) + 0.3,
            means,
            yerr=err,
            fmt="o-",
            color="black",
            ms=5,
            lw=1.4,
            capsize=3,
            zorder=3,
        )
        cont.lines[0].set_gid("mean-ci")
        a.set_xticks(
            np.arange(len(names)),
            [tx(n) for n in names],
            rotation=30 if len(names) > 3 else 0,
            ha="right" if len(names) > 3 else "center",
        )
        a.set_xlim(-0.5, len(names) - 0.3)
        a.set_title(tx(title))
        a.set_ylabel(scale_labels(adata, layer)[0])
    return fig
