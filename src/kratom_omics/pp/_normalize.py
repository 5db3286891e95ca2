"""Between-sample normalisation: median centring, quantile, reference sample, reference features."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._core import get_matrix, record_provenance
from ..errors import DesignError, InputFormatError, KeyNotFoundError, did_you_mean
from ._common import Scale, as_name_list, is_log2, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["normalize", "normalize_quantiles"]

logger = logging.getLogger("kratom_omics")

_METHODS = ("median", "quantile", "none", "reference_sample", "reference_feature")


def normalize_quantiles(values: np.ndarray) -> np.ndarray:
    """Quantile-normalise the columns of ``values`` (features x samples) as limma does.

    The result equals ``limma::normalizeQuantiles(values, ties=TRUE)``.

    Every column gets the same distribution, the mean of the sorted columns, so the intensity scale
    is kept. Missing values (NaN) stay missing: a column with ``k`` observed values is stretched
    over the ``n`` quantile positions by linear interpolation before the mean is taken, and its
    observed values are mapped back by interpolating their position ``(rank - 1) / (k - 1)``; ties
    get their mean rank (limma's ``ties=TRUE``).

    Parameters
    ----------
    values
        Features (rows) x samples (columns), the orientation of limma.

    Returns
    -------
    A new float64 array of the same shape.
    """
    from scipy.stats import rankdata

    a = np.asarray(values, dtype=np.float64)
    n_feat, n_samp = a.shape
    if n_samp < 2 or n_feat < 2:
        return a.copy()
    observed = ~np.isnan(a)
    nobs = observed.sum(axis=0)
    positions = np.arange(n_feat) / (n_feat - 1)
    sorted_cols = np.empty_like(a)
    complete = nobs == n_feat
    sorted_cols[:, complete] = np.sort(a[:, complete], axis=0)
    for j in np.flatnonzero(~complete):  # loop over samples with missing values
        column = np.sort(a[observed[:, j], j])
        sorted_cols[:, j] = np.interp(positions, np.arange(nobs[j]) / (nobs[j] - 1), column)
    target = sorted_cols.mean(axis=1)
    ranks = rankdata(a, axis=0, method="average", nan_policy="omit")
    return np.interp((ranks - 1.0) / (nobs - 1.0), positions, target)


def _log_view(x: np.ndarray, log_scale: bool) -> np.ndarray:
    if log_scale:
        return x
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, np.log2(np.where(x > 0, x, 1.0)), np.nan)


def _apply_offsets(x: np.ndarray, offsets: np.ndarray, log_scale: bool) -> np.ndarray:
    if log_scale:
        return x - offsets[:, None]
    return x / np.exp2(offsets)[:, None]


def normalize(
    adata: AnnData,
    *,
    method: Literal[
        "median", "quantile", "none", "reference_sample", "reference_feature"
    ] = "median",
    reference: str | Sequence[str] | None = None,
    scale: Scale = "auto",
    copy: bool = False,
) -> AnnData | None:
    """Normalise samples so that they are comparable.

    Works on ``.X`` with NaN present. ``.X`` is expected on the log2 scale (after
    :func:`kratom_omics.pp.log2`); the offsets are then subtracted. On linear values
    (``scale="linear"``, or ``"auto"`` before ``log2``) the same offsets are computed from log2 of
    the positive values and applied as factors (divided by ``2**offset``).

    Parameters
    ----------
    adata
        Samples x features data.
    method
        ``"median"`` (default): subtract each sample's median (over its observed features) and add
        back the median of the sample medians, so the intensity scale is kept (MSstats'
        ``equalizeMedians``).

        ``"quantile"``: quantile normalisation identical to ``limma::normalizeQuantiles`` (each
        sample gets the mean sorted distribution; NaN handled as limma does; scale kept).

        ``"reference_sample"``: for a pooled QC or reference sample(s) named in ``reference``,
        subtract from each sample the median over features of its difference to the reference (the
        mean of the reference samples when several are given); a single reference sample ends with
        offset 0.

        ``"reference_feature"``: subtract, per sample, the mean of the centred reference features
        named in ``reference`` (``var_names`` or ``var["gene"]``), e.g. housekeeping proteins or
        total histone H3; each reference feature is centred on its mean over samples first, so the
        scale is kept and a missing reference value does not bias the offset.

        ``"none"``: leave the values, record the decision in the provenance.
    reference
        Sample name(s) for ``"reference_sample"``; feature name(s) for ``"reference_feature"``.
    scale
        ``"auto"``: log2 when ``uns["kratom_omics"]["x_transform"]`` says so (set by
        :func:`kratom_omics.pp.log2`), otherwise judged from the values (negative values, or
        non-integer values below 64, are log-scale); or ``"log2"``/``"linear"``.
    copy
        Return a normalised copy instead of modifying ``adata``.

    Returns
    -------
    None, or the normalised copy when ``copy=True``. Writes ``.X`` and, except for ``"quantile"``
    and ``"none"``, ``.obs["norm_offset"]`` (log2 units removed from each sample).
    ``layers["raw"]`` is not changed.

    Raises
    ------
    InputFormatError
        Unknown method, a missing or unneeded ``reference``, or a sample with too few observed
        values.
    KeyNotFoundError
        A reference sample or feature does not exist.
    DesignError
        A sample shares no observed feature with the reference.
    """
    if method not in _METHODS:
        raise InputFormatError(
            did_you_mean(str(method), _METHODS, what="normalize: method").replace(
                "is not available", "is not a normalisation method"
            )
        )
    refs = as_name_list(reference)
    if method in ("reference_sample", "reference_feature") and not refs:
        what = (
            "sample name(s), e.g. reference='pool_1'"
            if method == "reference_sample"
            else ("feature name(s), e.g. reference=['Gapdh', 'Actb'] or reference='H3'")
        )
        raise InputFormatError(f"normalize(method={method!r}) needs reference= {what}.")
    if refs and method not in ("reference_sample", "reference_feature"):
        raise InputFormatError(
            f"normalize(method={method!r}) does not use reference={reference!r}; use "
            "method='reference_sample' or method='reference_feature', or drop reference."
        )
    log_scale = is_log2(adata, None, scale)
    x = get_matrix(adata)
    offsets: np.ndarray | None = None
    params: dict = {
        "method": method,
        "reference": refs or None,
        "scale": "log2" if log_scale else "linear",
    }
    observed = np.isfinite(x)
    n_obs = observed.sum(axis=1)
    if method != "none" and (n_obs < 2).any():
        bad = list(adata.obs_names[n_obs < 2])
        raise InputFormatError(
            f"normalize: sample(s) {bad[:10]} have fewer than 2 observed values; remove them "
            "(adata = adata[adata.obs_names != name].copy()) before normalising."
        )
    if method == "median":
        lx = _log_view(x, log_scale)
        medians = np.nanmedian(lx, axis=1)
        target = float(np.median(medians))
        offsets = medians - target
        params["target_median"] = target
        new = _apply_offsets(x, offsets, log_scale)
    elif method == "quantile":
        new = normalize_quantiles(np.where(observed, x, np.nan).T).T
    elif method == "reference_sample":
        names = list(map(str, adata.obs_names))
        missing = [r for r in refs if r not in names]
        if missing:
            raise KeyNotFoundError(
                did_you_mean(missing[0], names, what="normalize: reference").replace(
                    "is not available", "is not a sample of adata.obs_names"
                )
            )
        lx = _log_view(x, log_scale)
        idx = [names.index(r) for r in refs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            profile = np.nanmean(lx[idx], axis=0)
            offsets = np.nanmedian(lx - profile[None, :], axis=1)
        if np.isnan(offsets).any():
            bad = list(adata.obs_names[np.isnan(offsets)])
            raise DesignError(
                f"normalize: sample(s) {bad[:10]} share no observed feature with the reference "
                f"{refs}; choose another reference or remove those samples."
            )
        new = _apply_offsets(x, offsets, log_scale)
    elif method == "reference_feature":
        idx = _feature_indices(adata, refs)
        lx = _log_view(x, log_scale)
        ref = lx[:, idx]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centred = ref - np.nanmean(ref, axis=0)[None, :]
            offsets = np.nanmean(centred, axis=1)
        if np.isnan(offsets).any():
            bad = list(adata.obs_names[np.isnan(offsets)])
            raise DesignError(
                f"normalize: sample(s) {bad[:10]} have no observed value for the reference "
                f"feature(s) {refs}; add other reference features or remove those samples."
            )
        params["reference_features"] = [str(adata.var_names[i]) for i in idx]
        new = _apply_offsets(x, offsets, log_scale)
    else:
        new = x
    adata = start(adata, copy)
    adata.X = np.asarray(new, dtype=np.float64)
    if offsets is not None:
        adata.obs["norm_offset"] = offsets
        params["offsets"] = dict(
            zip(map(str, adata.obs_names), np.round(offsets, 6).tolist(), strict=True)
        )
        logger.info(
            "normalize(%s): per-sample offsets from %.3f to %.3f (log2).",
            method,
            float(np.min(offsets)),
            float(np.max(offsets)),
        )
    else:
        logger.info("normalize(%s): done on %d samples.", method, adata.n_obs)
    record_provenance(adata, "kratom_omics.pp.normalize", params)
    return adata if copy else None


def _feature_indices(adata: AnnData, refs: list[str]) -> list[int]:
    names = list(map(str, adata.var_names))
    position = {n: i for i, n in enumerate(names)}
    genes = adata.var["gene"].astype("string") if "gene" in adata.var.columns else None
    out: list[int] = []
    for r in refs:
        if r in position:
            out.append(position[r])
            continue
        if genes is not None:
            hits = np.flatnonzero((genes == r).fillna(False).to_numpy(dtype=bool))
            if hits.size:
                out.extend(int(h) for h in hits)
                continue
        raise KeyNotFoundError(
            did_you_mean(r, names, what="normalize: reference").replace(
                "is not available",
                "is neither a feature of adata.var_names nor a var['gene'] symbol",
            )
        )
    return sorted(set(out))
