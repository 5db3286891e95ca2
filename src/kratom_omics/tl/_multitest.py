"""Multiple-testing adjustment over the non-missing p-values (NaN stays NaN, as R's ``p.adjust``).

Methods: ``"bh"`` (Benjamini-Hochberg), ``"by"`` (Benjamini-Yekutieli), ``"bonferroni"``, ``"holm"``
(the same numbers as R's ``p.adjust`` and statsmodels' ``multipletests``), ``"qvalue"`` (Storey's
q-values with pi0 estimated as R's ``qvalue`` package does: by default its cubic smoothing spline
over lambda, a port of R's ``smooth.spline(df = 3)``; or ``pi0.method="bootstrap"``) and
``"none"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DesignError, did_you_mean

__all__ = [
    "FDR_METHODS",
    "adjust_pvalues",
    "check_method",
    "pi0_bootstrap",
    "pi0_smoother",
    "smooth_spline_fit",
]

FDR_METHODS: tuple[str, ...] = ("bh", "by", "bonferroni", "holm", "qvalue", "none")
_ALIASES = {"fdr": "bh", "fdr_bh": "bh", "benjamini-hochberg": "bh", "fdr_by": "by"}


def _check_p(p: np.ndarray) -> None:
    bad = (p < 0) | (p > 1)
    if np.any(bad):
        raise DesignError(
            f"p-values must lie in [0, 1]; got {int(bad.sum())} outside, "
            f"e.g. {p[bad][:3].tolist()}."
        )


def _step_up(
    p: np.ndarray, factor: np.ndarray | None, into: np.ndarray | None = None
) -> np.ndarray:
    """``pmin(1, cummin(factor * p[o]))`` over p sorted decreasingly, back in input order."""
    o = np.argsort(p)[::-1]  # decreasing; the order among ties does not change the values
    adj = p[o]  # in place from here: millions of p-values make every temporary count
    if factor is None:  # BH's n / i, made block by block
        n = adj.size
        step = 1 << 20
        for s in range(0, n, step):
            adj[s : s + step] *= n / np.arange(n - s, max(n - s - step, 0), -1, dtype=float)
    else:
        adj *= factor
    np.minimum.accumulate(adj, out=adj)
    np.minimum(adj, 1.0, out=adj)
    out = np.empty_like(p) if into is None else into
    out[o] = adj
    return out


def pi0_bootstrap(p: np.ndarray, lambdas: np.ndarray | None = None) -> float:
    """Storey's pi0, bootstrap choice of lambda (``qvalue::pi0est(pi0.method="bootstrap")``)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    lam = np.arange(0.05, 0.951, 0.05) if lambdas is None else np.asarray(lambdas, dtype=float)
    if lam.size == 1:
        return float(min(np.mean(p >= lam[0]) / (1 - lam[0]), 1.0))
    if np.max(p) < np.max(lam):
        raise DesignError(
            f"qvalue: the largest p-value ({np.max(p):.3g}) is below the largest lambda "
            f"({np.max(lam):.3g}); the p-values do not look like p-values of a full feature set."
        )
    w = np.array([np.sum(p >= x) for x in lam], dtype=float)
    pi0 = w / (m * (1 - lam))
    minpi0 = float(np.quantile(pi0, 0.1))
    mse = (w / (m**2 * (1 - lam) ** 2)) * (1 - w / m) + (pi0 - minpi0) ** 2
    return float(min(pi0[mse == mse.min()].min(), 1.0))


def check_method(method: str) -> str:
    """The canonical name of an adjustment method, or a :class:`DesignError` with a suggestion."""
    key = _ALIASES.get(str(method).lower(), str(method).lower())
    if key not in FDR_METHODS:
        raise DesignError(
            did_you_mean(str(method), [*FDR_METHODS, *_ALIASES], what="fdr")
            + " Use one of 'bh', 'by', 'bonferroni', 'holm', 'qvalue', 'none'."
        )
    return key


def _bspline_matrix(knots: np.ndarray, x: np.ndarray, deriv: int = 0) -> np.ndarray:
    from scipy.interpolate import BSpline

    nk = knots.size - 4
    out = np.empty((x.size, nk))
    for i in range(nk):
        coef = np.zeros(nk)
        coef[i] = 1.0
        spline = BSpline(knots, coef, 3, extrapolate=False)
        out[:, i] = (spline.derivative(deriv) if deriv else spline)(x)
    return np.nan_to_num(out)


def smooth_spline_fit(x: np.ndarray, y: np.ndarray, df: float) -> np.ndarray:
    """Fitted values of R's ``smooth.spline(x, y, df = df)`` (unit weights, distinct ``x``).

    Cubic B-splines with a knot at every x (x scaled to [0, 1]), penalty ``lambda * int f''^2``
    with R's parametrisation ``lambda = ratio * 256^(3 spar - 1)``, and ``spar`` chosen by R's
    golden-section/parabolic search of ``3 + (df - tr(S))^2`` on [-1.5, 1.5] (tol 1e-4). As in R,
    the values returned are those of the last spar evaluated by the search.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xbar = (x - x[0]) / (x[-1] - x[0])
    knots = np.concatenate([[xbar[0]] * 3, xbar, [xbar[-1]] * 3])
    nk = knots.size - 4
    basis = _bspline_matrix(knots, xbar)
    # Gram matrix of second derivatives as R's sgram: B'' is linear on each interval, integrated
    # with the constant 0.3330 where the exact integral has 1/3 (reproduced on purpose)
    lo, hi = xbar[:-1], xbar[1:]
    left = _bspline_matrix(knots, lo, deriv=2)
    slope = _bspline_matrix(knots, hi, deriv=2) - left
    wpt = (hi - lo)[:, None]
    sigma = (
        (left * wpt).T @ left
        + 0.5 * ((slope * wpt).T @ left + (left * wpt).T @ slope)
        + 0.3330 * (slope * wpt).T @ slope
    )
    xtx = basis.T @ basis
    xty = basis.T @ y
    ratio = np.sum(np.diag(xtx)[2 : nk - 3]) / np.sum(np.diag(sigma)[2 : nk - 3])

    def crit(spar: float) -> tuple[float, np.ndarray]:
        lam = ratio * 16.0 ** (6.0 * spar - 2.0)
        a = xtx + lam * sigma
        coef = np.linalg.solve(a, xty)
        lev = np.einsum("ij,ji->i", basis, np.linalg.solve(a, basis.T))
        return 3.0 + (df - float(np.sum(lev))) ** 2, basis @ coef

    # Brent's minimiser as in R's sbart (Forsythe, Malcolm and Moler's fmin)
    gold = 0.381966011250105151795413165634
    tol, eps, maxit = 1e-4, 2e-8, 500
    a, b = -1.5, 1.5
    v = w = xx = a + gold * (b - a)
    d = e = 0.0
    fx, fit = crit(xx)
    fv = fw = fx
    it = 0
    while True:
        xm = (a + b) / 2
        tol1 = eps * abs(xx) + tol / 3
        tol2 = 2 * tol1
        it += 1
        if abs(xx - xm) <= tol2 - (b - a) / 2 or it > maxit:
            break
        golden = abs(e) <= tol1
        if not golden:
            r = (xx - w) * (fx - fv)
            q = (xx - v) * (fx - fw)
            p = (xx - v) * q - (xx - w) * r
            q = (q - r) * 2
            if q > 0:
                p = -p
            q = abs(q)
            r = e
            e = d
            if abs(p) >= abs(0.5 * q * r) or q == 0 or p <= q * (a - xx) or p >= q * (b - xx):
                golden = True
            else:
                d = p / q
                u = xx + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if xm - xx >= 0 else -tol1
        if golden:
            e = (a - xx) if xx >= xm else (b - xx)
            d = gold * e
        u = xx + (d if abs(d) >= tol1 else (tol1 if d >= 0 else -tol1))
        fu, fit = crit(u)  # R returns the fit of the last evaluation, not of the best spar
        if fu <= fx:
            if u >= xx:
                a = xx
            else:
                b = xx
            v, fv = w, fw
            w, fw = xx, fx
            xx, fx = u, fu
        else:
            if u < xx:
                a = u
            else:
                b = u
            if fu <= fw or w == xx:
                v, fv = w, fw
                w, fw = u, fu
            elif fu <= fv or v in (xx, w):
                v, fv = u, fu
    return fit


def pi0_smoother(p: np.ndarray, lambdas: np.ndarray | None = None, smooth_df: float = 3) -> float:
    """Storey's pi0 smoothed over lambda (R ``qvalue::pi0est``'s default ``"smoother"``)."""
    p = np.asarray(p, dtype=float)
    lam = np.arange(0.05, 0.951, 0.05) if lambdas is None else np.sort(np.asarray(lambdas, float))
    if lam.size == 1:
        return float(min(np.mean(p >= lam[0]) / (1 - lam[0]), 1.0))
    pi0 = np.array([np.sum(p >= x) for x in lam], dtype=float) / (p.size * (1 - lam))
    fitted = smooth_spline_fit(lam, pi0, smooth_df)
    return float(min(fitted[-1], 1.0))


def adjust_pvalues(
    p: np.ndarray,
    method: str = "bh",
    *,
    pi0_method: str = "smoother",
    overwrite: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Adjust p-values for multiple testing over their non-missing values (NaN stays NaN).

    Parameters
    ----------
    p
        p-values, any shape; NaN marks a missing test.
    method
        ``"bh"`` (Benjamini-Hochberg), ``"by"`` (Benjamini-Yekutieli), ``"bonferroni"``,
        ``"holm"``, ``"qvalue"`` (Storey) or ``"none"``; the same numbers as R's ``p.adjust`` and
        the ``qvalue`` package.
    pi0_method
        For ``"qvalue"``: ``"smoother"`` (R qvalue's default) or ``"bootstrap"``.
    overwrite
        BH with no missing p-value may write the adjusted values into ``p`` (a contiguous float
        array the caller no longer needs) instead of a new array.

    Returns
    -------
    The adjusted values (same shape as ``p``) and a dict with extra information (``pi0`` for
    ``"qvalue"``, empty otherwise).
    """
    key = check_method(method)
    p = np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    complete = bool(ok.all())
    q = p.reshape(-1) if complete else p[ok]  # no copy without missing p-values
    _check_p(q)
    n = q.size
    info: dict[str, Any] = {}
    if n == 0:
        return np.full(p.shape, np.nan), info
    if key == "none":
        adj = q.copy()
    elif key == "bonferroni":
        adj = np.minimum(1.0, n * q)
    elif key == "holm":
        o = np.argsort(q)
        steps = np.maximum.accumulate((n - np.arange(n)) * q[o])
        adj = np.empty(n)
        adj[o] = np.minimum(1.0, steps)
    elif key == "bh":
        inplace = overwrite and complete and q.flags.c_contiguous and q.dtype == np.float64
        adj = _step_up(q, None, into=q if inplace else None)
    elif key == "by":
        cq = np.sum(1.0 / np.arange(1, n + 1))
        adj = _step_up(q, cq * n / np.arange(n, 0, -1))
    else:  # qvalue
        if pi0_method == "smoother":
            pi0 = pi0_smoother(q)
        elif pi0_method == "bootstrap":
            pi0 = pi0_bootstrap(q)
        else:
            raise DesignError(
                f"pi0_method={pi0_method!r} is not available; use 'smoother' or 'bootstrap'."
            )
        if pi0 <= 0:
            raise DesignError(
                f"qvalue: the estimated pi0 is {pi0:.3g} <= 0; the p-values are not uniform under "
                "the null (too few large p-values). Use fdr='bh'."
            )
        adj = pi0 * _step_up(q, n / np.arange(n, 0, -1))
        info["pi0"] = pi0
    if complete:
        return adj.reshape(p.shape), info
    out = np.full(p.shape, np.nan)
    out[ok] = adj
    return out, info
