"""``kom.tl.panel_tests``: classical tests for small panels (western blots, a few histone marks).

One-way ANOVA and Tukey-Kramer HSD are computed for all features at once from group sums (the same
numbers as R's ``aov`` and ``TukeyHSD``). Dunnett's test (``scipy.stats.dunnett``) and the linear
mixed model (``statsmodels`` ``MixedLM``) need their own integration or fit for each feature and run
feature by feature; they are meant for panels of a few to a few hundred features.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, check_obs_key, get_matrix, groups_of, record_provenance
from .._design import quote_name
from ..errors import DesignError, KeyNotFoundError, did_you_mean
from ._multitest import adjust_pvalues

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["PANEL_TESTS", "panel_tests"]

logger = logging.getLogger("kratom_omics")

PANEL_TESTS: tuple[str, ...] = ("anova", "tukey", "dunnett", "mixed")
PAIR_COLUMNS: tuple[str, ...] = (
    "feature",
    "contrast",
    "group",
    "reference",
    "estimate",
    "se",
    "statistic",
    "ci_low",
    "ci_high",
    "pvalue",
    "note",
)
_MANY_FEATURES = 500


def _group_stats(
    y: np.ndarray, member: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per feature and group: counts, means; per feature: within SS, df and number of groups.

    ``y`` is features x samples (NaN = missing), ``member`` samples x groups (0/1).
    """
    obs = ~np.isnan(y)
    has = obs.any(axis=1)
    centre = np.zeros((y.shape[0], 1))  # centring keeps the sums of squares accurate
    centre[has, 0] = np.nanmean(y[has], axis=1)
    yc = np.where(obs, y - centre, 0.0)
    n = obs.astype(float) @ member
    sums = yc @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
        ssw = np.sum(yc * yc, axis=1) - np.nansum(np.where(n > 0, sums * means, 0.0), axis=1)
    k = (n > 0).sum(axis=1)
    df = n.sum(axis=1) - k
    return n, means + centre, np.maximum(ssw, 0.0), df, k


def _anova(
    features: np.ndarray,
    n: np.ndarray,
    means: np.ndarray,
    ssw: np.ndarray,
    df2: np.ndarray,
    k: np.ndarray,
) -> pd.DataFrame:
    from scipy import stats

    ntot = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = np.nansum(np.where(n > 0, n * means, 0.0), axis=1) / ntot
        ssb = np.nansum(np.where(n > 0, n * (means - grand[:, None]) ** 2, 0.0), axis=1)
        df1 = k - 1.0
        ok = (df1 >= 1) & (df2 >= 1)
        f = np.where(ok, (ssb / df1) / (ssw / df2), np.nan)
        p = np.where(ok, stats.f.sf(f, np.maximum(df1, 1), np.maximum(df2, 1)), np.nan)
    p = np.where(ok & (ssw == 0) & (ssb > 0), 0.0, p)
    note = np.where(
        ok,
        "",
        np.char.add(
            np.char.add("too few observations: ", ntot.astype(int).astype(str)),
            np.char.add(" value(s) in ", np.char.add(k.astype(str), " group(s)")),
        ),
    ).astype(object)
    padj, _ = adjust_pvalues(p, "bh")
    return pd.DataFrame(
        {
            "feature": features,
            "F": f,
            "df1": np.where(ok, df1, np.nan),
            "df2": np.where(ok, df2, np.nan),
            "pvalue": p,
            "padj": padj,
            "n_obs": ntot.astype(np.int64),
            "n_groups": k.astype(np.int64),
            "note": note,
        }
    )


def _by_unique_pairs(func: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``func(a, b)`` evaluated once per distinct ``(a, b)`` pair (for slow special functions)."""
    out = np.full(a.shape, np.nan)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return out
    pairs, inverse = np.unique(np.stack([a[ok], b[ok]], axis=1), axis=0, return_inverse=True)
    vals = np.array([func(x, y) for x, y in pairs], dtype=float)
    out[ok] = vals[np.ravel(inverse)]
    return out


def _tukey(
    features: np.ndarray,
    levels: list[str],
    n: np.ndarray,
    means: np.ndarray,
    ssw: np.ndarray,
    df: np.ndarray,
    k: np.ndarray,
    confidence: float,
) -> pd.DataFrame:
    """Tukey-Kramer HSD of every pair of levels, as R's ``TukeyHSD(aov(y ~ group))``."""
    from scipy import stats

    pairs = [(i, j) for i in range(len(levels)) for j in range(i + 1, len(levels))]
    ii = np.array([p[0] for p in pairs], dtype=int)
    jj = np.array([p[1] for p in pairs], dtype=int)
    g = features.size
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.where(df >= 1, ssw / df, np.nan)
        est = means[:, jj] - means[:, ii]
        se = np.sqrt(mse[:, None] * (1.0 / n[:, ii] + 1.0 / n[:, jj]))
        ok = (n[:, ii] > 0) & (n[:, jj] > 0) & (df[:, None] >= 1) & (k[:, None] >= 2)
        est = np.where(ok, est, np.nan)
        se = np.where(ok, se, np.nan)
        # studentized range statistic: the difference over sqrt(MSE / 2 * (1/n_i + 1/n_j))
        qstat = np.abs(est) * np.sqrt(2.0) / se
    kk = np.broadcast_to(k[:, None].astype(float), est.shape)
    dd = np.broadcast_to(df[:, None].astype(float), est.shape)
    kk = np.where(ok, kk, np.nan)
    dd = np.where(ok, dd, np.nan)
    qcrit = _by_unique_pairs(
        lambda kv, dv: stats.studentized_range.ppf(confidence, kv, dv), kk.ravel(), dd.ravel()
    ).reshape(est.shape)
    pval = np.full(est.shape, np.nan)
    fin = ok & np.isfinite(qstat)
    if fin.any():
        pval[fin] = stats.studentized_range.sf(qstat[fin], kk[fin], dd[fin])
    pval = np.where(ok & (se == 0) & (est != 0), 0.0, pval)
    pval = np.where(ok & (se == 0) & (est == 0), 1.0, pval)
    lv = np.array(levels, dtype=object)
    note = np.where(ok, "", "too few observations in a group or no residual df").astype(object)
    return pd.DataFrame(
        {
            "feature": np.repeat(features, len(pairs)),
            "contrast": np.tile(
                np.array(
                    [f"{quote_name(levels[j])} - {quote_name(levels[i])}" for i, j in pairs],
                    dtype=object,
                ),
                g,
            ),
            "group": np.tile(lv[jj], g),
            "reference": np.tile(lv[ii], g),
            "estimate": est.ravel(),
            "se": se.ravel(),
            "statistic": qstat.ravel(),
            "ci_low": (est - qcrit / np.sqrt(2.0) * se).ravel(),
            "ci_high": (est + qcrit / np.sqrt(2.0) * se).ravel(),
            "pvalue": np.clip(pval, 0.0, 1.0).ravel(),
            "note": note.ravel(),
        },
        columns=list(PAIR_COLUMNS),
    )


def _dunnett(
    features: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    levels: list[str],
    control: str,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    """Dunnett's many-to-one test (``scipy.stats.dunnett``), one feature at a time."""
    from scipy import stats

    ci = levels.index(control)
    others = [i for i in range(len(levels)) if i != ci]
    rows: list[dict[str, Any]] = []
    for f, row in zip(features, y, strict=True):
        obs = ~np.isnan(row)
        samples = {i: row[obs & (codes == i)] for i in range(len(levels))}
        present = [i for i in others if samples[i].size > 0]
        n_tot = sum(samples[i].size for i in [ci, *present])
        df = n_tot - (len(present) + 1)
        result = None
        note = ""
        if samples[ci].size == 0:
            note = f"no observed value in the control group {control!r}"
        elif not present:
            note = "no observed value outside the control group"
        elif df < 1:
            note = f"too few observations: {n_tot} value(s) in {len(present) + 1} group(s)"
        else:
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                # scipy's interval search stops within about 1e-3 of the level and then warns
                warnings.filterwarnings(
                    "ignore", message="Computation of the confidence interval did not converge"
                )
                result = stats.dunnett(
                    *[samples[i] for i in present],
                    control=samples[ci],
                    random_state=np.random.default_rng(seed),
                )
                interval = result.confidence_interval(confidence_level=confidence)
        for i in others:
            rec: dict[str, Any] = {
                "feature": f,
                "contrast": f"{quote_name(levels[i])} - {quote_name(control)}",
                "group": levels[i],
                "reference": control,
                "estimate": np.nan,
                "se": np.nan,
                "statistic": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "pvalue": np.nan,
                "note": note or ("no observed value in this group" if i not in present else ""),
            }
            if result is not None and i in present:
                pos = present.index(i)
                est = float(np.mean(samples[i]) - np.mean(samples[ci]))
                stat = float(result.statistic[pos])
                rec.update(
                    estimate=est,
                    se=est / stat if stat != 0 and np.isfinite(stat) else np.nan,
                    statistic=stat,
                    ci_low=float(interval.low[pos]),
                    ci_high=float(interval.high[pos]),
                    pvalue=float(result.pvalue[pos]),
                )
            rows.append(rec)
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


MIXED_COLUMNS: tuple[str, ...] = (
    *PAIR_COLUMNS[:-1],
    "wald_chi2",
    "wald_df",
    "wald_pvalue",
    "subject_var",
    "residual_var",
    "n_obs",
    "n_subjects",
    "converged",
    "note",
)


def mixed_fit(
    values: np.ndarray, codes: np.ndarray, subjects: np.ndarray, n_levels: int, control: int
) -> Any:
    """statsmodels ``MixedLM`` (REML) of ``values ~ group`` (treatment coding, reference
    ``control``) with a random intercept per subject; the observed values only."""
    import statsmodels.api as sm

    present = [i for i in range(n_levels) if i != control and np.any(codes == i)]
    exog = np.column_stack([np.ones(values.size)] + [(codes == i).astype(float) for i in present])
    model = sm.MixedLM(values, exog, groups=subjects)
    return model.fit(reml=True), present


def _mixed(
    features: np.ndarray,
    y: np.ndarray,
    codes: np.ndarray,
    subjects: np.ndarray,
    levels: list[str],
    control: str,
    confidence: float,
) -> pd.DataFrame:
    """Linear mixed model per feature: fixed group effects against ``control``, subject intercept."""
    from scipy import stats

    ci = levels.index(control)
    zcrit = float(stats.norm.ppf(0.5 + confidence / 2.0))
    rows: list[dict[str, Any]] = []
    for f, row in zip(features, y, strict=True):
        obs = ~np.isnan(row)
        vals, cod, subj = row[obs], codes[obs], subjects[obs]
        n_sub = int(np.unique(subj).size)
        k = int(np.unique(cod).size)
        base: dict[str, Any] = {
            "feature": f,
            "reference": control,
            "estimate": np.nan,
            "se": np.nan,
            "statistic": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "pvalue": np.nan,
            "wald_chi2": np.nan,
            "wald_df": np.nan,
            "wald_pvalue": np.nan,
            "subject_var": np.nan,
            "residual_var": np.nan,
            "n_obs": int(vals.size),
            "n_subjects": n_sub,
            "converged": False,
            "note": "",
        }
        fitted: dict[int, dict[str, Any]] = {}
        if not np.any(cod == ci):
            base["note"] = f"no observed value in the control group {control!r}"
        elif k < 2 or vals.size - k < 2 or n_sub < 2:
            base["note"] = (
                f"too few observations: {vals.size} value(s), {k} group(s), {n_sub} subject(s)"
            )
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res, present = mixed_fit(vals, cod, subj, len(levels), ci)
                except (np.linalg.LinAlgError, ValueError) as err:
                    res, present = None, []
                    base["note"] = f"mixed model failed: {err}"
            if res is not None:
                fe = np.asarray(res.fe_params, dtype=float)
                cov = np.asarray(res.cov_params(), dtype=float)[: fe.size, : fe.size]
                se = np.sqrt(np.diag(cov))
                b, v = fe[1:], cov[1:, 1:]
                try:
                    chi2 = float(b @ np.linalg.solve(v, b))
                except np.linalg.LinAlgError:
                    chi2 = np.nan
                base.update(
                    wald_chi2=chi2,
                    wald_df=float(b.size),
                    wald_pvalue=float(stats.chi2.sf(chi2, b.size)),
                    subject_var=float(np.asarray(res.cov_re)[0, 0]),
                    residual_var=float(res.scale),
                    converged=bool(res.converged),
                )
                msgs = sorted({str(w.message).split("\n")[0] for w in caught})
                if msgs:
                    base["note"] = "; ".join(msgs)
                for pos, lv in enumerate(present, start=1):
                    z = fe[pos] / se[pos]
                    fitted[lv] = {
                        "estimate": fe[pos],
                        "se": se[pos],
                        "statistic": z,
                        "ci_low": fe[pos] - zcrit * se[pos],
                        "ci_high": fe[pos] + zcrit * se[pos],
                        "pvalue": float(2.0 * stats.norm.sf(abs(z))),
                    }
        for i in range(len(levels)):
            if i == ci:
                continue
            rec = dict(base)
            rec["contrast"] = f"{quote_name(levels[i])} - {quote_name(control)}"
            rec["group"] = levels[i]
            if i in fitted:
                rec.update(fitted[i])
            elif not rec["note"]:
                rec["note"] = "no observed value in this group"
            rows.append(rec)
    return pd.DataFrame(rows, columns=list(MIXED_COLUMNS))


def panel_tests(
    adata: AnnData,
    groupby: str = "phase",
    *,
    tests: Sequence[str] = ("anova", "tukey", "dunnett"),
    control: str = "control",
    mixed: bool | str = "auto",
    subject: str = "subject",
    confidence: float = 0.95,
    layer: str | None = None,
    seed: int = 0,
    key_added: str = "panel_tests",
) -> None:
    """Classical tests of a small panel: one-way ANOVA, Tukey HSD, Dunnett, mixed model.

    For each feature, missing values are dropped and the groups of ``groupby`` compared:
    one-way ANOVA (``F`` test, as R's ``aov``), Tukey-Kramer HSD for all pairs of groups (as R's
    ``TukeyHSD``), Dunnett's test of every group against ``control`` (``scipy.stats.dunnett``) and,
    for repeated measures, a linear mixed model with a random intercept per ``subject``
    (``statsmodels`` ``MixedLM``, REML; Wald z tests of each group against ``control``). A
    feature with too few values for a test gets NaN and a ``note`` saying why.

    Parameters
    ----------
    adata
        Samples x features (e.g. western-blot densitometry or histone-mark ratios, log2 scale).
    groupby
        Column of ``adata.obs`` with the groups (default ``"phase"``), in its categorical order.
    tests
        Any of ``"anova"``, ``"tukey"``, ``"dunnett"``, ``"mixed"``.
    control
        Reference level for Dunnett's test and the mixed model.
    mixed
        ``True`` adds the mixed model, ``False`` leaves it out, ``"auto"`` adds it when
        ``adata.obs[subject]`` exists and a subject has more than one sample.
    subject
        Column of ``adata.obs`` with the animal (subject) id, for the mixed model.
    confidence
        Confidence level of the intervals (Tukey simultaneous, Dunnett simultaneous, mixed
        pointwise).
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    seed
        Seed of the quasi-Monte Carlo integration of Dunnett's p-values.
    key_added
        Key of ``adata.uns`` receiving the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]``, a dict with ``"params"`` and one DataFrame per test run
    (read them with :func:`kratom_omics.get.panel_tests`):

    ``"anova"``
        ``feature, F, df1, df2, pvalue, padj, n_obs, n_groups, note`` (``padj``: BH across
        features).
    ``"tukey"``, ``"dunnett"``
        ``feature, contrast, group, reference, estimate, se, statistic, ci_low, ci_high, pvalue,
        note``; ``estimate`` is ``mean(group) - mean(reference)``, ``pvalue`` is adjusted for the
        comparisons within the feature, ``statistic`` is the studentized range ``q`` (Tukey) or
        Dunnett's t.
    ``"mixed"``
        the same columns (``statistic`` a Wald z) and ``wald_chi2, wald_df, wald_pvalue`` (all group
        effects at once), ``subject_var, residual_var, n_obs, n_subjects, converged``.

    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    check_key_added(key_added)
    if isinstance(tests, str):
        tests = (tests,)
    tests = [str(t).lower() for t in tests]
    for t in tests:
        if t not in PANEL_TESTS:
            raise DesignError(did_you_mean(t, PANEL_TESTS, what="tests").replace("value", "test"))
    if not tests:
        raise DesignError(f"tests is empty; choose from {list(PANEL_TESTS)}.")
    if mixed not in (True, False, "auto"):
        raise DesignError(f"mixed must be True, False or 'auto'; got mixed={mixed!r}.")
    if isinstance(confidence, bool) or not isinstance(confidence, float) or not 0 < confidence < 1:
        raise DesignError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}.")
    if groupby not in adata.obs.columns:
        raise KeyNotFoundError(
            did_you_mean(groupby, adata.obs.columns, what="groupby").replace(
                "is not available", "is not a column of adata.obs"
            )
        )
    levels = [str(v) for v in groups_of(adata, groupby)]
    if len(levels) < 2:
        raise DesignError(
            f"groupby={groupby!r} has {len(levels)} level(s) {levels}; at least two groups are "
            "needed to compare."
        )
    if mixed == "auto":
        run_mixed = subject in adata.obs.columns and bool(
            adata.obs[subject].dropna().astype(str).duplicated().any()
        )
    else:
        run_mixed = bool(mixed)
    if run_mixed and "mixed" not in tests:
        tests.append("mixed")
    needs_control = [t for t in tests if t in ("dunnett", "mixed")]
    if needs_control and control not in levels:
        raise KeyNotFoundError(
            did_you_mean(control, levels, what="control").replace(
                "is not available", f"is not a level of {groupby!r} (needed by {needs_control})"
            )
        )
    if "mixed" in tests:
        check_obs_key(adata, subject, argument="subject")

    group_col = adata.obs[groupby]
    keep = group_col.notna().to_numpy()
    codes = pd.Categorical(group_col.astype(str), categories=levels).codes[keep]
    y = get_matrix(adata, layer)[keep].T
    features = adata.var_names.astype(str).to_numpy().astype(object)
    if features.size > _MANY_FEATURES and ("dunnett" in tests or "mixed" in tests):
        logger.info(
            "panel_tests: %d features; Dunnett and the mixed model run one feature at a time "
            "and may take a while (kom.tl.differential is made for large data)",
            features.size,
        )
    member = np.eye(len(levels))[codes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n, means, ssw, df, k = _group_stats(y, member)

    store: dict[str, Any] = {}
    if "anova" in tests:
        store["anova"] = _anova(features, n, means, ssw, df, k)
    if "tukey" in tests:
        store["tukey"] = _tukey(features, levels, n, means, ssw, df, k, confidence)
    if "dunnett" in tests:
        store["dunnett"] = _dunnett(features, y, codes, levels, control, confidence, seed)
    if "mixed" in tests:
        subj_col = adata.obs[subject][keep]
        if subj_col.isna().any():
            raise DesignError(
                f"subject={subject!r}: {int(subj_col.isna().sum())} sample(s) have no subject id "
                "in adata.obs; fill them in or pass mixed=False."
            )
        subjects = pd.factorize(subj_col.astype(str))[0]
        store["mixed"] = _mixed(features, y, codes, subjects, levels, control, confidence)
    if "gene" in adata.var.columns:
        genes = pd.Series(adata.var["gene"].astype(str).to_numpy(), index=features)
        for table in store.values():
            table["gene"] = genes.reindex(table["feature"]).to_numpy().astype(object)

    params: dict[str, Any] = {
        "groupby": groupby,
        "levels": levels,
        "tests": list(tests),
        "control": control,
        "mixed": mixed if isinstance(mixed, str) else bool(mixed),
        "mixed_run": "mixed" in tests,
        "subject": subject,
        "confidence": float(confidence),
        "layer": layer if layer is not None else "",
        "seed": int(seed),
        "n_features": int(features.size),
        "n_samples": int(keep.sum()),
    }
    adata.uns[key_added] = {"params": params, **store}
    logger.info(
        "panel_tests: %d feature(s), %d groups, tests %s", features.size, len(levels), tests
    )
    record_provenance(adata, "kratom_omics.tl.panel_tests", params)
