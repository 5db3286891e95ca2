"""``kom.tl.permutation_fdr``: two-group test with fudge factor s0 and permutation FDR (SAM/Perseus).

The statistic of each feature is Tusher et al.'s (2001) relative difference
``d = (mean_a - mean_b) / (s + s0)``, with ``s`` the pooled standard error of the two-sample t-test
on the observed values. The null distribution of ``d`` comes from permutations of the sample
labels (within blocks when given). The FDR of a cut-off ``c`` on ``|d|`` is estimated as in SAM and
Perseus: ``pi0 * (mean number of permuted |d| >= c) / (number of observed |d| >= c)``; a feature's
q-value is the smallest FDR of the cut-offs that select it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, check_obs_key, get_matrix, groups_of, record_provenance
from .._design import normalize_contrast, quote_name
from ..errors import DesignError, KeyNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["PERMUTATION_COLUMNS", "permutation_fdr"]

logger = logging.getLogger("kratom_omics")

PERMUTATION_COLUMNS: tuple[str, ...] = (
    "feature",
    "contrast",
    "log2fc",
    "d",
    "s",
    "t",
    "pvalue",
    "pvalue_perm",
    "qvalue",
    "padj",
    "significant",
    "n_a",
    "n_b",
)


def _parse_two_groups(contrast: str, levels: Sequence[str], groupby: str) -> tuple[str, str]:
    """The two levels ``(a, b)`` of a contrast ``"a - b"`` of ``groupby``."""
    if not isinstance(contrast, str) or not contrast.strip():
        raise DesignError(
            f"contrast={contrast!r} must be a string 'level_a - level_b' of {groupby!r}, "
            "e.g. 'withdrawal - control'."
        )
    try:
        wanted = normalize_contrast(contrast)
    except Exception as err:  # the tokenizer's own DesignError or a parse failure
        raise DesignError(
            f"contrast={contrast!r} could not be read ({err}); write it as 'level_a - level_b', "
            "back-quoting names that are not identifiers (`24h` - control)."
        ) from err
    for a in levels:
        for b in levels:
            if a != b and normalize_contrast(f"{quote_name(a)} - {quote_name(b)}") == wanted:
                return a, b
    raise DesignError(
        f"contrast={contrast!r} is not a difference of two levels of {groupby!r}; expected "
        f"'level_a - level_b' with levels from {list(levels)}, e.g. "
        f"'{quote_name(levels[-1])} - {quote_name(levels[0])}'."
    )


def _block_codes(adata: AnnData, block: str | None, keep: np.ndarray) -> np.ndarray:
    if block is None:
        return np.zeros(int(keep.sum()), dtype=np.int64)
    check_obs_key(adata, block, argument="block")
    col = adata.obs[block].to_numpy()[keep]
    missing = pd.isna(col)
    if missing.any():
        raise DesignError(
            f"block={block!r}: {int(missing.sum())} of the compared samples have no value in "
            f"adata.obs[{block!r}]; fill it in or pass block=None."
        )
    return pd.factorize(pd.Series(col).astype(str))[0].astype(np.int64)


def permutation_labels(
    labels: np.ndarray, blocks: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_permutations`` x n shuffles of ``labels``, each one restricted to within ``blocks``.

    Sorting ``block + U(0, 1)`` orders the samples block by block in a random order inside each
    block; writing the labels in that order into the block-sorted slots permutes them within blocks.
    """
    n = labels.size
    slots = np.argsort(blocks, kind="stable")
    keys = blocks[None, :] + rng.random((n_permutations, n))
    order = np.argsort(keys, axis=1)
    out = np.empty((n_permutations, n), dtype=labels.dtype)
    out[:, slots] = labels[order]
    return out


def relative_difference(
    y: np.ndarray, in_a: np.ndarray, in_b: np.ndarray, s0: float, min_obs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``d``, mean difference, pooled SE ``s`` and group sizes for every feature and labelling.

    ``y`` is features x samples (NaN = missing, centred per feature); ``in_a`` and ``in_b`` are
    labellings x samples indicator matrices. All outputs are features x labellings; ``d`` is NaN
    where a group has fewer than ``min_obs`` observed values or ``s + s0`` is 0.
    """
    obs = ~np.isnan(y)
    y0 = np.where(obs, y, 0.0)
    m = obs.astype(float)
    a = in_a.T.astype(float)
    b = in_b.T.astype(float)
    n_a = m @ a
    n_b = m @ b
    sum_a = y0 @ a
    sum_b = y0 @ b
    y2 = y0 * y0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a = sum_a / n_a
        mean_b = sum_b / n_b
        ss = (y2 @ a - sum_a * mean_a) + (y2 @ b - sum_b * mean_b)
        df = n_a + n_b - 2
        s = np.sqrt(np.maximum(ss, 0.0) / df * (1.0 / n_a + 1.0 / n_b))
        diff = mean_a - mean_b
        ok = (n_a >= min_obs) & (n_b >= min_obs) & (df > 0) & (s + s0 > 0)
        d = np.where(ok, diff / (s + s0), np.nan)
    return d, np.where(ok, diff, np.nan), np.where(ok, s, np.nan), n_a, n_b


def fdr_from_null(
    d_obs: np.ndarray, d_null: np.ndarray, pi0: float
) -> tuple[np.ndarray, np.ndarray]:
    """SAM q-values and permutation p-values of ``|d_obs|`` against the pooled null ``|d_null|``.

    ``FDR(c) = pi0 * E[#{|d*| >= c}] / #{|d| >= c}``, the expected count being the pooled null
    count scaled to the number of observed statistics; q is the running minimum of FDR over the
    cut-offs that select a feature. NaN statistics get NaN.
    """
    q = np.full(d_obs.shape, np.nan)
    p = np.full(d_obs.shape, np.nan)
    ok = ~np.isnan(d_obs)
    x = np.abs(d_obs[ok])
    null = np.sort(np.abs(d_null[~np.isnan(d_null)]))
    m, n_null = x.size, null.size
    if m == 0 or n_null == 0:
        return q, p
    n_ge_null = n_null - np.searchsorted(null, x, side="left")
    p[ok] = (n_ge_null + 1.0) / (n_null + 1.0)
    order = np.argsort(-x, kind="stable")
    xs = x[order]
    # observed count >= c, ties included: position of the last equal value in the sorted order
    n_ge_obs = np.searchsorted(-xs, -xs, side="right")
    fdr = pi0 * (n_ge_null[order] * (m / n_null)) / n_ge_obs
    qs = np.minimum.accumulate(fdr[::-1])[::-1]
    qo = np.empty(m)
    qo[order] = np.minimum(qs, 1.0)
    q[ok] = qo
    return q, p


def _sam_pi0(d_obs: np.ndarray, d_null: np.ndarray) -> float:
    """SAM's pi0: share of observed ``|d|`` below the null median, over one half."""
    x = np.abs(d_obs[~np.isnan(d_obs)])
    null = np.abs(d_null[~np.isnan(d_null)])
    if x.size == 0 or null.size == 0:
        return 1.0
    return float(min(1.0, np.mean(x <= np.median(null)) / 0.5))


def s0_curve(
    d0: float, s0: float, df: float, *, fc_max: float, y_max: float, n_points: int = 400
) -> pd.DataFrame:
    """Points ``(log2fc, -log10 p)`` with ``|log2fc| / (s + s0) = d0`` (Perseus' volcano curve).

    On the curve ``s = |log2fc| / d0 - s0``, the t statistic is ``|log2fc| / s`` and ``p`` its
    two-sided Student p-value with ``df`` degrees of freedom. Points above ``y_max`` are dropped.
    """
    from scipy import stats

    cols = ["log2fc", "neg_log10_p"]
    if not (np.isfinite(d0) and d0 > 0 and np.isfinite(fc_max) and fc_max > d0 * s0 and df > 0):
        return pd.DataFrame({c: np.empty(0) for c in cols})
    lo = d0 * s0
    span = fc_max - lo
    fc = lo + span * np.geomspace(1e-6, 1.0, n_points)
    s = fc / d0 - s0
    with np.errstate(divide="ignore", over="ignore"):
        t = fc / s
        y = -stats.t.logsf(t, df) / np.log(10) - np.log10(2.0)
    keep = np.isfinite(y) & (y <= y_max)
    fc, y = fc[keep], y[keep]
    return pd.DataFrame(
        {"log2fc": np.concatenate([-fc[::-1], fc]), "neg_log10_p": np.r_[y[::-1], y]}
    )


def permutation_fdr(
    adata: AnnData,
    groupby: str = "phase",
    contrast: str = "withdrawal - control",
    *,
    s0: float = 0.1,
    n_permutations: int = 250,
    fdr: float = 0.05,
    block: str | None = None,
    pi0: float | str = 1.0,
    min_obs: int = 2,
    layer: str | None = None,
    seed: int = 0,
    key_added: str = "permutation_fdr",
) -> None:
    """Two-group test with fudge factor ``s0`` and permutation-based FDR, as in SAM and Perseus.

    For each feature the relative difference ``d = (mean_a - mean_b) / (s + s0)`` is computed on
    its observed values, ``s`` being the pooled standard error of Student's two-sample t-test.
    Sample labels are permuted ``n_permutations`` times (within the levels of ``block``, e.g.
    ``"subject"`` for paired samples or ``"batch"``, when given), and the FDR of each cut-off on
    ``|d|`` is the mean number of permuted statistics beyond it over the number of observed ones
    (times ``pi0``). ``s0 = 0`` gives the plain t-test with permutation FDR. All features and
    permutations are computed with matrix products (no loop over features).

    Parameters
    ----------
    adata
        Samples x features, log2 scale, NaN for missing values.
    groupby
        Column of ``adata.obs`` holding the groups (default ``"phase"``).
    contrast
        ``"level_a - level_b"``: ``log2fc = mean_a - mean_b``. Only samples of the two levels are
        used.
    s0
        Fudge factor added to the standard error (Perseus' default is 0.1; 0 for a t-test).
    n_permutations
        Number of label permutations (Perseus' default is 250).
    fdr
        FDR level for ``significant`` and for the volcano threshold curve.
    block
        Column of ``adata.obs`` (``"subject"``, ``"batch"``): labels are permuted only within its
        levels (Perseus' "preserve grouping in randomizations").
    pi0
        Proportion of unchanged features in the FDR estimate: a number in (0, 1] (1, as Perseus,
        is conservative) or ``"sam"`` for SAM's estimate (share of observed ``|d|`` below the
        median of the permuted ones, over 0.5).
    min_obs
        Minimum number of observed values per group for a feature to be tested (else NaN).
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    seed
        Seed of the permutations; the same seed gives the same result.
    key_added
        Key of ``adata.uns`` receiving the result.

    Returns
    -------
    None. Writes ``adata.uns[key_added]``, a dict with

    ``"params"``
        the call, ``alpha`` (the FDR level), ``pi0_used``, ``d0`` (the cut-off on ``|d|`` at the FDR
        level, NaN when nothing is significant), ``df`` and the numbers of samples compared.
    ``"contrasts"``
        the contrast (a list of one).
    ``"table"``
        long DataFrame, one row per feature: ``feature, contrast, log2fc, d, s, t, pvalue,
        pvalue_perm, qvalue, padj, significant, n_a, n_b`` (+ ``gene``). ``s`` is the pooled
        standard error, ``t = log2fc / s``, ``pvalue`` Student's t-test p-value on the feature's
        observed values (``n_a + n_b - 2`` df; the volcano y-axis), ``pvalue_perm`` the permutation
        p-value of ``|d|`` against all permuted statistics, ``qvalue`` the permutation FDR, ``padj``
        the same as ``qvalue`` (for the plots), ``significant`` is ``qvalue < fdr``. Read it with
        ``kom.get.differential(adata, key=key_added)``.
    ``"s0_curve"``
        DataFrame ``contrast, log2fc, neg_log10_p``: the curve ``|log2fc| / (s + s0) = d0`` in volcano
        coordinates for the full group sizes (df ``n_a + n_b - 2``; empty when nothing is
        significant). Features with complete data are significant exactly when they lie on or
        beyond it. :func:`kratom_omics.pl.volcano` draws it with ``key=key_added``.

    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    from scipy import stats

    check_key_added(key_added)
    if isinstance(s0, bool) or not isinstance(s0, (int, float)) or not np.isfinite(s0) or s0 < 0:
        raise DesignError(f"s0 must be a finite number >= 0 (e.g. 0.1); got s0={s0!r}.")
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, (int, np.integer))
        or n_permutations < 1
    ):
        raise DesignError(
            f"n_permutations must be a positive integer (e.g. 250); got {n_permutations!r}."
        )
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0 < fdr < 1:
        raise DesignError(f"fdr must be a number between 0 and 1 (e.g. 0.05); got fdr={fdr!r}.")
    if isinstance(min_obs, bool) or not isinstance(min_obs, (int, np.integer)) or min_obs < 2:
        raise DesignError(f"min_obs must be an integer >= 2; got min_obs={min_obs!r}.")
    if isinstance(pi0, str):
        if pi0 != "sam":
            raise DesignError(f"pi0={pi0!r} is not available; use a number in (0, 1] or 'sam'.")
    elif isinstance(pi0, bool) or not isinstance(pi0, (int, float)) or not 0 < pi0 <= 1:
        raise DesignError(f"pi0 must be a number in (0, 1] or 'sam'; got pi0={pi0!r}.")
    if groupby not in adata.obs.columns:
        raise KeyNotFoundError(
            did_you_mean(groupby, adata.obs.columns, what="groupby").replace(
                "is not available", "is not a column of adata.obs"
            )
        )
    levels = list(groups_of(adata, groupby))
    if len(levels) < 2:
        raise DesignError(
            f"groupby={groupby!r} has {len(levels)} level(s) {levels}; two groups are compared."
        )
    level_a, level_b = _parse_two_groups(contrast, levels, groupby)
    name = f"{quote_name(level_a)} - {quote_name(level_b)}"
    groups = adata.obs[groupby].astype(str).to_numpy()
    keep = np.isin(groups, [level_a, level_b]) & adata.obs[groupby].notna().to_numpy()
    labels = groups[keep] == level_a
    n_a_all, n_b_all = int(labels.sum()), int((~labels).sum())
    if n_a_all < min_obs or n_b_all < min_obs:
        raise DesignError(
            f"contrast {name!r}: {n_a_all} sample(s) of {level_a!r} and {n_b_all} of "
            f"{level_b!r}; each group needs at least min_obs={min_obs}."
        )
    blocks = _block_codes(adata, block, keep)

    y = get_matrix(adata, layer)[keep].T  # features x samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing features: NaN centre
        centre = np.nanmean(y, axis=1)
    y = y - np.where(np.isnan(centre), 0.0, centre)[:, None]
    d, diff, s, n_a, n_b = relative_difference(y, labels[None, :], ~labels[None, :], s0, min_obs)
    d, diff, s, n_a, n_b = d[:, 0], diff[:, 0], s[:, 0], n_a[:, 0], n_b[:, 0]

    rng = np.random.default_rng(seed)
    perm = permutation_labels(labels, blocks, int(n_permutations), rng)
    n_distinct = len({p.tobytes() for p in perm})
    null_parts = []
    batch = max(1, int(500_000 // max(y.shape[0], 1)))  # bounds the features x labellings blocks
    for start in range(0, perm.shape[0], batch):
        lab = perm[start : start + batch]
        null_parts.append(relative_difference(y, lab, ~lab, s0, min_obs)[0])
    d_null = np.concatenate(null_parts, axis=1)

    pi0_used = _sam_pi0(d, d_null) if pi0 == "sam" else float(pi0)
    q, p_perm = fdr_from_null(d, d_null, pi0_used)
    significant = np.asarray(q < fdr)  # as padj < alpha elsewhere; NaN compares False
    d0 = float(np.min(np.abs(d[significant]))) if significant.any() else float("nan")

    df = n_a + n_b - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = diff / s
        pvalue = np.where(np.isnan(t), np.nan, 2.0 * stats.t.sf(np.abs(t), np.maximum(df, 1)))
    features = adata.var_names.astype(str).to_numpy().astype(object)
    table = pd.DataFrame(
        {
            "feature": features,
            "contrast": np.full(features.size, name, dtype=object),
            "log2fc": diff,
            "d": d,
            "s": s,
            "t": t,
            "pvalue": pvalue,
            "pvalue_perm": p_perm,
            "qvalue": q,
            "padj": q.copy(),
            "significant": significant,
            "n_a": n_a.astype(np.int64),
            "n_b": n_b.astype(np.int64),
        }
    )
    if "gene" in adata.var.columns:
        table["gene"] = adata.var["gene"].astype(str).to_numpy().astype(object)

    full_df = float(n_a_all + n_b_all - 2)
    finite_fc = np.abs(diff[np.isfinite(diff)])
    with np.errstate(divide="ignore"):
        y_obs = -np.log10(pvalue[np.isfinite(pvalue) & (pvalue > 0)])
    curve = s0_curve(
        d0,
        float(s0),
        full_df,
        fc_max=1.1 * float(finite_fc.max()) if finite_fc.size else float("nan"),
        y_max=max(1.2 * float(y_obs.max()) if y_obs.size else 0.0, 3.0),
    )
    curve.insert(0, "contrast", np.full(len(curve), name, dtype=object))

    params: dict[str, Any] = {
        "groupby": groupby,
        "contrast": name,
        "level_a": level_a,
        "level_b": level_b,
        "s0": float(s0),
        "n_permutations": int(n_permutations),
        "n_distinct_permutations": int(n_distinct),
        "fdr": float(fdr),
        "alpha": float(fdr),
        "block": block if block is not None else "",
        "pi0": pi0 if isinstance(pi0, str) else float(pi0),
        "pi0_used": pi0_used,
        "min_obs": int(min_obs),
        "layer": layer if layer is not None else "",
        "seed": int(seed),
        "d0": d0,
        "df": full_df,
        "n_a": n_a_all,
        "n_b": n_b_all,
        "n_significant": int(significant.sum()),
        "lfc": 0.0,
    }
    adata.uns[key_added] = {
        "params": params,
        "contrasts": [name],
        "table": table,
        "s0_curve": curve,
    }
    if n_distinct < n_permutations:
        logger.info(
            "permutation_fdr: only %d distinct labellings among %d permutations (%d + %d samples%s)",
            n_distinct,
            n_permutations,
            n_a_all,
            n_b_all,
            f", within {block!r}" if block else "",
        )
    logger.info(
        "permutation_fdr: %s, s0=%g, %d permutations: %d feature(s) at FDR < %g (d0=%.3g)",
        name,
        s0,
        n_permutations,
        int(significant.sum()),
        fdr,
        d0,
    )
    record_provenance(adata, "kratom_omics.tl.permutation_fdr", params)
