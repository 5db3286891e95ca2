"""Numeric core of the differential abundance engine: limma's linear models and empirical Bayes.

Pure numpy/scipy, no AnnData. Matrices are in limma's orientation here: ``y`` is features x samples.
The functions reproduce R limma (``lmFit``, ``contrasts.fit``, ``eBayes`` and ``treat`` with
``squeezeVar``, ``fitFDist``, ``fitFDistRobustly``, ``fitFDistUnequalDF1``, ``classifyTestsF``, and
the smoothers they use: R's ``lowess`` and limma's ``weightedLowess``) to numerical precision,
including limma's handling of missing values:

* every feature is fit on its observed samples; the fits of all features with missing values are
  solved together from per-feature Gram matrices (one batched, column-pivoted Cholesky), so the cost
  does not grow with the number of distinct missingness patterns;
* coefficients that cannot be estimated for a feature are NaN (limma's NA);
* ``contrasts.fit`` uses the single correlation matrix of the complete design, as limma does.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import numpy as np
from scipy import optimize, special, stats

from ..errors import DesignError, KratomOmicsWarning

__all__ = [
    "ContrastFit",
    "EBayesResult",
    "LinearFit",
    "contrasts_fit",
    "ebayes",
    "fit_f_dist",
    "fit_f_dist_robustly",
    "fit_f_dist_unequal_df1",
    "lm_fit",
    "squeeze_var",
    "treat",
]

_EPS = np.finfo(float).eps
logger = logging.getLogger("kratom_omics")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _single_blas_thread(func: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run BLAS single-threaded: the products here are tall and skinny (features x few columns),
    memory-bound, and threaded BLAS only adds synchronisation (3-5x slower on shared machines)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


_QR_TOL = 1e-7  # LINPACK dqrdc2 tolerance used by R's lm.fit


# --------------------------------------------------------------------------------------------------
# special functions
# --------------------------------------------------------------------------------------------------


def logmdigamma(x: np.ndarray | float) -> np.ndarray:
    """``log(x) - digamma(x)`` without cancellation for large ``x`` (statmod's algorithm)."""
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, np.nan)
    good = np.isfinite(x) & (x > 0)
    z = x[good]
    shift = np.zeros_like(z)
    small = z < 5
    # recurrence: logmdigamma(x) = log(x/(x+5)) + logmdigamma(x+5) + sum_{i<5} 1/(x+i)
    while np.any(small):
        zs = z[small]
        shift[small] += (
            np.log(zs / (zs + 5))
            + 1 / zs
            + 1 / (zs + 1)
            + 1 / (zs + 2)
            + 1 / (zs + 3)
            + 1 / (zs + 4)
        )
        z[small] = zs + 5
        small = z < 5
    w = 1 / z**2
    tail = w * (
        -1 / 12
        + w
        * (
            1 / 120
            + w
            * (
                -1 / 252
                + w
                * (1 / 240 + w * (-1 / 132 + w * (691 / 32760 + w * (-1 / 12 + 3617 * w / 8160))))
            )
        )
    )
    out[good] = shift + 1 / (2 * z) - tail
    out[np.isposinf(x)] = 0.0
    return out


def trigamma_inverse(x: float) -> float:
    """Solve ``trigamma(y) = x`` by limma's Newton iteration."""
    if not np.isfinite(x):
        return float("nan")
    if x < 0:
        return float("nan")
    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(51):
        tri = float(special.polygamma(1, y))
        dif = tri * (1 - tri / x) / float(special.polygamma(2, y))
        y = y + dif
        if -dif / y < 1e-8:
            break
    return y


def _f_sf(f: np.ndarray, df1: Any, df2: Any, *, log: bool = False) -> np.ndarray:
    """Upper tail of the F distribution, allowing ``df2 = inf`` (chi-square limit)."""
    f = np.asarray(f, dtype=float)
    df2 = np.asarray(df2, dtype=float)
    df1 = np.asarray(df1, dtype=float)
    f, df1, df2 = np.broadcast_arrays(f, df1, df2)
    out = np.empty(f.shape)
    inf = np.isinf(df2)
    fin = ~inf
    if not log:  # fast path: the special functions directly (no argument checking)
        if np.all(fin):
            return np.asarray(special.fdtrc(df1, df2, f))
        out[fin] = special.fdtrc(df1[fin], df2[fin], f[fin])
        out[inf] = special.chdtrc(df1[inf], f[inf] * df1[inf])
        return out
    if np.any(fin):
        out[fin] = stats.f.logsf(f[fin], df1[fin], df2[fin])
    if np.any(inf):
        out[inf] = stats.chi2.logsf(f[inf] * df1[inf], df1[inf])
    return out


def _f_cdf(f: np.ndarray, df1: Any, df2: Any, *, log: bool = False) -> np.ndarray:
    f = np.asarray(f, dtype=float)
    f, df1, df2 = np.broadcast_arrays(f, np.asarray(df1, float), np.asarray(df2, float))
    out = np.empty(f.shape)
    inf = np.isinf(df2)
    fin = ~inf
    fn = stats.f.logcdf if log else stats.f.cdf
    cn = stats.chi2.logcdf if log else stats.chi2.cdf
    if np.any(fin):
        out[fin] = fn(f[fin], df1[fin], df2[fin])
    if np.any(inf):
        out[inf] = cn(f[inf] * df1[inf], df1[inf])
    return out


def _f_ppf(p: np.ndarray, df1: float, df2: float) -> np.ndarray:
    if np.isinf(df2):
        return np.asarray(stats.chi2.ppf(p, df1) / df1)
    return np.asarray(stats.f.ppf(p, df1, df2))


def _f_isf(p: np.ndarray, df1: float, df2: float) -> np.ndarray:
    if np.isinf(df2):
        return np.asarray(stats.chi2.isf(p, df1) / df1)
    return np.asarray(stats.f.isf(p, df1, df2))


def _f_pdf(x: np.ndarray, df1: float, df2: float) -> np.ndarray:
    if np.isinf(df2):
        return np.asarray(stats.chi2.pdf(x * df1, df1) * df1)
    return np.asarray(stats.f.pdf(x, df1, df2))


def _t_sf(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Upper tail of Student's t allowing infinite df (normal); NaN stays NaN."""
    t, df = np.broadcast_arrays(np.asarray(t, float), np.asarray(df, float))
    with np.errstate(invalid="ignore"):
        out = special.stdtr(np.where(np.isinf(df), 1.0, df), -t)
    inf = np.isinf(df)
    if np.any(inf):
        out = np.where(inf, special.ndtr(-t), out)
    return np.asarray(out)


def _by_unique(func: Any, x: np.ndarray) -> np.ndarray:
    """``func(x)`` evaluated once per distinct value (residual df take few distinct values)."""
    x = np.asarray(x, dtype=float)
    if x.size < 64:
        return np.asarray(func(x), dtype=float)
    if x.size and x.min() == x.max():  # all equal (complete data): one evaluation
        return np.full(x.shape, float(np.asarray(func(x[:1]), dtype=float)[0]))
    import pandas as pd

    # distinct values by hashing (no sorted copy of x), then looked up block by block: on
    # millions of features this keeps the temporaries to a few MB
    u = np.sort(np.asarray(pd.unique(x.reshape(-1)), dtype=float))
    if u.size > x.size // 4:
        return np.asarray(func(x), dtype=float)
    fu = np.asarray(func(u), dtype=float)
    flat = x.reshape(-1)
    out = np.empty(flat.size)
    step = 1 << 20
    for start in range(0, flat.size, step):
        out[start : start + step] = fu[np.searchsorted(u, flat[start : start + step])]
    return out.reshape(x.shape)


def _trigamma(x: np.ndarray) -> np.ndarray:
    return _by_unique(lambda v: special.polygamma(1, v), x)


def _t_isf(p: np.ndarray, df: float) -> np.ndarray:
    if np.isinf(df):
        return np.asarray(stats.norm.isf(p))
    return np.asarray(stats.t.isf(p, df))


def _bh(p: np.ndarray) -> np.ndarray:
    """R's ``p.adjust(p, "BH")`` for a vector without NA."""
    n = p.size
    if n == 0:
        return p.copy()
    o = np.argsort(-p, kind="stable")
    i = np.arange(n, 0, -1)
    adj = np.minimum(1.0, np.minimum.accumulate(n / i * p[o]))
    out = np.empty(n)
    out[o] = adj
    return out


# --------------------------------------------------------------------------------------------------
# lowess smoothers (R's lowess and limma's weightedLowess)
# --------------------------------------------------------------------------------------------------


def _lowest(
    x: np.ndarray, y: np.ndarray, xs: float, nleft: int, nright: int, rw: np.ndarray | None
) -> float | None:
    """One local linear fit of R's ``clowess`` at ``xs`` (0-based inclusive ``nleft..nright``)."""
    n = x.size
    rng = x[-1] - x[0]
    h = max(xs - x[nleft], x[nright] - xs)
    h9 = 0.999 * h
    h1 = 0.001 * h
    # the window ends before the first point right of xs farther than 0.999 h (ties included)
    stop = bisect.bisect_left(
        range(nleft, n), True, key=lambda j: bool(x[j] > xs and x[j] - xs > h9)
    )
    nrt = nleft + stop - 1
    seg = x[nleft : nrt + 1]
    r = np.abs(seg - xs)
    if h > 0:
        u = r / h
        u = 1.0 - u * u * u  # tricube, multiplied out as clowess's fcube (pow is slow)
        w = u * u * u
        w[r <= h1] = 1.0
    else:
        w = np.ones_like(r)
    w[r > h9] = 0.0
    if rw is not None:
        w *= rw[nleft : nrt + 1]
    a = float(w.sum())
    if a <= 0:
        return None
    w /= a
    if h > 0:
        a = float(np.dot(w, seg))
        b = xs - a
        dev = seg - a
        c = float(np.dot(w, dev * dev))
        if math.sqrt(c) > 0.001 * rng:
            b /= c
            w *= b * dev + 1.0
    return float(np.dot(w, y[nleft : nrt + 1]))


def r_lowess(x: np.ndarray, y: np.ndarray, *, f: float = 2 / 3, iterations: int = 3) -> np.ndarray:
    """R's ``lowess(x, y, f, iter)`` fitted values, in the original order of ``x``."""
    o = np.argsort(x, kind="stable")
    xs_all = np.asarray(x, float)[o]
    ys_all = np.asarray(y, float)[o]
    n = xs_all.size
    if n < 2:
        out = ys_all.copy()
        res = np.empty(n)
        res[o] = out
        return res
    delta = 0.01 * (xs_all[-1] - xs_all[0])
    ns = max(2, min(n, int(f * n + 1e-7)))
    fit = np.empty(n)
    rw: np.ndarray | None = None
    for it in range(iterations + 1):
        nleft, nright, last, i = 0, ns - 1, -1, 0
        while True:
            if nright < n - 1:
                # slide the window right while that shrinks its radius (clowess's one-step loop)
                xi, nl0, nr0 = xs_all[i], nleft, nright
                step = bisect.bisect_left(
                    range(n - 1 - nr0),
                    True,
                    key=lambda k: not (xi - xs_all[nl0 + k] > xs_all[nr0 + 1 + k] - xi),
                )
                nleft += step
                nright += step
            val = _lowest(xs_all, ys_all, xs_all[i], nleft, nright, rw if it > 0 else None)
            fit[i] = ys_all[i] if val is None else val
            if last < i - 1:
                denom = xs_all[i] - xs_all[last]
                j = np.arange(last + 1, i)
                alpha = (xs_all[j] - xs_all[last]) / denom
                fit[j] = alpha * fit[i] + (1 - alpha) * fit[last]
            last = i
            cut = xs_all[last] + delta
            # points within delta are skipped (interpolated later); ties copy the fit
            ties_end = bisect.bisect_right(xs_all, xs_all[last], lo=last + 1) - 1
            if ties_end > last:
                fit[last + 1 : ties_end + 1] = fit[last]
            stop = bisect.bisect_right(xs_all, cut, lo=last + 1)
            last = ties_end
            i = max(last + 1, stop - 1)
            if last >= n - 1:
                break
        res = ys_all - fit
        sc = np.mean(np.abs(res))
        if it >= iterations:
            break
        ar = np.abs(res)
        m1 = n // 2
        srt = np.sort(ar)
        cmad = 3.0 * (srt[m1] + srt[n - m1 - 1]) if n % 2 == 0 else 6.0 * srt[m1]
        if cmad < 1e-7 * sc:
            break
        rw = np.where(
            ar <= 0.001 * cmad, 1.0, np.where(ar <= 0.999 * cmad, (1 - (ar / cmad) ** 2) ** 2, 0.0)
        )
    out = np.empty(n)
    out[o] = fit
    return out


def _lowess_seeds(xo: np.ndarray, delta: float) -> list[int]:
    """limma's seed points: first and last, and each point more than delta beyond the previous."""
    n = xo.size
    seeds = [0]
    prev = 0
    while True:
        x0 = xo[prev]
        # first point after prev (excluding the last) with xo[pt] - xo[prev] > delta
        k = bisect.bisect_right(range(prev + 1, n - 1), delta, key=lambda i: xo[i] - x0)
        pt = prev + 1 + k
        if pt >= n - 1:
            break
        seeds.append(pt)
        prev = pt
    seeds.append(n - 1)
    return seeds


def _lowess_limits(
    xo: np.ndarray, wo: np.ndarray, seeds: list[int], spanweight: float
) -> list[tuple[int, int, float]]:
    """Span limits of limma's ``find_limits`` for each seed, found by bisection.

    limma grows each window from its seed, adding the nearer neighbour (the right one on equal
    distances) until the prior weight reaches ``spanweight``. The window is therefore fixed by the
    smallest distance ``d`` whose points (distance <= d) weigh enough, and by whether the right-hand
    points at exactly ``d`` suffice; ties in x are then added on both ends.
    """
    n = xo.size
    cw = np.concatenate([[0.0], np.cumsum(wo)])
    out: list[tuple[int, int, float]] = []
    for s in seeds:
        xs = xo[s]

        def n_left(d: float, strict: bool, s: int = s, xs: float = xs) -> int:
            f = bisect.bisect_left if strict else bisect.bisect_right
            return f(range(s), d, key=lambda k: xs - xo[s - 1 - k])

        def n_right(d: float, strict: bool, s: int = s, xs: float = xs) -> int:
            f = bisect.bisect_left if strict else bisect.bisect_right
            return f(range(n - 1 - s), d, key=lambda k: xo[s + 1 + k] - xs)

        def weight(nl: int, nr: int, s: int = s) -> float:
            return float(wo[s] + (cw[s] - cw[s - nl]) + (cw[s + 1 + nr] - cw[s + 1]))

        def enough(d: float) -> bool:
            return weight(n_left(d, False), n_right(d, False)) >= spanweight

        if wo[s] >= spanweight or n == 1:
            left, right, mdist = s, s, 0.0
        else:
            cands = []
            kl = bisect.bisect_left(range(s), True, key=lambda k: enough(xs - xo[s - 1 - k]))
            if kl < s:
                cands.append(xs - xo[s - 1 - kl])
            kr = bisect.bisect_left(
                range(n - 1 - s), True, key=lambda k: enough(xo[s + 1 + k] - xs)
            )
            if kr < n - 1 - s:
                cands.append(xo[s + 1 + kr] - xs)
            if not cands:  # the whole data set is not enough: take everything
                left, right = 0, n - 1
                mdist = float(max(xs - xo[0], xo[-1] - xs))
            else:
                d = float(min(cands))
                nl_lt, nr_lt = n_left(d, True), n_right(d, True)
                nr_le = n_right(d, False)
                if nr_le > nr_lt and weight(nl_lt, nr_le) >= spanweight:
                    left, right = s - nl_lt, s + nr_le  # right-hand ties at d suffice
                else:
                    left, right = s - n_left(d, False), s + nr_le
                mdist = d
        while left > 0 and xo[left] == xo[left - 1]:
            left -= 1
        while right < n - 1 and xo[right] == xo[right + 1]:
            right += 1
        out.append((left, right, mdist))
    return out


def weighted_lowess(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    span: float,
    iterations: int = 4,
    npts: int = 200,
) -> np.ndarray:
    """limma's ``weightedLowess`` fitted values (prior weights act as frequency weights)."""
    thr = 1e-7
    o = np.argsort(x, kind="stable")
    xo = np.asarray(x, float)[o]
    yo = np.asarray(y, float)[o]
    wo = np.asarray(w, float)[o]
    n = xo.size
    if npts >= n:
        delta = 0.0
    else:
        dx = np.sort(np.diff(xo))
        cumrange = np.cumsum(dx)
        ncl = np.arange(npts)
        delta = float(np.min(cumrange[dx.size - ncl - 1] / (npts - ncl)))
    seeds = _lowess_seeds(xo, delta)
    total = float(np.sum(wo))
    spanweight = total * span
    subrange = (xo[-1] - xo[0]) / n
    limits = _lowess_limits(xo, wo, seeds, spanweight)
    robust = np.ones(n)
    fitted = np.empty(n)
    for _ in range(iterations):
        last = 0
        for k, sp in enumerate(seeds):
            left, right, dist = limits[k]
            xs = xo[left : right + 1]
            ys = yo[left : right + 1]
            if dist < thr:
                wk = wo[left : right + 1] * robust[left : right + 1]
                val = float(np.sum(ys * wk) / np.sum(wk))
            else:
                u = np.abs(xo[sp] - xs) / dist
                u = 1.0 - u * u * u
                wk = u * u * u * wo[left : right + 1] * robust[left : right + 1]
                aw = np.sum(wk)
                xm = np.sum(wk * xs) / aw
                ym = np.sum(wk * ys) / aw
                var = np.sum((xs - xm) ** 2 * wk)
                cov = np.sum((xs - xm) * (ys - ym) * wk)
                if var < thr:
                    val = float(ym)
                else:
                    slope = cov / var
                    val = float(slope * xo[sp] + (ym - slope * xm))
            fitted[sp] = val
            if k > 0 and sp - last > 1:
                cur = xo[sp] - xo[last]
                j = np.arange(last + 1, sp)
                if cur > thr * subrange:
                    slope = (fitted[sp] - fitted[last]) / cur
                    fitted[j] = slope * xo[j] + (fitted[sp] - slope * xo[sp])
                else:
                    fitted[j] = 0.5 * (fitted[sp] + fitted[last])
            last = sp
        ares = np.abs(yo - fitted)
        scale = np.mean(ares)
        ror = np.argsort(ares, kind="stable")
        sres = ares[ror]
        cw = np.cumsum(wo[ror])
        half = total / 2
        eq = np.nonzero(cw == half)[0]
        gt = np.nonzero(cw > half)[0]
        if eq.size and (not gt.size or eq[0] < gt[0]):
            cmad = 3 * (sres[eq[0]] + sres[eq[0] + 1])
        elif gt.size:
            cmad = 6 * sres[gt[0]]
        else:
            cmad = 0.0
        if cmad <= thr * scale:
            break
        robust = np.where(ares < cmad, (1 - (ares / cmad) ** 2) ** 2, 0.0)
    out = np.empty(n)
    out[o] = fitted
    return out


def _loess_fit(
    y: np.ndarray,
    x: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    span: float = 0.3,
    iterations: int = 4,
    min_weight: float = 1e-5,
    max_weight: float = 1e5,
) -> np.ndarray:
    """limma's ``loessFit(...)$fitted``."""
    n = y.size
    out = np.full(n, np.nan)
    obs = np.isfinite(y) & np.isfinite(x)
    xo, yo = x[obs], y[obs]
    nobs = yo.size
    if nobs == 0:
        return out
    if span < 1 / nobs:
        out[obs] = yo
        return out
    wobs = None
    if weights is not None:
        wobs = np.asarray(weights, float)[obs].copy()
        wobs[np.isnan(wobs)] = 0
        wobs = np.minimum(np.maximum(wobs, max(min_weight, 0.0)), max_weight)
        if wobs.max() - wobs.min() < 1e-15:
            wobs = None
    if wobs is None:
        out[obs] = r_lowess(xo, yo, f=span, iterations=iterations - 1)
        return out
    nw = nobs if min_weight > 0 else int(np.sum(wobs > 0))
    if nw < 4 + 1 / span:
        if nw == 1:
            out[obs] = yo[wobs > 0][0]
        else:
            a = np.column_stack([np.ones(nobs), xo]) * np.sqrt(wobs)[:, None]
            coef = np.linalg.lstsq(a, yo * np.sqrt(wobs), rcond=None)[0]
            out[obs] = coef[0] + coef[1] * xo
        return out
    out[obs] = weighted_lowess(xo, yo, wobs, span=span, iterations=iterations, npts=200)
    return out


def _choose_lowess_span(
    n: int, small_n: float = 50, min_span: float = 0.3, power: float = 1 / 3
) -> float:
    return float(min(min_span + (1 - min_span) * (small_n / n) ** power, 1.0))


# --------------------------------------------------------------------------------------------------
# natural splines (the column space of splines::ns(x, df, intercept=TRUE))
# --------------------------------------------------------------------------------------------------


def _ns_basis(x: np.ndarray, knots_from: np.ndarray, df: int) -> np.ndarray:
    """Natural cubic spline basis with ``ns``'s knots (quantiles of ``knots_from``) at ``x``."""
    n_interior = df - 2
    lo, hi = float(np.min(knots_from)), float(np.max(knots_from))
    probs = np.linspace(0, 1, n_interior + 2)[1:-1]
    interior = np.quantile(knots_from, probs) if n_interior > 0 else np.empty(0)
    scale = hi - lo if hi > lo else 1.0
    u = (np.asarray(x, float) - lo) / scale
    t = np.concatenate([[0.0], (interior - lo) / scale, [1.0]])
    k = t.size

    def dk(j: int) -> np.ndarray:
        return (np.maximum(u - t[j], 0) ** 3 - np.maximum(u - t[k - 1], 0) ** 3) / (t[k - 1] - t[j])

    cols = [np.ones_like(u), u]
    if k > 2:
        last = dk(k - 2)
        cols += [dk(j) - last for j in range(k - 2)]
    return np.column_stack(cols)


# --------------------------------------------------------------------------------------------------
# lmFit
# --------------------------------------------------------------------------------------------------


@dataclass
class LinearFit:
    """Per-feature least-squares fit (limma's ``MArrayLM`` after ``lmFit``)."""

    coefficients: np.ndarray  # features x coefficients, NaN where not estimable
    stdev_unscaled: np.ndarray
    sigma: np.ndarray  # NaN where df_residual == 0
    df_residual: np.ndarray
    amean: np.ndarray  # mean of observed values
    n_obs: np.ndarray
    cov_coefficients: np.ndarray  # unscaled covariance of the complete design
    design: np.ndarray
    coef_names: list[str] = field(default_factory=list)
    cov_per_feature: np.ndarray | None = None  # features x p x p, only when asked for


def _batched_fit(
    yz: np.ndarray, m: np.ndarray, design: np.ndarray, *, want_cov: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Weighted least squares of every row of ``yz`` with row weights ``m`` (0 = missing).

    Solves all rows at once from their Gram matrices with a column-pivoted Cholesky that drops, as
    LINPACK's ``dqrdc2`` in R's ``lm.fit`` does, a column whose remaining norm falls below 1e-7 of
    its original norm. Returns coefficients, stdev.unscaled (NaN for dropped columns), residual sum
    of squares and rank.
    """
    g, n = yz.shape
    p = design.shape[1]
    xx = (design[:, :, None] * design[:, None, :]).reshape(n, p * p)
    gram = (m @ xx).reshape(g, p, p)
    rhs = (m * yz) @ design
    diag0 = np.einsum("gii->gi", gram).copy()
    lower = np.zeros((g, p, p))
    keep = np.zeros((g, p), dtype=bool)
    for j in range(p):
        s = gram[:, j, j] - np.sum(lower[:, j, :j] ** 2, axis=1)
        ok = (diag0[:, j] > 0) & (s > (_QR_TOL**2) * diag0[:, j])
        keep[:, j] = ok
        lower[:, j, :j] = np.where(ok[:, None], lower[:, j, :j], 0.0)  # a dropped column decouples
        ljj = np.where(ok, np.sqrt(np.where(ok, s, 1.0)), 1.0)
        lower[:, j, j] = ljj
        if j + 1 < p:
            off = gram[:, j + 1 :, j] - np.einsum(
                "gik,gk->gi", lower[:, j + 1 :, :j], lower[:, j, :j]
            )
            lower[:, j + 1 :, j] = np.where(ok[:, None], off / ljj[:, None], 0.0)
    rhs = np.where(keep, rhs, 0.0)
    # forward substitution L z = rhs, and L^{-1}
    z = np.zeros((g, p))
    linv = np.zeros((g, p, p))
    eye = np.eye(p)
    for i in range(p):
        z[:, i] = (rhs[:, i] - np.einsum("gk,gk->g", lower[:, i, :i], z[:, :i])) / lower[:, i, i]
        linv[:, i, :] = (eye[i] - np.einsum("gk,gkj->gj", lower[:, i, :i], linv[:, :i, :])) / lower[
            :, i, i
        ][:, None]
    beta = np.zeros((g, p))
    for i in range(p - 1, -1, -1):
        beta[:, i] = (
            z[:, i] - np.einsum("gk,gk->g", lower[:, i + 1 :, i], beta[:, i + 1 :])
        ) / lower[:, i, i]
    beta = np.where(keep, beta, 0.0)
    fitted = beta @ design.T
    rss = np.sum(m * (yz - fitted) ** 2, axis=1)
    su = np.sqrt(np.sum(linv**2, axis=1))
    beta = np.where(keep, beta, np.nan)
    su = np.where(keep, su, np.nan)
    cov = None
    if want_cov:
        cov = np.einsum("gki,gkj->gij", linv, linv)
        both = keep[:, :, None] & keep[:, None, :]
        cov = np.where(both, cov, np.nan)
    return beta, su, rss, keep.sum(axis=1), cov


@_single_blas_thread
def lm_fit(
    y: np.ndarray,
    design: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    coef_names: list[str] | None = None,
    chunk_size: int | None = None,
    per_feature_cov: bool = False,
) -> LinearFit:
    """limma's ``lmFit`` (least squares) of every row of ``y`` (features x samples) on ``design``.

    ``weights`` may be a features x samples matrix (observation weights, limma's matrix weights) or

    vector with one weight per sample (array weights). Non-positive weights count as missing.
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    g, n = y.shape
    if design.shape[0] != n:
        raise DesignError(
            f"design has {design.shape[0]} rows but the data have {n} samples; "
            "build the design from the same samples."
        )
    p = design.shape[1]
    qr_r = np.linalg.qr(design, mode="r")
    rank = int(np.sum(np.abs(np.diag(qr_r)) > _QR_TOL * np.linalg.norm(design, axis=0)))
    if rank < p:
        raise DesignError("design matrix is not of full rank")
    array_w: np.ndarray | None = None
    obs_w: np.ndarray | None = None
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.ndim == 1:
            array_w = weights
        else:
            obs_w = np.broadcast_to(weights, y.shape)
    if chunk_size is None:  # about 4 MB per temporary array
        chunk_size = max(256, (1 << 19) // max(n, 1))
    # AveExpr (mean of the observed values) and completeness, chunk by chunk to bound memory
    amean = np.empty(g)
    any_missing = False
    for start in range(0, g, chunk_size):
        yc = y[start : start + chunk_size]
        sums = yc.sum(axis=1)
        if np.all(np.isfinite(sums)):  # complete rows: plain means
            amean[start : start + chunk_size] = sums / n
            continue
        fin = np.isfinite(yc)
        cnt = fin.sum(axis=1)
        any_missing = any_missing or bool(np.any(cnt < n))
        with np.errstate(invalid="ignore", divide="ignore"):
            amean[start : start + chunk_size] = np.where(fin, yc, 0.0).sum(axis=1) / cnt
    coefs = np.full((g, p), np.nan)
    su = np.full((g, p), np.nan)
    sigma = np.full(g, np.nan)
    dfres = np.zeros(g)
    n_obs = np.zeros(g, dtype=np.int64)

    if obs_w is None and array_w is not None:
        wmat_row = array_w
    else:
        wmat_row = None
    all_complete = not any_missing and (
        obs_w is None and (array_w is None or bool(np.all(np.isfinite(array_w) & (array_w > 0))))
    )
    if array_w is not None and all_complete:
        # limma: NoProbeWts -> lm.wfit with the array weights; cov from the weighted design
        sw = np.sqrt(array_w)
        xw = design * sw[:, None]
    else:
        xw = design
        sw = None
    cov = np.linalg.inv(xw.T @ xw) if all_complete else np.linalg.inv(design.T @ design)
    # R computes chol2inv of the QR; symmetrise the explicit inverse the same way
    cov = (cov + cov.T) / 2

    cov_feat = np.full((g, p, p), np.nan) if per_feature_cov else None
    if all_complete:
        if cov_feat is not None:
            cov_feat[:] = cov
        q, r = np.linalg.qr(xw)
        rinv = np.linalg.inv(r)
        su_row = np.sqrt(np.sum(rinv**2, axis=1))
        df = n - p
        for start in range(0, g, chunk_size):
            sl = slice(start, min(g, start + chunk_size))
            yc = y[sl] if sw is None else y[sl] * sw
            qty = yc @ q
            b = np.linalg.solve(r, qty.T).T if p else np.zeros((yc.shape[0], 0))
            coefs[sl] = b
            if df > 0:
                res = yc - b @ xw.T
                sigma[sl] = np.sqrt(np.sum(res**2, axis=1) / df)
        su[:] = su_row
        dfres[:] = df
        n_obs[:] = n
    else:
        if obs_w is not None:
            wfull = obs_w
        elif wmat_row is not None:
            wfull = np.broadcast_to(wmat_row, y.shape)
        else:
            wfull = None
        for start in range(0, g, chunk_size):
            sl = slice(start, min(g, start + chunk_size))
            yc = y[sl]
            ok = np.isfinite(yc)
            if wfull is not None:
                wc = np.asarray(wfull[sl], dtype=float)
                with np.errstate(invalid="ignore"):
                    ok &= np.isfinite(wc) & (wc > 0)
                mc = np.where(ok, wc, 0.0)
            else:
                mc = ok.astype(float)
            yz = np.where(ok, yc, 0.0)
            b, s, rss, rk, cv = _batched_fit(yz, mc, design, want_cov=per_feature_cov)
            nob = ok.sum(axis=1)
            d = (nob - rk).astype(float)
            empty = nob == 0
            b[empty] = np.nan
            s[empty] = np.nan
            d[empty] = 0
            coefs[sl] = b
            su[sl] = s
            dfres[sl] = d
            with np.errstate(invalid="ignore", divide="ignore"):
                sigma[sl] = np.where(d > 0, np.sqrt(rss / np.where(d > 0, d, 1)), np.nan)
            n_obs[sl] = nob
            if cov_feat is not None and cv is not None:
                cv[empty] = np.nan
                cov_feat[sl] = cv
    return LinearFit(
        coefficients=coefs,
        stdev_unscaled=su,
        sigma=sigma,
        df_residual=dfres,
        amean=amean,
        n_obs=n_obs,
        cov_coefficients=cov,
        design=design,
        coef_names=list(coef_names) if coef_names is not None else [f"x{i + 1}" for i in range(p)],
        cov_per_feature=cov_feat,
    )


# --------------------------------------------------------------------------------------------------
# contrasts.fit
# --------------------------------------------------------------------------------------------------


@dataclass
class ContrastFit:
    coefficients: np.ndarray  # features x contrasts
    stdev_unscaled: np.ndarray
    cov_coefficients: np.ndarray  # contrasts x contrasts


def _cov2cor(v: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(v))
    return v / d[:, None] / d[None, :]


@_single_blas_thread
def contrasts_fit(fit: LinearFit, contrasts: np.ndarray, *, exact: bool = False) -> ContrastFit:
    """limma's ``contrasts.fit``: contrasts of coefficients with limma's single correlation matrix.

    With ``exact=True`` each feature's standard error uses the covariance of its own observed
    (weighted) design instead (not limma's behaviour; differs for features with missing values or
    observation weights in non-orthogonal designs). The moderated F keeps limma's single matrix.
    """
    c = np.asarray(contrasts, dtype=float)
    if exact:
        return _contrasts_fit_exact(fit, c)
    coef = fit.coefficients
    su = fit.stdev_unscaled
    cov = fit.cov_coefficients
    cor = _cov2cor(cov)
    allzero = np.sum(np.abs(c), axis=1) == 0
    if np.any(allzero):
        keep = ~allzero
        c = c[keep]
        coef = coef[:, keep]
        su = su[:, keep]
        cov = cov[np.ix_(keep, keep)]
        cor = cor[np.ix_(keep, keep)]
    nacoef = np.isnan(coef)
    if np.any(nacoef):
        coef = np.where(nacoef, 0.0, coef)
        su = np.where(nacoef, 1e30, su)
    est = coef @ c
    k = c.shape[0]
    orthog = True if k < 2 else bool(np.all(np.abs(cor[np.tril_indices(k, -1)]) < 1e-14))
    rc = np.linalg.cholesky(cov).T
    cov_out = (rc @ c).T @ (rc @ c)
    if orthog:
        se = np.sqrt((su**2) @ (c**2))
    else:
        rchol = np.linalg.cholesky(cor).T  # upper: R'R = cor
        se = np.empty(est.shape)
        for j in range(c.shape[1]):
            v = su * c[:, j][None, :]  # features x coefs
            se[:, j] = np.sqrt(np.sum((v @ rchol.T) ** 2, axis=1))
    if np.any(nacoef):
        big = se > 1e20
        est = np.where(big, np.nan, est)
        se = np.where(big, np.nan, se)
    return ContrastFit(coefficients=est, stdev_unscaled=se, cov_coefficients=cov_out)


def _contrasts_fit_exact(fit: LinearFit, c: np.ndarray) -> ContrastFit:
    """Contrasts with each feature's own covariance (``lm_fit(per_feature_cov=True)``)."""
    if fit.cov_per_feature is None:
        raise DesignError("exact standard errors need lm_fit(..., per_feature_cov=True).")
    nacoef = np.isnan(fit.coefficients)
    involved = (nacoef.astype(float) @ (c != 0).astype(float)) > 0
    est = np.where(nacoef, 0.0, fit.coefficients) @ c
    v = np.nan_to_num(fit.cov_per_feature, nan=0.0)
    var = np.einsum("ak,gab,bk->gk", c, v, c)
    se = np.sqrt(np.maximum(var, 0.0))
    est = np.where(involved, np.nan, est)
    se = np.where(involved, np.nan, se)
    empty = fit.n_obs == 0
    se[empty] = np.nan
    est[empty] = np.nan
    rc = np.linalg.cholesky(fit.cov_coefficients).T
    return ContrastFit(coefficients=est, stdev_unscaled=se, cov_coefficients=(rc @ c).T @ (rc @ c))


# --------------------------------------------------------------------------------------------------
# fitting the scaled F distribution of the residual variances
# --------------------------------------------------------------------------------------------------


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
    e = np.log(xs) + _by_unique(logmdigamma, d1 / 2)
    if cov_ok is None:
        emean: Any = float(np.mean(e))
        evar = float(np.sum((e - emean) ** 2) / (nok - 1))
    else:
        basis = _ns_basis(cov_ok, cov_ok, splinedf)
        coef, *_ = np.linalg.lstsq(basis, e, rcond=None)
        fitted = basis @ coef
        rank = np.linalg.matrix_rank(basis)
        evar = float(np.sum((e - fitted) ** 2) / (nok - rank))
        if notallok:
            emean = np.empty(n)
            emean[ok] = fitted
            emean[~ok] = _ns_basis(np.asarray(cov_notok), cov_ok, splinedf) @ coef
        else:
            emean = fitted
    evar = evar - float(np.mean(_trigamma(d1 / 2)))
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
        pupper = _f_sf(f, df1[smaller], nr_df2, log=True)
        plower = _f_cdf(f, df1[smaller], nr_df2, log=True)
        up = pupper < plower
        fnew = f.copy()
        if up.any():
            fnew[up] = _f_isf(np.exp(pupper[up]), df1max, nr_df2)
        if (~up).any():
            fnew[~up] = _f_ppf(np.exp(plower[~up]), df1max, nr_df2)
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
        ztrend = _loess_fit(z, np.asarray(covariate, float), span=0.4)
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
        fq = _f_ppf(np.array([wt[0], 1 - wt[1]]), d1, df2)
        zq = np.log(fq)
        q = linkfun(fq)
        nodes = q[0] + (q[1] - q[0]) * gnodes
        fnodes = linkinv(nodes)
        znodes = np.log(fnodes)
        fd = _f_pdf(fnodes, d1, df2) / (1 - nodes) ** 2
        q21 = q[1] - q[0]
        mm = q21 * np.sum(gweights * fd * znodes) + np.sum(zq * wt)
        vv = q21 * np.sum(gweights * fd * (znodes - mm) ** 2) + np.sum((zq - mm) ** 2 * wt)
        return float(mm), float(vv)

    mom_inf = wmoments(np.inf)
    funval_inf = math.log(zwvar / mom_inf[1])
    if funval_inf <= 0:
        df2 = np.inf
        ztc = ztrend + zwmean - mom_inf[0]
        s20 = np.exp(ztc)
        fstat = np.exp(z - ztc)
        tailp = stats.chi2.sf(fstat * d1, d1)
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
    log_tailp = _f_sf(fstat, d1, df2, log=True)
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
            new_log = float(_f_sf(np.array([np.max(fstat)]), d1, df2_out, log=True)[0])
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
            e += _by_unique(logmdigamma, a)
            w = 1 / _trigamma(a)
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
        e += _by_unique(logmdigamma, d1)
        w = 1 / _trigamma(d1)
        if pw is not None:
            w *= pw
        if covariate is None:
            emean = float(np.sum(w * e) / np.sum(w))
        else:
            span = _choose_lowess_span(n, small_n=500)
            emean = _loess_fit(
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

    par = optimize.fminbound(minus_twice_loglik, 0.5, 0.9998, xtol=_EPS**0.25)
    d2 = float(par) / (1 - float(par))
    s20 = np.exp(emean - logmdigamma(np.array([d2]))[0])
    if np.ndim(s20) == 0:
        s20 = float(s20)
    if not robust:
        return {"scale": s20, "df2": 2 * d2}
    df2 = 2 * d2
    fstat = x / s20
    right = _f_sf(fstat, df1, df2)
    left = 1 - right
    if left.min() < 0.001:
        i = left < 0.001
        left[i] = _f_cdf(fstat[i], df1[i], df2)
    two = 2 * np.minimum(left, right)
    fdr = _bh(two)
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
        new_log = float(_f_sf(np.array([fstat[i]]), df1[i], df2_out, log=True)[0])
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
    var_post = _post_var(var, df, var_prior, df_prior)
    return {"df_prior": df_prior, "var_prior": var_prior, "var_post": var_post, "legacy": legacy}


def _post_var(var: np.ndarray, df: np.ndarray, var_prior: Any, df_prior: Any) -> np.ndarray:
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


@dataclass
class EBayesResult:
    t: np.ndarray
    p_value: np.ndarray
    lods: np.ndarray
    df_total: np.ndarray
    s2_post: np.ndarray
    df_prior: Any
    s2_prior: Any
    var_prior: np.ndarray
    f_stat: np.ndarray
    f_df1: int
    f_df2: np.ndarray
    f_p_value: np.ndarray
    legacy: bool


def _tmix_convert(t: np.ndarray, df: np.ndarray, maxdf: float) -> np.ndarray:
    """|t| of features with fewer df than ``maxdf`` turned into the t of equal tail area at maxdf."""
    t = np.abs(t)
    i = df < maxdf
    if np.any(i):
        logp = stats.t.logsf(t[i], df[i])
        t[i] = _t_isf(np.exp(logp), maxdf)
    return t


def _tmix_top(t: np.ndarray, ntarget: int) -> np.ndarray:
    """Indices of the ``ntarget`` largest values, decreasing, ties in input order (R's order)."""
    if ntarget < t.size:
        kth = np.partition(t, t.size - ntarget)[t.size - ntarget]
        cand = np.nonzero(t >= kth)[0]
        return cand[np.argsort(-t[cand], kind="stable")][:ntarget]
    return np.argsort(-t, kind="stable")[:ntarget]


def _tmix_finish(
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
    p0 = 2 * _t_sf(t, np.full(ntarget, maxdf))
    ptarget = ((r - 0.5) / ng - (1 - p) * p0) / p
    v0 = np.zeros(ntarget)
    pos = ptarget > p0
    if np.any(pos):
        qtarget = _t_isf(ptarget[pos] / 2, maxdf)
        v0[pos] = v1[pos] * ((t[pos] / qtarget) ** 2 - 1)
    v0 = np.minimum(np.maximum(v0, lim[0]), lim[1])
    return float(np.mean(v0))


def _tmixture_vector(
    t: np.ndarray, su: np.ndarray, df: np.ndarray, proportion: float, lim: tuple[float, float]
) -> float:
    keep = ~np.isnan(t)
    t, su, df = t[keep], su[keep], df[keep]
    ng = t.size
    ntarget = math.ceil(proportion / 2 * ng)
    if ntarget < 1:
        return float("nan")
    maxdf = float(np.max(df))
    t = _tmix_convert(t, df, maxdf)
    o = _tmix_top(t, ntarget)
    return _tmix_finish(t[o], su[o], ng, maxdf, proportion, lim)


def _is_fullrank(x: np.ndarray) -> bool:
    e = np.linalg.eigvalsh(x.T @ x)[::-1]
    return bool(e[0] > 0 and abs(e[-1] / e[0]) > 1e-13)


def _moderated_t(
    coef: np.ndarray,
    su: np.ndarray,
    s2_post: np.ndarray,
    dfres: np.ndarray,
    dfp: np.ndarray,
    df_cap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moderated t, total df (capped at the pooled residual df) and two-sided p, feature-wise."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = coef / su / np.sqrt(s2_post)[:, None]
    df_total = np.minimum(dfres + dfp, df_cap)
    p = 2 * _t_sf(np.abs(t), df_total[:, None])
    return t, df_total, p


def _tmix_limits(s2_prior: Any, stdev_coef_lim: tuple[float, float]) -> tuple[float, float]:
    med = float(np.median(s2_prior))
    return stdev_coef_lim[0] ** 2 / med, stdev_coef_lim[1] ** 2 / med


def _fill_var_prior(var_prior: np.ndarray, s2_prior: Any) -> np.ndarray:
    if np.any(np.isnan(var_prior)):
        var_prior[np.isnan(var_prior)] = 1 / float(np.median(np.atleast_1d(s2_prior)))
    return var_prior


def _lods(
    t: np.ndarray,
    su: np.ndarray,
    df_total: np.ndarray,
    dfp: np.ndarray,
    var_prior: np.ndarray,
    proportion: float,
) -> np.ndarray:
    """limma's B statistic (log-odds of differential abundance), feature-wise."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (su**2 + var_prior[None, :]) / su**2
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
        else:
            kernel = (1 + dft) / 2 * np.log((t2 + dft) / (t2 / r + dft))
        return math.log(proportion / (1 - proportion)) - np.log(r) / 2 + kernel


def _f_stat(t: np.ndarray, cov_coefficients: np.ndarray, fullrank: bool) -> tuple[np.ndarray, int]:
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
    cor = _cov2cor(cov)
    evals, evecs = np.linalg.eigh(cor)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    df1 = int(np.sum(evals / evals[0] > 1e-8))
    q = evecs[:, :df1] / np.sqrt(evals[:df1])[None, :] / math.sqrt(df1)
    return np.sum((t @ q) ** 2, axis=1), df1


def _f_pvalue(fstat: np.ndarray, df1: int, df2: np.ndarray) -> np.ndarray:
    fp = np.full(fstat.shape, np.nan)
    good = ~np.isnan(fstat)
    fp[good] = _f_sf(fstat[good], df1, df2[good])
    return fp


def _treat_tp(
    coef: np.ndarray, su: np.ndarray, s2_post: np.ndarray, df_total: np.ndarray, lfc: float
) -> tuple[np.ndarray, np.ndarray]:
    """TREAT's t (0 inside +-lfc and for NA contrasts) and two-part p-value, feature-wise."""
    with np.errstate(invalid="ignore"):
        se = su * np.sqrt(s2_post)[:, None]
        acoef = np.abs(coef)
        right = (acoef - lfc) / se
        left = (acoef + lfc) / se
        dft = df_total[:, None]
        p = _t_sf(right, dft) + _t_sf(left, dft)
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
            "trend=True needs a finite mean for every feature; "
            "drop features with no observed value."
        )


@_single_blas_thread
def ebayes(
    cfit: ContrastFit,
    fit: LinearFit,
    *,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    trend: bool = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    legacy: bool | None = None,
) -> EBayesResult:
    """limma's ``eBayes`` on a contrast fit: moderated t, p, B and the moderated F."""
    coef = cfit.coefficients
    su = cfit.stdev_unscaled
    sigma = fit.sigma
    dfres = fit.df_residual
    covariate = fit.amean if trend else None
    check_moderation_inputs(sigma, dfres, covariate)
    sq = squeeze_var(
        sigma**2,
        dfres,
        covariate=covariate,
        robust=robust,
        winsor_tail_p=winsor_tail_p,
        legacy=legacy,
    )
    s2_post = np.asarray(sq["var_post"], dtype=float)
    df_prior = sq["df_prior"]
    s2_prior = sq["var_prior"]
    dfp = np.broadcast_to(np.asarray(df_prior, float), dfres.shape)
    t, df_total, p = _moderated_t(coef, su, s2_post, dfres, dfp, float(np.nansum(dfres)))
    lim = _tmix_limits(s2_prior, stdev_coef_lim)
    var_prior = np.array(
        [_tmixture_vector(t[:, j], su[:, j], df_total, proportion, lim) for j in range(t.shape[1])]
    )
    var_prior = _fill_var_prior(var_prior, s2_prior)
    lods = _lods(t, su, df_total, dfp, var_prior, proportion)
    fstat, df1 = _f_stat(t, cfit.cov_coefficients, _is_fullrank(fit.design))
    df2 = dfres + dfp
    fp = _f_pvalue(fstat, df1, df2)
    return EBayesResult(
        t=t,
        p_value=p,
        lods=lods,
        df_total=df_total,
        s2_post=s2_post,
        df_prior=df_prior,
        s2_prior=s2_prior,
        var_prior=var_prior,
        f_stat=fstat,
        f_df1=df1,
        f_df2=df2,
        f_p_value=fp,
        legacy=bool(sq["legacy"]),
    )


def treat(
    cfit: ContrastFit,
    fit: LinearFit,
    lfc: float,
    *,
    trend: bool = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    legacy: bool | None = None,
) -> EBayesResult:
    """limma's ``treat``: moderated tests of ``|contrast| > lfc`` (McCarthy and Smyth 2009).

    Variances are moderated as in :func:`ebayes`; ``t`` is 0 for contrasts within ``+-lfc`` (and,
    as in limma, where the contrast is NA), p-values come from the two-part formula, ``lods`` are
    NaN. The moderated F is the ordinary one (limma's ``treat`` computes none).
    """
    eb = ebayes(cfit, fit, trend=trend, robust=robust, winsor_tail_p=winsor_tail_p, legacy=legacy)
    lfc = abs(float(lfc))
    t, p = _treat_tp(cfit.coefficients, cfit.stdev_unscaled, eb.s2_post, eb.df_total, lfc)
    eb.t = t
    eb.p_value = p
    eb.lods = np.full(t.shape, np.nan)
    return eb
