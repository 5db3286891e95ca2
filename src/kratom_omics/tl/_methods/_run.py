"""One differential analysis with a chosen moderation method (limma, count-aware, detection model).

The future ``kom.tl.differential(..., method=...)`` hook: until then the benchmarks and tests call
:func:`differential_method`, which builds the design and contrasts exactly as
``kom.tl.differential`` does and returns its long table (same columns, including the on/off
detection columns).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..._core import gene_index, get_matrix
from ..._design import build_design, contrast_matrix, normalize_contrast, quote_name
from ...errors import DesignError, KeyNotFoundError
from .._detection import contrast_sides, side_masks, side_totals
from .._limma import ChunkStore, block_summary, contrasts_fit, lm_fit, run
from .._multitest import check_method
from ._count_prior import DEqMSVariancePrior, check_count_trend, count_covariate
from ._dpc import DetectionCurve, dpc_linear_fit

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["METHODS", "differential_method"]

logger = logging.getLogger("kratom_omics")

METHODS: dict[str, str] = {
    "limma": "limma (lmFit + contrasts.fit + eBayes), each feature on its observed values",
    "count_trend": "limma eBayes with the prior variance trended on log(n_peptides)",
    "deqms": "DEqMS: loess of the log variances on log2(n_peptides), its own prior df",
    "dpc": "missing values filled from a detection probability curve, with precision weights",
}
COUNT_METHODS = ("count_trend", "deqms")


def _peptide_counts(adata: AnnData, n_peptides: str | np.ndarray, method: str) -> np.ndarray:
    if isinstance(n_peptides, str):
        if n_peptides not in adata.var.columns:
            raise KeyNotFoundError(
                f"method={method!r} needs peptide counts per feature in adata.var[{n_peptides!r}], "
                f"which these data do not have (var columns: {list(adata.var.columns)[:12]}). "
                "Loaders fill var['n_peptides'] where the input has counts (MaxQuant 'Peptides', "
                "FragPipe 'Combined Total Peptides'); pass n_peptides= a column or an array, or "
                "use method='limma' or method='dpc', which need no counts."
            )
        values = pd.to_numeric(adata.var[n_peptides], errors="coerce").to_numpy(dtype=float)
        source = f"adata.var[{n_peptides!r}]"
    else:
        values = np.asarray(n_peptides, dtype=float)
        source = "n_peptides"
    count_covariate(values, adata.n_vars, source=source)
    return values


def differential_method(
    adata: AnnData,
    groupby: str = "phase",
    contrasts: Sequence[str] | str | None = None,
    *,
    method: str = "limma",
    n_peptides: str | np.ndarray = "n_peptides",
    layer: str | None = None,
    trend: bool = False,
    robust: bool = False,
    legacy: bool | None = None,
    detection_curve: DetectionCurve | None = None,
    fdr: str = "bh",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Moderated tests of contrasts between the levels of ``groupby`` with a chosen method.

    Parameters
    ----------
    method
        ``"limma"`` (what ``kom.tl.differential`` computes), ``"count_trend"`` (limma's
        ``eBayes(trend = log(n_peptides))``), ``"deqms"`` (DEqMS's ``spectraCounteBayes``) or
        ``"dpc"`` (missing values filled from a detection probability curve, see
        :mod:`kratom_omics.tl._methods._dpc`).
    n_peptides
        Column of ``adata.var`` (or an array) with the peptide/precursor count per feature, for the
        count methods.
    trend, robust, legacy
        limma's eBayes options (``trend`` is the intensity trend of ``"limma"`` and ``"dpc"``; the
        count methods trend on the counts instead and refuse it).
    detection_curve
        A curve fitted beforehand (e.g. on the data before filtering) for ``"dpc"``; fitted on
        ``adata`` when ``None``.

    Returns
    -------
    The long table of ``kom.tl.differential`` (``feature, contrast, log2fc, se, ..., reason``) and
    a dict with the method's details (prior df, detection curve).
    """
    if method not in METHODS:
        raise DesignError(
            f"method={method!r} is not known; choose one of {list(METHODS)}: "
            + "; ".join(f"{k}: {v}" for k, v in METHODS.items())
        )
    fdr = check_method(fdr)
    if trend and method in COUNT_METHODS:
        raise DesignError(
            f"method={method!r} trends the prior variance on the peptide counts; trend=True (on "
            "the mean intensity) cannot be combined with it. Drop trend=True or use "
            "method='limma' or 'dpc' with trend=True."
        )
    design = build_design(adata.obs, groupby)
    if contrasts is None:
        first = quote_name(design.levels[0])
        contrasts = [f"{quote_name(lv)} - {first}" for lv in design.levels[1:]]
    elif isinstance(contrasts, str):
        contrasts = [contrasts]
    names = [normalize_contrast(c) for c in contrasts]
    cmat = contrast_matrix(design, names)
    y = np.asarray(get_matrix(adata, layer), dtype=float).T
    info: dict[str, Any] = {"method": method}
    counts = _peptide_counts(adata, n_peptides, method) if method in COUNT_METHODS else None
    if method == "dpc":
        labels = adata.obs[groupby].astype(str).to_numpy()
        masks = [labels == lv for lv in design.levels]
        fit, dinfo = dpc_linear_fit(
            y, design.matrix, masks, curve=detection_curve, coef_names=design.columns
        )
        info.update(dinfo)
    else:
        fit = lm_fit(y, design.matrix, coef_names=design.columns)
    cfit = contrasts_fit(fit, cmat)
    sides = contrast_sides(cmat, design.level_vectors)
    side_mask = side_masks(adata.obs[groupby], sides)
    store = ChunkStore.single(block_summary(fit, cfit, np.isfinite(y), side_mask))
    gathered = {"sigma": fit.sigma.copy(), "df_residual": fit.df_residual, "amean": fit.amean}
    covariate = None
    prior = None
    if method == "count_trend" and counts is not None:
        covariate = np.log(counts)
        check_count_trend(covariate, fit.df_residual, legacy=legacy)
    elif method == "deqms" and counts is not None:
        prior = DEqMSVariancePrior(counts)
    result = run(
        store,
        gathered,
        design.matrix,
        cfit.cov_coefficients,
        names,
        adata.var_names,
        gene_index(adata),
        sides,
        side_totals(side_mask),
        trend=trend,
        robust=robust,
        legacy=legacy,
        lfc=0.0,
        fdr=fdr,
        covariate=covariate,
        variance_prior=prior,
    )
    info["df_prior"] = result["df_prior"]
    info["s2_prior"] = result["s2_prior"]
    return result["table"], info
