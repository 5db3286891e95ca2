"""Small-panel test results (:func:`kratom_omics.tl.panel_tests`) as tidy tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import KeyNotFoundError, ResultNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["panel_tests"]


def panel_tests(
    adata: AnnData,
    key: str = "panel_tests",
    *,
    test: str = "anova",
    contrast: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return the table of one test of :func:`kratom_omics.tl.panel_tests`.

    Parameters
    ----------
    adata
        AnnData with a result of :func:`kratom_omics.tl.panel_tests` under ``adata.uns[key]``.
    key
        Key of ``adata.uns`` holding the result.
    test
        ``"anova"``, ``"tukey"``, ``"dunnett"`` or ``"mixed"`` (one that was run).
    contrast
        Keep only rows of this contrast (or these), e.g. ``"withdrawal - control"`` (pairwise
        tables only).

    Returns
    -------
    A copy of the table (columns as documented in :func:`kratom_omics.tl.panel_tests`) with a fresh
    integer index.
    """
    res = adata.uns.get(key)
    if not isinstance(res, Mapping) or "params" not in res:
        avail = [
            k
            for k, v in adata.uns.items()
            if isinstance(v, Mapping)
            and any(t in v for t in ("anova", "tukey", "dunnett", "mixed"))
        ]
        raise ResultNotFoundError(
            f"key={key!r}: no panel test results in adata.uns[{key!r}]; run "
            f"kom.tl.panel_tests(adata, ..., key_added={key!r}) first. Result keys present: {avail}"
        )
    tables = [k for k, v in res.items() if isinstance(v, pd.DataFrame)]
    if test not in tables:
        raise ResultNotFoundError(
            did_you_mean(test, tables, what="test").replace(
                "is not available", f"was not run for adata.uns[{key!r}]"
            )
            + f"; run kom.tl.panel_tests(adata, tests=[{test!r}], key_added={key!r})."
        )
    out = pd.DataFrame(res[test]).copy()
    if contrast is not None:
        if "contrast" not in out.columns:
            raise KeyNotFoundError(
                f"contrast={contrast!r}: the {test!r} table has no contrasts (one row per "
                "feature); leave contrast=None."
            )
        wanted = [contrast] if isinstance(contrast, str) else list(contrast)
        present = [str(c) for c in pd.unique(out["contrast"])]
        for c in wanted:
            if c not in present:
                raise KeyNotFoundError(
                    did_you_mean(c, present, what="contrast").replace(
                        "is not available", f"is not a contrast of the {test!r} table"
                    )
                )
        out = out.loc[out["contrast"].astype(str).isin(wanted)]
    return out.reset_index(drop=True)
