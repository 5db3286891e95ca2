"""limma's ``lmFit`` and ``contrasts.fit``: per-feature least squares and contrasts of coefficients.

Matrices are in limma's orientation: ``y`` is features x samples. Every feature is fit on its
observed samples; the fits of all features with missing values are solved together from
per-feature Gram matrices (one batched, column-pivoted Cholesky), so the cost does not grow with
the number of distinct missingness patterns. Coefficients that cannot be estimated for a feature
are NaN (limma's NA); ``contrasts.fit`` uses the single correlation matrix of the complete design,
as limma does.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import numpy as np

from ...errors import DesignError

__all__ = [
    "ContrastFit",
    "LinearFit",
    "batched_fit",
    "contrasts_fit",
    "cov2cor",
    "lm_fit",
    "residual_sigma",
    "single_blas_thread",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def single_blas_thread(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate ``func`` to run with single-threaded BLAS (see :func:`_one_blas_thread`)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if getattr(_NESTED, "inside", False):  # in a decorated call of this thread already
            return func(*args, **kwargs)
        with _one_blas_thread():
            _NESTED.inside = True
            try:
                return func(*args, **kwargs)
            finally:
                _NESTED.inside = False

    return wrapper


#: the threadpoolctl controller, found once (finding the BLAS libraries of the process takes a
#: few milliseconds, as long as a small fit)
_BLAS: dict[str, Any] = {"controller": None}
_NESTED = threading.local()


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run BLAS single-threaded.

    The products here are tall and skinny (features x few columns) and memory-bound; threaded BLAS
    only adds synchronisation (3-5x slower on shared machines).
    """
    if _BLAS["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return contextlib.nullcontext()
        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"].limit(limits=1, user_api="blas")


_QR_TOL = 1e-7  # LINPACK dqrdc2 tolerance used by R's lm.fit


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

    def __post_init__(self) -> None:
        if not self.coef_names:  # limma's default names of unnamed design columns
            self.coef_names = [f"x{i + 1}" for i in range(self.design.shape[1])]


def residual_sigma(rss: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Residual standard deviations ``sqrt(rss / df)``, NaN where ``df == 0``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(df > 0, np.sqrt(rss / np.where(df > 0, df, 1)), np.nan)


def batched_fit(
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


@single_blas_thread
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

    ``weights`` may be a features x samples matrix (observation weights, limma's matrix weights) or a
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
    # samples x features in C order when y is the transpose of an AnnData's X (the usual case):
    # the complete-data steps then read contiguous memory
    yt = y.T if y.flags.f_contiguous and not y.flags.c_contiguous else None
    for start in range(0, g, chunk_size):
        yc = y[start : start + chunk_size]
        sums = yc.sum(axis=1) if yt is None else yt[:, start : start + chunk_size].sum(axis=0)
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
        # samples x features: the residuals of every chunk in one buffer (a fresh array of a
        # few MB per chunk costs more than the arithmetic)
        res_buf = np.empty((n, min(g, chunk_size))) if yt is not None and p else None
        for start in range(0, g, chunk_size):
            sl = slice(start, min(g, start + chunk_size))
            if res_buf is not None and yt is not None:  # the same steps, transposed
                ytc = yt[:, sl] if sw is None else yt[:, sl] * sw[:, None]
                bt = np.linalg.solve(r, q.T @ ytc)
                coefs[sl] = bt.T
                if df > 0:
                    res = np.matmul(xw, bt, out=res_buf[:, : sl.stop - sl.start])
                    np.subtract(ytc, res, out=res)  # ytc - xw @ bt
                    np.square(res, out=res)
                    ss = np.sum(res, axis=0)
                    ss /= df
                    sigma[sl] = np.sqrt(ss, out=ss)
                continue
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
            b, s, rss, rk, cv = batched_fit(yz, mc, design, want_cov=per_feature_cov)
            nob = ok.sum(axis=1)
            d = (nob - rk).astype(float)
            empty = nob == 0
            b[empty] = np.nan
            s[empty] = np.nan
            d[empty] = 0
            coefs[sl] = b
            su[sl] = s
            dfres[sl] = d
            sigma[sl] = residual_sigma(rss, d)
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
        coef_names=list(coef_names or []),
        cov_per_feature=cov_feat,
    )


# --------------------------------------------------------------------------------------------------
# contrasts.fit
# --------------------------------------------------------------------------------------------------


@dataclass
class ContrastFit:
    """Contrasts of a :class:`LinearFit` (limma's ``MArrayLM`` after ``contrasts.fit``)."""

    coefficients: np.ndarray  # features x contrasts
    stdev_unscaled: np.ndarray
    cov_coefficients: np.ndarray  # contrasts x contrasts


def cov2cor(v: np.ndarray) -> np.ndarray:
    """R's ``cov2cor``: the correlation matrix of a covariance matrix."""
    d = np.sqrt(np.diag(v))
    return v / d[:, None] / d[None, :]


@single_blas_thread
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
    cor = cov2cor(cov)
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
        se = np.square(su) @ np.square(c)
        np.sqrt(se, out=se)
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
