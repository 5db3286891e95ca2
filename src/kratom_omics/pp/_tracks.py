"""Normalisation of signal tracks summarised over regions (from :func:`kratom_omics.io.read_bigwig`).

bigWig values are already scaled by the tool that wrote them (CPM, RPGC, fold enrichment over
input), so ``method="none"`` keeps that scaling. Otherwise each sample's values are divided by a
scale factor:

``"total"``
    Library-size (CPM-like) scaling: the factor is the sample's total signal divided by the
    geometric mean of the totals, so all samples get the same total and the values stay in the
    tracks' units (a pseudocount keeps its meaning). The total is taken over the regions read
    (``total="regions"``; regions with a missing value in any sample are left out) or over the
    whole track (``total="track"``: the sum of value x bases of the bigWig, ``.obs["track_sum"]``,
    which :func:`~kratom_omics.io.read_bigwig` takes from each file's header). Like CPM and TMM it
    assumes most of the signal does not change: a global loss of the mark is normalised away.
``"spikein"``
    Spike-in reads per sample (an ``.obs`` column or a ``{sample: reads}`` mapping): the factor
    is the sample's spike-in divided by their geometric mean, so a global change of the mark is
    kept (ChIP-Rx, CUT&RUN with E. coli DNA).
``"factor"``
    Scale factors given per sample (an ``.obs`` column or a mapping) that the values are
    *multiplied* by, as ChIP-Rx's ``alpha = 1e6 / spike-in reads`` or deepTools' ``--scaleFactor``.

With ``log=True`` (default) the scaled values are then log2-transformed with a pseudocount by
:func:`kratom_omics.pp.log2`, ready for :func:`kratom_omics.tl.differential`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import check_layer, get_matrix, record_provenance
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._common import set_x_transform, start, x_transform
from ._transform import log2

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["normalize_tracks"]

logger = logging.getLogger("kratom_omics")

METHODS = ("none", "total", "spikein", "factor")


def _per_sample(
    adata: AnnData, value: str | Mapping[str, float] | None, argument: str
) -> np.ndarray:
    """One positive number per sample from an ``.obs`` column or a ``{sample: value}`` mapping."""
    if value is None:
        raise InputFormatError(
            f"normalize_tracks: {argument}= is needed (an .obs column or a {{sample: value}} "
            "mapping)."
        )
    if isinstance(value, str):
        if value not in adata.obs.columns:
            raise KeyNotFoundError(
                did_you_mean(value, adata.obs.columns, what=argument).replace(
                    "is not available", "is not a column of adata.obs"
                )
            )
        raw = adata.obs[value]
        out = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        where = f"adata.obs[{value!r}]"
    elif isinstance(value, Mapping):
        missing = [s for s in adata.obs_names if s not in value]
        if missing:
            raise KeyNotFoundError(
                f"normalize_tracks: {argument} has no value for sample(s) {missing[:10]}; give "
                "every sample of adata.obs_names one."
            )
        raw = pd.Series([value[s] for s in adata.obs_names], index=adata.obs_names)
        out = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        where = argument
    else:
        raise InputFormatError(
            f"normalize_tracks: {argument}={value!r}; expected an .obs column name or a "
            "{sample: value} mapping."
        )
    bad = ~np.isfinite(out) | (out <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = raw.iloc[i] if isinstance(raw.iloc[i], str) else float(out[i])
        raise InputFormatError(
            f"normalize_tracks: {where} is {shown!r} for sample {adata.obs_names[i]!r}; "
            "expected a positive number for every sample."
        )
    return out


def _geomean(v: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(v))))


def normalize_tracks(
    adata: AnnData,
    *,
    method: Literal["none", "total", "spikein", "factor"] = "total",
    total: Literal["regions", "track"] = "regions",
    spikein: str | Mapping[str, float] | None = None,
    factors: str | Mapping[str, float] | None = None,
    log: bool = True,
    pseudocount: float = 1.0,
    layer: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Scale signal-track values per sample (none, total signal, spike-in, given factors) and log2.

    Parameters
    ----------
    adata
        Samples x regions of track signal on the linear scale (:func:`kratom_omics.io.read_bigwig`).
    method
        ``"none"`` (the tracks' own scaling), ``"total"`` (CPM-like, see ``total``),
        ``"spikein"`` (divide by spike-in reads, see ``spikein``) or ``"factor"`` (multiply by
        ``factors``); see the module documentation.
    total
        For ``method="total"``: the total signal over the regions read (``"regions"``) or over the
        whole track (``"track"``, from ``.obs["track_sum"]``).
    spikein
        For ``method="spikein"``: ``.obs`` column or ``{sample: reads}`` of spike-in reads.
    factors
        For ``method="factor"``: ``.obs`` column or ``{sample: factor}`` to multiply by.
    log
        Apply ``log2(value + pseudocount)`` (:func:`kratom_omics.pp.log2`) after scaling.
    pseudocount
        Added before the logarithm, in the tracks' units (>= 0; with 0, zeros become NaN).
    layer
        Read the linear values from this layer (e.g. ``"raw"``) instead of ``.X``.
    copy
        Return a normalised copy instead of modifying ``adata``.

    Returns
    -------
    None, or the copy when ``copy=True``. Writes ``.X`` (scaled, then log2 with ``log=True``),
    ``.obs["track_scale"]`` (the divisor of each sample; 1 for ``"none"``) and a provenance step
    (then the ``log2`` step); ``layers["raw"]`` is not changed.

    Raises
    ------
    InputFormatError
        ``.X`` is log2 already (normalise the linear values: ``layer="raw"``), an unknown method,
        no region observed in every sample (``total="regions"``), a factor that is missing, zero
        or negative (the sample is named).
    KeyNotFoundError
        A named ``.obs`` column (``track_sum``, ``spikein``, ``factors``) does not exist.
    """
    if method not in METHODS:
        raise InputFormatError(did_you_mean(method, METHODS, what="method"))
    if total not in ("regions", "track"):
        raise InputFormatError(f"total={total!r}; expected 'regions' or 'track'.")
    if isinstance(pseudocount, bool) or not isinstance(pseudocount, (int, float, np.number)):
        raise InputFormatError(f"pseudocount={pseudocount!r}; expected a number >= 0.")
    if not math.isfinite(float(pseudocount)) or pseudocount < 0:
        raise InputFormatError(f"pseudocount={pseudocount!r}; expected a finite number >= 0.")
    check_layer(adata, layer)
    if layer is None and x_transform(adata) is not None:
        raise InputFormatError(
            f"normalize_tracks: adata.X is {x_transform(adata)}-transformed already; normalise "
            "the linear values with layer='raw'."
        )
    values = get_matrix(adata, layer).copy()
    finite = values[np.isfinite(values)]
    if finite.size and (finite < 0).any():
        raise InputFormatError(
            "normalize_tracks: the values hold negative numbers (log-ratio tracks, e.g. bamCompare "
            "--operation log2?); scaling and log2 need linear signal. Pass method='none', "
            "log=False and use the values as they are."
        )
    n_used: int | None = None
    if method == "none":
        scale = np.ones(adata.n_obs)
    elif method == "total":
        if total == "track":
            if "track_sum" not in adata.obs.columns:
                raise KeyNotFoundError(
                    "normalize_tracks: total='track' needs adata.obs['track_sum'] (the sum of "
                    "each whole track, which read_bigwig stores); use total='regions' or add it."
                )
            sums = _per_sample(adata, "track_sum", "track_sum")
        else:
            complete = np.isfinite(values).all(axis=0)
            n_used = int(complete.sum())
            if n_used == 0:
                raise InputFormatError(
                    "normalize_tracks: no region has a value in every sample, so totals are not "
                    "comparable; filter the regions (kom.pp.filter_valid) or use total='track'."
                )
            if n_used < values.shape[1]:
                logger.info(
                    "normalize_tracks: totals over the %d of %d regions observed in every sample",
                    n_used,
                    values.shape[1],
                )
            sums = values[:, complete].sum(axis=1)
            if (sums <= 0).any():
                empty = list(adata.obs_names[sums <= 0])
                raise InputFormatError(
                    f"normalize_tracks: sample(s) {empty} have no signal over the regions; check "
                    "their bigWig files."
                )
        scale = sums / _geomean(sums)
    elif method == "spikein":
        reads = _per_sample(adata, spikein, "spikein")
        scale = reads / _geomean(reads)
    else:
        scale = 1.0 / _per_sample(adata, factors, "factors")
    adata = start(adata, copy)
    adata.X = values / scale[:, None]
    set_x_transform(adata, None)  # linear values (from layer= when .X held a transform)
    adata.obs["track_scale"] = scale
    record_provenance(
        adata,
        "kratom_omics.pp.normalize_tracks",
        {
            "method": method,
            "total": total if method == "total" else None,
            "spikein": spikein if method == "spikein" and isinstance(spikein, str) else None,
            "factors": factors if method == "factor" and isinstance(factors, str) else None,
            "n_regions_in_total": n_used,
            "layer": layer,
            "scale": dict(zip(adata.obs_names, scale.tolist(), strict=True)),
        },
    )
    logger.info(
        "normalize_tracks: method=%s, scale factors %.3g to %.3g", method, scale.min(), scale.max()
    )
    if log:
        log2(adata, pseudocount=pseudocount, force=True)
    return adata if copy else None
