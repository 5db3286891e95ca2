"""``kom.tl.timecourse``: withdrawal time courses with spline or polynomial terms.

The withdrawal samples are modelled as a smooth function of their time point (a natural cubic
spline, as R's ``splines::ns``, or orthogonal polynomials, as R's ``poly``), the other groups
(control, use) by their means::

    y ~ 0 + control + use + withdrawal + withdrawal:basis_1(time) + ... + withdrawal:basis_df(time)

(+ covariates). The model is fit with limma's ``lmFit`` (or the blocked GLS fit with ``block=``)
and moderated by ``eBayes``; every test below uses these moderated variances.

* ``f_table``: moderated F of the ``df`` time coefficients, "does the level change at all over
  the withdrawal time course?" (limma's F on a set of coefficients).
* ``table``: moderated t of named contrasts of the fitted withdrawal curve: ``withdrawal -
  control`` and ``withdrawal - use`` (the curve averaged over the observed time points: the
  withdrawal effect, and "not recovered" vs control), and ``withdrawal[t] - control`` at every
  time point ``t``.
* ``recovery``: an equivalence test (two one-sided moderated t tests, TOST) of the last time point
  against control: H0 ``|withdrawal[last] - control| >= margin`` vs H1 ``|...| < margin``. A small
  p-value is evidence that the feature has returned to within ``margin`` (log2) of control; a large
  one means recovery is not shown (still different, or too noisy to tell).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, check_obs_key, gene_index, get_matrix, record_provenance
from .._design import Design, build_design
from .._smooth import ns_basis as r_ns
from ..errors import DesignError
from ._detection import side_masks, side_totals
from ._dupcor import blocked_fit
from ._limma import ChunkStore, block_summary, contrasts_fit, lm_fit, run, stored_prior
from ._multitest import adjust_pvalues, check_method

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["r_ns", "timecourse"]

logger = logging.getLogger("kratom_omics")

PATTERNS = ("persistent", "transient", "recovering", "delayed", "other", "none")


def _time_basis(t: np.ndarray, knots_from: np.ndarray, basis: str, df: int) -> np.ndarray:
    """``df`` basis columns (no constant) at ``t``; knots/orthogonalisation from ``knots_from``."""
    if basis == "spline":
        return r_ns(t, knots_from, df)
    # orthogonal polynomials on the distinct time points (R's poly on the unique values)
    centre = float(np.mean(knots_from))
    scale = float(np.ptp(knots_from)) or 1.0
    u_fit = (knots_from - centre) / scale
    vander = np.vander(u_fit, df + 1, increasing=True)
    r = np.linalg.qr(vander, mode="r")
    u = (np.asarray(t, float) - centre) / scale
    return (np.vander(u, df + 1, increasing=True) @ np.linalg.inv(r))[:, 1:]


def _check_args(basis: str, df: int | None, margin: float, alpha: float, key_added: str) -> None:
    if basis not in ("spline", "poly"):
        raise DesignError(f"basis={basis!r}; expected 'spline' (natural cubic spline) or 'poly'.")
    if df is not None and (not isinstance(df, int) or isinstance(df, bool) or df < 1):
        raise DesignError(f"df must be a positive integer (number of time terms); got {df!r}.")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin > 0:
        raise DesignError(
            f"recovery_margin must be a positive log2 fold change (e.g. 0.5); got {margin!r}."
        )
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise DesignError(f"alpha must lie between 0 and 1; got {alpha!r}.")
    check_key_added(key_added)


def _time_design(
    adata: AnnData,
    time: str,
    groupby: str,
    withdrawal: str,
    reference: str,
    covariates: Sequence[str],
    basis: str,
    df: int | None,
) -> tuple[Design, np.ndarray, list[str], np.ndarray, int]:
    """Design with the withdrawal curve; its distinct time points, level names, time columns, df."""
    obs = adata.obs
    check_obs_key(adata, groupby)
    check_obs_key(adata, time, argument="time")
    base = build_design(obs, groupby, covariates=list(covariates))
    if withdrawal not in base.levels:
        raise DesignError(
            f"withdrawal={withdrawal!r} is not a level of adata.obs[{groupby!r}]; "
            f"levels: {base.levels}."
        )
    if reference not in base.levels or reference == withdrawal:
        raise DesignError(
            f"reference={reference!r} must be another level of adata.obs[{groupby!r}]; "
            f"levels: {base.levels}."
        )
    is_w = (obs[groupby].astype(str) == withdrawal).to_numpy()
    tvals = pd.to_numeric(obs[time], errors="coerce").to_numpy(dtype=float)
    bad = is_w & ~np.isfinite(tvals)
    if bad.any():
        names = list(obs.index[bad][:5])
        raise DesignError(
            f"adata.obs[{time!r}] is missing or not numeric for {int(bad.sum())} {withdrawal} "
            f"sample(s) {names}; give every {withdrawal} sample a numeric time point "
            "(e.g. days since the last dose)."
        )
    times = np.unique(tvals[is_w])
    if times.size < 2:
        raise DesignError(
            f"adata.obs[{time!r}] has {times.size} distinct time point(s) among the {withdrawal} "
            "samples; a time course needs at least 2."
        )
    max_df = times.size - 1
    if df is None:
        df = min(3, max_df)
    if df > max_df:
        raise DesignError(
            f"df={df} time terms need at least {df + 1} distinct time points; there are "
            f"{times.size} ({list(times)}): use df <= {max_df}."
        )
    b = np.zeros((adata.n_obs, df))
    b[is_w] = _time_basis(tvals[is_w], times, basis, df)
    j = base.levels.index(withdrawal)
    tcols = [f"{withdrawal}:{basis}{i + 1}({time})" for i in range(df)]
    matrix = np.column_stack([base.matrix[:, : j + 1], b, base.matrix[:, j + 1 :]])
    columns = [*base.columns[: j + 1], *tcols, *base.columns[j + 1 :]]
    time_idx = np.arange(j + 1, j + 1 + df)
    vectors = {lv: np.insert(vec, j + 1, np.zeros(df)) for lv, vec in base.level_vectors.items()}
    design = Design(
        matrix=matrix,
        columns=columns,
        levels=list(base.levels),
        level_vectors=vectors,
        formula=f"~ 0 + {groupby} + {withdrawal}:{basis}(time, df={df})"
        + "".join(f" + {c}" for c in covariates),
    )
    return design, times, list(base.levels), time_idx, df


def timecourse(
    adata: AnnData,
    time: str = "timepoint",
    groupby: str = "phase",
    *,
    basis: str = "spline",
    df: int | None = None,
    withdrawal: str = "withdrawal",
    reference: str = "control",
    covariates: Sequence[str] = (),
    block: str | None = None,
    layer: str | None = None,
    trend: bool = False,
    robust: bool = False,
    legacy: bool | None = None,
    fdr: str = "bh",
    recovery_margin: float = 0.5,
    alpha: float = 0.05,
    key_added: str = "timecourse",
) -> None:
    """Withdrawal time course: change over time, withdrawal contrasts and a recovery test.

    The withdrawal samples (``adata.obs[groupby] == withdrawal``) are modelled as a smooth curve
    of ``adata.obs[time]`` (natural cubic spline or orthogonal polynomial with ``df`` terms); the
    other groups (control, use) by their means; moderated statistics as in R limma.

    Parameters
    ----------
    adata
        Samples x features, log2 scale, NaN for missing values.
    time
        Numeric ``.obs`` column with the withdrawal time point (e.g. days); only read for the
        withdrawal samples (control/use samples may have NaN).
    groupby
        ``.obs`` column with the phases.
    basis
        ``"spline"``: natural cubic spline, the columns of R's ``splines::ns(time, df = df)``
        with interior knots at quantiles of the distinct time points (``knots =
        quantile(unique(time), ...)``, boundary knots at their range); ``"poly"``: orthogonal
        polynomial of degree ``df`` on the distinct time points. The design column names say
        which (``withdrawal:spline1(timepoint)``, ...). With missing values, limma's standard
        errors depend on the parametrisation; ``"spline"`` reproduces R limma on ``ns`` exactly.
    df
        Number of time terms (default ``min(3, distinct time points - 1)``; with as many terms as
        time points minus one the curve passes through every time point's mean, and both bases
        give the same fit).
    withdrawal, reference
        Levels of ``groupby``: the time-resolved group and the baseline (``"control"``).
    covariates
        Further ``.obs`` columns of the design (treatment coded / linear).
    block
        ``.obs`` column of the repeated unit (``"subject"``): within-block correlation by limma's
        ``duplicateCorrelation`` and a GLS fit, as in :func:`differential`.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    trend, robust, legacy
        limma ``eBayes`` options (see :func:`differential`; ``legacy=True`` matches limma 3.54).
    fdr
        Multiple-testing method (see :func:`differential`).
    recovery_margin
        Equivalence margin in log2 units for the recovery test (default 0.5, about 1.4-fold).
    alpha
        Adjusted p-value cut-off used for ``recovered`` and ``pattern``.
    key_added
        Key of ``adata.uns`` receiving the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]`` with

    ``"params"``
        the call, ``design_columns``, ``timepoints``, ``correlation`` (with ``block``),
        ``n_curve_not_estimable``: features whose withdrawal values cover fewer than ``df + 1``
        time points; their withdrawal contrasts, F and recovery test are NaN.
    ``"table"``
        long DataFrame as :func:`differential`'s (``feature, contrast, log2fc, se, ci_low,
        ci_high, mean_log2, t, df_total, pvalue, padj, B, s2_post, df_residual, n_obs``) for the
        contrasts ``withdrawal - control``, ``withdrawal - use`` (curve averaged over the time
        points) and ``withdrawal[t] - control`` for every time point ``t``, with the on/off
        detection columns ``n_detected_a, n_a, n_detected_b, n_b, detection_pvalue, reason`` as
        in :func:`differential` (side *a*: the withdrawal samples, all or those at ``t``).
    ``"f_table"``
        ``feature, F, df1, df2, pvalue, padj``: moderated F of the time terms (any change over
        time within withdrawal).
    ``"recovery"``
        one row per feature: ``feature, timepoint, log2fc, se, df_total, margin, pvalue_lower,
        pvalue_upper, pvalue, padj, recovered, pattern``. ``pvalue`` is the TOST equivalence
        p-value ``max(pvalue_lower, pvalue_upper)`` of ``|withdrawal[last] - control| <
        margin``; ``recovered`` is ``padj < alpha``. ``pattern`` summarises the per-time-point
        tests against control (``padj < alpha``): ``persistent`` (different at every time
        point), ``transient`` (only at the first), ``recovering`` (at the first and some later
        but not the last), ``delayed`` (not at the first, at the last), ``none`` (no time point
        and no change over time) or ``other``.
    ``"prior"``
        ``df_prior`` and ``s2_prior``.

    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    _check_args(basis, df, recovery_margin, alpha, key_added)
    fdr = check_method(fdr)
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = list(covariates)
    design, times, levels, time_idx, df = _time_design(
        adata, time, groupby, withdrawal, reference, covariates, basis, df
    )
    p = design.matrix.shape[1]
    wvec = design.level_vectors[withdrawal].copy()
    basis_at = _time_basis(times, times, basis, df)  # distinct time points x df

    def curve(i: int) -> np.ndarray:
        v = wvec.copy()
        v[time_idx] = basis_at[i]
        return v

    curves = [curve(i) for i in range(times.size)]
    mean_curve = np.mean(curves, axis=0)
    ref = design.level_vectors[reference]
    named: list[tuple[str, np.ndarray]] = [(f"{withdrawal} - {reference}", mean_curve - ref)]
    for other in levels:
        if other not in (withdrawal, reference):
            named.append((f"{withdrawal} - {other}", mean_curve - design.level_vectors[other]))
    tlabels = [f"{t:g}" for t in times]
    for lab, v in zip(tlabels, curves, strict=True):
        named.append((f"{withdrawal}[{lab}] - {reference}", v - ref))
    names = [n for n, _ in named]
    cmat = np.column_stack([v for _, v in named])
    ctime = np.zeros((p, df))
    ctime[time_idx, np.arange(df)] = 1.0

    y = get_matrix(adata, layer).T
    rho: float | None = None
    if block is not None:
        fit, block_info = blocked_fit(adata, y, design, block, None, weights=None, exact_se=False)
        rho = float(block_info["correlation"])
    else:
        fit = lm_fit(y, design.matrix, coef_names=design.columns)
    # a feature whose withdrawal values cover fewer than df + 1 time points has no identifiable
    # curve: limma would still report the coefficients that are not aliased, which depend on the
    # parametrisation (e.g. the spline is 0 at the first time point); report NaN instead
    tvals = pd.to_numeric(adata.obs[time], errors="coerce").to_numpy(dtype=float)
    is_w = (adata.obs[groupby].astype(str) == withdrawal).to_numpy()
    seen = np.isfinite(y)
    n_times_seen = np.zeros(y.shape[0], dtype=np.int64)
    for tp in times:  # one per time point
        n_times_seen += seen[:, is_w & (tvals == tp)].any(axis=1)
    unidentified = n_times_seen < df + 1
    if unidentified.any():
        wcols = np.r_[np.flatnonzero(wvec != 0), time_idx]
        fit.coefficients[np.ix_(unidentified, wcols)] = np.nan
        fit.stdev_unscaled[np.ix_(unidentified, wcols)] = np.nan
    # on/off: detection of each side of every contrast (withdrawal samples split by time point)
    cell = adata.obs[groupby].astype(str).to_numpy().astype(object)
    cell[is_w] = [f"{withdrawal}[{t:g}]" for t in tvals[is_w]]
    wcells = [f"{withdrawal}[{lab}]" for lab in tlabels]
    sides: list[tuple[list[str], list[str]] | None] = [
        (wcells, [other])
        for other in [reference, *[o for o in levels if o not in (withdrawal, reference)]]
    ]
    sides += [([c], [reference]) for c in wcells]
    masks = side_masks(pd.Series(cell, index=adata.obs_names), sides)
    # the table's contrasts and, for the F test, the time coefficients: one orchestration
    cfit = contrasts_fit(fit, cmat)
    tfit = contrasts_fit(fit, ctime)
    store = ChunkStore.single(block_summary(fit, cfit, seen, masks, f_cfit=tfit))
    gathered = {"sigma": fit.sigma.copy(), "df_residual": fit.df_residual, "amean": fit.amean}
    result = run(
        store,
        gathered,
        design.matrix,
        cfit.cov_coefficients,
        names,
        adata.var_names,
        gene_index(adata),
        sides,
        side_totals(masks),
        trend=trend,
        robust=robust,
        legacy=legacy,
        lfc=0.0,
        fdr=fdr,
        f_cov=tfit.cov_coefficients,
    )
    table, f_table = result["table"], result["f_table"]
    features = adata.var_names.astype(str).to_numpy()
    g = features.size
    k = len(names)

    # recovery: TOST equivalence of the last time point vs reference
    from scipy import stats

    last = table.iloc[(k - 1) * g : k * g]
    est = last["log2fc"].to_numpy(dtype=float).copy()
    est[np.isinf(est)] = np.nan  # on/off: no estimate
    se = last["se"].to_numpy(dtype=float)
    dft = last["df_total"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_lower = stats.t.sf((est + recovery_margin) / se, dft)  # H0: diff <= -margin
        p_upper = stats.t.cdf((est - recovery_margin) / se, dft)  # H0: diff >= +margin
    p_equiv = np.fmax(p_lower, p_upper)
    p_equiv[~np.isfinite(est) | ~np.isfinite(se)] = np.nan
    padj_equiv, _ = adjust_pvalues(p_equiv, fdr)
    fpadj = f_table["padj"].to_numpy(dtype=float)
    # pattern from the per-time-point tests against the reference
    first_t = names.index(f"{withdrawal}[{tlabels[0]}] - {reference}")
    padj_t = table["padj"].to_numpy(dtype=float).reshape(k, g).T[:, first_t:]
    sig = np.nan_to_num(padj_t, nan=1.0) < alpha
    f_sig = np.nan_to_num(fpadj, nan=1.0) < alpha
    pattern = np.full(g, "other", dtype=object)
    mid = sig[:, 1:-1].any(axis=1) if sig.shape[1] > 2 else np.zeros(g, dtype=bool)
    pattern[sig[:, 0] & ~sig[:, -1] & ~mid] = "transient"
    pattern[sig[:, 0] & ~sig[:, -1] & mid] = "recovering"
    pattern[~sig[:, 0] & sig[:, -1]] = "delayed"
    pattern[sig.all(axis=1)] = "persistent"
    pattern[~sig.any(axis=1) & ~f_sig] = "none"
    recovery = pd.DataFrame(
        {
            "feature": features,
            "timepoint": np.full(g, float(times[-1])),
            "log2fc": est,
            "se": se,
            "df_total": dft,
            "margin": np.full(g, float(recovery_margin)),
            "pvalue_lower": p_lower,
            "pvalue_upper": p_upper,
            "pvalue": p_equiv,
            "padj": padj_equiv,
            "recovered": np.nan_to_num(padj_equiv, nan=1.0) < alpha,
            "pattern": pattern.astype(str),
        }
    )
    if "gene" in adata.var.columns:
        recovery["gene"] = adata.var["gene"].astype(str).to_numpy().astype(object)

    params: dict[str, Any] = {
        "time": time,
        "groupby": groupby,
        "basis": basis,
        "df": int(df),
        "withdrawal": withdrawal,
        "reference": reference,
        "covariates": covariates,
        "block": block if block is not None else "",
        "layer": layer if layer is not None else "",
        "trend": trend,
        "robust": robust,
        "legacy": "" if legacy is None else legacy,
        "fdr": str(fdr).lower(),
        "recovery_margin": float(recovery_margin),
        "alpha": float(alpha),
        "timepoints": [float(t) for t in times],
        "contrasts": list(names),
        "design_formula": design.formula,
        "design_columns": list(design.columns),
        "n_features": int(g),
        "n_samples": int(adata.n_obs),
        "n_curve_not_estimable": int(unidentified.sum()),
    }
    if rho is not None:
        params["correlation"] = float(rho)
    adata.uns[key_added] = {
        "params": params,
        "contrasts": list(names),
        "table": table,
        "f_table": f_table,
        "recovery": recovery,
        "prior": {
            "df_prior": stored_prior(result["df_prior"]),
            "s2_prior": stored_prior(result["s2_prior"]),
        },
    }
    counts = pd.Series(pattern).value_counts()
    logger.info(
        "timecourse: %d features, %d time points (%s, df=%d); %d change over time, %d recovered; %s",
        g,
        times.size,
        basis,
        df,
        int(f_sig.sum()),
        int(recovery["recovered"].sum()),
        ", ".join(f"{c} {counts.get(c, 0)}" for c in PATTERNS),
    )
    record_provenance(adata, "kratom_omics.tl.timecourse", params)
