"""How well markers separate phases: per-feature ROC AUC with intervals, and panels by nested CV.

The AUC of a feature for a positive group (e.g. withdrawal) against a negative group (e.g. use) is
the probability that a positive sample has the higher value, ties counting one half (the
Mann-Whitney statistic divided by ``n_pos * n_neg``); it equals
:func:`sklearn.metrics.roc_auc_score` with the positive group labelled 1. Values below 0.5 mean the
feature is lower in the positive group. Missing values are left out feature by feature. Intervals
are stratified percentile bootstraps (positives and negatives resampled separately, as pROC does by
default) from a seeded generator, so the same seed gives the same interval, or DeLong's asymptotic
intervals (equal to pROC's ``ci.auc(method="delong")``).

A panel of features is scored by nested cross-validation: an outer split estimates performance on
samples the model never saw, an inner split chooses the penalty ``C`` of a penalised logistic
regression, and any feature selection happens inside the training folds. When the same subject
appears more than once (a repeated-measures design) the outer split leaves one subject out, so no
animal is in both training and test.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import check_obs_key, get_matrix, groups_of, record_provenance
from ..errors import DesignError, KeyNotFoundError, KratomOmicsWarning, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["auc_with_ci", "marker_auc", "panel_cv"]

log = logging.getLogger("kratom_omics")

# largest number of pairwise comparisons held in memory at once
_CHUNK = 4_000_000


def _auc_pairs(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC per feature of ``pos`` (..., n_pos, n_feat) against ``neg`` (..., n_neg, n_feat)."""
    diff = pos[..., :, None, :] - neg[..., None, :, :]
    valid = ~np.isnan(diff)
    gt = np.sum(diff > 0, axis=(-3, -2))
    eq = np.sum(diff == 0, axis=(-3, -2))
    n = np.sum(valid, axis=(-3, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (gt + 0.5 * eq) / np.maximum(n, 1), np.nan)


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Per-feature AUC of ``pos`` (n_pos, n_feat) against ``neg`` (n_neg, n_feat), chunked."""
    n_feat = pos.shape[1]
    step = max(1, _CHUNK // max(1, pos.shape[0] * neg.shape[0]))
    out = np.empty(n_feat)
    for s in range(0, n_feat, step):
        out[s : s + step] = _auc_pairs(pos[:, s : s + step], neg[:, s : s + step])
    return out


def _delong(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC and its DeLong variance per feature (structural components, as pROC computes them)."""
    n_feat = pos.shape[1]
    step = max(1, _CHUNK // max(1, pos.shape[0] * neg.shape[0]))
    auc, var = np.empty(n_feat), np.empty(n_feat)
    for s in range(0, n_feat, step):
        diff = pos[:, None, s : s + step] - neg[None, :, s : s + step]
        valid = ~np.isnan(diff)
        score = (diff > 0) + 0.5 * (diff == 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            v10 = score.sum(axis=1) / valid.sum(axis=1)  # per positive: share of negatives below
            v01 = score.sum(axis=0) / valid.sum(axis=0)  # per negative: share of positives above
            m = np.sum(~np.isnan(v10), axis=0)
            n = np.sum(~np.isnan(v01), axis=0)
            auc[s : s + step] = np.nanmean(v10, axis=0) if v10.size else np.nan
            var[s : s + step] = _nanvar1(v10) / m + _nanvar1(v01) / n
    return auc, var


def _nanvar1(v: np.ndarray) -> np.ndarray:
    """Sample variance (ddof=1) over axis 0, ignoring NaN; NaN with fewer than two values."""
    k = np.sum(~np.isnan(v), axis=0)
    mean = np.nansum(v, axis=0) / np.maximum(k, 1)
    ss = np.nansum((v - mean) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 1, ss / (k - 1), np.nan)


def auc_with_ci(
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    method: Literal["bootstrap", "delong"] = "bootstrap",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC AUC of every column and its stratified percentile bootstrap interval.

    Parameters
    ----------
    pos, neg
        Values of the positive and negative samples, shape ``(n_pos, n_features)`` and
        ``(n_neg, n_features)`` (a 1-D array is one feature); NaN = missing.
    n_boot
        Bootstrap resamples (0 for no interval).
    confidence
        Coverage of the interval.
    seed
        Seed of the random generator.
    method
        ``"bootstrap"``: stratified percentile bootstrap. ``"delong"``: DeLong's asymptotic interval
        (``auc +/- z * se``, clipped to [0, 1], as pROC's ``ci.auc(method="delong")``).

    Returns
    -------
    ``(auc, ci_low, ci_high)``, each of shape ``(n_features,)``.
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    if pos.ndim == 1:
        pos, neg = pos[:, None], neg[:, None]
    if not 0 < confidence < 1:
        raise DesignError(f"confidence={confidence}; expected a share between 0 and 1 (e.g. 0.95).")
    if method not in ("bootstrap", "delong"):
        raise DesignError(f"method={method!r}; expected 'bootstrap' or 'delong'.")
    if method == "delong":
        from scipy.stats import norm

        auc, var = _delong(pos, neg)
        half = norm.ppf(0.5 + confidence / 2.0) * np.sqrt(var)
        return auc, np.clip(auc - half, 0.0, 1.0), np.clip(auc + half, 0.0, 1.0)
    auc = _auc(pos, neg)
    n_feat = pos.shape[1]
    if n_boot <= 0 or pos.shape[0] == 0 or neg.shape[0] == 0:
        nan = np.full(n_feat, np.nan)
        return auc, nan, nan.copy()
    rng = np.random.default_rng(seed)
    ip = rng.integers(0, pos.shape[0], size=(n_boot, pos.shape[0]))
    ineg = rng.integers(0, neg.shape[0], size=(n_boot, neg.shape[0]))
    boots = np.empty((n_boot, n_feat))
    per_boot = pos.shape[0] * neg.shape[0] * n_feat
    step = max(1, _CHUNK // max(1, per_boot))
    if step >= 1 and per_boot <= _CHUNK:
        for s in range(0, n_boot, step):
            boots[s : s + step] = _auc_pairs(pos[ip[s : s + step]], neg[ineg[s : s + step]])
    else:  # many features: one resample at a time, chunked over features
        for b in range(n_boot):
            boots[b] = _auc(pos[ip[b]], neg[ineg[b]])
    alpha = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low, high = np.nanquantile(boots, [alpha, 1.0 - alpha], axis=0)
    return auc, low, high


def _levels(value: str | Sequence[str], available: Sequence[str], argument: str) -> list[str]:
    levels = [value] if isinstance(value, str) else [str(v) for v in value]
    for lv in levels:
        if lv not in available:
            raise KeyNotFoundError(
                did_you_mean(lv, available, what=argument).replace(
                    "is not available", "is not a level of the grouping column"
                )
            )
    return levels


def _feature_index(adata: AnnData, features: Sequence[str] | None) -> np.ndarray:
    if features is None:
        return np.arange(adata.n_vars)
    names = pd.Index(adata.var_names)
    feats = [str(f) for f in features]
    missing = [f for f in feats if f not in names]
    if missing:
        raise KeyNotFoundError(
            did_you_mean(missing[0], names, what="features").replace(
                "is not available",
                f"is not a feature of adata ({len(missing)} of {len(feats)} unknown)",
            )
        )
    if not feats:
        raise DesignError("features=[] selects no feature; pass feature names or None for all.")
    return np.asarray(names.get_indexer(feats))


def marker_auc(
    adata: AnnData,
    groupby: str = "phase",
    *,
    positive: str = "withdrawal",
    negative: str | Sequence[str] = ("use", "control"),
    features: Sequence[str] | None = None,
    layer: str | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ci_method: Literal["bootstrap", "delong"] = "bootstrap",
    key_added: str = "marker_auc",
) -> None:
    """ROC AUC of each feature for telling one phase from others, with bootstrap confidence
    intervals.

    Parameters
    ----------
    adata
        Samples x features, values on an analysis scale (e.g. log2).
    groupby
        Column of ``adata.obs`` holding the groups (phases).
    positive
        Group whose samples are the positives (label 1).
    negative
        Group(s) to compare against, each separately (``("use", "control")`` gives two comparisons).
    features
        Feature names to score (default: all).
    layer
        Layer to use instead of ``X``.
    n_boot, confidence, seed
        Bootstrap resamples, interval coverage and the generator's seed.
    ci_method
        ``"bootstrap"`` (stratified percentile bootstrap) or ``"delong"`` (asymptotic interval).
    key_added
        Key of ``adata.uns`` for the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]`` = ``{"params": ..., "auc": DataFrame}`` with one row per
    feature and comparison: ``feature, comparison ("<positive> vs <negative>"), positive, negative,
    n_pos, n_neg, auc, ci_low, ci_high`` (``auc`` as :func:`sklearn.metrics.roc_auc_score`; below
    0.5 = lower in the positive group). ``kom.get.biomarkers(adata, key=key_added, table="auc")``
    returns it.
    """
    check_obs_key(adata, groupby)
    levels = list(groups_of(adata, groupby))
    pos_level = _levels(positive, levels, "positive")[0]
    negatives = _levels(negative, levels, "negative")
    idx = _feature_index(adata, features)
    x = get_matrix(adata, layer)[:, idx]
    group = adata.obs[groupby].astype(str).to_numpy()
    rows = []
    for k, neg_level in enumerate(negatives):
        if neg_level == pos_level:
            raise DesignError(
                f"negative={neg_level!r} is the positive group too; choose another level."
            )
        xp, xn = x[group == pos_level], x[group == neg_level]
        auc, lo, hi = auc_with_ci(
            xp, xn, n_boot=n_boot, confidence=confidence, seed=seed + k, method=ci_method
        )
        rows.append(
            pd.DataFrame(
                {
                    "feature": np.asarray(adata.var_names)[idx],
                    "comparison": f"{pos_level} vs {neg_level}",
                    "positive": pos_level,
                    "negative": neg_level,
                    "n_pos": np.sum(~np.isnan(xp), axis=0),
                    "n_neg": np.sum(~np.isnan(xn), axis=0),
                    "auc": auc,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    params: dict[str, Any] = {
        "groupby": groupby,
        "positive": pos_level,
        "negative": negatives,
        "layer": layer or "X",
        "n_boot": n_boot,
        "confidence": confidence,
        "seed": seed,
        "ci_method": ci_method,
        "n_features": len(idx),
    }
    adata.uns[key_added] = {"params": params, "auc": table}
    record_provenance(adata, "kratom_omics.tl.marker_auc", {**params, "key_added": key_added})


def _subject_groups(
    obs: pd.DataFrame, subject_key: str | None, keep: np.ndarray
) -> np.ndarray | None:
    if subject_key is None or subject_key not in obs.columns:
        return None
    subjects = obs[subject_key].astype(str).to_numpy()[keep]
    if pd.Series(subjects).duplicated().any():
        return subjects
    return None


def panel_cv(
    adata: AnnData,
    features: Sequence[str] | None = None,
    groupby: str = "phase",
    *,
    positive: str | Sequence[str] = "withdrawal",
    negative: str | Sequence[str] = "control",
    n_select: int | None = None,
    penalty: Literal["l1", "l2"] = "l2",
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0),
    n_splits: int = 5,
    inner_splits: int = 3,
    subject_key: str | None = "subject",
    n_boot: int = 1000,
    n_permutations: int = 0,
    layer: str | None = None,
    seed: int = 0,
    key_added: str = "panel_cv",
) -> None:
    """Score a multi-feature marker panel by nested cross-validation of a penalised logistic
    regression.

    Parameters
    ----------
    adata
        Samples x features, values on an analysis scale (e.g. log2); NaN are imputed with the
        training folds' medians.
    features
        Feature names of the panel. ``None`` uses every feature; give ``n_select`` then so that the
        panel is chosen inside each training fold (choosing it on all samples first would overstate
        the AUC).
    groupby
        Column of ``adata.obs`` holding the groups.
    positive, negative
        Group level(s) labelled 1 and 0; other samples are left out.
    n_select
        Keep the ``n_select`` features with the largest ANOVA F inside each training fold (None:
        keep all).
    penalty
        ``"l2"`` (ridge) or ``"l1"`` (lasso) penalty.
    Cs
        Inverse penalty strengths the inner cross-validation chooses from.
    n_splits
        Outer folds (stratified) when each subject is sampled once; capped by the smaller class
        size. With repeated subjects the outer split leaves one subject out instead.
    inner_splits
        Inner folds used to choose ``C`` (stratified, grouped by subject when subjects repeat).
    subject_key
        Column of ``adata.obs`` with the animal / subject id (None: samples are independent).
    n_boot
        Bootstrap resamples for the interval of the pooled out-of-fold AUC.
    n_permutations
        Label permutations (the whole nested CV is repeated each time) for a p-value of the AUC; 0
        skips it.
    layer
        Layer to use instead of ``X``.
    seed
        Seed for fold assignment, bootstrap and permutations.
    key_added
        Key of ``adata.uns`` for the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]`` with ``params`` and the tables ``summary`` (one row:
    ``auc`` of the pooled out-of-fold probabilities, ``ci_low``, ``ci_high``, ``mean_fold_auc``,
    ``p_permutation``, ``n_pos``, ``n_neg``, ``n_folds``, ``scheme``), ``predictions`` (one row per
    sample: ``sample, fold, label, probability``), ``folds`` (``fold, n_test, C, auc``) and
    ``coefficients`` (``feature, mean_coef, selected``: the share of folds whose model kept the
    feature with a non-zero weight).
    """
    from sklearn.metrics import roc_auc_score

    check_obs_key(adata, groupby)
    levels = list(groups_of(adata, groupby))
    pos_levels = _levels(positive, levels, "positive")
    neg_levels = _levels(negative, levels, "negative")
    if set(pos_levels) & set(neg_levels):
        raise DesignError(
            f"positive={pos_levels} and negative={neg_levels} share a level; they must be disjoint."
        )
    if penalty not in ("l1", "l2"):
        raise DesignError(f"penalty={penalty!r}; expected 'l1' or 'l2'.")
    if features is None and n_select is None and adata.n_vars > 50:
        log.info(
            "panel_cv: %d features without n_select; the panel is fit on all of them", adata.n_vars
        )
    idx = _feature_index(adata, features)
    if n_select is not None and not n_select >= 1:
        raise DesignError(f"n_select={n_select}; expected a positive number of features or None.")
    group = adata.obs[groupby].astype(str).to_numpy()
    keep = np.isin(group, pos_levels + neg_levels)
    x = get_matrix(adata, layer)[keep][:, idx]
    y = np.isin(group[keep], pos_levels).astype(int)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if min(n_pos, n_neg) < 2:
        raise DesignError(
            f"panel_cv needs at least 2 samples in each class; found {n_pos} {pos_levels} and "
            f"{n_neg} {neg_levels} in adata.obs[{groupby!r}]."
        )
    if min(n_pos, n_neg) < 10:
        warnings.warn(
            f"panel_cv: only {n_pos} positive and {n_neg} negative samples; the cross-validated "
            "AUC is "
            "imprecise (see its bootstrap interval and, with n_permutations, its permutation "
            "p-value).",
            KratomOmicsWarning,
            stacklevel=2,
        )
    subjects = _subject_groups(adata.obs, subject_key, keep)
    samples = np.asarray(adata.obs_names)[keep]
    feature_names = np.asarray(adata.var_names)[idx]

    run = _nested_cv(x, y, subjects, n_select, penalty, Cs, n_splits, inner_splits, seed)
    prob, fold_of, fold_rows, coefs = run
    auc = float(roc_auc_score(y, prob))
    _, lo, hi = auc_with_ci(prob[y == 1], prob[y == 0], n_boot=n_boot, seed=seed)
    p_perm = np.nan
    if n_permutations > 0:
        rng = np.random.default_rng(seed + 1)
        null = np.empty(n_permutations)
        for b in range(n_permutations):
            yp = _permute(y, subjects, rng)
            prob_b = _nested_cv(
                x, yp, subjects, n_select, penalty, Cs, n_splits, inner_splits, seed
            )[0]
            null[b] = roc_auc_score(yp, prob_b)
        p_perm = float((1 + np.sum(null >= auc)) / (1 + n_permutations))
    folds = pd.DataFrame(fold_rows)
    summary = pd.DataFrame(
        {
            "auc": [auc],
            "ci_low": [float(lo[0])],
            "ci_high": [float(hi[0])],
            "mean_fold_auc": [
                float(np.nanmean(folds["auc"])) if folds["auc"].notna().any() else np.nan
            ],
            "p_permutation": [p_perm],
            "n_pos": [n_pos],
            "n_neg": [n_neg],
            "n_features": [len(idx)],
            "n_folds": [len(folds)],
            "scheme": [
                "leave-one-subject-out" if subjects is not None else f"{len(folds)}-fold stratified"
            ],
        }
    )
    coef = pd.DataFrame(
        {
            "feature": feature_names,
            "mean_coef": coefs.mean(axis=0),
            "selected": (coefs != 0).mean(axis=0),
        }
    ).sort_values("selected", ascending=False, kind="stable")
    predictions = pd.DataFrame(
        {"sample": samples, "fold": fold_of, "label": y, "probability": prob}
    )
    params: dict[str, Any] = {
        "groupby": groupby,
        "positive": pos_levels,
        "negative": neg_levels,
        "n_select": -1 if n_select is None else n_select,
        "penalty": penalty,
        "Cs": [float(c) for c in Cs],
        "n_splits": n_splits,
        "inner_splits": inner_splits,
        "subject_key": subject_key or "",
        "n_boot": n_boot,
        "n_permutations": n_permutations,
        "layer": layer or "X",
        "seed": seed,
    }
    adata.uns[key_added] = {
        "params": params,
        "summary": summary,
        "predictions": predictions.reset_index(drop=True),
        "folds": folds,
        "coefficients": coef.reset_index(drop=True),
    }
    record_provenance(adata, "kratom_omics.tl.panel_cv", {**params, "key_added": key_added})
    log.info(
        "panel_cv: out-of-fold AUC %.3f [%.3f, %.3f] (%s)", auc, lo[0], hi[0], summary["scheme"][0]
    )


def _logistic(cls: Any, penalty: str) -> Any:
    """Penalised logistic regression; scikit-learn >= 1.8 spells the penalty as ``l1_ratio``."""
    import sklearn

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return cls(l1_ratio=1.0 if penalty == "l1" else 0.0, solver="liblinear", max_iter=1000)
    return cls(penalty=penalty, solver="liblinear", max_iter=1000)


def _permute(y: np.ndarray, subjects: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Permute labels; within subjects when subjects repeat (keeps the paired structure)."""
    if subjects is None:
        return rng.permutation(y)
    out = y.copy()
    for s in pd.unique(subjects):
        where = np.flatnonzero(subjects == s)
        out[where] = y[rng.permutation(where)]
    if out.min() == out.max():  # pragma: no cover - cannot happen: labels are only reordered
        return y
    return out


class _Prep:
    """Median imputation, standardisation and optional top-F selection, fit on training rows."""

    def __init__(self, x: np.ndarray, y: np.ndarray, n_select: int | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            med = np.nanmedian(x, axis=0)
        self.median = np.where(np.isnan(med), 0.0, med)
        filled = np.where(np.isnan(x), self.median, x)
        self.mean = filled.mean(axis=0)
        sd = filled.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)
        z = (filled - self.mean) / self.sd
        self.keep = np.arange(x.shape[1])
        if n_select is not None and n_select < x.shape[1]:
            # two-group ANOVA F (the square of the pooled-variance t), constant features last
            a, b = z[y == 1], z[y == 0]
            na, nb = a.shape[0], b.shape[0]
            ss_within = ((a - a.mean(0)) ** 2).sum(0) + ((b - b.mean(0)) ** 2).sum(0)
            ss_between = na * nb / (na + nb) * (a.mean(0) - b.mean(0)) ** 2
            with np.errstate(invalid="ignore", divide="ignore"):
                f = ss_between / (ss_within / max(na + nb - 2, 1))
            f = np.where(np.isfinite(f), f, -1.0)
            self.keep = np.sort(np.argsort(-f, kind="stable")[:n_select])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(x), self.median, x)
        return ((filled - self.mean) / self.sd)[:, self.keep]


def _fit_predict(
    make: Any, c: float, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, n_select: int | None
) -> tuple[np.ndarray, np.ndarray, _Prep]:
    prep = _Prep(xtr, ytr, n_select)
    model = make(c).fit(prep(xtr), ytr)
    return model.predict_proba(prep(xte))[:, 1], model.coef_.ravel(), prep


def _choose_c(
    make: Any,
    cs: Sequence[float],
    x: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    n_select: int | None,
) -> float:
    """The C with the lowest mean validation log loss over the inner splits (first C on ties)."""
    loss = np.zeros(len(cs))
    for train, val in splits:
        prep = _Prep(x[train], y[train], n_select)
        ztr, zval = prep(x[train]), prep(x[val])
        for i, c in enumerate(cs):
            p = np.clip(make(c).fit(ztr, y[train]).predict_proba(zval)[:, 1], 1e-12, 1 - 1e-12)
            yv = y[val]
            loss[i] += -np.mean(yv * np.log(p) + (1 - yv) * np.log1p(-p))
    return float(cs[int(np.argmin(loss))])


def _nested_cv(
    x: np.ndarray,
    y: np.ndarray,
    subjects: np.ndarray | None,
    n_select: int | None,
    penalty: str,
    Cs: Sequence[float],
    n_splits: int,
    inner_splits: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], np.ndarray]:
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    def make(c: float) -> Any:
        return _logistic(LogisticRegression, penalty).set_params(C=c)

    n_min = int(min(y.sum(), (1 - y).sum()))
    if subjects is not None:
        splits = list(LeaveOneGroupOut().split(x, y, groups=subjects))
    else:
        outer = StratifiedKFold(
            n_splits=max(2, min(n_splits, n_min)), shuffle=True, random_state=seed
        )
        splits = list(outer.split(x, y))
    prob = np.full(y.size, np.nan)
    fold_of = np.zeros(y.size, dtype=int)
    coefs = np.zeros((len(splits), x.shape[1]))
    rows: list[dict[str, Any]] = []
    for k, (train, test) in enumerate(splits):
        ytr = y[train]
        n_min_tr = int(min(ytr.sum(), (1 - ytr).sum()))
        c_best = float(Cs[len(Cs) // 2])
        with (
            warnings.catch_warnings(),
            sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
        ):
            warnings.simplefilter("ignore")  # constant features or one-class folds in tiny studies
            if n_min_tr >= 2 and len(Cs) > 1:
                n_inner = max(2, min(inner_splits, n_min_tr))
                if subjects is not None:
                    inner = StratifiedGroupKFold(n_splits=n_inner, shuffle=True, random_state=seed)
                    inner_splits_ = list(inner.split(x[train], ytr, groups=subjects[train]))
                else:
                    inner_ = StratifiedKFold(n_splits=n_inner, shuffle=True, random_state=seed)
                    inner_splits_ = list(inner_.split(x[train], ytr))
                inner_splits_ = [(a, b) for a, b in inner_splits_ if 0 < ytr[a].sum() < a.size]
                if inner_splits_:
                    c_best = _choose_c(make, Cs, x[train], ytr, inner_splits_, n_select)
            p, w, prep = _fit_predict(make, c_best, x[train], ytr, x[test], n_select)
        prob[test] = p
        fold_of[test] = k
        coefs[k, prep.keep] = w
        yt = y[test]
        fold_auc = float(roc_auc_score(yt, p)) if 0 < yt.sum() < yt.size else np.nan
        rows.append({"fold": k, "n_test": int(test.size), "C": c_best, "auc": fold_auc})
    return prob, fold_of, rows, coefs
