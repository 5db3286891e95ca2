"""The standard preprocessing chain, as the workflow runs it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from .._defaults import PREPROCESS
from ..errors import InputFormatError
from ._common import start
from ._filter import filter_valid
from ._filter import remove_flagged as remove_flagged_features
from ._histone import histone_transform
from ._impute import impute as impute_values
from ._normalize import normalize as normalize_values
from ._transform import log2

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["recipe"]

logger = logging.getLogger("kratom_omics")


def recipe(
    adata: AnnData,
    *,
    remove_flagged: bool = PREPROCESS.remove_flagged,
    transform: Literal["log2", "logit", "clr", "none"] = PREPROCESS.transform,
    pseudocount: float = PREPROCESS.pseudocount,
    min_valid: float = PREPROCESS.min_valid,
    valid_mode: Literal["total", "each_group", "any_group"] = PREPROCESS.valid_mode,
    normalize: Literal["median", "quantile", "none"] = PREPROCESS.normalize,
    impute: Literal["none", "downshift", "minprob", "knn", "mixed"] = PREPROCESS.impute,
    groupby: str = PREPROCESS.groupby,
    seed: int = PREPROCESS.seed,
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
    if transform not in ("log2", "logit", "clr", "none"):
        raise InputFormatError(
            f"transform={transform!r}; expected 'log2', 'logit', 'clr' or 'none'."
        )
    adata = start(adata, copy)
    flags = [c for c in ("is_contaminant", "is_decoy", "only_by_site") if c in adata.var]
    if remove_flagged and flags:
        remove_flagged_features(adata)
    if min_valid > 0:
        filter_valid(adata, min_valid=min_valid, mode=valid_mode, groupby=groupby)
    if transform == "log2":
        log2(adata, pseudocount=pseudocount)
    elif transform in ("logit", "clr"):
        histone_transform(adata, method=transform)
    if normalize != "none":
        normalize_values(adata, method=normalize)
    if impute != "none":
        impute_values(adata, method=impute, seed=seed, groupby=groupby)
    logger.info("preprocessed: %d samples x %d features", adata.n_obs, adata.n_vars)
    return adata if copy else None
