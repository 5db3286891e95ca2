"""Count-aware variance priors: the prior variance follows the number of peptides per protein.

A protein quantified from twenty peptides is measured more precisely than one from a single
peptide. Two ways to let limma's empirical Bayes prior know that:

* :func:`ebayes_count_trend` is R limma's ``eBayes(fit, trend = log(n_peptides))``: the prior
  variance is a smooth function of a numeric covariate instead of the mean intensity. It is the
  engine's :func:`~kratom_omics.tl._limma.ebayes` with ``covariate=`` and agrees with R limma 3.54
  and 3.62 to 1e-8 (``tests/data/limma/make_reference_count_trend.R``).
* :func:`deqms_moderation` is DEqMS's ``spectraCounteBayes`` (Zhu et al. 2020, Mol Cell
  Proteomics 19:1047): a loess of the log residual variances on ``log2(count)`` (span 0.75,
  degree 2, as R's ``loess``), the prior df from the spread of the log variances around that
  curve, and moderated t statistics with ``df_residual + d0`` degrees of freedom. The prior is
  :func:`deqms_prior`; :class:`DEqMSVariancePrior` hands it to the engine's moderation (the
  ``variance_prior`` hook), so in-memory and chunked fits use the same code.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
from scipy import special

from ...errors import DesignError, MissingDependencyError
from .._limma import ContrastFit, EBayesResult, LinearFit, VariancePrior, ebayes

__all__ = [
    "DEqMSPrior",
    "DEqMSResult",
    "DEqMSVariancePrior",
    "check_count_trend",
    "count_covariate",
    "deqms_moderation",
    "deqms_prior",
    "ebayes_count_trend",
]

logger = logging.getLogger("kratom_omics")


def count_covariate(n_peptides: Any, n_features: int, *, source: str = "n_peptides") -> np.ndarray:
    """``log(n_peptides)`` checked: one finite count >= 1 per feature.

    Raises a :class:`~kratom_omics.errors.DesignError` naming the first offending feature
    position when a count is missing, below 1 or the length is wrong.
    """
    counts = np.asarray(n_peptides, dtype=float)
    if counts.shape != (n_features,):
        raise DesignError(
            f"{source} has shape {counts.shape}; expected one peptide count per feature "
            f"({n_features},)."
        )
    bad = ~np.isfinite(counts) | (counts < 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"{source} must be a peptide (or precursor) count >= 1 for every feature; "
            f"{int(bad.sum())} feature(s) have a missing or smaller value (first: position {i}, "
            f"value {float(counts[i])!r}). Drop those features or use method='limma'."
        )
    return np.log(counts)


def _check_spline_knots(covariate: np.ndarray, df_residual: np.ndarray) -> None:
    """Stop where R's ``splines::ns`` fails inside limma's ``fitFDist`` (a knot on the maximum)."""
    ok = np.isfinite(covariate) & (df_residual > 1e-15)
    cov = covariate[ok]
    nok = cov.size
    splinedf = min(1 + (nok >= 3) + (nok >= 6) + (nok >= 30), np.unique(cov).size)
    if splinedf < 2 or splinedf - 2 < 1:
        return
    probs = np.linspace(0, 1, splinedf)[1:-1]
    knots = np.quantile(cov, probs)
    if np.any(knots >= cov.max()):
        counts = np.round(np.exp(cov)).astype(int)
        top = int(counts.max())
        share = float(np.mean(counts == top))
        raise DesignError(
            f"the peptide counts take too few distinct values for limma's spline trend: "
            f"{share:.0%} of the features share the largest count ({top}), so a spline knot falls "
            "on the boundary (R limma stops here with 'Problem with covariate'). Use "
            "method='deqms' (a loess on the counts), legacy=False (limma's lowess trend), or "
            "method='limma'."
        )


def check_count_trend(
    covariate: np.ndarray, df_residual: np.ndarray, *, legacy: bool | None = None
) -> None:
    """The checks of a count trend before the prior is fitted: one covariate per feature and, on
    the moment-matching path of limma's ``fitFDist``, spline knots inside the covariate's range."""
    if covariate.shape != df_residual.shape:
        raise DesignError(
            f"the trend covariate has shape {covariate.shape}; expected one value per feature "
            f"{df_residual.shape}."
        )
    path_legacy = legacy
    if path_legacy is None:
        dfp = df_residual[df_residual > 0]
        path_legacy = bool(dfp.size and dfp.min() == dfp.max())
    if path_legacy:
        _check_spline_knots(covariate, df_residual)


def ebayes_count_trend(
    cfit: ContrastFit,
    fit: LinearFit,
    covariate: np.ndarray,
    *,
    robust: bool = False,
    legacy: bool | None = None,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
) -> EBayesResult:
    """limma's ``eBayes(fit, trend = covariate)`` with a numeric covariate (e.g. log peptide count).

    The prior variance follows ``covariate``: a natural spline of it on the moment-matching
    (legacy) path, limma's weighted lowess on the unequal-df path of limma >= 3.62. Everything else
    (moderated t, B, the moderated F) is the engine's ``ebayes``. ``fit.amean`` is not changed.
    """
    covariate = np.asarray(covariate, dtype=float)
    check_count_trend(covariate, fit.df_residual, legacy=legacy)
    return ebayes(
        cfit,
        fit,
        proportion=proportion,
        stdev_coef_lim=stdev_coef_lim,
        robust=robust,
        winsor_tail_p=winsor_tail_p,
        legacy=legacy,
        covariate=covariate,
    )


# --------------------------------------------------------------------------------------------------
# DEqMS
# --------------------------------------------------------------------------------------------------


def _r_loess_fitted(x: np.ndarray, y: np.ndarray, span: float) -> tuple[np.ndarray, Any]:
    """R's ``loess(y ~ x, span)`` (degree 2, gaussian, interpolated surface): fitted values.

    scikit-misc wraps the netlib ``dloess`` code that R's ``loess`` is built on; fitted values agree
    with R to ~1e-14.
    """
    try:
        from skmisc.loess import loess
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "method='deqms' needs scikit-misc (R's loess); install it with "
            "pip install 'kratom-omics[methods]'."
        ) from err
    model = loess(
        x, y, span=span, degree=2, family="gaussian", surface="interpolate",
        statistics="approximate",
    )  # fmt: skip
    try:
        model.fit()
    except (ValueError, RuntimeError) as err:
        raise DesignError(
            f"DEqMS's loess of the log variances on log2(peptide count) could not be fit ({err}); "
            "the counts need more distinct values. Use method='count_trend' or method='limma'."
        ) from err
    return np.asarray(model.outputs.fitted_values, dtype=float), model


def _deqms_prior_df(mean_myfct: float, numgenes: int) -> float:
    """DEqMS's prior df: the grid point d0 = 0.1, 0.2, ... closest to solving
    ``trigamma(d0/2) = mean_myfct``, searched upwards until the distance grows (at most
    ``numgenes``)."""
    grid = np.arange(1, numgenes * 10 + 1) / 10
    dist = np.abs(mean_myfct - special.polygamma(1, grid / 2))
    # the search stops at the first i (1-based, i > 2) with dist[i-2] < dist[i-1]
    rising = np.flatnonzero(dist[:-1] < dist[1:])
    stop = int(rising[0]) + 2 if rising.size else grid.size
    return float(grid[int(np.argmin(dist[:stop]))])


@dataclasses.dataclass
class DEqMSPrior:
    """DEqMS's variance prior (:func:`deqms_prior`)."""

    df_prior: float  # ``sca.dfprior``: d0, on a grid of 0.1
    s2_prior: np.ndarray  # ``sca.priorvar``, per feature (NaN where df_residual == 0)
    loess_fitted: np.ndarray  # the loess of log(sigma^2) on log2(count)
    n_features: int  # features with a residual variance (the loess is fit on them)


def deqms_prior(
    var: np.ndarray, df_residual: np.ndarray, n_peptides: Any, *, span: float = 0.75
) -> DEqMSPrior:
    """DEqMS's prior (``spectraCounteBayes(fit, fit.method = "loess")``) from the residual
    variances ``var`` (``sigma^2``) and residual df of all features.

    Algorithm (DEqMS 1.x; features with ``df_residual = 0`` have no variance and get NaN):

    1. ``logVAR = log(sigma^2)``; a loess ``logVAR ~ log2(count)`` (span 0.75, degree 2) gives
       ``pred`` (fitted on the features with a finite ``logVAR``, predicted for the others);
    2. ``e = logVAR - digamma(df/2) + log(df/2)`` and ``epred`` likewise from ``pred``;
    3. ``m = mean((e - epred)^2 - trigamma(df/2))``; the prior df ``d0`` is the grid value
       (steps of 0.1) closest to solving ``trigamma(d0/2) = m`` (:func:`_deqms_prior_df`);
    4. ``s0^2 = exp(epred + digamma(d0/2) - log(d0/2))`` per feature.
    """
    var = np.asarray(var, dtype=float)
    dfres = np.asarray(df_residual, dtype=float)
    counts = np.asarray(n_peptides, dtype=float)
    count_covariate(counts, var.size)  # validation only
    with np.errstate(divide="ignore", invalid="ignore"):
        logvar = np.log(var)
    has_var = (dfres > 0) & np.isfinite(logvar)
    if int(has_var.sum()) < 3:
        raise DesignError(
            "DEqMS needs residual variances of at least 3 features; add replicates or use "
            "method='limma'."
        )
    x = np.log2(counts)
    if np.unique(x[has_var]).size < 3:
        raise DesignError(
            f"n_peptides takes {np.unique(x[has_var]).size} distinct value(s) among the features "
            "with a variance; DEqMS's loess on the counts needs at least 3. Use "
            "method='count_trend' or method='limma'."
        )
    fitted, model = _r_loess_fitted(x[has_var], logvar[has_var], span)
    pred = np.full(var.size, np.nan)
    pred[has_var] = fitted
    # features without a variance: the curve where it is defined (as R's predict.loess, NA outside)
    lo, hi = float(x[has_var].min()), float(x[has_var].max())
    rest = ~has_var & (x >= lo) & (x <= hi)
    if rest.any():
        pred[rest] = np.asarray(model.predict(x[rest], stderror=False).values, dtype=float)
    df = np.where(dfres > 0, dfres, np.nan)
    with np.errstate(invalid="ignore"):
        shift = -special.digamma(df / 2) + np.log(df / 2)
        e = logvar + shift
        epred = pred + shift
        myfct = (e - epred) ** 2 - special.polygamma(1, df / 2)
    mean_myfct = float(np.nanmean(myfct[has_var]))
    n_var = int(has_var.sum())
    d0 = _deqms_prior_df(mean_myfct, n_var)
    s02 = np.exp(epred + special.digamma(d0 / 2) - math.log(d0 / 2))
    logger.info("DEqMS prior: d0 = %.1f from %d features", d0, n_var)
    return DEqMSPrior(df_prior=d0, s2_prior=s02, loess_fitted=pred, n_features=n_var)


class DEqMSVariancePrior:
    """DEqMS's prior as the engine's ``variance_prior`` hook (see
    :func:`kratom_omics.tl._limma.moderate`).

    Called with the residual variances and df of all features, it fits :func:`deqms_prior` and
    returns the engine's :class:`~kratom_omics.tl._limma.VariancePrior`: posterior variances
    ``(d0 s0^2 + df sigma^2) / (d0 + df)``, ``df + d0`` degrees of freedom not capped at the pooled
    residual df (unlike limma's eBayes) and no B statistic (DEqMS computes none). The fitted prior
    is kept in :attr:`fitted`.
    """

    def __init__(self, n_peptides: Any, *, span: float = 0.75) -> None:
        self.n_peptides = np.asarray(n_peptides, dtype=float)
        self.span = span
        self.fitted: DEqMSPrior | None = None

    def __call__(self, var: np.ndarray, df_residual: np.ndarray) -> VariancePrior:
        self.fitted = deqms_prior(var, df_residual, self.n_peptides, span=self.span)
        return VariancePrior(
            df_prior=self.fitted.df_prior,
            s2_prior=self.fitted.s2_prior,
            df_cap=math.inf,
            b_statistic=False,
        )


@dataclasses.dataclass
class DEqMSResult:
    """Output of :func:`deqms_moderation` (DEqMS's ``sca.*`` fields)."""

    t: np.ndarray  # features x contrasts, ``sca.t``
    p_value: np.ndarray  # ``sca.p``
    df_total: np.ndarray  # ``df_residual + d0``
    s2_post: np.ndarray  # ``sca.postvar``
    s2_prior: np.ndarray  # ``sca.priorvar``
    df_prior: float  # ``sca.dfprior``
    loess_fitted: np.ndarray  # the loess of log(sigma^2) on log2(count)
    f_stat: np.ndarray
    f_df1: int
    f_p_value: np.ndarray


def deqms_moderation(
    cfit: ContrastFit, fit: LinearFit, n_peptides: Any, *, span: float = 0.75
) -> DEqMSResult:
    """DEqMS's ``spectraCounteBayes(fit, fit.method = "loess")`` on a contrast fit.

    The prior is :func:`deqms_prior`; moderated t statistics are ``coef / stdev_unscaled /
    sqrt(post)`` with ``df + d0`` degrees of freedom, through the engine's
    :func:`~kratom_omics.tl._limma.ebayes` with the :class:`DEqMSVariancePrior` hook. p-values
    are ``2 * pt(-|t|, df + d0)`` (DEqMS writes ``2 * (1 - pt(|t|, ...))``, the same number up to
    rounding for p > 1e-12). The moderated F of all contrasts uses the same posterior variances
    and limma's correlation matrix (DEqMS computes none). Features without residual df are left
    untested (NaN), as in DEqMS.
    """
    prior = DEqMSVariancePrior(n_peptides, span=span)
    eb = ebayes(cfit, fit, variance_prior=prior)
    fitted = prior.fitted
    if fitted is None:  # pragma: no cover - the hook always runs
        raise DesignError("the DEqMS prior was not fitted.")
    return DEqMSResult(
        t=eb.t,
        p_value=eb.p_value,
        df_total=eb.df_total,
        s2_post=eb.s2_post,
        s2_prior=fitted.s2_prior,
        df_prior=fitted.df_prior,
        loess_fitted=fitted.loess_fitted,
        f_stat=eb.f_stat,
        f_df1=eb.f_df1,
        f_p_value=eb.f_p_value,
    )
