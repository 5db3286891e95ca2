"""The variance prior of limma's empirical Bayes: ``squeezeVar`` and the ``fitFDist`` family.

The residual variances of all features are modelled as a scaled F distribution whose scale (the
prior variance ``s2_prior``, optionally a trend in the mean abundance) and denominator df (the
prior df) are estimated by moment matching (``fitFDist``, limma <= 3.60 and equal residual df), by
Winsorised moments with per-feature shrunk df (``fitFDistRobustly``) or by maximum likelihood
(``fitFDistUnequalDF1``, limma >= 3.62 with unequal residual df). :func:`posterior_var` is the
feature-wise step that combines each variance with the prior.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
from scipy import special

from ..._smooth import choose_lowess_span, loess_fit, ns_basis
from ...errors import DesignError, KratomOmicsWarning
from .._multitest import adjust_pvalues
from ._special import (
    by_unique,
    f_cdf,
    f_isf,
    f_pdf,
    f_ppf,
    f_sf,
    logmdigamma,
    trigamma,
    trigamma_inverse,
)

__all__ = [
    "fit_f_dist",
    "fit_f_dist_robustly",
    "fit_f_dist_unequal_df1",
    "posterior_var",
    "squeeze_var",
]

_EPS = np.finfo(float).eps
logger = logging.getLogger("kratom_omics")


def fit_f_dist(
    x: np.ndarray, df1: np.ndarray, covariate: np.ndarray | None = None
) -> tuple[Any, float]:
    """limma's ``fitFDist``: moment estimates of the prior scale and df (spline trend optional)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return np.nan, np.nan
    if n == 1:
        return x.copy(), 0.0
    df1 = np.broadcast_to(np.asarray(df1, dtype=float), (n,))
    ok = np.isfinite(df1) & (df1 > 1e-15)
    if covariate is not None:
        covariate = np.asarray(covariate, dtype=float).copy()
        isfin = np.isfinite(covariate)
        if not isfin.all():
            if isfin.any():
                lo, hi = covariate[isfin].min(), covariate[isfin].max()
                covariate[covariate == -np.inf] = lo - 1
                covariate[covariate == np.inf] = hi + 1
            else:
                covariate = np.sign(covariate)
    with np.errstate(invalid="ignore"):
        ok = ok & np.isfinite(x) & (x > -1e-15)
    nok = int(ok.sum())
    if nok == 1:
        return x[ok].copy(), 0.0
    notallok = nok < n
    xs = x[ok]
    d1 = df1[ok]
    cov_ok = covariate[ok] if covariate is not None else None
    cov_notok = covariate[~ok] if covariate is not None else None
    if cov_ok is not None:
        splinedf = 1 + (nok >= 3) + (nok >= 6) + (nok >= 30)
        splinedf = min(splinedf, np.unique(cov_ok).size)
        if splinedf < 2:
            s, d = fit_f_dist(xs, d1)
            return np.full(n, float(np.asarray(s))), d
    xs = np.maximum(xs, 0)
    m = float(np.median(xs))
    if m == 0:
        warnings.warn(
            "more than half of the residual variances are exactly zero: the empirical Bayes "
            "moderation is unreliable (constant or imputed-only features?).",
            KratomOmicsWarning,
            stacklevel=2,
        )
        m = 1.0
    elif np.any(xs == 0):
        logger.info("zero residual variances offset away from zero (as limma does)")
    xs = np.maximum(xs, 1e-5 * m)
    e = np.log(xs) + by_unique(logmdigamma, d1 / 2)
    if cov_ok is None:
        emean: Any = float(np.mean(e))
        evar = float(np.sum((e - emean) ** 2) / (nok - 1))
    else:
        basis = ns_basis(cov_ok, cov_ok, splinedf, intercept=True)
        coef, *_ = np.linalg.lstsq(basis, e, rcond=None)
        fitted = basis @ coef
        rank = np.linalg.matrix_rank(basis)
        evar = float(np.sum((e - fitted) ** 2) / (nok - rank))
        if notallok:
            emean = np.empty(n)
            emean[ok] = fitted
            emean[~ok] = ns_basis(np.asarray(cov_notok), cov_ok, splinedf, intercept=True) @ coef
        else:
            emean = fitted
    evar = evar - float(np.mean(trigamma(d1 / 2)))
    if evar > 0:
        df2 = 2 * trigamma_inverse(evar)
        s20 = np.exp(emean - logmdigamma(df2 / 2))
    else:
        df2 = np.inf
        s20 = float(np.mean(xs)) if cov_ok is None else np.exp(emean)
    if np.ndim(s20) == 0:
        s20 = float(s20)
    return s20, float(df2)


def _r_zeroin(
    f: Any, a: float, b: float, fa: float, fb: float, tol: float, maxit: int = 1000
) -> float:
    """Brent's root finder exactly as R's ``uniroot`` (``R_zeroin2``)."""
    c, fc = a, fa
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _gauss_uniform(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


def _rank_avg(x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return np.asarray(stats.rankdata(x, method="average"), dtype=float)


def fit_f_dist_robustly(
    x: np.ndarray,
    df1: np.ndarray,
    covariate: np.ndarray | None = None,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
) -> dict[str, Any]:
    """limma's ``fitFDistRobustly``: Winsorised moments and per-feature shrunk prior df."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 2:
        return {"scale": np.nan, "df2": np.nan, "df2_shrunk": np.nan}
    if n == 2:
        s, d = fit_f_dist(x, df1, covariate)
        return {"scale": s, "df2": d, "df2_shrunk": np.full(n, d)}
    df1 = np.broadcast_to(np.asarray(df1, dtype=float), (n,)).copy()
    ok = ~np.isnan(x) & np.isfinite(df1) & (df1 > 1e-6)
    if not ok.all():
        sub = fit_f_dist_robustly(
            x[ok], df1[ok], None if covariate is None else covariate[ok], winsor_tail_p
        )
        shrunk = x.copy()
        shrunk[ok] = sub["df2_shrunk"]
        shrunk[~ok] = sub["df2"]
        if covariate is None:
            scale: Any = sub["scale"]
        else:
            scale = x.copy()
            scale[ok] = sub["scale"]
            cx = covariate[ok]
            ly = np.log(sub["scale"])
            ux, inv = np.unique(cx, return_inverse=True)
            my = np.bincount(inv, weights=ly) / np.bincount(inv)
            scale[~ok] = np.exp(np.interp(covariate[~ok], ux, my))
        return {"scale": scale, "df2": sub["df2"], "df2_shrunk": shrunk}
    m = float(np.median(x))
    if m <= 0:
        raise DesignError(
            "Variances are mostly <= 0: the data have no residual variability to moderate."
        )
    x = np.where(x < m * 1e-12, m * 1e-12, x)
    nr_scale, nr_df2 = fit_f_dist(x, df1, covariate)
    wt = np.array(winsor_tail_p, dtype=float)
    prob = np.array([wt[0], 1 - wt[1]])
    if np.all(wt < 1 / n):
        return {"scale": nr_scale, "df2": nr_df2, "df2_shrunk": np.full(n, nr_df2)}
    df1max = float(df1.max())
    smaller = df1 < (df1max - 1e-14)
    if smaller.any():
        s = nr_scale if np.ndim(nr_scale) == 0 else np.asarray(nr_scale)[smaller]
        f = x[smaller] / s
        pupper = f_sf(f, df1[smaller], nr_df2, log=True)
        plower = f_cdf(f, df1[smaller], nr_df2, log=True)
        up = pupper < plower
        fnew = f.copy()
        if up.any():
            fnew[up] = f_isf(np.exp(pupper[up]), df1max, nr_df2)
        if (~up).any():
            fnew[~up] = f_ppf(np.exp(plower[~up]), df1max, nr_df2)
        x = x.copy()
        x[smaller] = fnew * s
        d1 = df1max
    else:
        d1 = float(df1[0])
    z = np.log(x)
    if covariate is None:
        zs = np.sort(z)
        lo = math.floor(n * wt[1]) + 1
        hi = n + 1 - lo
        ztrend: Any = float(np.mean(zs[lo - 1 : hi]))
        zresid = z - ztrend
    else:
        ztrend = loess_fit(z, np.asarray(covariate, float), span=0.4)
        zresid = z - ztrend
    zrq = np.quantile(zresid, prob)
    zwins = np.minimum(np.maximum(zresid, zrq[0]), zrq[1])
    zwmean = float(np.mean(zwins))
    zwvar = float(np.mean((zwins - zwmean) ** 2) * n / (n - 1))
    gnodes, gweights = _gauss_uniform(128)

    def linkfun(v: Any) -> Any:
        return v / (1 + v)

    def linkinv(v: Any) -> Any:
        return v / (1 - v)

    def wmoments(df2: float) -> tuple[float, float]:
        fq = f_ppf(np.array([wt[0], 1 - wt[1]]), d1, df2)
        zq = np.log(fq)
        q = linkfun(fq)
        nodes = q[0] + (q[1] - q[0]) * gnodes
        fnodes = linkinv(nodes)
        znodes = np.log(fnodes)
        fd = f_pdf(fnodes, d1, df2) / (1 - nodes) ** 2
        q21 = q[1] - q[0]
        mm = q21 * np.sum(gweights * fd * znodes) + np.sum(zq * wt)
        vv = q21 * np.sum(gweights * fd * (znodes - mm) ** 2) + np.sum((zq - mm) ** 2 * wt)
        return float(mm), float(vv)

    mom_inf = wmoments(np.inf)
    # zwvar == 0 (every variance the same, e.g. all features constant): R's log(0) = -Inf
    funval_inf = math.log(zwvar / mom_inf[1]) if zwvar > 0 else -math.inf
    if funval_inf <= 0:
        df2 = np.inf
        ztc = ztrend + zwmean - mom_inf[0]
        s20 = np.exp(ztc)
        fstat = np.exp(z - ztc)
        tailp = special.chdtrc(d1, fstat * d1)  # scipy.stats.chi2.sf
        r = _rank_avg(fstat)
        emp = (n - r + 0.5) / n
        pno = np.minimum(tailp / emp, 1)
        shrunk = np.full(n, df2)
        o_ = pno < 1
        if o_.any():
            shrunk[o_] = pno[o_] * n * d1
            order = np.argsort(tailp, kind="stable")
            shrunk[order] = np.maximum.accumulate(shrunk[order])
        return {"scale": s20, "df2": df2, "df2_shrunk": shrunk}

    def fun(v: float) -> float:
        return math.log(zwvar / wmoments(linkinv(v))[1])

    if nr_df2 == np.inf:
        return {"scale": nr_scale, "df2": nr_df2, "df2_shrunk": np.full(n, nr_df2)}
    rbx = linkfun(nr_df2)
    funval_low = fun(rbx)
    if funval_low >= 0:
        df2 = nr_df2
    else:
        root = _r_zeroin(fun, rbx, 1.0, funval_low, funval_inf, 1e-8)
        df2 = linkinv(root)
    mom = wmoments(df2)
    ztc = ztrend + zwmean - mom[0]
    s20 = np.exp(ztc)
    fstat = np.exp(z - ztc)
    log_tailp = f_sf(fstat, d1, df2, log=True)
    r = _rank_avg(fstat)
    log_emp = np.log(n - r + 0.5) - math.log(n)
    log_pno = np.minimum(log_tailp - log_emp, 0)
    pno = np.exp(log_pno)
    pout = -np.expm1(log_pno)
    if np.any(log_pno < 0):
        min_log_tailp = float(np.min(log_tailp))
        if min_log_tailp == -np.inf:
            shrunk = pno * df2
        else:
            df2_out = math.log(0.5) / min_log_tailp * df2
            new_log = float(f_sf(np.array([np.max(fstat)]), d1, df2_out, log=True)[0])
            df2_out = math.log(0.5) / new_log * df2_out
            shrunk = pno * df2 + pout * df2_out
        order = np.argsort(log_tailp, kind="stable")
        ordered = shrunk[order]
        mcum = np.cumsum(ordered) / np.arange(1, n + 1)
        imin = int(np.argmin(mcum))
        ordered[: imin + 1] = mcum[imin]
        shrunk = np.empty(n)
        shrunk[order] = np.maximum.accumulate(ordered)
    else:
        shrunk = np.full(n, df2)
    if np.ndim(s20) == 0:
        s20 = float(s20)
    return {"scale": s20, "df2": float(df2), "df2_shrunk": shrunk}


_LOGLIK_BLOCK = 1 << 20


def fit_f_dist_unequal_df1(
    x: np.ndarray,
    df1: np.ndarray,
    covariate: np.ndarray | None = None,
    *,
    robust: bool = False,
    prior_weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """limma (>= 3.62) ``fitFDistUnequalDF1``: maximum likelihood prior for unequal residual df."""
    # copies only when a value must change: on millions of features each array is large
    x = np.asarray(x, dtype=float)
    n = x.size
    df1 = np.asarray(df1, dtype=float)
    if df1.shape != (n,):
        df1 = np.broadcast_to(df1, (n,)).copy()
    pw = None if prior_weights is None else np.asarray(prior_weights, float).copy()
    if np.isnan(x).any():
        i = np.isnan(x)
        pw = (~i).astype(float) if pw is None else np.where(i, 0.0, pw)
        x = np.where(i, 0.0, x)
    if df1.min() < 0.01:
        i = df1 < 0.01
        pw = (~i).astype(float) if pw is None else np.where(i, 0.0, pw)
        df1 = np.where(i, 1.0, df1)
    informative = x > 0
    if pw is not None:
        informative &= pw != 0
    n_inf = int(informative.sum())
    if n_inf < 2:
        return {"scale": np.nan, "df2": np.nan}
    if n_inf == 2:
        covariate = None
        robust = False
        pw = None
    m = float(np.median(x[informative]))
    del informative
    if covariate is None and n > _LOGLIK_BLOCK:
        # millions of features: the weighted mean of e block by block (the same sum up to
        # rounding), keeping only d1 and d1 * x for the likelihood
        d1 = np.empty(n)
        d1x = np.empty(n)
        swe = sw = 0.0
        for s in range(0, n, _LOGLIK_BLOCK):
            sl = slice(s, s + _LOGLIK_BLOCK)
            xp = np.maximum(x[sl], 1e-12 * m)
            a = df1[sl] / 2
            e = np.log(xp)
            e += by_unique(logmdigamma, a)
            w = 1 / trigamma(a)
            if pw is not None:
                w *= pw[sl]
            swe += float(np.sum(w * e))
            sw += float(np.sum(w))
            d1[sl] = a
            d1x[sl] = a * xp
        emean: Any = swe / sw
        if not robust:
            del x, df1
    else:
        xpos = np.maximum(x, 1e-12 * m)
        d1 = df1 / 2
        if not robust:  # x and df1 are needed again only by the robust step
            del x, df1
        # temporaries released as soon as possible: on many features each array is large
        e = np.log(xpos)
        e += by_unique(logmdigamma, d1)
        w = 1 / trigamma(d1)
        if pw is not None:
            w *= pw
        if covariate is None:
            emean = float(np.sum(w * e) / np.sum(w))
        else:
            span = choose_lowess_span(n, small_n=500)
            emean = loess_fit(
                e,
                np.asarray(covariate, float),
                weights=w / np.quantile(w, 0.75),
                min_weight=1e-8,
                max_weight=100,
                span=span,
                iterations=1,
            )
        del e, w
        d1x = d1 * xpos
        del xpos

    def terms_sum(d2: float, d2s20: Any, sl: slice) -> float:
        d2s = d2s20 if np.ndim(d2s20) == 0 else d2s20[sl]
        a, ax = d1[sl], d1x[sl]
        terms = (
            -(a + d2) * np.log1p(ax / d2s)
            - a * np.log(d2s)
            + special.gammaln(a + d2)
            - special.gammaln(d2)
        )
        if pw is not None:
            terms = pw[sl] * terms
        return float(np.sum(terms))

    def minus_twice_loglik(par: float) -> float:
        d2 = par / (1 - par)
        d2s20 = d2 * np.exp(emean - logmdigamma(np.array([d2]))[0])
        if n <= _LOGLIK_BLOCK:
            return -2 * terms_sum(d2, d2s20, slice(0, n))
        # block by block (bounded temporaries); the same sum up to rounding
        total = sum(
            terms_sum(d2, d2s20, slice(s, s + _LOGLIK_BLOCK)) for s in range(0, n, _LOGLIK_BLOCK)
        )
        return -2 * total

    from scipy import optimize

    par = optimize.fminbound(minus_twice_loglik, 0.5, 0.9998, xtol=_EPS**0.25)
    d2 = float(par) / (1 - float(par))
    s20 = np.exp(emean - logmdigamma(np.array([d2]))[0])
    if np.ndim(s20) == 0:
        s20 = float(s20)
    if not robust:
        return {"scale": s20, "df2": 2 * d2}
    df2 = 2 * d2
    fstat = x / s20
    right = f_sf(fstat, df1, df2)
    left = 1 - right
    if left.min() < 0.001:
        i = left < 0.001
        left[i] = f_cdf(fstat[i], df1[i], df2)
    two = 2 * np.minimum(left, right)
    fdr = adjust_pvalues(two, "bh")[0]
    fdr[fdr > 0.3] = 1
    if fdr.min() == 1:
        return {"scale": s20, "df2": df2}
    outpw = fit_f_dist_unequal_df1(x, df1, covariate, robust=False, prior_weights=fdr)
    s20 = outpw["scale"]
    df2 = outpw["df2"]
    r = _rank_avg(fstat)
    uniform = (n - r + 0.5) / n
    pno = np.minimum(right / uniform, 1)
    if pno.min() == 1:
        return outpw
    i = int(np.argmin(right))
    min_right = right[i]
    if min_right == 0:
        shrunk = pno * df2
    else:
        df2_out = math.log(0.5) / math.log(min_right) * df2
        new_log = float(f_sf(np.array([fstat[i]]), df1[i], df2_out, log=True)[0])
        df2_out = math.log(0.5) / new_log * df2_out
        shrunk = pno * df2 + (1 - pno) * df2_out
    order = np.argsort(right, kind="stable")
    ordered = shrunk[order]
    mcum = np.cumsum(ordered) / np.arange(1, n + 1)
    imin = int(np.argmin(mcum))
    ordered[: imin + 1] = mcum[imin]
    out = np.empty(n)
    out[order] = np.maximum.accumulate(ordered)
    return {"scale": s20, "df2": df2, "df2_shrunk": out}


def squeeze_var(
    var: np.ndarray,
    df: np.ndarray,
    *,
    covariate: np.ndarray | None = None,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    legacy: bool | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """limma's ``squeezeVar``: prior and posterior variances. Returns ``df_prior``, ``var_prior``,
    ``var_post`` and ``legacy`` (the path taken).

    ``overwrite=True`` lets it modify ``var`` (a float array the caller no longer needs) instead
    of copying it; ``df`` is only read.
    """
    var = np.asarray(var, dtype=float)
    if not overwrite:
        var = var.copy()
    df = np.asarray(df, dtype=float)
    if df.shape != var.shape:
        df = np.broadcast_to(df, var.shape).copy()
    n = var.size
    if n == 0:
        raise DesignError("there are no features to moderate.")
    if n < 3:
        return {"df_prior": 0.0, "var_prior": var, "var_post": var, "legacy": True}
    if n > 1:
        var[df == 0] = 0
    if legacy is None:
        dfp = df[df > 0]
        legacy = bool(dfp.min() == dfp.max())
    if legacy:
        if robust:
            fit = fit_f_dist_robustly(var, df, covariate, winsor_tail_p)
            df_prior: Any = fit["df2_shrunk"]
        else:
            scale, d2 = fit_f_dist(var, df, covariate)
            fit = {"scale": scale, "df2": d2}
            df_prior = d2
    else:
        fit = fit_f_dist_unequal_df1(var, df, covariate, robust=robust)
        df_prior = fit.get("df2_shrunk", fit["df2"])
    if np.any(np.isnan(df_prior)):
        raise DesignError(
            "could not estimate the prior df: too few features with residual variance."
        )
    var_prior = fit["scale"]
    var_post = posterior_var(var, df, var_prior, df_prior)
    return {"df_prior": df_prior, "var_prior": var_prior, "var_post": var_post, "legacy": legacy}


def posterior_var(
    var: np.ndarray,
    df: np.ndarray,
    var_prior: float | np.ndarray,
    df_prior: float | np.ndarray,
) -> np.ndarray:
    """Posterior variances ``(df * var + df_prior * var_prior) / (df + df_prior)``, feature-wise.

    ``var_prior`` where ``df_prior`` is infinite; ``df_prior`` and ``var_prior`` are scalars or
    per-feature arrays. A new array is returned.
    """
    dfp = np.broadcast_to(np.asarray(df_prior, float), var.shape)
    vp = np.broadcast_to(np.asarray(var_prior, float), var.shape)
    if np.all(np.isfinite(dfp)):
        out = df * var  # in place: (df * var + dfp * vp) / (df + dfp) with fewer temporaries
        out += dfp * vp
        out /= df + dfp
        return out
    out = vp.copy()
    fin = np.isfinite(dfp)
    out[fin] = (df[fin] * var[fin] + dfp[fin] * vp[fin]) / (df[fin] + dfp[fin])
    return out


# --------------------------------------------------------------------------------------------------
# eBayes
# --------------------------------------------------------------------------------------------------
