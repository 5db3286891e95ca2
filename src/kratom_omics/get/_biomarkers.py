"""Biomarker results as tidy tables (for notebooks and for the CLI, which writes them as TSV)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError, ResultNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = ["biomarkers"]


def biomarkers(
    data: AnnData | Mapping[str, AnnData] | MuData,
    key: str = "biomarkers",
    *,
    table: str = "candidates",
    contrast: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    significant_only: bool = False,
) -> pd.DataFrame:
    """Return a table of a biomarker result.

    Parameters
    ----------
    data
        AnnData with a result of :func:`kratom_omics.tl.flag_biomarkers` (or of
        :func:`~kratom_omics.tl.marker_auc` / :func:`~kratom_omics.tl.panel_cv`) under ``key``; for
        ``table="cross"`` a mapping ``{"protein": adata_p, "histone": adata_h}`` or a MuData whose
        datasets each hold a :func:`~kratom_omics.tl.flag_biomarkers` result.
    key
        Key of ``adata.uns`` holding the result.
    table
        ``"candidates"`` (one row per expected marker), ``"features"`` (every feature and contrast),
        ``"cross"`` (candidates of all modalities side by side), or a table of another result under
        ``key`` (``"auc"`` for :func:`~kratom_omics.tl.marker_auc`; ``"summary"``,
        ``"predictions"``, ``"folds"``, ``"coefficients"`` for :func:`~kratom_omics.tl.panel_cv`).
    contrast
        Keep only rows of this contrast (or these contrasts).
    status
        Keep only rows with this status (or these), e.g. ``"concordant"`` or ``["up", "down"]``.
    significant_only
        Keep only significant rows (tables with a ``significant`` column).

    Returns
    -------
    A copy of the table as a DataFrame with a fresh integer index.
    """
    several = isinstance(data, Mapping) or isinstance(getattr(data, "mod", None), Mapping)
    if table == "cross" or several:
        if table not in ("cross", "candidates"):
            raise InputFormatError(
                f"table={table!r} with several datasets; only table='cross' combines datasets. "
                "Pass one "
                "AnnData for other tables."
            )
        from ..tl._biomarkers import cross_table

        out = cross_table(data, key)
    else:
        if not hasattr(data, "uns"):
            raise InputFormatError(
                f"data is a {type(data).__name__}; expected an AnnData (or, for table='cross', a "
                "mapping of "
                "modality name to AnnData)."
            )
        if key not in data.uns:
            raise ResultNotFoundError(
                did_you_mean(
                    key, [k for k in data.uns if isinstance(data.uns[k], Mapping)], what="key"
                ).replace(
                    "is not available",
                    "is not a result in adata.uns; run kom.tl.flag_biomarkers first",
                )
            )
        res = data.uns[key]
        tables = (
            [k for k, v in res.items() if isinstance(v, pd.DataFrame)]
            if isinstance(res, Mapping)
            else []
        )
        if table not in tables:
            raise KeyNotFoundError(
                did_you_mean(table, tables, what="table").replace(
                    "is not available", f"is not a table of adata.uns[{key!r}]"
                )
            )
        out = res[table].copy()
    if contrast is not None:
        wanted = [contrast] if isinstance(contrast, str) else list(contrast)
        col = (
            "contrast"
            if "contrast" in out.columns
            else ("comparison" if "comparison" in out.columns else None)
        )
        if col is None:
            raise InputFormatError(f"table={table!r} has no contrast column; drop contrast=.")
        present = list(pd.unique(out[col].astype(str)))
        for c in wanted:
            if c not in present:
                raise KeyNotFoundError(
                    did_you_mean(c, present, what="contrast").replace(
                        "is not available", f"is not a contrast of table {table!r}"
                    )
                )
        out = out[out[col].isin(wanted)]
    if status is not None:
        if "status" not in out.columns:
            raise InputFormatError(f"table={table!r} has no 'status' column; drop status=.")
        wanted_status = [status] if isinstance(status, str) else list(status)
        from ..tl._biomarkers import CANDIDATE_STATUSES, FEATURE_STATUSES

        known = sorted(set(CANDIDATE_STATUSES) | set(FEATURE_STATUSES))
        for st in wanted_status:
            if st not in known:
                raise KeyNotFoundError(
                    did_you_mean(st, known, what="status").replace(
                        "is not available", "is not a biomarker status"
                    )
                )
        out = out[out["status"].isin(wanted_status)]
    if significant_only:
        if "significant" not in out.columns:
            raise InputFormatError(
                f"table={table!r} has no 'significant' column; drop significant_only=."
            )
        out = out[out["significant"].fillna(False).astype(bool)]
    return out.reset_index(drop=True)
