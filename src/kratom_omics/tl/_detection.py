"""On/off markers: detection counts and Fisher's exact test for features absent in a group.

A feature measured in one phase and missing in every sample of another cannot get a moderated t
(limma reports NA for a contrast that involves an inestimable group), yet "present after withdrawal,
absent in control" is exactly the kind of marker the study looks for. For every contrast whose two
sides are groups of ``groupby`` (``withdrawal - control``, ``(use + withdrawal)/2 - control``) the
samples of the levels with positive weight form side *a* and those with negative weight side *b*;
the detected (non-missing) samples of each side are counted and compared by Fisher's exact test
(two-sided, as ``scipy.stats.fisher_exact``). A contrast with one side entirely missing and the
other detected gets ``log2fc = +inf`` (detected on side *a* only) or ``-inf`` (side *b* only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["contrast_sides", "detection_columns", "fisher_exact_counts"]

DETECTION_COLUMNS: tuple[str, ...] = (
    "n_detected_a",
    "n_a",
    "n_detected_b",
    "n_b",
    "detection_pvalue",
    "reason",
)


def contrast_sides(
    cmat: np.ndarray, level_vectors: dict[str, np.ndarray]
) -> list[tuple[list[str], list[str]] | None]:
    """Levels on the positive and negative side of each contrast (``None`` if not level-only).

    ``cmat`` is design columns x contrasts. A contrast is written in levels when it is a linear
    combination of the level vectors; otherwise (a covariate coefficient) it has no sides.
    """
    levels = list(level_vectors)
    if not levels:
        return [None] * cmat.shape[1]
    vmat = np.column_stack([level_vectors[lv] for lv in levels])  # columns x levels
    w, *_ = np.linalg.lstsq(vmat, cmat, rcond=None)
    resid = np.abs(vmat @ w - cmat).max(axis=0)
    out: list[tuple[list[str], list[str]] | None] = []
    for j in range(cmat.shape[1]):
        wj = w[:, j]
        tol = 1e-9 * max(1.0, float(np.abs(wj).max()))
        pos = [lv for lv, x in zip(levels, wj, strict=True) if x > tol]
        neg = [lv for lv, x in zip(levels, wj, strict=True) if x < -tol]
        ok = resid[j] <= 1e-9 * max(1.0, float(np.abs(cmat[:, j]).max())) and pos and neg
        out.append((pos, neg) if ok else None)
    return out


def fisher_exact_counts(
    det_a: np.ndarray, n_a: np.ndarray, det_b: np.ndarray, n_b: np.ndarray
) -> np.ndarray:
    """Two-sided Fisher's exact p-values of detected/undetected counts on two sides.

    The 2 x 2 table is ``[[det_a, n_a - det_a], [det_b, n_b - det_b]]``; p-values equal
    ``scipy.stats.fisher_exact(table).pvalue``. Computed once per distinct table (the counts are
    small integers, so there are few), then broadcast back to the features.
    """
    from scipy import stats

    keys = np.column_stack([det_a, n_a, det_b, n_b]).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    p_uniq = np.empty(len(uniq))
    for i, (da, na, db, nb) in enumerate(uniq):  # one per distinct table, not per feature
        if na == 0 or nb == 0:
            p_uniq[i] = np.nan
            continue
        p_uniq[i] = stats.fisher_exact([[da, na - da], [db, nb - db]]).pvalue
    return p_uniq[np.asarray(inverse).reshape(-1)]


def detection_columns(
    y: np.ndarray,
    groups: pd.Series,
    sides: Sequence[tuple[list[str], list[str]] | None],
    log2fc: np.ndarray,
    df_residual: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Detection columns of the long table and ``log2fc`` with on/off results filled in.

    Parameters
    ----------
    y
        Features x samples, NaN = not detected.
    groups
        Group label of every sample (``adata.obs[groupby]``).
    sides
        Output of :func:`contrast_sides`, one entry per contrast.
    log2fc
        Features x contrasts, the limma contrasts (NaN where not estimable).
    df_residual
        Residual df per feature.

    Returns
    -------
    Columns in long order (contrast-major: all features of the first contrast, then the next)
    ``n_detected_a, n_a, n_detected_b, n_b, detection_pvalue, reason`` and the long ``log2fc``
    (``+inf``/``-inf`` for on/off features).
    """
    g, k = log2fc.shape
    detected = np.isfinite(y)
    labels = groups.astype(str).to_numpy()
    det_a = np.full((g, k), -1, dtype=np.int64)
    det_b = np.full((g, k), -1, dtype=np.int64)
    tot_a = np.zeros(k, dtype=np.int64)
    tot_b = np.zeros(k, dtype=np.int64)
    for j, side in enumerate(sides):
        if side is None:
            continue
        in_a = np.isin(labels, side[0]) & groups.notna().to_numpy()
        in_b = np.isin(labels, side[1]) & groups.notna().to_numpy()
        det_a[:, j] = detected[:, in_a].sum(axis=1)
        det_b[:, j] = detected[:, in_b].sum(axis=1)
        tot_a[j] = int(in_a.sum())
        tot_b[j] = int(in_b.sum())
    has_side = np.array([s is not None for s in sides], dtype=bool)
    na_mat = np.broadcast_to(tot_a, (g, k))
    nb_mat = np.broadcast_to(tot_b, (g, k))
    pval = np.full((g, k), np.nan)
    if has_side.any():
        sel = np.broadcast_to(has_side, (g, k))
        pval[sel] = fisher_exact_counts(det_a[sel], na_mat[sel], det_b[sel], nb_mat[sel])
    fc = np.array(log2fc, dtype=float, copy=True)
    nan_fc = np.isnan(fc)
    on = nan_fc & has_side & (det_a > 0) & (det_b == 0)
    off = nan_fc & has_side & (det_a == 0) & (det_b > 0)
    fc[on] = np.inf
    fc[off] = -np.inf
    reason = np.full((g, k), "", dtype=object)
    no_df = (np.asarray(df_residual) == 0)[:, None] & ~nan_fc
    reason[no_df] = "no residual df (too few observed samples for a variance)"
    reason[nan_fc] = "contrast not estimable (a group it involves is missing)"
    reason[nan_fc & has_side & (det_a == 0) & (det_b == 0)] = "not detected on either side"
    for j, side in enumerate(sides):
        if side is None:
            continue
        a_name, b_name = " + ".join(side[0]), " + ".join(side[1])
        reason[on[:, j], j] = f"on/off: detected in {a_name}, absent in {b_name}"
        reason[off[:, j], j] = f"on/off: absent in {a_name}, detected in {b_name}"
    allnan = ~np.isfinite(y).any(axis=1)
    reason[allnan, :] = "not detected in any sample"

    def long(a: np.ndarray) -> np.ndarray:
        return np.asarray(a).T.reshape(-1)

    cols = {
        "n_detected_a": long(np.where(det_a < 0, np.nan, det_a.astype(float))),
        "n_a": long(np.where(has_side, na_mat, np.nan).astype(float)),
        "n_detected_b": long(np.where(det_b < 0, np.nan, det_b.astype(float))),
        "n_b": long(np.where(has_side, nb_mat, np.nan).astype(float)),
        "detection_pvalue": long(pval),
        "reason": long(reason),
    }
    return cols, long(fc)
