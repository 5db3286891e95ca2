"""Special functions and distribution tails of the limma engine (R's ``pt``, ``pf`` and friends).

Element-wise over features; ``df2 = inf`` (an infinite prior df) gives the chi-square/normal limit,
as in R. The tails on the per-feature path call :mod:`scipy.special` directly (no argument
checking, and no import of :mod:`scipy.stats`, which takes longer than the rest of the engine on a
command line); :mod:`scipy.stats` is imported only by the log-scale and robust variants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "by_unique",
    "f_cdf",
    "f_isf",
    "f_pdf",
    "f_ppf",
    "f_sf",
    "logmdigamma",
    "t_isf",
    "t_ppf",
    "t_sf",
    "t_sf_twosided",
    "trigamma",
    "trigamma_inverse",
]


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


def f_sf(
    f: np.ndarray, df1: float | np.ndarray, df2: float | np.ndarray, *, log: bool = False
) -> np.ndarray:
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
    from scipy import stats

    if np.any(fin):
        out[fin] = stats.f.logsf(f[fin], df1[fin], df2[fin])
    if np.any(inf):
        out[inf] = stats.chi2.logsf(f[inf] * df1[inf], df1[inf])
    return out


def f_cdf(
    f: np.ndarray, df1: float | np.ndarray, df2: float | np.ndarray, *, log: bool = False
) -> np.ndarray:
    from scipy import stats

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


def f_ppf(p: np.ndarray, df1: float, df2: float) -> np.ndarray:
    from scipy import stats

    if np.isinf(df2):
        return np.asarray(stats.chi2.ppf(p, df1) / df1)
    return np.asarray(stats.f.ppf(p, df1, df2))


def f_isf(p: np.ndarray, df1: float, df2: float) -> np.ndarray:
    from scipy import stats

    if np.isinf(df2):
        return np.asarray(stats.chi2.isf(p, df1) / df1)
    return np.asarray(stats.f.isf(p, df1, df2))


def f_pdf(x: np.ndarray, df1: float, df2: float) -> np.ndarray:
    from scipy import stats

    if np.isinf(df2):
        return np.asarray(stats.chi2.pdf(x * df1, df1) * df1)
    return np.asarray(stats.f.pdf(x, df1, df2))


def t_sf(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Upper tail of Student's t allowing infinite df (normal); NaN stays NaN."""
    t, df = np.asarray(t, float), np.asarray(df, float)
    if not np.isinf(df).any():  # the usual case: no broadcast copies of df
        with np.errstate(invalid="ignore"):
            return np.asarray(special.stdtr(df, -t))
    return _t_sf_inf(t, df)


def t_sf_twosided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``2 * t_sf(|t|, df)`` (R's ``2 * pt(-abs(t), df)``) with one array of ``t``'s shape: the
    tail is computed in place into ``-|t|`` (the same values as :func:`t_sf`)."""
    t, df = np.asarray(t, float), np.asarray(df, float)
    if np.isinf(df).any():
        p = _t_sf_inf(np.abs(t), df)
    else:
        p = np.abs(t)
        np.negative(p, out=p)
        with np.errstate(invalid="ignore"):
            special.stdtr(df, p, out=p)
    p *= 2
    return p


def _t_sf_inf(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """:func:`t_sf` where some df are infinite (normal tail there)."""
    t, df = np.broadcast_arrays(t, df)
    with np.errstate(invalid="ignore"):
        out = special.stdtr(np.where(np.isinf(df), 1.0, df), -t)
    inf = np.isinf(df)
    if np.any(inf):
        out = np.where(inf, special.ndtr(-t), out)
    return np.asarray(out)


def by_unique(func: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
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


def trigamma(x: np.ndarray) -> np.ndarray:
    return by_unique(lambda v: special.polygamma(1, v), x)


def t_isf(p: np.ndarray, df: float) -> np.ndarray:
    """Upper-tail quantile of Student's t (``qt(p, df, lower.tail = FALSE)``); normal for infinite df.

    The values of ``scipy.stats.t.isf`` and ``norm.isf`` (``inf`` at 0, ``-inf`` at 1), from the
    special functions without the distribution objects' argument checking.
    """
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        q = -special.ndtri(p) if np.isinf(df) else -special.stdtrit(df, p)
    return np.where(p == 0, np.inf, np.where(p == 1, -np.inf, q))


def t_ppf(p: float, df: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of Student's t for every df (``qt(p, df)``); normal where df is infinite.

    The values of ``scipy.stats.t.ppf`` and ``norm.ppf`` for ``0 < p < 1``, from the special
    functions without the distribution objects' argument checking.
    """
    df = np.asarray(df, dtype=float)
    inf = np.isinf(df)
    with np.errstate(invalid="ignore"):
        out = special.stdtrit(np.where(inf, 1.0, df), p)
    return np.where(inf, special.ndtri(p), out)
