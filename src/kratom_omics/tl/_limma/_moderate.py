"""Feature-wise steps of limma's ``eBayes`` and ``treat`` after the variance prior is known.

Each function works on any block of features: the moderated t and its p-value
(:func:`moderated_t`), TREAT's t and p (:func:`treat_tests`), the B statistic (:func:`lods`) and the
moderated F (:func:`f_statistic`, :func:`f_pvalue`). The only other global quantity, the prior
variance of a non-zero contrast (limma's ``tmixture.vector``), is assembled from the top converted
|t| of each block (:func:`tmixture_convert`, :func:`tmixture_top`, :func:`tmixture_finish`). The
orchestration over blocks is :mod:`kratom_omics.tl._limma._engine`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ...errors import DesignError
from ._fit import cov2cor
from ._special import f_sf, t_isf, t_sf, t_sf_twosided

__all__ = [
    "check_moderation_inputs",
    "f_pvalue",
    "f_statistic",
    "fill_var_prior",
    "is_fullrank",
    "lods",
    "moderated_t",
    "tmixture_convert",
    "tmixture_finish",
    "tmixture_limits",
    "tmixture_top",
    "tmixture_vector",
    "treat_tests",
]


def tmixture_convert(
    t: np.ndarray, df: np.ndarray, maxdf: float, *, top: int | None = None
) -> np.ndarray:
    """|t| of features with fewer df than ``maxdf`` turned into the t of equal tail area at maxdf.

    ``top``: only the ``top`` largest converted values are needed (limma's ``tmixture.vector``
    keeps the top ``proportion / 2``): the conversion (a t quantile, the costly step) is made for
    the features of smallest tail area only, all ties included, and the others are set to -1,
    below every |t|. The largest ``top`` values are then exactly those of the full conversion.
    """
    t = np.abs(t)
    i = np.flatnonzero(df < maxdf)
    if not i.size:
        return t
    ti, dfi = t[i], df[i]
    # scipy.stats.t.logsf: log(sf) above the median (0), log1p(-cdf) at or below it
    logp = np.empty(ti.shape)
    pos = ti > 0
    with np.errstate(divide="ignore"):
        logp[pos] = np.log(special.stdtr(dfi[pos], -ti[pos]))
        logp[~pos] = np.log1p(-special.stdtr(dfi[~pos], ti[~pos]))
    if top is not None and top < i.size:
        # the converted t falls with the tail area: the smallest areas give the largest t
        kth = np.partition(logp, top - 1)[top - 1]
        keep = logp <= kth
        t[i[~keep]] = -1.0
        i, logp = i[keep], logp[keep]
    t[i] = t_isf(np.exp(logp), maxdf)
    return t


def tmixture_top(t: np.ndarray, ntarget: int) -> np.ndarray:
    """Indices of the ``ntarget`` largest values, decreasing, ties in input order (R's order)."""
    if ntarget < t.size:
        kth = np.partition(t, t.size - ntarget)[t.size - ntarget]
        cand = np.nonzero(t >= kth)[0]
        return cand[np.argsort(-t[cand], kind="stable")][:ntarget]
    return np.argsort(-t, kind="stable")[:ntarget]


def tmixture_finish(
    t: np.ndarray,
    su: np.ndarray,
    ng: int,
    maxdf: float,
    proportion: float,
    lim: tuple[float, float],
) -> float:
    """limma's ``tmixture.vector`` from the top ``ntarget`` converted |t| (decreasing) and their su."""
    ntarget = t.size
    p = max(ntarget / ng, proportion)
    v1 = su**2
    r = np.arange(1, ntarget + 1)
    p0 = 2 * t_sf(t, np.full(ntarget, maxdf))
    ptarget = ((r - 0.5) / ng - (1 - p) * p0) / p
    v0 = np.zeros(ntarget)
    pos = ptarget > p0
    if np.any(pos):
        qtarget = t_isf(ptarget[pos] / 2, maxdf)
        v0[pos] = v1[pos] * ((t[pos] / qtarget) ** 2 - 1)
    v0 = np.minimum(np.maximum(v0, lim[0]), lim[1])
    return float(np.mean(v0))


def tmixture_vector(
    t: np.ndarray, su: np.ndarray, df: np.ndarray, proportion: float, lim: tuple[float, float]
) -> float:
    """limma's ``tmixture.vector``: the prior variance of a non-zero contrast, from all features."""
    keep = ~np.isnan(t)
    t, su, df = t[keep], su[keep], df[keep]
    ng = t.size
    ntarget = math.ceil(proportion / 2 * ng)
    if ntarget < 1:
        return float("nan")
    maxdf = float(np.max(df))
    t = tmixture_convert(t, df, maxdf)
    o = tmixture_top(t, ntarget)
    return tmixture_finish(t[o], su[o], ng, maxdf, proportion, lim)


def is_fullrank(x: np.ndarray) -> bool:
    """limma's ``is.fullrank`` of a design matrix (eigenvalue ratio above 1e-13)."""
    e = np.linalg.eigvalsh(x.T @ x)[::-1]
    return bool(e[0] > 0 and abs(e[-1] / e[0]) > 1e-13)


def moderated_t(
    coef: np.ndarray,
    su: np.ndarray,
    s2_post: np.ndarray,
    dfres: np.ndarray,
    dfp: np.ndarray,
    df_cap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moderated t, total df (capped at the pooled residual df) and two-sided p, feature-wise."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.divide(coef, su)
        t /= np.sqrt(s2_post)[:, None]  # coef / su / sqrt(s2_post), without a temporary
    df_total = np.minimum(dfres + dfp, df_cap)
    return t, df_total, t_sf_twosided(t, df_total[:, None])


def tmixture_limits(
    s2_prior: float | np.ndarray, stdev_coef_lim: tuple[float, float]
) -> tuple[float, float]:
    """Bounds of the prior variance of a contrast: ``stdev.coef.lim^2 / median(s2_prior)``."""
    med = float(np.median(s2_prior))
    return stdev_coef_lim[0] ** 2 / med, stdev_coef_lim[1] ** 2 / med


def fill_var_prior(var_prior: np.ndarray, s2_prior: float | np.ndarray) -> np.ndarray:
    """Contrasts whose prior variance could not be estimated get ``1 / median(s2_prior)``."""
    if np.any(np.isnan(var_prior)):
        var_prior[np.isnan(var_prior)] = 1 / float(np.median(np.atleast_1d(s2_prior)))
    return var_prior


def lods(
    t: np.ndarray,
    su: np.ndarray,
    df_total: np.ndarray,
    dfp: np.ndarray,
    var_prior: np.ndarray,
    proportion: float,
) -> np.ndarray:
    """limma's B statistic (log-odds of differential abundance), feature-wise."""
    with np.errstate(invalid="ignore", divide="ignore"):
        # limma's formula, evaluated in place (the same operations in the same order, with one
        # or two temporaries of the block's size instead of six)
        su2 = su**2
        r = su2 + var_prior[None, :]
        r /= su2  # r = (su^2 + var_prior) / su^2
        del su2
        t2 = t**2
        dft = df_total[:, None]
        infdf = dfp > 1e6
        if np.any(infdf):
            kernel = t2 * (1 - 1 / r) / 2
            fin = ~infdf
            if np.any(fin):
                kernel[fin] = (
                    (1 + dft[fin])
                    / 2
                    * np.log((t2[fin] + dft[fin]) / (t2[fin] / r[fin] + dft[fin]))
                )
            del t2
        else:
            kernel = t2 + dft
            t2 /= r
            t2 += dft
            kernel /= t2  # (t2 + dft) / (t2 / r + dft)
            del t2
            np.log(kernel, out=kernel)
            kernel *= (1 + dft) / 2
        np.log(r, out=r)
        r /= 2
        np.subtract(math.log(proportion / (1 - proportion)), r, out=r)
        r += kernel
        return r


def f_statistic(
    t: np.ndarray, cov_coefficients: np.ndarray, fullrank: bool
) -> tuple[np.ndarray, int]:
    """Moderated F of all contrasts (classifyTestsF with the single correlation matrix)."""
    ntests = t.shape[1]
    if not fullrank:
        return np.full(t.shape[0], np.nan), ntests
    if ntests == 1:
        return t[:, 0] ** 2, 1
    cov = cov_coefficients.copy()
    dg = np.diag(cov).copy()
    if dg.min() == 0:
        idx = np.nonzero(dg == 0)[0]
        cov[idx, idx] = 1
    cor = cov2cor(cov)
    evals, evecs = np.linalg.eigh(cor)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    df1 = int(np.sum(evals / evals[0] > 1e-8))
    q = evecs[:, :df1] / np.sqrt(evals[:df1])[None, :] / math.sqrt(df1)
    return np.sum((t @ q) ** 2, axis=1), df1


def f_pvalue(fstat: np.ndarray, df1: int, df2: np.ndarray) -> np.ndarray:
    """Upper-tail p-values of the moderated F (NaN stays NaN)."""
    fp = np.full(fstat.shape, np.nan)
    good = ~np.isnan(fstat)
    fp[good] = f_sf(fstat[good], df1, df2[good])
    return fp


def treat_tests(
    coef: np.ndarray, su: np.ndarray, s2_post: np.ndarray, df_total: np.ndarray, lfc: float
) -> tuple[np.ndarray, np.ndarray]:
    """TREAT's t (0 inside +-lfc and for NA contrasts) and two-part p-value, feature-wise."""
    with np.errstate(invalid="ignore"):
        se = su * np.sqrt(s2_post)[:, None]
        acoef = np.abs(coef)
        right = (acoef - lfc) / se
        left = (acoef + lfc) / se
        dft = df_total[:, None]
        p = t_sf(right, dft) + t_sf(left, dft)
        right = np.maximum(right, 0)
        c0 = np.where(np.isnan(coef), 0.0, coef)
        t = np.zeros(coef.shape)
        up = c0 > lfc
        down = c0 < -lfc
    t[up] = right[up]
    t[down] = -right[down]
    return t, p


def check_moderation_inputs(
    sigma: np.ndarray, dfres: np.ndarray, covariate: np.ndarray | None
) -> None:
    """The checks eBayes makes before fitting the variance prior (clear errors, not NaN)."""
    if dfres.max() == 0:
        raise DesignError(
            "no residual degrees of freedom in any feature: every feature has at most as many "
            "observed samples as design columns; add replicates or drop covariates."
        )
    if not np.any(np.isfinite(sigma)):
        raise DesignError(
            "no finite residual standard deviations: add replicates or drop covariates."
        )
    if covariate is not None and not np.all(np.isfinite(covariate)):
        raise DesignError(
            "the variance trend needs a finite covariate for every feature (with trend=True the "
            "mean of its observed values); drop features with no observed value."
        )
