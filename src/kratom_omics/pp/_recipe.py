"""The standard preprocessing chain, as the workflow runs it."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Literal

from ..errors import InputFormatError
from ._common import start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["recipe"]

logger = logging.getLogger("kratom_omics")


def recipe(
    adata: AnnData,
    *,
    remove_flagged: bool = True,
    transform: Literal["log2", "logit", "clr", "none"] = "log2",
    pseudocount: float = 0.0,
    min_valid: float = 0.7,
    valid_mode: Literal["total", "each_group", "any_group"] = "any_group",
    normalize: Literal["median", "quantile", "none"] = "median",
    impute: Literal["none", "downshift", "minprob", "knn", "mixed"] = "none",
    groupby: str = "phase",
    seed: int = 0,
    copy: bool = False,
) -> AnnData | None:
    """Run the usual preprocessing steps in order, each recorded in the provenance.

    1. :func:`remove_flagged` (contaminants, decoys, only identified by site) when ``remove_flagged``
       and the flags exist;
    2. :func:`filter_valid` with ``min_valid`` and ``valid_mode`` over ``groupby``;
    3. the transformation: :func:`log2`, or for histone peptidoform ratios ``logit`` / ``clr``
       (:func:`histone_transform`), or none;
    4. :func:`normalize` (``median``, ``quantile`` or ``none``);
    5. :func:`impute` only when asked (the linear model handles missing values itself).

    Parameters
    ----------
    adata
        Data as loaded (``.X`` on the loaded scale).
    remove_flagged
        Remove flagged features (step 1).
    transform, pseudocount
        Transformation of ``.X`` and the pseudo-count for ``log2`` of counts.
    min_valid, valid_mode, groupby
        Valid-value filter (step 2); ``min_valid=0`` keeps every feature.
    normalize
        Between-sample normalisation (step 4).
    impute, seed
        Imputation method (``"none"`` by default) and its seed.
    copy
        Return a processed copy instead of modifying ``adata``.

    Returns
    -------
    None, or the processed copy when ``copy=True``. ``.X`` holds the analysis-ready values; the steps'
    own outputs (``.layers["imputed_mask"]``, provenance) are as documented for each step.
    """
    from . import filter_valid as _filter_valid
    from . import impute as _impute
    from . import log2 as _log2
    from . import normalize as _normalize
    from . import remove_flagged as _remove_flagged

    if transform not in ("log2", "logit", "clr", "none"):
        raise InputFormatError(
            f"transform={transform!r}; expected 'log2', 'logit', 'clr' or 'none'."
        )
    adata = start(adata, copy)
    flags = [c for c in ("is_contaminant", "is_decoy", "only_by_site") if c in adata.var]
    if remove_flagged and flags:
        _remove_flagged(adata)
    if min_valid > 0:
        _filter_valid(adata, min_valid=min_valid, mode=valid_mode, groupby=groupby)
    if transform == "log2":
        _log2(adata, pseudocount=pseudocount)
    elif transform in ("logit", "clr"):
        histone = importlib.import_module("kratom_omics.pp._histone")
        histone.histone_transform(adata, method=transform)
    if normalize != "none":
        _normalize(adata, method=normalize)
    if impute != "none":
        _impute(adata, method=impute, seed=seed, groupby=groupby)
    logger.info("preprocessed: %d samples x %d features", adata.n_obs, adata.n_vars)
    return adata if copy else None
