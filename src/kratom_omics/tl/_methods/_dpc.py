"""Missing values as evidence: a detection probability curve (DPC) and limma on completed data.

In label-free proteomics a value is mostly missing because it is low. Following Li & Smyth
(2023, Bioinformatics 39:btad200; the DPC of the Smyth lab's limpa package), the probability that a
value ``y`` (log2) is detected is a logistic curve ``P(detected | y) = 1 / (1 + exp(-(b0 + b1 y)))``.

:func:`fit_detection_curve` estimates ``b0, b1`` from the data: every feature contributes its
number of detected samples, a zero-truncated binomial whose probability is the curve at the mean
of the feature's observed and (unobserved) missing values. Under exponential tilting the missing
values of a feature are centred ``b1 s^2`` below its observed mean (``s^2`` its moderated
variance), so the fit alternates between the curve and those centres until ``b0, b1`` settle.

:func:`missing_value_posterior` turns the curve into values: a missing value of a feature with
complete-data distribution ``N(m, tau^2)`` has the density ``N(y; m, tau^2) (1 - P(detected | y))``,
whose mean and variance are computed by quadrature. ``m`` is the feature's mean over all samples
with the missing values at their conditional mean (solved by fixed-point iteration) and ``tau^2``
its moderated variance around that mean; neither uses the group labels, so under the null
hypothesis the completed values favour no group.

:func:`dpc_linear_fit` then fits limma's linear model twice: coefficients and their unscaled
standard errors from the completed data with precision weights ``w = s^2 / (s^2 + v)`` for the
filled values (``v`` the conditional variance of a missing value, ``s^2`` the feature's moderated
residual variance), residual variances and residual df from the observed values alone (so the
filled values add no df and do not shrink the variance estimate). Features with a group of
``groupby`` entirely missing are not filled: they keep limma's NA and the on/off detection result.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from scipy import special

from ...errors import DesignError
from .._limma import LinearFit, lm_fit, squeeze_var

__all__ = [
    "DetectionCurve",
    "dpc_linear_fit",
    "fit_detection_curve",
    "missing_value_posterior",
]

logger = logging.getLogger("kratom_omics")

#: fewest missing values (and features with some) the curve is fit from
MIN_MISSING = 20
MIN_FEATURES_WITH_MISSING = 10
_NODES = np.linspace(-8.0, 8.0, 321)  # quadrature grid in standard deviations
_NODE_W = np.exp(-0.5 * _NODES**2) / np.sqrt(2.0 * np.pi)  # the standard normal density


@dataclasses.dataclass(frozen=True)
class DetectionCurve:
    """A fitted detection probability curve ``P(detected | y) = plogis(beta0 + beta1 y)``."""

    beta0: float
    beta1: float
    n_features: int
    n_missing: int
    iterations: int

    def probability(self, y: Any) -> np.ndarray:
        """Detection probability at log2 value(s) ``y``."""
        return np.asarray(special.expit(self.beta0 + self.beta1 * np.asarray(y, float)))

    def midpoint(self) -> float:
        """The log2 value detected half of the time (``-beta0 / beta1``)."""
        return -self.beta0 / self.beta1 if self.beta1 > 0 else float("nan")


def _moderated_row_variance(y: np.ndarray) -> np.ndarray:
    """Moderated (limma, intensity trend) variance of each row around its observed mean."""
    fit = lm_fit(y, np.ones((y.shape[1], 1)))
    ok = fit.df_residual > 0
    out = np.full(y.shape[0], np.nan)
    if ok.sum() < 3:
        return out
    sq = squeeze_var(fit.sigma[ok] ** 2, fit.df_residual[ok], covariate=fit.amean[ok])
    out[ok] = sq["var_post"]
    prior = np.asarray(sq["var_prior"], float)
    if (~ok).any():  # one observed value: the trended prior at its intensity
        if prior.ndim == 0:
            out[~ok] = float(prior)
        else:
            o = np.argsort(fit.amean[ok])
            out[~ok] = np.interp(fit.amean[~ok], fit.amean[ok][o], prior[o])
    return out


def _zt_binomial_nll(beta: np.ndarray, det: np.ndarray, n: np.ndarray, x: np.ndarray) -> float:
    eta = beta[0] + beta[1] * x
    logp = -np.logaddexp(0.0, -eta)  # log plogis(eta)
    log1mp = -np.logaddexp(0.0, eta)
    # log P(0 detected) = n log(1 - p); truncation: log(1 - (1 - p)^n)
    trunc = np.log(-np.expm1(n * log1mp))
    ll = det * logp + (n - det) * log1mp - trunc
    return float(-np.sum(ll))


def fit_detection_curve(
    y: np.ndarray, *, b1_upper: float = 5.0, maxit: int = 100, tol: float = 1e-6
) -> DetectionCurve:
    """Fit the detection probability curve to a features x samples log2 matrix (NaN = missing).

    Raises :class:`~kratom_omics.errors.DesignError` when the data have too few missing values
    (fewer than 20, or fewer than 10 features with one) or when detection does not rise with
    intensity (slope <= 0: the missing values look random).
    """
    from scipy import optimize

    y = np.asarray(y, dtype=float)
    detected = np.isfinite(y)
    det = detected.sum(axis=1).astype(float)
    n = np.full(det.shape, float(y.shape[1]))
    keep = det > 0
    n_missing = int((~detected[keep]).sum())
    n_feat_missing = int(((det < n) & keep).sum())
    if n_missing < MIN_MISSING or n_feat_missing < MIN_FEATURES_WITH_MISSING:
        raise DesignError(
            f"the detection model needs missing values to learn from: the data have "
            f"{n_missing} missing value(s) in {n_feat_missing} feature(s) (at least "
            f"{MIN_MISSING} in {MIN_FEATURES_WITH_MISSING} features are needed). With (almost) "
            "complete data use method='limma'."
        )
    y = y[keep]
    det, n = det[keep], n[keep]
    with np.errstate(invalid="ignore"):
        mu_obs = np.nanmean(y, axis=1)
    s2 = _moderated_row_variance(y)
    s2 = np.where(np.isfinite(s2), s2, np.nanmedian(s2))
    # start: a binomial GLM of the detected share on the observed mean
    x = mu_obs
    beta = np.array([0.0, 0.0])
    res = optimize.minimize(
        _zt_binomial_nll,
        np.array([-np.median(x) * 0.5, 0.5]),
        args=(det, n, x),
        method="L-BFGS-B",
        bounds=[(None, None), (0.0, b1_upper)],
    )
    beta = res.x
    it = 0
    while it < maxit:
        it += 1
        mu_mis = mu_obs - beta[1] * s2
        x = 0.5 * (mu_obs + mu_mis)
        res = optimize.minimize(
            _zt_binomial_nll,
            beta,
            args=(det, n, x),
            method="L-BFGS-B",
            bounds=[(None, None), (0.0, b1_upper)],
        )
        new = res.x
        done = bool(np.max(np.abs(new - beta)) < tol * (1 + np.max(np.abs(beta))))
        beta = new
        if done:
            break
    if beta[1] <= 1e-6:
        raise DesignError(
            "detection does not rise with intensity in these data (fitted slope "
            f"{beta[1]:.3g}): the missing values look random, so they carry no information about "
            "low abundance. Use method='limma' (each feature fit on its observed values)."
        )
    curve = DetectionCurve(
        beta0=float(beta[0]),
        beta1=float(beta[1]),
        n_features=int(keep.sum()),
        n_missing=n_missing,
        iterations=it,
    )
    logger.info(
        "detection probability curve: b0 = %.4g, b1 = %.4g (50%% detected at %.3g) from %d "
        "missing values in %d features",
        curve.beta0,
        curve.beta1,
        curve.midpoint(),
        n_missing,
        n_feat_missing,
    )
    return curve


def _tilted_moments(
    m: np.ndarray, tau: np.ndarray, curve: DetectionCurve
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and probability of ``y ~ N(m, tau^2)`` given that ``y`` is missing."""
    yq = m[:, None] + tau[:, None] * _NODES[None, :]
    w = _NODE_W[None, :] * special.expit(-(curve.beta0 + curve.beta1 * yq))
    mass = w.sum(axis=1)
    safe = np.where(mass > 0, mass, 1.0)
    mean = (w * yq).sum(axis=1) / safe
    var = (w * (yq - mean[:, None]) ** 2).sum(axis=1) / safe
    # no mass (detection certain over the whole normal): fall back to the left tail
    low = mass <= 0
    if low.any():
        mean[low] = m[low] - 3 * tau[low]
        var[low] = tau[low] ** 2
    return mean, var, mass * (_NODES[1] - _NODES[0])


def missing_value_posterior(
    y: np.ndarray, curve: DetectionCurve, *, maxit: int = 200, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Conditional mean and variance of the missing values of every feature.

    Returns ``fill`` and ``fill_var`` (one value per feature: the mean and variance of a missing
    value given that it is missing), the complete-data mean ``m`` and variance ``tau2``. Features
    without missing values get ``fill = NaN``.
    """
    y = np.asarray(y, dtype=float)
    detected = np.isfinite(y)
    n = y.shape[1]
    nobs = detected.sum(axis=1)
    nmis = n - nobs
    tau2 = _moderated_row_variance(y)
    tau2 = np.where(np.isfinite(tau2), tau2, np.nanmedian(tau2))
    tau = np.sqrt(tau2)
    sum_obs = np.where(detected, y, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(nobs > 0, sum_obs / np.maximum(nobs, 1), np.nan)
    todo = (nmis > 0) & (nobs > 0)
    fill = np.full(y.shape[0], np.nan)
    fill_var = np.full(y.shape[0], np.nan)
    if todo.any():
        mt, tt = m[todo], tau[todo]
        so, nm = sum_obs[todo], nmis[todo]
        for _ in range(maxit):  # m = mean of observed and conditional means of missing values
            a, _v, _p = _tilted_moments(mt, tt, curve)
            new = (so + nm * a) / n
            if np.max(np.abs(new - mt)) < tol:
                mt = new
                break
            mt = new
        a, v, _p = _tilted_moments(mt, tt, curve)
        fill[todo], fill_var[todo], m[todo] = a, v, mt
    return fill, fill_var, m, tau2


def _group_fully_missing(detected: np.ndarray, group_masks: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(detected.shape[0], dtype=bool)
    for mask in group_masks:
        if mask.any():
            out |= ~detected[:, mask].any(axis=1)
    return out


def group_means_with_dropout(
    y: np.ndarray,
    mask: np.ndarray,
    sigma2: np.ndarray,
    curve: DetectionCurve,
    *,
    maxit: int = 500,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood group mean of every feature with the missing values as evidence.

    For the samples of one group (``mask``) with values ``y ~ N(mu, sigma^2)`` of which some are
    missing, the log-likelihood of ``mu`` is ``sum_obs log N(y; mu, sigma^2) + n_mis log
    P(missing | mu)`` with ``P(missing | mu) = E[1 - P(detected | y)]``. Its score is zero where
    ``mu = (sum_obs y + n_mis a(mu)) / n`` (``a`` the conditional mean of a missing value), solved
    by fixed-point iteration; the information a missing value adds is ``(sigma^2 - v) / sigma^4``
    (``v`` its conditional variance), i.e. it weighs ``1 - v / sigma^2`` of an observed value.

    Returns ``mu``, the weight of a missing value and the number of missing values per feature
    (``mu`` is the observed mean where nothing is missing, NaN where everything is).
    """
    yg = y[:, mask]
    det = np.isfinite(yg)
    n = int(mask.sum())
    nobs = det.sum(axis=1)
    nmis = n - nobs
    sum_obs = np.where(det, yg, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(nobs > 0, sum_obs / np.maximum(nobs, 1), np.nan)
    weight = np.zeros(y.shape[0])
    todo = (nmis > 0) & (nobs > 0)
    if todo.any():
        m = mu[todo]
        sd = np.sqrt(sigma2[todo])
        so, nm = sum_obs[todo], nmis[todo]
        for _ in range(maxit):
            a, _v, _p = _tilted_moments(m, sd, curve)
            new = (so + nm * a) / n
            delta = float(np.max(np.abs(new - m)))
            m = new
            if delta < tol:
                break
        _a, v, _p = _tilted_moments(m, sd, curve)
        mu[todo] = m
        weight[todo] = np.clip(1.0 - v / sd**2, 0.0, 1.0)
    return mu, weight, nmis


#: smallest weight given to a filled value (keeps the weighted fit's arithmetic finite)
_MIN_WEIGHT = 1e-6


def dpc_linear_fit(
    y: np.ndarray,
    design: np.ndarray,
    group_masks: list[np.ndarray],
    *,
    curve: DetectionCurve | None = None,
    coef_names: list[str] | None = None,
) -> tuple[LinearFit, dict[str, Any]]:
    """limma's group-means model with the missing values as evidence (detection probability curve).

    ``design`` must be the group-means design ``~ 0 + group`` of ``group_masks`` (one column per
    group). Each group mean is the maximum-likelihood estimate of
    :func:`group_means_with_dropout` and its unscaled variance ``1 / (n_obs + n_mis w)``; residual
    variances, residual df, ``amean`` and ``n_obs`` stay those of limma's fit on the observed
    values, so the moderation (``ebayes``) sees the same variances as plain limma. This is
    expressed as a weighted least-squares fit: each missing value of a group is filled with the
    value and weight ``w`` that make the weighted group mean the maximum-likelihood one. Features
    with a group entirely missing are left as limma has them (NA contrast, on/off result).

    Returns the :class:`~kratom_omics.tl._limma.LinearFit` for ``contrasts_fit`` and ``ebayes``
    and a dict with the curve, the number of filled values and the filled means.
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    masks = [np.asarray(m, dtype=bool) for m in group_masks]
    if len([m for m in masks if m.any()]) < 2:
        raise DesignError(
            "the detection model compares groups and needs at least two groups with samples; "
            "with one group use method='limma'."
        )
    indicator = np.column_stack([m.astype(float) for m in masks])
    if design.shape != indicator.shape or not np.array_equal(design, indicator):
        raise DesignError(
            "the detection model estimates group means and needs the design ~ 0 + group "
            "(no covariates or formula); for designs with covariates use method='limma'."
        )
    if curve is None:
        curve = fit_detection_curve(y)
    detected = np.isfinite(y)
    fit_obs = lm_fit(y, design, coef_names=coef_names)
    ok = fit_obs.df_residual > 0
    sq = squeeze_var(fit_obs.sigma[ok] ** 2, fit_obs.df_residual[ok], covariate=fit_obs.amean[ok])
    s2 = np.full(y.shape[0], np.nan)
    s2[ok] = sq["var_post"]
    s2 = np.where(np.isfinite(s2), s2, np.nanmedian(s2[ok]))
    onoff = _group_fully_missing(detected, masks)
    completed = y.copy()
    weights = detected.astype(float)
    n_filled = 0
    for mask in masks:
        mu, w, nmis = group_means_with_dropout(y, mask, s2, curve)
        rows = (nmis > 0) & np.isfinite(mu) & ~onoff
        if not rows.any():
            continue
        w = np.maximum(w[rows], _MIN_WEIGHT)
        yg = y[np.ix_(rows, mask)]
        det = np.isfinite(yg)
        nobs = det.sum(axis=1)
        mean_obs = np.where(det, yg, 0.0).sum(axis=1) / nobs
        # the filled value f with weight w makes the weighted mean equal mu
        fill = mu[rows] + nobs * (mu[rows] - mean_obs) / (nmis[rows] * w)
        block = np.where(det, yg, fill[:, None])
        wblock = np.where(det, 1.0, w[:, None])
        idx = np.flatnonzero(mask)
        completed[np.ix_(rows, idx)] = block
        weights[np.ix_(rows, idx)] = wblock
        n_filled += int((~det).sum())
    fit_w = lm_fit(completed, design, weights=weights, coef_names=coef_names)
    fit = dataclasses.replace(
        fit_obs, coefficients=fit_w.coefficients, stdev_unscaled=fit_w.stdev_unscaled
    )
    info = {
        "curve": curve,
        "n_filled": n_filled,
        "n_onoff_kept": int((onoff & detected.any(axis=1)).sum()),
    }
    logger.info(
        "detection model: %d missing value(s) used as evidence; %d feature(s) with a group "
        "entirely missing keep the on/off result",
        n_filled,
        info["n_onoff_kept"],
    )
    return fit, info
