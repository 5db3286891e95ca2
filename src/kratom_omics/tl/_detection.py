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

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._results import DETECTION_COLUMNS

__all__ = [
    "DETECTION_COLUMNS",
    "complete_counts",
    "contrast_sides",
    "detection_columns",
    "detection_counts",
    "detection_from_counts",
    "fisher_exact_counts",
    "side_masks",
    "side_totals",
]


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
    cols = [np.asarray(v, dtype=np.int64).reshape(-1) for v in (det_a, n_a, det_b, n_b)]
    if not cols[0].size:
        return np.empty(0)
    # one integer per table (the counts are small): distinct tables found by hashing, not by
    # sorting rows
    base = int(max(int(c.max()) for c in cols)) + 2
    code = cols[0] + 1
    for c in cols[1:]:
        code = code * base + (c + 1)
    inverse, uniq = pd.factorize(code, sort=False)
    parts = []
    rest = np.asarray(uniq, dtype=np.int64)
    for _ in range(4):
        parts.append(rest % base - 1)
        rest = rest // base
    da, na, db, nb = parts[::-1]
    p_uniq = np.array(
        [
            _fisher(int(w), int(x), int(y), int(z))
            for w, x, y, z in zip(da, na, db, nb, strict=True)
        ],
        dtype=float,
    )
    return p_uniq[inverse]


@functools.lru_cache(maxsize=65536)
def _fisher(da: int, na: int, db: int, nb: int) -> float:
    """One table's p-value, cached: block after block of features repeat the same few tables."""
    if na == 0 or nb == 0:
        return float("nan")
    if da + db == 0 or da + db == na + nb:
        # a column of the table is empty (nothing missing, or nothing detected): scipy's
        # fisher_exact returns 1 for it; answered here without importing scipy.stats
        return 1.0
    from scipy import stats

    return float(stats.fisher_exact([[da, na - da], [db, nb - db]]).pvalue)


def side_masks(
    groups: pd.Series, sides: Sequence[tuple[list[str], list[str]] | None]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Boolean sample masks of side *a* and side *b* of every contrast (``None`` without sides)."""
    labels = groups.astype(str).to_numpy()
    known = groups.notna().to_numpy()
    return [
        None
        if side is None
        else (np.isin(labels, side[0]) & known, np.isin(labels, side[1]) & known)
        for side in sides
    ]


def detection_counts(
    detected: np.ndarray, masks: Sequence[tuple[np.ndarray, np.ndarray] | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Detected samples on side *a* and *b* per feature and contrast (features x samples input;
    -1 for a contrast without sides). int32: a few bytes per feature, gathered from dask tasks.

    When every value is observed the counts are the side totals: :func:`complete_counts` gives
    them as one row without reading the data.
    """
    g = detected.shape[0]
    det_a = np.full((g, len(masks)), -1, dtype=np.int32)
    det_b = np.full((g, len(masks)), -1, dtype=np.int32)
    for j, m in enumerate(masks):
        if m is not None:
            det_a[:, j] = detected[:, m[0]].sum(axis=1)
            det_b[:, j] = detected[:, m[1]].sum(axis=1)
    return det_a, det_b


def complete_counts(
    masks: Sequence[tuple[np.ndarray, np.ndarray] | None],
) -> tuple[np.ndarray, np.ndarray]:
    """The counts of :func:`detection_counts` for a block in which every value is observed: one
    row (1 x contrasts, the side totals; -1 without sides) that broadcasts over the features."""
    tot_a, tot_b = side_totals(masks)
    has = np.array([m is not None for m in masks], dtype=bool)
    det_a = np.where(has, tot_a, -1).astype(np.int32).reshape(1, -1)
    det_b = np.where(has, tot_b, -1).astype(np.int32).reshape(1, -1)
    return det_a, det_b


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
    detected = np.isfinite(y)
    masks = side_masks(groups, sides)
    det_a, det_b = detection_counts(detected, masks)
    totals = side_totals(masks)
    cols, fc = detection_from_counts(
        det_a, det_b, totals, sides, log2fc, df_residual, ~detected.any(axis=1)
    )

    def long(a: np.ndarray) -> np.ndarray:
        return np.asarray(a).T.reshape(-1)

    return {c: long(v) for c, v in cols.items()}, long(fc)


def side_totals(
    masks: Sequence[tuple[np.ndarray, np.ndarray] | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Number of samples on side *a* and *b* of every contrast (0 without sides)."""
    tot_a = np.array([0 if m is None else int(m[0].sum()) for m in masks], dtype=np.int64)
    tot_b = np.array([0 if m is None else int(m[1].sum()) for m in masks], dtype=np.int64)
    return tot_a, tot_b


def detection_from_counts(
    det_a: np.ndarray,
    det_b: np.ndarray,
    totals: tuple[np.ndarray, np.ndarray],
    sides: Sequence[tuple[list[str], list[str]] | None],
    log2fc: np.ndarray,
    df_residual: np.ndarray,
    nothing_detected: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The detection columns (features x contrasts) from the counts of :func:`detection_counts`.

    Works on any block of features (the chunked engine calls it block by block); returns the
    columns and ``log2fc`` with ``+inf``/``-inf`` for on/off features (``log2fc`` itself, not a
    copy, when there is none).

    Counts of one row (:func:`complete_counts`: every value of the block observed) give columns of
    one row too, the same for every feature, as long as no contrast is NA and every feature has
    residual df (so nothing is computed per feature); otherwise they are broadcast.
    """
    g, k = log2fc.shape
    tot_a, tot_b = totals
    has_side = np.array([s is not None for s in sides], dtype=bool)
    if det_a.shape[0] == 1 and g != 1:  # one row of counts for the whole block
        if not np.isnan(log2fc).any() and not np.any(np.asarray(df_residual) == 0):
            cols, _ = detection_from_counts(
                det_a, det_b, totals, sides, np.zeros((1, k)), np.ones(1), np.zeros(1, bool)
            )
            return cols, log2fc
        det_a = np.broadcast_to(det_a, (g, k))
        det_b = np.broadcast_to(det_b, (g, k))
        nothing_detected = np.broadcast_to(nothing_detected, (g,))
    na_mat = np.broadcast_to(tot_a, (g, k))
    nb_mat = np.broadcast_to(tot_b, (g, k))
    pval = np.full((g, k), np.nan)
    if has_side.any():
        sel = np.broadcast_to(has_side, (g, k))
        pval[sel] = fisher_exact_counts(det_a[sel], na_mat[sel], det_b[sel], nb_mat[sel])
    nan_fc = np.isnan(log2fc)
    on = nan_fc & has_side & (det_a > 0) & (det_b == 0)
    off = nan_fc & has_side & (det_a == 0) & (det_b > 0)
    fc = log2fc
    if on.any() or off.any():
        fc = np.array(log2fc, dtype=float, copy=True)
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
    reason[np.asarray(nothing_detected, dtype=bool), :] = "not detected in any sample"
    cols = {
        "n_detected_a": np.where(det_a < 0, np.nan, det_a.astype(float)),
        "n_a": np.where(has_side, na_mat, np.nan).astype(float),
        "n_detected_b": np.where(det_b < 0, np.nan, det_b.astype(float)),
        "n_b": np.where(has_side, nb_mat, np.nan).astype(float),
        "detection_pvalue": pval,
        "reason": reason,
    }
    return cols, fc
