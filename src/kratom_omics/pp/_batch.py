"""Removal of batch effects for visualisation: linear regression (as limma) and ComBat."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import check_obs_key, get_matrix, record_provenance
from .._design import treatment_columns
from ..errors import DesignError, InputFormatError
from ._common import as_name_list, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["remove_batch"]

logger = logging.getLogger("kratom_omics")

_QR_TOL = 1e-7  # R's lm.fit tolerance for aliased columns


def _levels(column: pd.Series) -> list[str]:
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.astype(str))
        return [str(c) for c in column.cat.categories if str(c) in present]
    return sorted(set(column.astype(str)))


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )


def _sum_coding(column: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Sum-to-zero coding (R ``contr.sum``): level k -> e_k, last level -> -1 in every column.

    Numeric columns are centred instead, so removing their effect keeps the overall level.
    """
    if _is_numeric(column):
        v = column.to_numpy(dtype=np.float64)
        return (v - v.mean())[:, None], [name]
    levels = _levels(column)
    values = column.astype(str).to_numpy()
    out = np.zeros((len(values), max(len(levels) - 1, 0)))
    for k, lev in enumerate(levels[:-1]):
        out[:, k] = values == lev
    out[values == levels[-1], :] = -1.0
    return out, [f"{name}{k + 1}" for k in range(out.shape[1])]


def _estimable(design: np.ndarray) -> np.ndarray:
    """Columns kept by a pivoted QR: in order, columns in the span of earlier ones are aliased."""
    keep = np.zeros(design.shape[1], dtype=bool)
    basis = np.zeros((design.shape[0], 0))
    for j in range(design.shape[1]):  # loop over design columns (a handful)
        col = design[:, j]
        norm = np.linalg.norm(col)
        if norm == 0:
            continue
        resid = col - basis @ (basis.T @ col) if basis.shape[1] else col
        rnorm = np.linalg.norm(resid)
        if rnorm > _QR_TOL * norm:
            keep[j] = True
            basis = np.column_stack([basis, resid / rnorm])
    return keep


def _regress_out(y: np.ndarray, design: np.ndarray, nuisance: np.ndarray) -> np.ndarray:
    """``y - nuisance @ beta_nuisance`` with per-feature least squares on the observed samples.

    ``y`` is samples x features; features sharing a missingness pattern are fitted together.
    Coefficients that cannot be estimated on a feature's observed samples count as 0 (as in limma).
    """
    full = np.column_stack([design, nuisance])
    n_keep = design.shape[1]
    observed = np.isfinite(y)
    patterns, inverse = np.unique(observed.T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    out = y.copy()
    for p in range(patterns.shape[0]):  # loop over missingness patterns, not features
        rows = patterns[p]
        cols = np.flatnonzero(inverse == p)
        if not rows.any():
            continue
        d = full[rows]
        keep = _estimable(d)
        beta = np.zeros((full.shape[1], cols.size))
        if keep.any():
            coef, *_ = np.linalg.lstsq(d[:, keep], y[np.ix_(rows, cols)], rcond=None)
            beta[keep] = coef
        out[np.ix_(rows, cols)] = y[np.ix_(rows, cols)] - nuisance[rows] @ beta[n_keep:]
    return out


def remove_batch(
    adata: AnnData,
    *,
    batch: str | None = "batch",
    covariates: Sequence[str] = (),
    keep: str | Sequence[str] | None = "phase",
    method: Literal["regress", "combat"] = "regress",
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Remove batch (and covariate) effects from the values, keeping the ``keep`` (phase) effect.

    Meant for plots (PCA, heatmaps, profiles). For differential testing do **not** test
    batch-corrected values: model the batch as a covariate instead, ``kom.tl.differential(adata,
    covariates=["batch"])``, which keeps the degrees of freedom honest.

    Parameters
    ----------
    adata
        Samples x features data (log2 scale).
    batch
        ``.obs`` column with the batch (run day, TMT plex, blot membrane). None to remove
        covariates only.
    covariates
        Further ``.obs`` columns to remove: numeric ones are centred first (so the overall level is
        kept), categorical ones are coded like ``batch``.
    keep
        ``.obs`` column(s) whose effect is protected (in the model, not removed); None for none.
    method
        ``"regress"``: ``limma::removeBatchEffect``: per feature, least squares of
        ``~ keep + batch + covariates`` with sum-to-zero coding of the batch, then the batch and
        covariate terms are subtracted. With NaN each feature is fitted on its observed samples (as
        ``lmFit``); a term that cannot be estimated for a feature is not removed from it. Results
        equal limma's (with centred numeric covariates).

        ``"combat"``: ``scanpy.pp.combat`` (empirical-Bayes location/scale, Johnson et al. 2007)
        with ``keep`` and ``covariates`` as its covariates. ComBat cannot take missing values:
        impute (:func:`kratom_omics.pp.impute`) or keep complete features
        (``kom.pp.filter_valid(adata, min_valid=1.0)``) first, or use ``"regress"``. Every batch
        needs at least 2 samples. Features that ComBat returns as NaN (no variance) are left
        unchanged. Categorical ``keep``/``covariates`` columns are given to ComBat as 0/1 indicator
        columns without their first level: scanpy's own coding of a categorical covariate repeats
        the batch intercepts and makes the design singular.
    key_added
        Write the corrected values to ``.layers[key_added]`` and leave ``.X`` unchanged.
    copy
        Return a corrected copy instead of modifying ``adata``.

    Returns
    -------
    None, or the corrected copy when ``copy=True``. Writes ``.X`` (or ``.layers[key_added]``);
    ``layers["raw"]`` is not changed.

    Raises
    ------
    KeyNotFoundError
        A named column is not in ``.obs``.
    DesignError
        Missing values in a column used, overlapping columns, a batch with one sample (ComBat), or
        nothing to remove.
    InputFormatError
        NaN in ``.X`` with ``method="combat"``, an unknown method, or ``key_added="raw"``.
    """
    if method not in ("regress", "combat"):
        raise InputFormatError(f"remove_batch: method={method!r} must be 'regress' or 'combat'.")
    if key_added == "raw":
        raise InputFormatError(
            "remove_batch: key_added='raw' would overwrite the loaded values; use another name."
        )
    covs = as_name_list(covariates)
    keeps = as_name_list(keep)
    if batch is None and not covs:
        raise DesignError(
            "remove_batch: nothing to remove; give batch='batch' and/or covariates=[...]."
        )
    used = ([batch] if batch is not None else []) + covs + keeps
    for i, col in enumerate(used):
        check_obs_key(
            adata, col, argument="batch" if (batch is not None and i == 0) else "covariates/keep"
        )
    if len(set(used)) != len(used):
        raise DesignError(
            f"remove_batch: batch={batch!r}, covariates={covs} and keep={keeps} must name "
            "different columns of adata.obs."
        )
    obs = adata.obs[used]
    incomplete = obs.isna().any(axis=1).to_numpy()
    if incomplete.any():
        cols = [c for c in used if obs[c].isna().any()]
        raise DesignError(
            f"remove_batch: adata.obs columns {cols} have missing values for sample(s) "
            f"{list(adata.obs_names[incomplete])[:10]}; fill them in or remove those samples."
        )
    x = get_matrix(adata)
    params: dict = {
        "batch": batch,
        "covariates": covs,
        "keep": keeps or None,
        "method": method,
        "key_added": key_added,
    }
    if method == "regress":
        parts = [np.ones((adata.n_obs, 1))]
        for col in keeps:
            parts.append(treatment_columns(obs[col], col)[0])
        design = np.column_stack(parts)
        nparts = []
        for col in ([batch] if batch is not None else []) + covs:
            nparts.append(_sum_coding(obs[col], col)[0])
        nuisance = np.column_stack(nparts)
        if nuisance.shape[1] == 0:
            logger.info("remove_batch: %s has a single level; nothing to remove.", batch)
            corrected = x.copy()
        else:
            estimable = _estimable(np.column_stack([design, nuisance]))
            if not estimable[design.shape[1] :].all():
                removed = ([batch] if batch is not None else []) + covs
                logger.warning(
                    "remove_batch: %s is confounded with keep=%s (or with each other); the part "
                    "that cannot be separated is kept, not removed.",
                    removed,
                    keeps,
                )
            corrected = _regress_out(x, design, nuisance)
    else:
        corrected = _combat(adata, x, batch, covs, keeps)
    adata = start(adata, copy)
    if key_added is None:
        adata.X = corrected
    else:
        adata.layers[key_added] = corrected
    with np.errstate(invalid="ignore"):
        change = np.nanmean(np.abs(corrected - x)) if np.isfinite(x).any() else 0.0
    logger.info("remove_batch(%s): mean absolute change %.4g.", method, float(change))
    record_provenance(adata, "kratom_omics.pp.remove_batch", params)
    return adata if copy else None


def _combat(
    adata: AnnData, x: np.ndarray, batch: str | None, covs: list[str], keeps: list[str]
) -> np.ndarray:
    import anndata as ad
    import scanpy as sc

    if batch is None:
        raise DesignError("remove_batch(method='combat') needs batch=<column of adata.obs>.")
    n_missing = int((~np.isfinite(x)).sum())
    if n_missing:
        raise InputFormatError(
            f"remove_batch(method='combat'): adata.X has {n_missing} missing value(s) and ComBat "
            "(scanpy.pp.combat) cannot take NaN; impute first (kom.pp.impute), keep complete "
            "features (kom.pp.filter_valid(adata, min_valid=1.0)), or use method='regress', "
            "which fits each feature on its observed samples."
        )
    sizes = adata.obs[batch].astype(str).value_counts()
    if (sizes < 2).any():
        raise DesignError(
            f"remove_batch(method='combat'): batch(es) {sorted(sizes[sizes < 2].index)} of "
            f"adata.obs[{batch!r}] have a single sample; ComBat needs 2 or more per batch (use "
            "method='regress')."
        )
    # scanpy builds "~ 0 + factor" for categorical covariates, which repeats the intercept of the
    # batch indicators (a singular design): pass 0/1 columns without their first level instead
    obs = pd.DataFrame({batch: pd.Categorical(adata.obs[batch].astype(str))})
    obs.index = [str(i) for i in range(adata.n_obs)]
    extra: list[str] = []
    for col in [*keeps, *covs]:
        values, names = treatment_columns(adata.obs[col], col)
        for k, name in enumerate(names):
            key = f"__{name}"
            obs[key] = values[:, k]
            extra.append(key)
    tmp = ad.AnnData(X=x.copy(), obs=obs)
    try:
        corrected = np.asarray(
            sc.pp.combat(tmp, key=batch, covariates=extra or None, inplace=False), dtype=np.float64
        )
    except np.linalg.LinAlgError as err:
        raise DesignError(
            f"remove_batch(method='combat'): the design of batch {batch!r} with {[*keeps, *covs]} "
            "is singular (a batch coincides with a phase or covariate level); a confounded batch "
            "effect cannot be removed. Check the design with pd.crosstab(adata.obs[...])."
        ) from err
    bad = ~np.isfinite(corrected)
    if bad.any():
        n_feat = int(bad.any(axis=0).sum())
        logger.warning(
            "remove_batch(method='combat'): %d feature(s) without variance left unchanged.", n_feat
        )
        corrected[bad] = x[bad]
    return corrected
