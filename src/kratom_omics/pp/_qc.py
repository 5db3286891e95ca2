"""Quality-control metrics per sample and per feature."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._core import get_matrix, record_provenance
from ._common import Scale, group_codes, is_log2, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["cv_from_log2", "qc_metrics"]

logger = logging.getLogger("kratom_omics")


def cv_from_log2(sd_log2: np.ndarray) -> np.ndarray:
    """Coefficient of variation on the linear scale from the SD of log2 values (log-normal model).

    ``CV = sqrt(exp((ln 2 * s)^2) - 1) = sqrt(2^(ln 2 * s^2) - 1)``; for small ``s`` about ``ln 2 *
    s``.
    """
    s = np.asarray(sd_log2, dtype=np.float64)
    return np.sqrt(np.expm1((np.log(2.0) * s) ** 2))


def _cv(values: np.ndarray, log_scale: bool) -> np.ndarray:
    """CV (fraction) per column from the finite values; NaN with fewer than 2 values."""
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.where(finite, values, np.nan)
        sd = np.nanstd(v, axis=0, ddof=1)
        if log_scale:
            cv = cv_from_log2(sd)
        else:
            cv = sd / np.nanmean(v, axis=0)
    return np.where(n >= 2, cv, np.nan)


def qc_metrics(
    adata: AnnData,
    *,
    groupby: str | None = "phase",
    layer: str | None = None,
    scale: Scale = "auto",
    copy: bool = False,
) -> AnnData | None:
    """Per-sample and per-feature quality metrics.

    Parameters
    ----------
    adata
        Samples x features data.
    groupby
        ``.obs`` column whose groups get their own valid fraction and CV; None for none.
    layer
        Compute from this layer instead of ``.X`` (e.g. ``"raw"``).
    scale
        Scale of the values read: ``"auto"`` (log2 for ``.X`` after :func:`kratom_omics.pp.log2`,
        linear for ``layers["raw"]``, otherwise judged from the values: negative values, or
        non-integer values below 64, are log-scale), ``"log2"`` or ``"linear"``.
    copy
        Return a copy with the metrics instead of writing them to ``adata``.

    Returns
    -------
    None, or the annotated copy when ``copy=True``. Writes

    - ``.obs["n_detected"]``: finite values per sample; ``.obs["missing_fraction"]``:
      ``1 - n_detected / n_vars``; ``.obs["median_intensity"]``: median of the finite values (on
      the scale read).
    - ``.var["valid_fraction"]`` and ``.var["valid_fraction_<group>"]``: fraction of finite values
      overall and in each group; ``.var["mean_intensity"]``: mean of the finite values (on the
      scale read).
    - ``.var["cv_<group>"]``: coefficient of variation within each group as a fraction
      (0.2 = 20%), on the linear scale: from log2 values ``sqrt(2^(ln2 * s^2) - 1)`` with ``s``
      their SD (the log-normal CV, comparable with the linear ``sd / mean`` that MSstats and
      Perseus users report); from linear values ``sd / mean``. SDs use ``n - 1``; NaN with fewer
      than 2 values.
    """
    x = get_matrix(adata, layer)
    log_scale = is_log2(adata, layer, scale)
    finite = np.isfinite(x)
    v = np.where(finite, x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(v, axis=1) if adata.n_vars else np.full(adata.n_obs, np.nan)
        mean = np.nanmean(v, axis=0)
    n_detected = finite.sum(axis=1)
    per_group: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if groupby is not None:
        levels, codes = group_codes(adata, groupby)
        for g, level in enumerate(levels):  # loop over groups
            rows = codes == g
            per_group[level] = (finite[rows].mean(axis=0), _cv(x[rows], log_scale))
    adata = start(adata, copy)
    adata.obs["n_detected"] = n_detected.astype(np.int64)
    adata.obs["missing_fraction"] = 1.0 - n_detected / max(adata.n_vars, 1)
    adata.obs["median_intensity"] = median
    adata.var["valid_fraction"] = finite.mean(axis=0) if adata.n_obs else np.nan
    adata.var["mean_intensity"] = mean
    for level, (fraction, cv) in per_group.items():
        adata.var[f"valid_fraction_{level}"] = fraction
        adata.var[f"cv_{level}"] = cv
    logger.info(
        "qc_metrics: median missing fraction per sample %.3f; groups %s.",
        float(np.median(adata.obs["missing_fraction"])) if adata.n_obs else float("nan"),
        list(per_group),
    )
    record_provenance(
        adata,
        "kratom_omics.pp.qc_metrics",
        {"groupby": groupby, "layer": layer, "scale": "log2" if log_scale else "linear"},
    )
    return adata if copy else None
