"""Repeated measures: limma's ``duplicateCorrelation`` and the blocked (GLS) ``lmFit``.

Samples of the same subject (``block``) are correlated. limma estimates one consensus
within-block correlation from per-feature REML variance components (statmod's ``mixedModel2Fit``:
the residual space of the design is rotated by the singular vectors of the projected block
indicators, and the squared rotated residuals are fitted by a gamma GLM with identity link
``E[dy] = s2_residual + d * s2_block``), clips each feature's ``rho = s2_block / (s2_residual +
s2_block)`` to ``[1 / (1 - max block size) + 0.01, 0.99]`` and averages ``atanh(rho)`` with a
15 % trimmed mean. The model is then fit by generalised least squares with a compound-symmetry
correlation within blocks (limma's ``gls.series``).

Features sharing a missing-value pattern share their design, so all steps are computed once per
pattern and vectorised over the features of the pattern (no loop over features).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, check_obs_key, get_matrix, record_provenance
from .._design import Design, build_design
from ..errors import DesignError, KratomOmicsWarning
from ._limma import LinearFit, batched_fit
from ._limma._fit import residual_sigma

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "DupCorResult",
    "block_labels",
    "duplicate_correlation",
    "duplicate_correlation_matrix",
    "gls_fit",
]

logger = logging.getLogger("kratom_omics")

_SVD_RTOL = 1e-7


@dataclass
class DupCorResult:
    """Consensus correlation and the per-feature atanh correlations (NaN where not estimable)."""

    consensus: float
    atanh_correlations: np.ndarray
    reason: str = ""


def _block_codes(block: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(block).astype(str), return_inverse=True)
    codes = np.asarray(codes).reshape(-1)
    return codes, int(codes.max()) + 1


def _null_basis(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the residual space of ``x`` (n x (n - rank))."""
    n = x.shape[0]
    if x.shape[1] == 0:
        return np.eye(n)
    u, s, _ = np.linalg.svd(x, full_matrices=True)
    rank = int(np.sum(s > _SVD_RTOL * s[0])) if s.size and s[0] > 0 else 0
    return u[:, rank:]


def _gamma_deviance(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """statmod's ``deviance.gamma`` row by row (Inf where any mu < 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        both0 = (y < 1e-15) & (mu < 1e-15)
        term = np.where(both0, 0.0, (y - mu) / mu - np.log(y / mu))
        dev = 2 * term.sum(axis=1)
    return np.where(np.any(mu < 0, axis=1), np.inf, dev)


def _glmgam_fit(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, *, tol: float = 1e-6, maxit: int = 20
) -> np.ndarray:
    """statmod's ``glmgam.fit`` (gamma GLM, identity link, Levenberg damping) for every row of ``y``.

    ``x`` is m x 2 (shared) or rows x m x 2 (one design per row); ``y`` is rows x m, ``start``
    rows x 2. Steps, damping and stopping rules follow statmod so that the coefficients agree with
    R to rounding.
    """
    nrow = y.shape[0]
    if x.ndim == 2:
        x = np.broadcast_to(x, (nrow, *x.shape))
    p = x.shape[2]
    beta = start.copy()
    mu = np.einsum("rj,rmj->rm", beta, x)
    dev = _gamma_deviance(y, mu)
    lam = np.zeros(nrow)
    active = np.ones(nrow, dtype=bool)
    eye = np.eye(p)
    it = 0
    while active.any():
        it += 1
        ia = np.flatnonzero(active)
        mua = mu[ia]
        v = mua**2
        v = np.maximum(v, v.max(axis=1, keepdims=True) / 1e3)
        xa = x[ia]
        xvx = np.einsum("rmi,rm,rmj->rij", xa, 1.0 / v, xa)
        diag = np.einsum("rii->ri", xvx)
        maxinfo = diag.max(axis=1)
        if it == 1:
            lam[ia] = np.abs(diag.mean(axis=1)) / p
        dl = np.einsum("rm,rmi->ri", (y[ia] - mua) / v, xa)
        betaold = beta[ia].copy()
        devold = dev[ia].copy()
        lev = np.zeros(ia.size, dtype=np.int64)
        pending = np.ones(ia.size, dtype=bool)
        new_beta = betaold.copy()
        new_mu = mua.copy()
        new_dev = devold.copy()
        dbeta = np.zeros_like(betaold)
        stuck = np.zeros(ia.size, dtype=bool)
        while pending.any():
            ip = np.flatnonzero(pending)
            lev[ip] += 1
            a = xvx[ip] + lam[ia[ip], None, None] * eye
            db = np.linalg.solve(a, dl[ip][:, :, None])[:, :, 0]
            b = betaold[ip] + db
            m = np.einsum("rj,rmj->rm", b, xa[ip])
            d = _gamma_deviance(y[ia[ip]], m)
            dbeta[ip] = db
            new_beta[ip] = b
            new_mu[ip] = m
            new_dev[ip] = d
            with np.errstate(divide="ignore", invalid="ignore"):
                ok = (d <= devold[ip]) | (d / m.max(axis=1) < 1e-15)
            too_damped = ~ok & (lam[ia[ip]] / maxinfo[ip] > 1e15)
            new_beta[ip[too_damped]] = betaold[ip[too_damped]]
            stuck[ip[too_damped]] = True
            grow = ~ok & ~too_damped
            lam[ia[ip[grow]]] *= 2
            pending[ip[~grow]] = False
        beta[ia] = new_beta
        mu[ia] = new_mu
        dev[ia] = new_dev
        halve = (lev == 1) & ~stuck
        lam[ia[halve]] /= 10
        with np.errstate(divide="ignore", invalid="ignore"):
            small = (np.sum(dl * dbeta, axis=1) < tol) | (new_dev / new_mu.max(axis=1) < 1e-15)
        done = stuck | small | (it > maxit)
        active[ia[done]] = False
    return beta


_GlmJob = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _pattern_rho(
    y: np.ndarray, x: np.ndarray, codes: np.ndarray, nbeta: int
) -> tuple[np.ndarray, _GlmJob | None]:
    """Per-feature ``rho`` of ``mixedModel2Fit(only.varcomp=TRUE)`` for rows of ``y`` (one pattern).

    Returns the ``rho`` known without the gamma GLM and, when statmod refines the variance
    components by ``glmgam.fit``, the job ``(row indices, dx, dy, start)`` for it (run in batches
    over patterns by :func:`duplicate_correlation_matrix`).
    """
    nfeat, nobs = y.shape
    out = np.full(nfeat, np.nan)
    present, local = np.unique(codes, return_inverse=True)
    nblocks = present.size
    if not (nobs > nbeta + 2 and 1 < nblocks < nobs - 1):
        return out, None
    z = (np.asarray(local).reshape(-1)[:, None] == np.arange(nblocks)[None, :]).astype(float)
    q2 = _null_basis(x)
    mq = q2.shape[1]
    if mq == 0:
        return out, None
    qtz = q2.T @ z
    u, s, _ = np.linalg.svd(qtz, full_matrices=True)
    d = np.zeros(mq)
    d[: s.size] = s**2
    dy = (y @ q2 @ u) ** 2  # rows x mq
    dx = np.column_stack([np.ones(mq), d])
    # lm.fit(dx, dy): OLS start; a column of zeros (d all 0) is not estimable
    if np.all(np.abs(d) < 1e-15) or np.linalg.matrix_rank(dx) < 2:
        return out, None
    coef, *_ = np.linalg.lstsq(dx, dy.T, rcond=None)
    coef = coef.T  # rows x 2
    fitted = coef @ dx.T
    job: _GlmJob | None = None
    varcomp = coef
    if mq > 2 and np.sum(np.abs(d) > 1e-15) > 1 and np.var(d, ddof=1) > 1e-15:
        start = np.where(
            np.all(fitted >= 0, axis=1)[:, None],
            coef,
            np.column_stack([dy.mean(axis=1), np.zeros(nfeat)]),
        )
        varcomp = np.full_like(coef, np.nan)  # 0/0 for all-zero dy (statmod: coefficients 0)
        nonzero = np.flatnonzero(dy.max(axis=1) > 0)
        if nonzero.size:
            job = (nonzero, dx, dy[nonzero], start[nonzero])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = varcomp[:, 1] / varcomp.sum(axis=1)
    return out, job


def _patterns(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique observed-value patterns (rows of ``ok``) and the pattern index of every row."""
    pats, inverse = np.unique(ok, axis=0, return_inverse=True)
    return pats, np.asarray(inverse).reshape(-1)


def _r_trimmed_mean(x: np.ndarray, trim: float) -> float:
    """R's ``mean(x, trim=, na.rm=TRUE)``."""
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return float("nan")
    if trim >= 0.5:
        return float(np.median(x))
    lo = int(np.floor(n * trim))
    return float(np.mean(x[lo : n - lo]))


def duplicate_correlation_matrix(
    y: np.ndarray, design: np.ndarray, block: np.ndarray, *, trim: float = 0.15
) -> DupCorResult:
    """limma's ``duplicateCorrelation(y, design, block=block, trim=trim)``.

    ``y`` is features x samples (NaN = missing), ``design`` samples x coefficients.
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    g, _n = y.shape
    codes, nblk = _block_codes(block)
    sizes = np.bincount(codes, minlength=nblk)
    if int(sizes.max()) == 1:
        msg = "blocks all of size 1: within-block correlation set to 0"
        warnings.warn(msg, KratomOmicsWarning, stacklevel=3)
        return DupCorResult(0.0, np.zeros(g), msg)
    zb = (codes[:, None] == np.arange(1, nblk)[None, :]).astype(float)  # model.matrix(~factor)[,-1]
    q2 = _null_basis(design)
    if q2.shape[1] == 0 or np.max(np.abs(q2.T @ zb)) < 1e-8:
        msg = "block factor already encoded in the design: within-block correlation set to 0"
        warnings.warn(msg, KratomOmicsWarning, stacklevel=3)
        return DupCorResult(0.0, np.zeros(g), msg)
    nbeta = design.shape[1]
    rho = np.full(g, np.nan)
    ok = np.isfinite(y)
    pats, inv = _patterns(ok)
    jobs: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for i, pat in enumerate(pats):  # one per missing-value pattern
        rows = np.flatnonzero(inv == i)
        rho[rows], job = _pattern_rho(y[np.ix_(rows, pat)], design[pat], codes[pat], nbeta)
        if job is not None:
            idx, dx, dy, start = job
            jobs.setdefault(dx.shape[0], []).append((rows[idx], dx, dy, start))
    for group in jobs.values():  # one gamma GLM fit per residual dimension, over all patterns
        rows = np.concatenate([j[0] for j in group])
        dxs = np.concatenate([np.broadcast_to(j[1], (j[0].size, *j[1].shape)) for j in group])
        varcomp = _glmgam_fit(
            dxs, np.concatenate([j[2] for j in group]), np.concatenate([j[3] for j in group])
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            rho[rows] = varcomp[:, 1] / varcomp.sum(axis=1)
    rhomax = 0.99
    rhomin = 1.0 / (1.0 - float(sizes.max())) + 0.01
    with np.errstate(invalid="ignore"):
        rho = np.where(rho < rhomin, rhomin, rho)
        rho = np.where(rho > rhomax, rhomax, rho)
    arho = np.arctanh(rho)
    consensus = float(np.tanh(_r_trimmed_mean(arho, trim)))
    if not np.isfinite(consensus):
        raise DesignError(
            "no feature allows a within-block correlation estimate (each needs more observed "
            "samples than design columns + 2 and at least two blocks); use block as a fixed "
            "covariate instead."
        )
    return DupCorResult(consensus, arho)


def gls_fit(
    y: np.ndarray,
    design: np.ndarray,
    block: np.ndarray,
    correlation: float,
    *,
    coef_names: list[str] | None = None,
) -> LinearFit:
    """limma's ``lmFit(y, design, block=block, correlation=correlation)`` (``gls.series``).

    Each feature is whitened by the Cholesky factor of the compound-symmetry correlation of its
    observed samples and fit by least squares (aliased columns dropped as R's ``lm.fit`` does).
    """
    y = np.asarray(y, dtype=float)
    design = np.asarray(design, dtype=float)
    if not np.isfinite(correlation) or abs(correlation) >= 1:
        raise DesignError(
            f"correlation={correlation!r} must lie strictly between -1 and 1 (the model is "
            "degenerate otherwise)."
        )
    g, _n = y.shape
    p = design.shape[1]
    codes, _ = _block_codes(block)
    same = codes[:, None] == codes[None, :]
    cormatrix = np.where(same, correlation, 0.0)
    np.fill_diagonal(cormatrix, 1.0)
    coefs = np.full((g, p), np.nan)
    su = np.full((g, p), np.nan)
    sigma = np.full(g, np.nan)
    dfres = np.zeros(g)
    ok = np.isfinite(y)
    n_obs = ok.sum(axis=1).astype(np.int64)
    pats, inv = _patterns(ok)
    for i, pat in enumerate(pats):  # one per missing-value pattern
        rows = np.flatnonzero(inv == i)
        nob = int(pat.sum())
        if nob == 0:
            continue
        chol = np.linalg.cholesky(cormatrix[np.ix_(pat, pat)])
        xw = np.linalg.solve(chol, design[pat])
        yw = np.linalg.solve(chol, y[np.ix_(rows, pat)].T).T
        b, s, rss, rk, _ = batched_fit(yw, np.ones_like(yw), xw)
        coefs[rows] = b
        su[rows] = s
        d = (nob - rk).astype(float)
        dfres[rows] = d
        sigma[rows] = residual_sigma(rss, d)
    chol = np.linalg.cholesky(cormatrix)
    xw = np.linalg.solve(chol, design)
    cov = np.linalg.inv(xw.T @ xw)
    cov = (cov + cov.T) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        amean = np.where(ok, y, 0.0).sum(axis=1) / n_obs
    # fields in LinearFit's order: coefficients, stdev_unscaled, sigma, df_residual, amean, n_obs,
    # cov_coefficients (of the whitened complete design), design, coef_names
    return LinearFit(coefs, su, sigma, dfres, amean, n_obs, cov, design, list(coef_names or []))


def block_labels(adata: AnnData, block: str) -> np.ndarray:
    """The ``adata.obs[block]`` labels as strings; an error for a missing column or missing labels."""
    if not isinstance(block, str):
        raise DesignError(f"block must be the name of an adata.obs column; got {block!r}.")
    check_obs_key(adata, block, argument="block")
    col = adata.obs[block]
    if col.isna().any():
        bad = list(adata.obs_names[col.isna().to_numpy()][:5])
        raise DesignError(
            f"adata.obs[{block!r}] is missing for {int(col.isna().sum())} sample(s) {bad}; "
            "give every sample a block label (a subject seen once is its own block)."
        )
    labels = col.astype(str).to_numpy()
    if len(set(labels)) < 2:
        raise DesignError(
            f"block={block!r} has {len(set(labels))} level(s) {sorted(set(labels))}; a "
            "within-block correlation needs at least two blocks (e.g. the subjects): give "
            "each animal its own label, or leave block unset."
        )
    return labels


def blocked_fit(
    adata: AnnData,
    y: np.ndarray,
    design: Design,
    block: str,
    correlation: float | None,
    *,
    weights: str | np.ndarray | None,
    exact_se: bool,
) -> tuple[LinearFit, dict[str, Any]]:
    """GLS fit with a within-``block`` correlation (estimated by duplicateCorrelation if None)."""
    if weights is not None or exact_se:
        raise DesignError(
            "block= cannot be combined with weights= or exact_se=True; drop them or put the "
            "subject in covariates= as a fixed effect."
        )
    labels = block_labels(adata, block)
    if correlation is None:
        res = duplicate_correlation_matrix(y, design.matrix, labels)
        rho = res.consensus
    else:
        if (
            not isinstance(correlation, (int, float))
            or isinstance(correlation, bool)
            or not -1 < correlation < 1
        ):
            raise DesignError(
                f"correlation must be a number strictly between -1 and 1; got {correlation!r}."
            )
        rho = float(correlation)
    fit = gls_fit(y, design.matrix, labels, rho, coef_names=design.columns)
    logger.info("within-%s correlation %.6g", block, rho)
    return fit, {"correlation": rho, "correlation_estimated": correlation is None}


def duplicate_correlation(
    adata: AnnData,
    block: str = "subject",
    groupby: str | None = "phase",
    *,
    covariates: Sequence[str] = (),
    formula: str | None = None,
    layer: str | None = None,
    trim: float = 0.15,
    key_added: str = "duplicate_correlation",
) -> None:
    """Consensus within-block correlation of repeated measures (limma's ``duplicateCorrelation``).

    Each feature's variance components (residual and block) are estimated by REML on the design
    ``~ 0 + groupby + covariates`` (or ``formula``) exactly as statmod's ``mixedModel2Fit``; the
    per-feature correlations are clipped to ``[1/(1 - largest block) + 0.01, 0.99]`` and combined by
    a trimmed mean on the ``atanh`` scale. :func:`differential` with ``block=`` does this itself;
    call this function to inspect the correlations or reuse the consensus (``correlation=``).

    Parameters
    ----------
    adata
        Samples x features, log2 scale, NaN for missing values.
    block
        ``adata.obs`` column of the repeated unit (``"subject"``).
    groupby
        Column of ``adata.obs`` with the groups of the design.
    covariates
        Further ``.obs`` columns of the design (as in :func:`differential`).
    formula
        A formula used instead of ``groupby`` + ``covariates``.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    trim
        Fraction trimmed from each end before averaging (limma's ``trim``, default 0.15).
    key_added
        Key of ``adata.uns`` receiving the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]``: ``"params"`` (the call, ``consensus_correlation`` and
    ``n_estimated``, the number of features with an estimate) and ``"table"``, a DataFrame with one
    row per feature: ``feature, correlation, atanh_correlation`` (NaN where the feature has too few
    observations: at most design columns + 2, one block, or every block a single sample).
    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    check_key_added(key_added)
    if not isinstance(trim, (int, float)) or isinstance(trim, bool) or not 0 <= trim <= 0.5:
        raise DesignError(f"trim must be a number between 0 and 0.5; got {trim!r}.")
    if isinstance(covariates, str):
        covariates = (covariates,)
    labels = block_labels(adata, block)
    if formula is None and groupby is not None:
        check_obs_key(adata, groupby)
    design = build_design(adata.obs, groupby, covariates=list(covariates), formula=formula)
    y = get_matrix(adata, layer).T
    res = duplicate_correlation_matrix(y, design.matrix, labels, trim=float(trim))
    params: dict[str, Any] = {
        "block": block,
        "groupby": groupby if groupby is not None else "",
        "covariates": list(covariates),
        "formula": formula if formula is not None else "",
        "design_formula": design.formula,
        "layer": layer if layer is not None else "",
        "trim": float(trim),
        "consensus_correlation": res.consensus,
        "n_estimated": int(np.isfinite(res.atanh_correlations).sum()),
        "note": res.reason,
    }
    adata.uns[key_added] = {
        "params": params,
        "table": pd.DataFrame(
            {
                "feature": adata.var_names.astype(str).to_numpy(),
                "correlation": np.tanh(res.atanh_correlations),
                "atanh_correlation": res.atanh_correlations,
            }
        ),
    }
    logger.info(
        "duplicate_correlation: consensus %.6g from %d feature(s)",
        res.consensus,
        params["n_estimated"],
    )
    record_provenance(adata, "kratom_omics.tl.duplicate_correlation", params)
