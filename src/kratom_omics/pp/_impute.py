"""Imputation of missing values: Perseus down-shift, MinProb, k-nearest neighbours, mixed."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._core import get_matrix, record_provenance
from ..errors import DesignError, InputFormatError, KratomOmicsWarning, did_you_mean
from ._common import group_codes, group_onehot, is_log2, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["impute"]

logger = logging.getLogger("kratom_omics")

_METHODS = ("downshift", "minprob", "knn", "mixed")


def _check_number(name: str, value: object, *, low: float, high: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputFormatError(f"impute: {name}={value!r} must be a number.")
    v = float(value)
    if not (low <= v <= high) or np.isnan(v):
        raise InputFormatError(f"impute: {name}={value!r} must lie in [{low}, {high}].")
    return v


def _downshift_params(
    x: np.ndarray, shift: float, width: float, per: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample mean and SD of the down-shifted normal (Perseus "Replace missing values")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if per == "sample":
            mean = np.nanmean(x, axis=1)
            sd = np.nanstd(x, axis=1, ddof=1)
        else:
            mean = np.full(x.shape[0], np.nanmean(x))
            sd = np.full(x.shape[0], np.nanstd(x, ddof=1))
    return mean - shift * sd, width * sd


def _minprob_params(
    x: np.ndarray, q: float, tune_sigma: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """imputeLCMD ``impute.MinProb``: per-sample q-quantile; SD = median feature SD * tune_sigma."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanquantile(x, q, axis=1)
        observed_fraction = np.isfinite(x).mean(axis=0)
        well = observed_fraction > 0.5
        feature_sd = np.nanstd(x[:, well], axis=0, ddof=1)
        sd = float(np.nanmedian(feature_sd)) * tune_sigma if well.any() else np.nan
    if not np.isfinite(sd):
        raise DesignError(
            "impute(method='minprob'): no feature has more than half of its values observed (or "
            "enough to compute an SD), so the SD of the imputation distribution is undefined; "
            "filter first (kom.pp.filter_valid) or use method='downshift'."
        )
    return mean, np.full(x.shape[0], sd), sd


def _knn(x: np.ndarray, n_neighbors: int, *, chunk_bytes: int = 64 * 2**20) -> np.ndarray:
    """Impute each feature from its ``n_neighbors`` most similar features (nan-Euclidean).

    The estimate of scikit-learn's ``KNNImputer(n_neighbors).fit_transform(x.T).T``: the distance
    between two features is ``sqrt(n_samples / n_common * sum of squared differences)`` over the
    samples where both are observed; a missing value of feature ``i`` in sample ``s`` is the mean of
    sample ``s``'s values of the ``n_neighbors`` nearest features observed in ``s``; a feature that
    shares no sample with any donor gets the mean of sample ``s``. Distances come from matrix
    products in chunks of features, so the memory stays near ``chunk_bytes``.
    """
    f = x.T  # features x samples
    observed = np.isfinite(f)
    n_feat, n_samp = f.shape
    out = np.where(observed, f, np.nan)
    f0 = np.where(observed, f, 0.0)
    m = observed.astype(np.float64)
    sq = f0**2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sample_mean = np.nanmean(out, axis=0)
    receivers_all = np.flatnonzero(~observed.all(axis=1))
    step = max(1, int(chunk_bytes // (8 * max(n_feat, 1))))
    for begin in range(0, receivers_all.size, step):  # chunks of features
        rows = receivers_all[begin : begin + step]
        n_common = m[rows] @ m.T
        ssq = sq[rows] @ m.T + m[rows] @ sq.T - 2.0 * (f0[rows] @ f0.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.sqrt(np.maximum(ssq, 0.0) * (n_samp / n_common))
        dist[n_common == 0] = np.nan
        for s in range(n_samp):  # loop over samples
            recv = np.flatnonzero(~observed[rows, s])
            donors = np.flatnonzero(observed[:, s])
            if recv.size == 0 or donors.size == 0:
                continue
            d = dist[recv]
            d[:, ~observed[:, s]] = np.inf  # not a donor for sample s
            k = min(n_neighbors, donors.size)
            nearest = np.argpartition(d, k - 1, axis=1)[:, :k]  # NaN distances sort last
            weight = np.isfinite(np.take_along_axis(d, nearest, axis=1)).astype(np.float64)
            values = np.where(weight > 0, f[nearest, s], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                estimate = (weight * values).sum(axis=1) / weight.sum(axis=1)
            estimate[weight.sum(axis=1) == 0] = sample_mean[s]
            out[rows[recv], s] = estimate
    return out.T


def impute(
    adata: AnnData,
    *,
    method: Literal["downshift", "minprob", "knn", "mixed"] = "downshift",
    seed: int = 0,
    shift: float = 1.8,
    width: float = 0.3,
    per: Literal["sample", "matrix"] = "sample",
    q: float = 0.01,
    tune_sigma: float = 1.0,
    n_neighbors: int = 5,
    groupby: str = "phase",
    warn_fraction: float = 0.5,
    copy: bool = False,
) -> AnnData | None:
    """Replace missing values (NaN) of ``.X``; imputation happens only when this function is called.

    Expects log2 values (after :func:`kratom_omics.pp.log2`). Random draws come from
    ``numpy.random.default_rng(seed)`` (one draw per cell of the matrix), so the same seed gives
    the same values.

    Parameters
    ----------
    adata
        Samples x features data with NaN for missing values.
    method
        ``"downshift"``: Perseus' normal-distribution replacement; draws from
        ``N(mean - shift * sd, (width * sd)^2)`` with ``mean`` and ``sd`` of the observed values of
        each sample (``per="sample"``) or of the whole matrix (``per="matrix"``). For values
        missing because they are below detection.

        ``"minprob"``: imputeLCMD's ``impute.MinProb``; draws from
        ``N(quantile_q(sample), sigma^2)`` with ``sigma = tune_sigma * median`` of the SDs of the
        features observed in more than half the samples.

        ``"knn"``: each missing value is the mean of that sample's values of the ``n_neighbors``
        most similar features observed in that sample (nan-Euclidean distance over samples; the
        values of scikit-learn's ``KNNImputer`` applied to features, computed in chunks). For
        values missing at random.

        ``"mixed"``: features absent from a whole group of ``groupby`` (on/off candidates, missing
        not at random) get ``"downshift"`` values; all other features get ``"knn"`` values.
    seed
        Seed of the random draws.
    shift, width
        Down-shift and width, in SDs, of ``"downshift"`` (Perseus defaults 1.8 and 0.3).
    per
        ``"sample"`` or ``"matrix"``: where the mean and SD of ``"downshift"`` come from.
    q, tune_sigma
        Quantile and SD multiplier of ``"minprob"`` (imputeLCMD defaults 0.01 and 1).
    n_neighbors
        Neighbouring features used by ``"knn"``.
    groupby
        ``.obs`` column whose groups define "absent from a whole group" for ``"mixed"``.
    warn_fraction
        Emit a :class:`~kratom_omics.errors.KratomOmicsWarning` naming the features with more than
        this fraction of their values imputed.
    copy
        Return an imputed copy instead of modifying ``adata``.

    Returns
    -------
    None, or the imputed copy when ``copy=True``. Writes ``.X``, ``.layers["imputed_mask"]`` (bool,
    True where a value was imputed, cumulative over calls) and ``.var["imputed_fraction"]``.
    ``layers["raw"]`` is not changed.

    Raises
    ------
    InputFormatError
        Unknown method or parameter out of range.
    DesignError
        The data do not allow the method (e.g. no sample values to estimate a distribution).
    """
    if method not in _METHODS:
        raise InputFormatError(
            did_you_mean(str(method), _METHODS, what="impute: method").replace(
                "is not available", "is not an imputation method"
            )
        )
    if per not in ("sample", "matrix"):
        raise InputFormatError(f"impute: per={per!r} must be 'sample' or 'matrix'.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputFormatError(f"impute: seed={seed!r} must be an integer.")
    shift = _check_number("shift", shift, low=0.0)
    width = _check_number("width", width, low=0.0)
    q = _check_number("q", q, low=0.0, high=1.0)
    tune_sigma = _check_number("tune_sigma", tune_sigma, low=0.0)
    warn_fraction = _check_number("warn_fraction", warn_fraction, low=0.0, high=1.0)
    if (
        isinstance(n_neighbors, bool)
        or not isinstance(n_neighbors, (int, np.integer))
        or n_neighbors < 1
    ):
        raise InputFormatError(f"impute: n_neighbors={n_neighbors!r} must be an integer >= 1.")
    if not is_log2(adata, None, "auto"):
        logger.warning(
            "impute: adata.X looks like linear values; the imputation models assume log-scale "
            "intensities (run kom.pp.log2 first)."
        )

    x = get_matrix(adata).copy()
    missing = ~np.isfinite(x)
    params: dict = {"method": method, "seed": int(seed), "n_imputed": int(missing.sum())}
    if method in ("knn", "mixed") and n_neighbors >= adata.n_vars:
        raise InputFormatError(
            f"impute: n_neighbors={n_neighbors} but there are only {adata.n_vars} features; use a "
            "smaller n_neighbors."
        )
    rng = np.random.default_rng(int(seed))
    draws = rng.standard_normal(x.shape)
    filled = x.copy()
    if method in ("downshift", "mixed"):
        mean, sd = _downshift_params(x, shift, width, per)
        params.update(shift=shift, width=width, per=per)
    if method == "minprob":
        mean, sd, sigma = _minprob_params(x, q, tune_sigma)
        params.update(q=q, tune_sigma=tune_sigma, sigma=sigma)
    if method in ("downshift", "minprob"):
        random_values = mean[:, None] + sd[:, None] * draws
        filled[missing] = random_values[missing]
    elif method == "knn":
        filled = np.where(missing, _knn(x, n_neighbors), x)
        params["n_neighbors"] = n_neighbors
    else:  # mixed
        levels, codes = group_codes(adata, groupby)
        onehot = group_onehot(codes, len(levels))
        valid_per_group = onehot.T @ (~missing).astype(np.float64)
        absent = (valid_per_group == 0).any(axis=0) & missing.any(axis=0)
        random_values = mean[:, None] + sd[:, None] * draws
        mnar_cells = missing & absent[None, :]
        filled[mnar_cells] = random_values[mnar_cells]
        if (~absent).any():
            sub = x[:, ~absent]
            k = min(n_neighbors, max(sub.shape[1] - 1, 1))
            knn_values = _knn(sub, k)
            block = filled[:, ~absent]
            mar = missing[:, ~absent]
            block[mar] = knn_values[mar]
            filled[:, ~absent] = block
        params.update(
            shift=shift,
            width=width,
            per=per,
            n_neighbors=n_neighbors,
            groupby=groupby,
            n_features_downshift=int(absent.sum()),
            n_features_knn=int((missing.any(axis=0) & ~absent).sum()),
        )
    still = missing & ~np.isfinite(filled)
    if still.any():
        bad = sorted(set(adata.obs_names[still.any(axis=1)]))
        raise DesignError(
            f"impute(method={method!r}): {int(still.sum())} value(s) could not be imputed in "
            f"sample(s) {bad[:10]} (too few observed values to estimate a distribution); remove "
            "those samples first."
        )
    imputed = missing
    fraction = imputed.mean(axis=0)
    over = fraction > warn_fraction
    if over.any():
        names = list(map(str, adata.var_names[over]))
        warnings.warn(
            f"impute: {int(over.sum())} feature(s) have more than {warn_fraction:.0%} of their "
            f"values imputed (e.g. {names[:5]}); results for them rest mostly on imputed values. "
            "Consider kom.pp.filter_valid before imputing.",
            KratomOmicsWarning,
            stacklevel=2,
        )
    params["n_features_over_warn_fraction"] = int(over.sum())
    params["warn_fraction"] = warn_fraction
    adata = start(adata, copy)
    adata.X = filled
    previous = adata.layers.get("imputed_mask")
    mask = imputed if previous is None else (np.asarray(previous, dtype=bool) | imputed)
    adata.layers["imputed_mask"] = mask
    adata.var["imputed_fraction"] = mask.mean(axis=0)
    logger.info(
        "impute(%s): imputed %d of %d values (%.1f%%).",
        method,
        int(imputed.sum()),
        imputed.size,
        100.0 * imputed.mean() if imputed.size else 0.0,
    )
    record_provenance(adata, "kratom_omics.pp.impute", params)
    return adata if copy else None
