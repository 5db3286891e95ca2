"""The standard preprocessing chain, as the workflow runs it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from .._core import record_provenance, track_info
from .._defaults import PREPROCESS
from ..errors import InputFormatError
from ._common import start, x_transform
from ._filter import filter_valid
from ._filter import remove_flagged as remove_flagged_features
from ._histone import histone_transform
from ._impute import impute as impute_values
from ._normalize import check_method, irs_references
from ._normalize import normalize as normalize_values
from ._tracks import normalize_tracks
from ._transform import log2

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["recipe"]

logger = logging.getLogger("kratom_omics")

#: ``track_normalization`` -> the method and total of :func:`normalize_tracks`.
TRACK_NORMALIZATIONS: dict[str, tuple[str, str]] = {
    "total": ("total", "regions"),
    "track": ("total", "track"),
    "spikein": ("spikein", "regions"),
    "none": ("none", "regions"),
}
#: The ``.obs`` column of spike-in reads read by ``track_normalization="spikein"``.
SPIKEIN_COLUMN = "spikein_reads"


def recipe(
    adata: AnnData,
    *,
    remove_flagged: bool = PREPROCESS.remove_flagged,
    transform: Literal["log2", "logit", "clr", "none"] = PREPROCESS.transform,
    pseudocount: float = PREPROCESS.pseudocount,
    min_valid: float = PREPROCESS.min_valid,
    valid_mode: Literal["total", "each_group", "any_group"] = PREPROCESS.valid_mode,
    normalize: Literal[
        "median", "quantile", "none", "reference_sample", "reference_feature", "irs"
    ] = PREPROCESS.normalize,
    reference: str | int | Sequence[str | int] | None = None,
    impute: Literal["none", "downshift", "minprob", "knn", "mixed"] = PREPROCESS.impute,
    track_normalization: Literal[
        "total", "track", "spikein", "none"
    ] = PREPROCESS.track_normalization,
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
    4. :func:`normalize` (``median``, ``quantile``, ``reference_sample``, ``reference_feature``,
       ``irs`` with ``reference``, or ``none``); ``irs`` (isobaric plexes) is preceded by the
       median normalisation, its sample-loading step, as IRS and MSstatsTMT apply it;
    5. :func:`impute` only when asked (the linear model handles missing values itself).

    Signal tracks (read by :func:`kratom_omics.io.read_bigwig`, which records them in
    ``.uns["tracks"]``) take :func:`normalize_tracks` in place of steps 3 and 4: each sample
    scaled as ``track_normalization`` says, then ``log2(value + pseudocount)`` when ``transform``
    is ``"log2"`` (a pseudocount of 0 becomes 1, in the tracks' units, so that regions without
    signal stay measured); ``normalize`` is not applied to them.

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
    normalize, reference
        Between-sample normalisation (step 4) and, for the reference and IRS methods, its
        reference samples, features or channels (see :func:`normalize`).
    impute, seed
        Imputation method (``"none"`` by default) and its seed.
    track_normalization
        Signal tracks only: ``"total"`` (CPM-like: each sample's total over the regions read),
        ``"track"`` (the total of each whole bigWig, ``.obs["track_sum"]``), ``"spikein"``
        (spike-in reads of ``.obs["spikein_reads"]``, which keeps a global change of the mark) or
        ``"none"`` (the tracks' own scaling); see :func:`normalize_tracks`.
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
    check_method(normalize, reference)  # before any step
    tracks = track_info(adata) is not None
    if tracks:
        _check_track_options(transform, track_normalization)
        if track_normalization == "spikein" and SPIKEIN_COLUMN not in adata.obs.columns:
            from ..errors import KeyNotFoundError

            raise KeyNotFoundError(
                f"track_normalization='spikein' divides each sample by its spike-in reads, read "
                f"from the sample sheet column {SPIKEIN_COLUMN!r}, which adata.obs lacks; add it "
                "to the sheet or use track_normalization='total'."
            )
    adata = start(adata, copy)
    flags = [c for c in ("is_contaminant", "is_decoy", "only_by_site") if c in adata.var]
    if remove_flagged and flags:
        remove_flagged_features(adata)
    if min_valid > 0:
        filter_valid(adata, min_valid=min_valid, mode=valid_mode, groupby=groupby)
    if tracks:
        method, total = TRACK_NORMALIZATIONS[track_normalization]
        if normalize != "none":
            logger.info(
                "recipe: signal tracks are scaled by track_normalization=%r; normalize=%r is not "
                "applied to them",
                track_normalization,
                normalize,
            )
        normalize_tracks(
            adata,
            method=method,  # type: ignore[arg-type]
            total=total,  # type: ignore[arg-type]
            spikein=SPIKEIN_COLUMN if method == "spikein" else None,
            log=transform == "log2",
            pseudocount=pseudocount if pseudocount > 0 else 1.0,
            layer="raw" if x_transform(adata) is not None and "raw" in adata.layers else None,
        )
        if impute != "none":
            impute_values(adata, method=impute, seed=seed, groupby=groupby)
        logger.info("preprocessed signal tracks: %d samples x %d regions", *adata.shape)
        return adata if copy else None
    if transform == "log2":
        log2(adata, pseudocount=pseudocount)
    elif transform in ("logit", "clr"):
        histone_transform(adata, method=transform)
    if normalize == "irs":
        normalize_values(adata, method="median")  # IRS's sample loading
    if normalize != "none":
        normalize_values(adata, method=normalize, reference=reference)
    if normalize == "irs":
        _drop_irs_references(adata, check_method(normalize, reference))
    if impute != "none":
        impute_values(adata, method=impute, seed=seed, groupby=groupby)
    logger.info("preprocessed: %d samples x %d features", adata.n_obs, adata.n_vars)
    return adata if copy else None


def _drop_irs_references(adata: AnnData, refs: list[str]) -> None:
    """Remove the reference channels internal reference scaling used: after it they hold the same
    values in every plex, and kept as samples they would add residual degrees of freedom without
    variance (MSstatsTMT drops its ``Norm`` channels likewise)."""
    import pandas as pd

    is_ref = irs_references(adata, refs)
    removed = [str(n) for n in adata.obs_names[is_ref]]
    adata._inplace_subset_obs(~is_ref)
    for col in adata.obs.columns:  # a phase (or batch) only the references had is gone too
        if isinstance(adata.obs[col].dtype, pd.CategoricalDtype):
            adata.obs[col] = adata.obs[col].cat.remove_unused_categories()
    logger.info(
        "recipe: %d reference channel(s) removed after internal reference scaling: %s",
        len(removed),
        removed[:12],
    )
    record_provenance(adata, "kratom_omics.pp.recipe", {"removed_references": removed})


def _check_track_options(transform: str, track_normalization: str) -> None:
    """Refuse a transform or normalisation that signal tracks cannot take (before any step)."""
    if track_normalization not in TRACK_NORMALIZATIONS:
        from ..errors import did_you_mean

        raise InputFormatError(
            did_you_mean(
                track_normalization, list(TRACK_NORMALIZATIONS), what="track_normalization"
            )
        )
    if transform in ("logit", "clr"):
        raise InputFormatError(
            f"transform={transform!r} is for histone peptidoform ratios; signal tracks (bigWig) "
            "take transform='log2' (default) or 'none'."
        )
