"""Shared plotting helpers: the phase palette, figure creation, feature matching and result access.

Figures are created with :class:`matplotlib.figure.Figure` (never through ``pyplot``), so plotting
works with any backend, in threads and in batch jobs, and figures are freed when no longer
referenced. Results are read through :mod:`kratom_omics._results`, as ``kom.get`` reads them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_obs_key
from .._results import Result, biomarker_keys, get_result, is_result
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger("kratom_omics")

#: Colours of the default phases, shared by every plot and the report.
DEFAULT_PHASE_COLORS: dict[str, str] = {
    "control": "#4c72b0",
    "use": "#dd8452",
    "withdrawal": "#c44e52",
}
#: Colours of significant up / down features and of the rest in volcano and MA plots.
UP_COLOR = "#c44e52"
DOWN_COLOR = "#4c72b0"
NS_COLOR = "#BBBBBB"
_EXTRA_COLORS = (
    "#55A868",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
    "#2F4B7C",
    "#A05195",
    "#FF7C43",
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's warnings on empty slices and divisions (NaN results are intended)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def root_figure(result: object) -> Figure:
    """The top-level Figure of an Axes, a SubFigure or a Figure."""
    from matplotlib.figure import Figure

    fig = result
    while not isinstance(fig, Figure) and fig is not None:  # Axes -> (Sub)Figure -> Figure
        fig = getattr(fig, "figure", None)
    if not isinstance(fig, Figure):  # pragma: no cover - every plot draws on a Figure
        raise InputFormatError(f"expected a matplotlib Axes or Figure, got {type(result)!r}.")
    return fig


def save_figure(fig: Figure, save: str | os.PathLike[str] | bool, name: str) -> Path:
    """Write ``fig`` to ``save`` (format from the extension; ``True``: ``figures/<name>.png``),
    atomically."""
    from .._files import atomic_path

    path = Path("figures", f"{name}.png") if save is True else Path(save)  # type: ignore[arg-type]
    if not path.suffix:
        raise InputFormatError(
            f"save={str(save)!r}: give a file name with an extension (.png, .svg, .pdf)."
        )
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in fig.canvas.get_supported_filetypes():
        raise InputFormatError(
            f"save={str(save)!r}: {fmt!r} is not a figure format; use one of "
            f"{sorted(fig.canvas.get_supported_filetypes())}."
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    logger.info("saved %s", path)
    return path


def show_figure(fig: Figure) -> None:
    """Display ``fig``: in a notebook through IPython, else in a window of an interactive
    backend (nothing but a log line under a non-interactive backend such as Agg)."""
    import matplotlib

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a scanpy dependency
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        from IPython.display import display

        display(fig)
        return
    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "svg", "ps", "cairo", "template") or "inline" in backend:
        logger.warning("show=True: the %r backend cannot show figures; use save= instead", backend)
        return
    import matplotlib.pyplot as plt

    backend_mod = plt._get_backend_mod()  # the pyplot backend adopts the figure
    manager = backend_mod.new_figure_manager_given_figure(id(fig), fig)
    manager.show()
    plt.show(block=False)


_SAVE_SHOW_DOC = """    save
        Write the figure to this file (format from the extension: ``.png``, ``.svg``, ``.pdf``,
        ...; ``True``: ``figures/<plot name>.png``), atomically.
    show
        Display the figure (in a notebook, or a window of an interactive backend); default no:
        the figure is returned, and a notebook shows a returned figure by itself.
"""


def plot_function(func: Callable[..., Any]) -> Callable[..., Figure]:
    """Give a plot the interface every ``kom.pl`` plot shares: keyword-only ``save=`` and ``show=``
    (as scanpy's plots take them), and the :class:`~matplotlib.figure.Figure` as return value
    (the figure of ``ax`` when one is given)."""

    @functools.wraps(func)
    def plot(
        *args: Any,
        save: str | os.PathLike[str] | bool | None = None,
        show: bool | None = None,
        **kwargs: Any,
    ) -> Figure:
        fig = root_figure(func(*args, **kwargs))
        if save not in (None, False):
            save_figure(fig, save, func.__name__)
        if show:
            show_figure(fig)
        return fig

    sig = inspect.signature(func)
    extra = [
        inspect.Parameter("save", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("show", inspect.Parameter.KEYWORD_ONLY, default=None),
    ]
    plot.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*sig.parameters.values(), *extra], return_annotation="Figure"
    )
    doc = func.__doc__ or ""
    head, sep, tail = doc.partition("\n    Returns\n    -------\n")
    if sep:
        tail = tail.replace(
            "The Axes", "The Figure (the figure of ``ax`` when given); its first Axes", 1
        ).replace("The Figure,", "The Figure (the figure of ``ax`` when given),", 1)
        doc = head.rstrip() + "\n" + _SAVE_SHOW_DOC + sep + tail
    plot.__doc__ = doc
    return plot


#: Axis labels of a value and of a difference of values, by what ``.X`` holds.
_SCALE_LABELS = {
    "logit": ("logit (log2 odds)", "log2 odds ratio"),
    "clr": ("CLR value", "CLR difference"),
}


def scale_labels(adata: AnnData, layer: str | None = None) -> tuple[str, str]:
    """Labels of a value and of a difference on the scale of ``.X`` (``"log2 abundance"`` and
    ``"log2 fold change"`` unless the data record logit or CLR values)."""
    from ..pp._common import x_transform

    if layer is not None:
        return str(layer), f"difference of {layer}"
    return _SCALE_LABELS.get(x_transform(adata) or "", ("log2 abundance", "log2 fold change"))


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """Return ``ax`` or the single Axes of a new Agg-safe figure."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def new_figure(
    n_panels: int, *, ncols: int, panel_size: tuple[float, float]
) -> tuple[Figure, list[Axes]]:
    """A new figure with ``n_panels`` Axes on a grid of ``ncols`` columns (unused cells removed)."""
    from matplotlib.figure import Figure

    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for extra in axes[n_panels:]:
        fig.delaxes(extra)
    return fig, axes[:n_panels]


#: Longest label drawn from the data (sample, feature, level names); longer ones end in "…".
MAX_LABEL = 48


def tx(text: object) -> str:
    """Text from the data shown literally by matplotlib (a ``$`` would otherwise start mathtext),
    cut to :data:`MAX_LABEL` characters (a 10,000-character name would make a figure of
    hundreds of megapixels)."""
    s = str(text)
    if len(s) > MAX_LABEL:
        s = s[: MAX_LABEL - 1] + "…"
    return s.replace("$", r"\$")


def scatter_groups(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    groups: Sequence[tuple[str, str, str]],
    *,
    background: str,
    size: float,
) -> None:
    """One scatter per ``(gid, colour, legend name)`` of ``groups``, in that order, of the points
    whose ``group`` is the gid; the ``background`` group's points are smaller and fainter, and
    each legend name carries its number of points."""
    for gid, color, name in groups:
        sel = group == gid
        ax.scatter(
            x[sel],
            y[sel],
            s=10 if gid == background else size,
            color=color,
            alpha=0.7 if gid == background else 0.9,
            edgecolors="none",
            label=f"{name} ({int(sel.sum())})",
            gid=gid,
        )


def label_points(
    ax: Axes, x: np.ndarray, y: np.ndarray, names: Sequence[object], *, size: float, gid: str
) -> None:
    """Circle the points (a scatter with gid ``"labelled"``) and write each finite one's name
    beside it in bold (text annotations with gid ``gid``)."""
    ax.scatter(x, y, s=size, facecolors="none", edgecolors="black", linewidths=1.0, gid="labelled")
    for name, xv, yv in zip(names, x, y, strict=True):
        if np.isfinite(xv) and np.isfinite(yv):
            ax.annotate(
                tx(name),
                (xv, yv),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize="small",
                fontweight="bold",
                gid=gid,
            )


def heatmap(
    ax: Axes,
    values: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    annot: np.ndarray | None = None,
    label: str = "",
    xrotation: float = 90,
) -> None:
    """Matrix as coloured cells, first row on top, every row and column labelled (NaN left blank).

    Drawn with one ``pcolormesh`` (``ax.collections[0]``, array in row-major order) and a colour
    bar; unlike seaborn's heatmap it never draws the figure to test label overlap (faster reports).
    """
    data = np.ma.masked_invalid(np.asarray(values, dtype=float))
    nr, nc = data.shape
    mesh = ax.pcolormesh(
        np.arange(nc + 1),
        np.arange(nr + 1),
        data,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        edgecolors="none",
    )
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    ax.set_xticks(np.arange(nc) + 0.5, [tx(c) for c in cols], rotation=xrotation)
    ax.set_yticks(np.arange(nr) + 0.5, [tx(r) for r in rows])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if annot is not None:
        for (i, j), text in np.ndenumerate(np.asarray(annot, dtype=object)):
            if text:
                ax.text(j + 0.5, i + 0.5, str(text), ha="center", va="center", fontsize="small")
    ax.figure.colorbar(mesh, ax=ax, shrink=0.6, label=label)


def group_colors(
    adata: AnnData, groupby: str = "phase", *, palette: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Colour of each level of ``adata.obs[groupby]``, shared by every plot.

    Colours come from ``palette`` when given (and are then stored), else from
    ``adata.uns[f"{groupby}_colors"]`` (a list in category order, as scanpy stores them), else from
    the default phase palette, and are stored in ``adata.uns[f"{groupby}_colors"]`` so later plots
    and the report reuse them.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs``.
    palette
        Mapping level -> colour (any matplotlib colour) overriding the stored or default colours.

    Returns
    -------
    Mapping level -> hex colour. Writes ``adata.uns[f"{groupby}_colors"]`` (list, category order).
    """
    from matplotlib.colors import is_color_like, to_hex

    check_obs_key(adata, groupby)
    col = adata.obs[groupby]
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in col.cat.categories]
    else:
        levels = [str(v) for v in pd.unique(col.dropna())]
    key = f"{groupby}_colors"
    stored = adata.uns.get(key)
    colors: dict[str, str] = {}
    try:
        stored_ok = stored is not None and len(stored) == len(levels)
    except TypeError:  # a scalar
        stored_ok = False
    if stored_ok:
        # stored colours (e.g. from scanpy) are kept where they are colours; invalid ones are
        # replaced by the defaults, with a warning
        bad = [str(c) for c in stored if not is_color_like(str(c))]
        if bad:
            logger.warning(
                "adata.uns[%r] holds values that are not colours %s; the default colours are "
                "used for those levels",
                key,
                bad[:5],
            )
        colors = {
            lv: to_hex(str(c))
            for lv, c in zip(levels, stored, strict=True)
            if is_color_like(str(c))
        }
    extra = iter(_EXTRA_COLORS * (1 + len(levels) // len(_EXTRA_COLORS)))
    for lv in levels:
        if lv not in colors:
            colors[lv] = DEFAULT_PHASE_COLORS.get(lv.lower()) or next(extra)
    if palette is not None:
        for lv, c in palette.items():
            if not is_color_like(c):
                raise InputFormatError(
                    f"palette[{lv!r}]={c!r} is not a colour; "
                    "use a name ('red') or a hex code ('#C44E52')."
                )
            if str(lv) not in colors:
                raise KeyNotFoundError(
                    did_you_mean(str(lv), levels, what="palette key").replace(
                        "is not available", f"is not a level of adata.obs[{groupby!r}]"
                    )
                )
            colors[str(lv)] = to_hex(c)
    adata.uns[key] = [colors[lv] for lv in levels]
    return colors


def phase_colors(
    adata: AnnData, groupby: str = "phase", *, palette: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Colour of each phase, shared by every plot and the report; override with ``palette``.

    Parameters
    ----------
    adata
        Annotated data (samples x features).
    groupby
        Column of ``adata.obs`` holding the phases.
    palette
        Mapping phase -> colour; stored for all later plots.

    Returns
    -------
    Mapping phase -> hex colour. Writes ``adata.uns[f"{groupby}_colors"]`` (list in category order).
    """
    return group_colors(adata, groupby, palette=palette)


def sample_order(adata: AnnData, groupby: str = "phase") -> np.ndarray:
    """Sample positions ordered by ``groupby`` level, then time point (when present), then name."""
    check_obs_key(adata, groupby)
    col = adata.obs[groupby]
    if isinstance(col.dtype, pd.CategoricalDtype):
        code = col.cat.codes.to_numpy()
    else:
        code = pd.factorize(col)[0]
    code = np.where(code < 0, code.max() + 1, code)
    tp = (
        pd.to_numeric(adata.obs["timepoint"], errors="coerce").to_numpy(dtype=float)
        if "timepoint" in adata.obs.columns
        else np.zeros(adata.n_obs)
    )
    tp = np.nan_to_num(tp, nan=-np.inf)
    names = adata.obs_names.to_numpy().astype(str)
    return np.lexsort((names, tp, code))


def match_features(
    adata: AnnData, features: str | Sequence[str], *, argument: str = "features"
) -> list[str]:
    """Feature ids matching each query by id or gene symbol, case-insensitively within ``;`` groups.

    A query first matches a feature id exactly; otherwise it matches every feature whose id,
    ``gene``, ``marker`` or ``mark`` holds it as one of its ``;``-separated entries (case ignored).
    """
    queries = [features] if isinstance(features, str) else list(features)
    names = adata.var_names.astype(str)
    cols = [c for c in ("gene", "marker", "mark") if c in adata.var.columns]
    token_frames = [pd.Series(names, index=names)]
    token_frames += [adata.var[c].astype(str).set_axis(names) for c in cols]
    # one long table feature -> lower-case token, built once (vectorised split/explode)
    tokens = pd.concat(
        [s.str.lower().str.split(";").explode().str.strip() for s in token_frames]
    ).reset_index()
    tokens.columns = pd.Index(["feature", "token"])
    by_token = tokens.drop_duplicates().groupby("token")["feature"].apply(list)
    order = {n: i for i, n in enumerate(names)}
    out: list[str] = []
    for q in queries:
        q = str(q)
        if q in order:
            hits = [q]
        else:
            hits = sorted(by_token.get(q.lower().strip(), []), key=order.__getitem__)
        if not hits:
            choices = (
                adata.var["gene"].astype(str).tolist()
                if "gene" in adata.var.columns
                else names.tolist()
            )
            raise KeyNotFoundError(
                did_you_mean(q, choices, what=argument).replace(
                    "is not available",
                    "matches no feature id or gene symbol of adata.var "
                    "(case ignored, ';' groups split)",
                )
            )
        out.extend(h for h in hits if h not in out)
    return out


def feature_labels(adata: AnnData, features: Sequence[str]) -> list[str]:
    """Display label per feature: its gene symbol when known, else its id."""
    if "gene" not in adata.var.columns:
        return [str(f) for f in features]
    genes = adata.var["gene"].reindex(list(features)).astype(str)
    return [
        g if g not in ("", "nan", "None") else str(f) for f, g in zip(features, genes, strict=True)
    ]


def differential_result(adata: AnnData, key: str = "differential") -> Result:
    """The stored result of :func:`kratom_omics.tl.differential` under ``adata.uns[key]``."""
    return get_result(adata, key)


def contrasts_of(adata: AnnData, key: str = "differential") -> list[str]:
    """Contrast names of the result under ``adata.uns[key]``, in the order of the analysis."""
    return get_result(adata, key).contrasts


def contrast_table(
    adata: AnnData, key: str = "differential", contrast: str | None = None
) -> pd.DataFrame:
    """Rows of the differential table for one contrast (the first when ``contrast`` is None)."""
    return get_result(adata, key).contrast_table(contrast)


def fdr_of(adata: AnnData, key: str, fdr: float | None) -> float:
    """The FDR threshold: ``fdr`` when given, else a numeric ``params["alpha"]``, else 0.05."""
    if fdr is not None:
        if not 0 < fdr < 1:
            raise InputFormatError(f"fdr={fdr!r} must be between 0 and 1 (exclusive), e.g. 0.05.")
        return float(fdr)
    params = get_result(adata, key).params
    for name in ("alpha", "fdr_level"):
        value = params.get(name)
        if isinstance(value, (int, float, np.number)) and 0 < float(value) < 1:
            return float(value)
    return 0.05


def lfc_of(adata: AnnData, key: str, lfc: float | None) -> float:
    """Fold-change threshold: ``lfc`` when given, else the analysis' TREAT threshold, else 0."""
    if lfc is None:
        store = adata.uns.get(key)
        value = Result(key, store).param("lfc") if is_result(store) else None
        return float(value) if isinstance(value, (int, float, np.number)) and value > 0 else 0.0
    if not np.isfinite(lfc) or lfc < 0:
        raise InputFormatError(f"lfc={lfc!r} must be >= 0 (an absolute log2 fold change, e.g. 1).")
    return float(lfc)


def groupby_of(adata: AnnData, key: str, groupby: str | None) -> str:
    """``groupby`` when given, else the one the differential analysis used (if stored), else phase."""
    if groupby is not None:
        return groupby
    store = adata.uns.get(key)
    stored = Result(key, store).param("groupby") if is_result(store) else None
    return str(stored) if stored else "phase"


def biomarker_features(
    adata: AnnData, contrast: str | None = None, *, key: str = "differential"
) -> list[str]:
    """Features of candidate biomarkers found by ``kom.tl.flag_biomarkers`` on the differential
    result ``key`` (when stored, under any ``key_added``)."""
    found = biomarker_keys(adata, key)
    table = adata.uns[found[0]]["candidates"] if found else None
    if not isinstance(table, pd.DataFrame) or "found" not in table.columns:
        return []
    sel = table.loc[table["found"].fillna(False).astype(bool)]
    if contrast is not None and "contrast" in sel.columns:
        sel = sel.loc[sel["contrast"].astype(str) == contrast]
    col = "best_feature" if "best_feature" in sel.columns else "features"
    if col not in sel.columns:
        return []
    feats = sel[col].dropna().astype(str).str.split(";").explode().str.strip()
    feats = feats[feats.isin(adata.var_names)]
    return list(dict.fromkeys(feats))
