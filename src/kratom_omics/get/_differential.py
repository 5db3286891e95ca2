"""Results of :func:`kratom_omics.tl.differential` as tidy tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .._results import get_result
from ..errors import KeyNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["differential", "differential_f"]

_ASCENDING = {"pvalue": True, "padj": True, "feature": True, "contrast": True, "se": True}
_BY_ABS = {"log2fc", "t"}


def _sorted(df: pd.DataFrame, sort_by: str | None, *, owned: bool) -> pd.DataFrame:
    """``df`` with a fresh integer index, sorted by ``sort_by`` (NaN last).

    ``owned``: ``df`` is a new frame of the caller's, re-indexed in place; otherwise (the stored
    table) a copy is returned. Either way the rows of a large table are copied at most once.
    """
    if sort_by is None:
        out = df if owned else df.copy()
        out.index = pd.RangeIndex(len(out))
        return out
    if sort_by not in df.columns:
        raise KeyNotFoundError(
            did_you_mean(sort_by, df.columns, what="sort_by").replace(
                "is not available", "is not a column of the result table"
            )
        )
    key = df[sort_by].abs() if sort_by in _BY_ABS else df[sort_by]
    ascending = sort_by not in _BY_ABS and _ASCENDING.get(sort_by, False)
    order = key.reset_index(drop=True).sort_values(
        ascending=ascending, kind="stable", na_position="last"
    )
    out = df.take(order.index.to_numpy())  # a new frame: the one copy of the rows
    out.index = pd.RangeIndex(len(out))
    return out


def differential(
    adata: AnnData,
    key: str = "differential",
    *,
    contrast: str | None = None,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """The long result table of :func:`kratom_omics.tl.differential` (a copy).

    Changing the returned table leaves the stored result as it is, and the other way round.
    Under pandas' copy-on-write (pandas 3, or ``pd.options.mode.copy_on_write = True``) the
    copy is lazy: the returned table shares the stored columns until either is modified, so
    getting a table of millions of rows costs no memory.

    Parameters
    ----------
    adata
        AnnData holding the result.
    key
        ``key_added`` used by :func:`kratom_omics.tl.differential`.
    contrast
        Keep only this contrast (spacing is normalised: ``"withdrawal-control"`` works).
    sort_by
        Column to sort by: ``pvalue``/``padj`` ascending, ``log2fc``/``t`` by decreasing absolute
        value, ``B``/``mean_log2`` and other statistics decreasing; NaN last.

    Returns
    -------
    DataFrame with columns ``feature, contrast, log2fc, se, ci_low, ci_high, mean_log2, t, df_total,
    pvalue, padj, B, s2_post, df_residual, n_obs``, the detection columns ``n_detected_a, n_a,
    n_detected_b, n_b, detection_pvalue, reason`` (``log2fc`` is +/-inf for a feature detected on one
    side of the contrast only, with Fisher's exact test in ``detection_pvalue``) and ``gene`` when
    ``.var`` has it; one row per feature and contrast. A result written with ``out=`` is read
    from its parquet file (only the rows of ``contrast`` when one is given).
    """
    res = get_result(adata, key)
    if contrast is not None:
        return _sorted(res.contrast_table(contrast), sort_by, owned=True)
    if sort_by is None:
        return _sorted(res.table(copy=True), None, owned=True)
    return _sorted(res.table(), sort_by, owned=False)  # sorting makes the copy


def differential_f(
    adata: AnnData, key: str = "differential", *, sort_by: str | None = None
) -> pd.DataFrame:
    """The moderated F table (all contrasts jointly) of :func:`kratom_omics.tl.differential`.

    Parameters
    ----------
    adata
        AnnData holding the result.
    key
        ``key_added`` used by :func:`kratom_omics.tl.differential`.
    sort_by
        Column to sort by (``pvalue``/``padj`` ascending, ``F`` decreasing); NaN last.

    Returns
    -------
    DataFrame with columns ``feature, F, df1, df2, pvalue, padj`` (+ ``gene``), one row per feature.
    """
    res = get_result(adata, key, part="f_table")
    if sort_by is None:
        return _sorted(res.table("f_table", copy=True), None, owned=True)
    return _sorted(res.table("f_table"), sort_by, owned=False)
