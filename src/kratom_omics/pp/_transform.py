"""Log transformation of intensities or counts."""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._core import check_layer, get_matrix, record_provenance
from ..errors import InputFormatError, KratomOmicsWarning
from ._common import X_TRANSFORM_KEY, looks_log2, set_x_transform, start, x_transform

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["log2"]

logger = logging.getLogger("kratom_omics")


def log2(
    adata: AnnData,
    *,
    pseudocount: float = 0.0,
    layer: str | None = None,
    force: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Replace ``.X`` by ``log2(values + pseudocount)``.

    By default the current ``.X`` is transformed. ``.X`` is transformed once only: the step sets
    ``uns["kratom_omics"]["x_transform"] = "log2"`` and a second call raises. To start again from
    the values as loaded, pass ``layer="raw"``: ``.X`` is then recomputed from ``layers["raw"]``
    (any filtering of features stays; earlier normalisation or imputation of ``.X`` is discarded).

    Values that are zero or negative have no logarithm: they become NaN (missing) with a
    :class:`~kratom_omics.errors.KratomOmicsWarning` giving their number. For counts (ChIP/CUT&Tag
    reads, spectral counts), where 0 is a real value, give ``pseudocount=1``.

    Parameters
    ----------
    adata
        Samples x features data with linear-scale values.
    pseudocount
        Added before taking the logarithm (>= 0).
    layer
        Read the linear values from this layer instead of ``.X`` (the result still goes to ``.X``).
    force
        Transform even though the values look log-transformed already (negative values, or
        non-integer values all below 64 with median above 1); use for small linear values such as
        densitometry ratios above 1.
    copy
        Return a transformed copy instead of modifying ``adata``.

    Returns
    -------
    None, or the transformed copy when ``copy=True``. Writes ``.X`` (float64, log2) and
    ``uns["kratom_omics"]["x_transform"]``; ``layers["raw"]`` is not changed.

    Raises
    ------
    InputFormatError
        ``.X`` is already log2-transformed (recorded, or judged from the values unless
        ``force=True``), or ``pseudocount`` is negative or not finite.
    """
    if isinstance(pseudocount, bool) or not isinstance(pseudocount, (int, float, np.number)):
        raise InputFormatError(f"log2: pseudocount={pseudocount!r} must be a number >= 0 (e.g. 1).")
    if not math.isfinite(float(pseudocount)) or pseudocount < 0:
        raise InputFormatError(f"log2: pseudocount={pseudocount!r} must be a finite number >= 0.")
    check_layer(adata, layer)
    done = x_transform(adata)
    if layer is None and done is not None:
        raise InputFormatError(
            f"log2: adata.X is already {done}-transformed (uns['kratom_omics']['x_transform'] == "
            f"{done!r}); a second transform would be wrong. To recompute from the loaded values "
            "use kom.pp.log2(adata, layer='raw').",
            cli=f"the input's values are already {done}-transformed; a second transform would be "
            "wrong. Pass the .h5ad written by `kratom-omics load` (or add --transform none).",
        )
    values = get_matrix(adata, layer).copy()
    if not force and looks_log2(values):
        source = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
        finite = values[np.isfinite(values)]
        raise InputFormatError(
            f"log2: {source} looks log-transformed already (values from {finite.min():.3g} to "
            f"{finite.max():.3g}, median {np.median(finite):.3g}; linear intensities are positive "
            "and far larger); a second log would be wrong. If the values are linear, pass "
            "force=True; if they are log2 already, skip this step and record the scale with "
            "adata.uns['kratom_omics']['x_transform'] = 'log2'."
        )
    shifted = values + float(pseudocount)
    bad = shifted <= 0  # NaN compares False
    n_bad = int(bad.sum())
    if n_bad:
        warnings.warn(
            f"log2: {n_bad} value(s) <= 0 after adding pseudocount={pseudocount} have no "
            "logarithm and were "
            "set to NaN (missing); for counts use pseudocount=1.",
            KratomOmicsWarning,
            stacklevel=2,
        )
    shifted[bad] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.log2(shifted)
    adata = start(adata, copy)
    adata.X = out
    set_x_transform(adata, "log2")
    logger.info("log2: transformed %d x %d values (%d set to NaN).", *out.shape, n_bad)
    record_provenance(
        adata,
        "kratom_omics.pp.log2",
        {
            "pseudocount": pseudocount,
            "layer": layer,
            "force": force,
            "n_nonpositive": n_bad,
            X_TRANSFORM_KEY: "log2",
        },
    )
    return adata if copy else None
