"""Shared by the preprocessing steps: copy handling, scale state, group masks."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import UNS_KEY, check_obs_key
from ..errors import InputFormatError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

#: ``adata.uns["kratom_omics"][X_TRANSFORM_KEY]``: the transform applied to ``.X`` (``"log2"``).
X_TRANSFORM_KEY = "x_transform"

Scale = Literal["auto", "log2", "linear"]

logger = logging.getLogger("kratom_omics")


def start(adata: AnnData, copy: bool) -> AnnData:
    """The object to work on: a copy, or ``adata`` itself (made an actual object if a view)."""
    if copy:
        return adata.copy()
    if adata.is_view:
        adata._init_as_actual(adata.copy())
    return adata


def x_transform(adata: AnnData) -> str | None:
    """The transform recorded for ``.X`` (``"log2"``) or None, from the state flag or provenance."""
    store = adata.uns.get(UNS_KEY, {})
    flag = store.get(X_TRANSFORM_KEY) if hasattr(store, "get") else None
    if flag:
        return str(flag)
    steps = store.get("provenance", {}) if hasattr(store, "get") else {}
    values = steps.values() if isinstance(steps, dict) else steps
    last = None
    for step in values:
        if not hasattr(step, "get"):
            continue
        if step.get("function") == "kratom_omics.pp.log2":
            last = "log2"
        elif step.get("function") == "kratom_omics.pp.normalize_tracks":  # linear values in .X
            last = None
    return last


def set_x_transform(adata: AnnData, value: str | None) -> None:
    """Record the transform of ``.X`` (None: linear values, the record removed)."""
    store = adata.uns.setdefault(UNS_KEY, {})
    if value is None:
        store.pop(X_TRANSFORM_KEY, None)
    else:
        store[X_TRANSFORM_KEY] = value


def looks_log2(values: np.ndarray) -> bool:
    """Whether values look log-transformed rather than linear intensities, ratios or counts.

    True when some finite value is negative (intensities, ratios and counts are not), or when the
    values are not all integers, all lie below 64 and their median is above 1 (log2 intensities lie
    around 10-40; linear MS intensities are far larger, linear ratios lie in [0, 1]).
    """
    m = np.asarray(values, dtype=np.float64)
    finite = m[np.isfinite(m)]
    if not finite.size:
        return False
    if (finite < 0).any():
        return True
    if np.all(finite == np.round(finite)):
        return False
    return bool(finite.max() < 64 and np.median(finite) > 1)


def is_log2(adata: AnnData, layer: str | None, scale: Scale) -> bool:
    """Whether the matrix read from ``layer`` (None = ``.X``) is on the log2 scale.

    ``scale="auto"``: ``.X`` is log2 when :func:`kratom_omics.pp.log2` was applied (state flag
    ``uns["kratom_omics"]["x_transform"]`` or provenance); ``layers["raw"]`` is linear; otherwise
    (``.X`` without the flag, other layers) the values decide (:func:`looks_log2`).
    """
    if scale == "log2":
        return True
    if scale == "linear":
        return False
    if scale != "auto":
        raise InputFormatError(f"scale={scale!r} is not one of 'auto', 'log2', 'linear'.")
    if layer is None and x_transform(adata) == "log2":
        return True
    if layer == "raw":
        return False
    m = adata.X if layer is None else adata.layers[layer]
    guess = looks_log2(np.asarray(m))
    logger.debug(
        "scale of %s not recorded; the values look %s",
        "adata.X" if layer is None else f"layers[{layer!r}]",
        "log-transformed" if guess else "linear",
    )
    return guess


def group_codes(adata: AnnData, groupby: str) -> tuple[list[str], np.ndarray]:
    """Levels of ``adata.obs[groupby]`` (categorical order) and a code per sample (-1: missing)."""
    check_obs_key(adata, groupby)
    col = adata.obs[groupby]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        codes = col.cat.codes.to_numpy().astype(np.int64)
        present = sorted(set(codes[codes >= 0].tolist()))
        levels = [cats[c] for c in present]
        remap = np.full(len(cats) + 1, -1, dtype=np.int64)
        remap[np.asarray(present, dtype=np.int64)] = np.arange(len(present))
        return levels, np.where(codes >= 0, remap[codes], -1)
    values = col.astype("string")
    levels = [str(v) for v in pd.unique(values.dropna())]
    lookup = {v: i for i, v in enumerate(levels)}
    codes = np.array([lookup.get(str(v), -1) if not pd.isna(v) else -1 for v in values])
    return levels, codes.astype(np.int64)


def group_onehot(codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Samples x groups float indicator matrix (rows of samples without a group are zero)."""
    onehot = np.zeros((codes.size, n_levels), dtype=np.float64)
    ok = codes >= 0
    onehot[np.flatnonzero(ok), codes[ok]] = 1.0
    return onehot


def as_name_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def last_parameters(adata: AnnData, function: str) -> dict:
    """Parameters of the most recent provenance step of ``function`` (empty if none)."""
    steps = adata.uns.get(UNS_KEY, {}).get("provenance", {})
    found: dict = {}
    for key in sorted(steps):
        if steps[key].get("function") == function:
            found = json.loads(steps[key]["parameters"])
    return found
