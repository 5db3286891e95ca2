"""Read counts (ChIP-seq, CUT&Tag) for the linear-model engine: library sizes, TMM, log-CPM, voom.

The numbers follow edgeR and limma exactly: :func:`tmm_factors` is edgeR's ``calcNormFactors``
(``method="TMM"``: reference column by the upper quartile closest to the mean, trimming of log
ratios and absolute expression by rank, inverse-variance weights, rescaling to a geometric mean of
1); :func:`log_cpm` is voom's ``log2((count + 0.5) / (lib.size + 1) * 1e6)`` or edgeR's
``cpm(log=TRUE, prior.count=2)``; :func:`voom` gives limma's precision weights (lowess trend of
sqrt(sd) on the average log count, interpolated as ``approxfun(rule=2)``).

A global change, such as a loss of acetylation over most promoters after withdrawal, is removed
by library-size or TMM normalisation, which assume that most features do not change. Scale by
spike-in chromatin (``method="spikein"``) or by background bins (TMM on ``var["is_background"]``)
to keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import check_obs_key, get_matrix, record_provenance
from .._design import build_design, intercept_design
from .._smooth import r_lowess
from ..errors import DesignError, InputFormatError, KeyNotFoundError, did_you_mean
from ._common import set_x_transform, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["calc_norm_factors", "log_cpm", "tmm_factors", "voom"]

logger = logging.getLogger("kratom_omics")


def _counts(adata: AnnData, layer: str | None, *, what: str) -> np.ndarray:
    """Samples x features counts from ``layer``; NaN, negative or fractional values are errors."""
    m = get_matrix(adata, layer)
    where = f"layers[{layer!r}]" if layer is not None else ".X"
    if np.isnan(m).any():
        i, j = (int(v[0]) for v in np.nonzero(np.isnan(m)))
        raise InputFormatError(
            f"{what}: {where} has missing values (first at sample {adata.obs_names[i]!r}, feature "
            f"{adata.var_names[j]!r}); read counts must be complete (0 for no reads)."
        )
    bad = (m < 0) | (m != np.round(m))
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise InputFormatError(
            f"{what}: {where} holds {float(m[i, j]):g} at sample {adata.obs_names[i]!r}, feature "
            f"{adata.var_names[j]!r} ({int(bad.sum())} such value(s)); expected non-negative "
            "integer "
            "read counts. Pass layer= naming the raw counts (not log or normalised values)."
        )
    return m


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged, as R's ``rank``; NaN (masked entries) rank last and are ignored."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, method="average", nan_policy="omit", axis=-1), dtype=np.float64)


def tmm_factors(
    counts: np.ndarray,
    lib_size: np.ndarray | None = None,
    *,
    ref_column: int | None = None,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    do_weighting: bool = True,
    a_cutoff: float = -1e10,
) -> np.ndarray:
    """TMM normalisation factors of ``counts`` (samples x features), as edgeR's ``calcNormFactors``.

    Parameters
    ----------
    counts
        Samples x features non-negative counts.
    lib_size
        Library sizes (default: the row sums of ``counts``).
    ref_column
        0-based index of the reference sample; by default the sample whose upper-quartile factor is
        closest to the mean of those factors (or, if most upper quartiles are 0, the sample with
        the largest sum of square-root counts).
    logratio_trim, sum_trim, do_weighting, a_cutoff
        edgeR's ``logratioTrim``, ``sumTrim``, ``doWeighting`` and ``Acutoff``.

    Returns
    -------
    One factor per sample; their geometric mean is 1.
    """
    x = np.asarray(counts, dtype=np.float64)
    n_s = x.shape[0]
    lib = x.sum(axis=1) if lib_size is None else np.asarray(lib_size, dtype=np.float64)
    x = x[:, (x > 0).any(axis=0)]
    if x.shape[1] == 0 or n_s == 1:
        return np.ones(n_s)
    if ref_column is None:
        f75 = np.quantile(x, 0.75, axis=1) / lib
        if np.median(f75) < 1e-20:
            ref_column = int(np.argmax(np.sqrt(x).sum(axis=1)))
        else:
            ref_column = int(np.argmin(np.abs(f75 - f75.mean())))
    if not 0 <= ref_column < n_s:
        raise DesignError(f"ref_column={ref_column}; expected a sample index in [0, {n_s - 1}].")
    ref, n_r = x[ref_column], lib[ref_column]
    n_o = lib[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log2((x / n_o) / (ref / n_r))
        abs_e = (np.log2(x / n_o) + np.log2(ref / n_r)) / 2
        v = (n_o - x) / n_o / x + (n_r - ref) / n_r / ref
    fin = np.isfinite(log_r) & np.isfinite(abs_e) & (abs_e > a_cutoff)
    log_r = np.where(fin, log_r, np.nan)
    abs_e = np.where(fin, abs_e, np.nan)
    n = fin.sum(axis=1)
    lo_l = np.floor(n * logratio_trim) + 1
    hi_l = n + 1 - lo_l
    lo_s = np.floor(n * sum_trim) + 1
    hi_s = n + 1 - lo_s
    r_l, r_s = _rank(log_r), _rank(abs_e)
    keep = (
        fin
        & (r_l >= lo_l[:, None])
        & (r_l <= hi_l[:, None])
        & (r_s >= lo_s[:, None])
        & (r_s <= hi_s[:, None])
    )
    lr = np.where(keep, log_r, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if do_weighting:
            inv = np.where(keep, 1.0 / v, 0.0)
            f = (lr * inv).sum(axis=1) / inv.sum(axis=1)
        else:
            f = lr.sum(axis=1) / keep.sum(axis=1)
    f = np.where(np.isnan(f), 0.0, f)
    max_abs = np.nanmax(np.where(fin, np.abs(log_r), -np.inf), axis=1)
    factors = np.where(max_abs < 1e-6, 1.0, 2.0**f)
    return factors / np.exp(np.mean(np.log(factors)))


def _upper_quartile(x: np.ndarray, lib: np.ndarray, p: float) -> np.ndarray:
    f = np.quantile(x[:, (x > 0).any(axis=0)], p, axis=1) / lib
    return f / np.exp(np.mean(np.log(f)))


def _flag(adata: AnnData, key: str, argument: str) -> np.ndarray:
    if key not in adata.var.columns:
        raise KeyNotFoundError(
            did_you_mean(key, adata.var.columns, what=argument).replace(
                "is not available", "is not a column of adata.var"
            )
            + " Mark the spike-in or background features with a boolean .var column."
        )
    col = adata.var[key]
    flags = col.fillna(False).astype(bool).to_numpy()
    if not flags.any():
        raise InputFormatError(
            f"{argument}={key!r}: no feature is flagged True in adata.var[{key!r}]."
        )
    return flags


def calc_norm_factors(
    adata: AnnData,
    *,
    method: Literal["TMM", "upperquartile", "spikein", "none"] = "TMM",
    layer: str | None = "raw",
    features: str | None = None,
    spikein: str = "is_spikein",
    ref_column: int | str | None = None,
    logratio_trim: float = 0.3,
    sum_trim: float = 0.05,
    do_weighting: bool = True,
    a_cutoff: float = -1e10,
    p: float = 0.75,
    copy: bool = False,
) -> AnnData | None:
    """Library sizes and normalisation factors of read counts (edgeR's ``calcNormFactors``).

    Parameters
    ----------
    adata
        Samples x features read counts (e.g. from :func:`kratom_omics.io.read_featurecounts`).
    method
        ``"TMM"`` (edgeR's default), ``"upperquartile"``, ``"none"``, or ``"spikein"``: effective
        library sizes proportional to the spike-in reads of each sample, so that a global change of
        the mark is kept. With spike-ins, ``spikein`` names either a boolean ``.var`` column
        flagging the spike-in features (their counts are summed) or an ``.obs`` column with the
        number of spike-in reads per sample.
    layer
        Layer holding the counts (``None`` = ``.X``).
    features
        Boolean ``.var`` column restricting the features the factors are computed from, e.g.
        ``"is_background"`` for large background bins: TMM on the background bins with the total
        library sizes, as csaw's ``normFactors(bins, se.out=data)`` (edgeR's
        ``calcNormFactors(bin_counts, lib.size=totals)``), scales by the non-enriched part of each
        library.
    ref_column
        Reference sample for TMM (name or 0-based index); see :func:`tmm_factors`.
    logratio_trim, sum_trim, do_weighting, a_cutoff, p
        As edgeR's ``logratioTrim``, ``sumTrim``, ``doWeighting``, ``Acutoff`` and ``p``.
    copy
        Return a copy instead of modifying ``adata``.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``.obs["lib_size"]`` (total counts),
    ``.obs["norm_factor"]`` and ``.obs["eff_lib_size"]`` (their product, used by :func:`log_cpm`
    and :func:`voom`), and ``.uns["count_normalization"]`` (method and parameters).
    """
    adata = start(adata, copy)
    x = _counts(adata, layer, what="calc_norm_factors")
    lib = x.sum(axis=1)
    if (lib == 0).any():
        empty = list(adata.obs_names[lib == 0])
        raise InputFormatError(f"calc_norm_factors: sample(s) {empty} have no reads at all.")
    sub = x if features is None else x[:, _flag(adata, features, "features")]
    ref = ref_column
    if isinstance(ref, str):
        names = list(adata.obs_names)
        if ref not in names:
            raise KeyNotFoundError(did_you_mean(ref, names, what="ref_column"))
        ref = names.index(ref)
    if method == "TMM":
        f = tmm_factors(
            sub,
            lib,
            ref_column=ref,
            logratio_trim=logratio_trim,
            sum_trim=sum_trim,
            do_weighting=do_weighting,
            a_cutoff=a_cutoff,
        )
    elif method == "upperquartile":
        f = _upper_quartile(sub, lib, p)
    elif method == "spikein":
        if spikein in adata.obs.columns:
            spike = pd.to_numeric(adata.obs[spikein], errors="coerce").to_numpy(dtype=np.float64)
        else:
            spike = x[:, _flag(adata, spikein, "spikein")].sum(axis=1)
        if not (np.isfinite(spike) & (spike > 0)).all():
            raise InputFormatError(
                f"calc_norm_factors: spike-in reads {list(spike)} must all be positive numbers."
            )
        f = spike / lib
        f = f / np.exp(np.mean(np.log(f)))
    elif method == "none":
        f = np.ones(adata.n_obs)
    else:
        raise InputFormatError(
            f"method={method!r}; expected 'TMM', 'upperquartile', 'spikein' or 'none'."
        )
    adata.obs["lib_size"] = lib
    adata.obs["norm_factor"] = f
    adata.obs["eff_lib_size"] = lib * f
    params = {
        "method": method,
        "layer": layer,
        "features": features,
        "spikein": spikein if method == "spikein" else None,
        "ref_column": ref_column,
        "logratio_trim": logratio_trim,
        "sum_trim": sum_trim,
        "do_weighting": do_weighting,
        "a_cutoff": a_cutoff,
        "p": p,
    }
    adata.uns["count_normalization"] = {k: v for k, v in params.items() if v is not None}
    record_provenance(adata, "kratom_omics.pp.calc_norm_factors", params)
    return adata if copy else None


def _eff_lib(adata: AnnData, x: np.ndarray) -> np.ndarray:
    if "eff_lib_size" in adata.obs.columns:
        return adata.obs["eff_lib_size"].to_numpy(dtype=np.float64)
    return x.sum(axis=1)


def _log_cpm(x: np.ndarray, lib: np.ndarray, method: str, prior_count: float) -> np.ndarray:
    if method == "voom":
        return np.log2((x + 0.5) / (lib[:, None] + 1.0) * 1e6)
    prior = prior_count * lib / lib.mean()
    return np.log2((x + prior[:, None]) / (lib + 2.0 * prior)[:, None] * 1e6)


def log_cpm(
    adata: AnnData,
    *,
    method: Literal["voom", "edger"] = "voom",
    prior_count: float = 2.0,
    layer: str | None = "raw",
    copy: bool = False,
) -> AnnData | None:
    """Replace ``.X`` by log2 counts per million of the (effective) library sizes.

    Parameters
    ----------
    method
        ``"voom"``: ``log2((count + 0.5) / (lib.size + 1) * 1e6)`` as ``limma::voom``; ``"edger"``:
        ``edgeR::cpm(log=TRUE, prior.count=prior_count)`` (the prior count is scaled by each
        library size relative to the mean, and twice it is added to the library size).
    prior_count
        Prior count of ``method="edger"``.
    layer
        Layer holding the counts.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``.X`` (log2 CPM) and
    ``uns["kratom_omics"]["x_transform"] = "log2"``. Library sizes are ``.obs["eff_lib_size"]``
    from :func:`calc_norm_factors` when present, else the column sums of the counts.
    """
    adata = start(adata, copy)
    if method not in ("voom", "edger"):
        raise InputFormatError(f"method={method!r}; expected 'voom' or 'edger'.")
    x = _counts(adata, layer, what="log_cpm")
    lib = _eff_lib(adata, x)
    adata.X = _log_cpm(x, lib, method, prior_count)
    set_x_transform(adata, "log2")
    record_provenance(
        adata,
        "kratom_omics.pp.log_cpm",
        {"method": method, "prior_count": prior_count, "layer": layer},
    )
    return adata if copy else None


def _design_matrix(
    adata: AnnData,
    design: str | np.ndarray | pd.DataFrame | None,
    groupby: str | None,
    covariates: Sequence[str],
) -> np.ndarray:
    """The model of :func:`voom`: a given matrix or formula, else groups + covariates (the one
    design builder of :mod:`kratom_omics._design`), else an intercept + covariates."""
    n = adata.n_obs
    if isinstance(design, str):
        return build_design(adata.obs, None, formula=design).matrix
    if design is not None:
        d = np.asarray(design, dtype=np.float64)
        if d.ndim != 2 or d.shape[0] != n:
            raise DesignError(
                f"design has shape {d.shape}; expected {n} rows (one per sample) and >= 1 column."
            )
        return d
    if groupby:
        check_obs_key(adata, groupby)
        return build_design(adata.obs, groupby, covariates=list(covariates)).matrix
    return intercept_design(adata.obs, covariates).matrix


def _lowess_interp(sx: np.ndarray, sy: np.ndarray, span: float) -> tuple[np.ndarray, np.ndarray]:
    """R's ``lowess(sx, sy, f=span)`` then ``approxfun`` knots (ties averaged)."""
    o = np.argsort(sx, kind="stable")
    lx, ly = sx[o], r_lowess(sx, sy, f=span, iterations=3)[o]
    ux, inv = np.unique(lx, return_inverse=True)
    uy = np.bincount(inv, weights=ly) / np.bincount(inv)
    return ux, uy


def voom(
    adata: AnnData,
    groupby: str | None = "phase",
    *,
    covariates: Sequence[str] = (),
    design: Any = None,
    layer: str | None = "raw",
    span: float = 0.5,
    key_added: str = "weights",
    copy: bool = False,
) -> AnnData | None:
    """limma-voom: log-CPM in ``.X`` and observation-level precision weights in a layer.

    The weights feed the differential engine (``kom.tl.differential(..., weights="weights")``). A
    linear model (``design``, or intercept + ``groupby`` + ``covariates``) is fitted to the voom
    log-CPM of every feature; sqrt(residual SD) is smoothed against the average log2 count with
    ``lowess(f=span)``; each observation's weight is the trend at its fitted log2 count to the
    power -4. Numbers agree with ``limma::voom`` (limma 3.54 and 3.62).

    Parameters
    ----------
    adata
        Samples x features read counts; run :func:`calc_norm_factors` first for TMM or spike-in
        scaled library sizes (``.obs["eff_lib_size"]``), otherwise column sums are used.
    groupby
        ``.obs`` column of the groups compared (None: intercept only, unless ``design`` is given).
    covariates
        Further ``.obs`` columns (e.g. ``batch``) in the model.
    design
        A design matrix (array or DataFrame, samples x coefficients) or a formula on ``.obs`` (``"~
        phase + batch"``); overrides ``groupby`` and ``covariates``.
    layer
        Layer holding the counts.
    span
        Lowess span (limma's default 0.5).
    key_added
        Layer receiving the weights.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``.X`` (log2 CPM, as ``voom``'s ``E``),
    ``.layers[key_added]`` (weights), ``.obs["eff_lib_size"]`` if absent, ``.uns["voom"]`` with
    ``params`` and ``trend`` (a DataFrame of the lowess knots ``x``, ``y``) and
    ``uns["kratom_omics"]["x_transform"] = "log2"``.
    """
    adata = start(adata, copy)
    x = _counts(adata, layer, what="voom")
    n_s, n_f = x.shape
    if n_f < 2:
        raise InputFormatError(f"voom: {n_f} feature; at least two are needed for the trend.")
    lib = _eff_lib(adata, x)
    y = _log_cpm(x, lib, "voom", 0.0)
    d = _design_matrix(adata, design, groupby, covariates)
    r = np.linalg.qr(d, mode="r")
    diag = np.abs(np.diag(r))
    rank = int((diag > 1e-7 * diag.max()).sum()) if diag.size else 0
    u, s, _ = np.linalg.svd(d, full_matrices=False)
    basis = u[:, s > s.max() * 1e-10]
    fitted = basis @ (basis.T @ y)  # samples x features
    df = n_s - rank
    weights: np.ndarray
    if df <= 0:
        logger.warning("voom: the design has no residual degrees of freedom; weights set to 1.")
        weights = np.ones_like(y)
        trend = pd.DataFrame({"x": np.array([], dtype=float), "y": np.array([], dtype=float)})
    else:
        sigma = np.sqrt(((y - fitted) ** 2).sum(axis=0) / df)
        sx = y.mean(axis=0) + np.mean(np.log2(lib + 1.0)) - np.log2(1e6)
        sy = np.sqrt(sigma)
        nonzero = x.sum(axis=0) > 0
        kx, ky = _lowess_interp(sx[nonzero], sy[nonzero], span)
        fitted_logcount = np.log2(2.0**fitted * (lib[:, None] + 1.0) * 1e-6)
        weights = 1.0 / np.interp(fitted_logcount, kx, ky) ** 4
        trend = pd.DataFrame({"x": kx, "y": ky})
    adata.X = y
    adata.layers[key_added] = weights
    if "eff_lib_size" not in adata.obs.columns:
        adata.obs["eff_lib_size"] = lib
    params = {
        "groupby": groupby if design is None else None,
        "covariates": list(covariates) if design is None else [],
        "design": design if isinstance(design, str) else ("matrix" if design is not None else None),
        "layer": layer,
        "span": span,
        "key_added": key_added,
        "rank": rank,
    }
    adata.uns["voom"] = {
        "params": {k: v for k, v in params.items() if v is not None},
        "trend": trend,
    }
    set_x_transform(adata, "log2")
    record_provenance(adata, "kratom_omics.pp.voom", params)
    return adata if copy else None
