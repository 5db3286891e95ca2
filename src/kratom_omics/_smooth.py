"""Smoothers shared by preprocessing and the limma engine: R's ``lowess``, limma's
``weightedLowess``/``loessFit`` and R's natural cubic spline basis ``splines::ns``.

Each reproduces the R routine to rounding: ``voom``'s mean-variance trend and the variance trend of
``eBayes(trend=TRUE)`` use :func:`r_lowess` / :func:`loess_fit`; the spline trend of ``fitFDist``
and the time courses of ``kom.tl.timecourse`` use :func:`ns_basis`.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

__all__ = ["choose_lowess_span", "loess_fit", "ns_basis", "r_lowess", "weighted_lowess"]


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


def loess_fit(
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


def choose_lowess_span(
    n: int, small_n: float = 50, min_span: float = 0.3, power: float = 1 / 3
) -> float:
    return float(min(min_span + (1 - min_span) * (small_n / n) ** power, 1.0))


def ns_basis(
    x: np.ndarray, knots_from: np.ndarray, df: int, *, intercept: bool = False
) -> np.ndarray:
    """R's ``splines::ns(x, df = df, intercept = intercept)`` with knots placed on ``knots_from``.

    Interior knots at the quantiles of ``knots_from`` (type 7, as R), boundary knots at its range;
    cubic B-splines constrained to zero second derivative at the boundaries by the QR projection R
    uses, so the columns equal R's to rounding. Outside the boundary knots the basis continues as a
    straight line (value and slope at the boundary), as ``predict()`` of an ``ns`` basis does.

    Parameters
    ----------
    x
        Where to evaluate the basis.
    knots_from
        Values whose range and quantiles give the knots (``x`` itself for ``ns(x)``).
    df
        Number of columns.
    intercept
        Include the constant in the column space (``intercept=TRUE``: one interior knot fewer).

    Returns
    -------
    ``len(x)`` x ``df`` array.
    """
    from scipy.interpolate import BSpline

    x = np.asarray(x, dtype=float)
    lo, hi = float(np.min(knots_from)), float(np.max(knots_from))
    n_interior = df - 1 - int(intercept)
    probs = np.linspace(0.0, 1.0, n_interior + 2)[1:-1]
    interior = np.quantile(knots_from, probs) if probs.size else np.empty(0)
    knots = np.r_[[lo] * 4, interior, [hi] * 4]
    nb = knots.size - 4
    spl = BSpline(knots, np.eye(nb), 3, extrapolate=True)
    below = x < lo
    above = x > hi
    basis = np.empty((x.size, nb))
    inside = ~(below | above)
    basis[inside] = spl(x[inside])
    for side, pivot in ((below, lo), (above, hi)):
        if side.any():
            at = np.array([pivot])
            basis[side] = spl(at)[0] + (x[side] - pivot)[:, None] * spl(at, nu=1)[0]
    # evaluated, not differentiated into a new spline: an interior knot on a boundary (many ties
    # at the smallest value) repeats that knot, which BSpline.derivative refuses and R accepts
    const = spl(np.array([lo, hi]), nu=2)
    if not intercept:
        basis, const = basis[:, 1:], const[:, 1:]
    q, _ = np.linalg.qr(const.T, mode="complete")
    return np.asarray((basis @ q)[:, 2:])
