"""Helpers shared by every namespace: AnnData checks, provenance, result storage.

Provenance is stored in ``adata.uns["kratom_omics"]["provenance"]`` as a mapping ``"step_000" -> step`` rather
than a list, because h5ad cannot store a list of mappings; the zero-padded keys keep the order.
Each step holds ``function``, ``parameters`` (a JSON text, so any parameter survives ``write_h5ad``),
``version`` and ``time`` (UTC, ISO 8601). ``kratom_omics.get.provenance`` returns the steps as a table.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import DesignError, KeyNotFoundError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from anndata import AnnData

DEFAULT_PHASES: tuple[str, ...] = ("control", "use", "withdrawal")
UNS_KEY = "kratom_omics"


def _jsonable(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return f"<{type(value).__name__} shape={value.shape}>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record_provenance(adata: AnnData, function: str, parameters: Mapping[str, Any]) -> None:
    """Append one step to ``adata.uns["kratom_omics"]["provenance"]``."""
    store = adata.uns.setdefault(UNS_KEY, {})
    steps = store.setdefault("provenance", {})
    if not isinstance(steps, dict):  # written by something else: keep it, start a mapping
        steps = {f"step_{i:03d}": s for i, s in enumerate(steps)}
        store["provenance"] = steps
    steps[f"step_{len(steps):03d}"] = {
        "function": function,
        "parameters": json.dumps(_jsonable(dict(parameters)), sort_keys=True),
        "version": __version__,
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def check_key_added(key_added: object, *, argument: str = "key_added") -> str:
    """Return ``key_added`` if it can name a result in ``adata.uns`` (a non-empty string without
    ``/``, which h5ad would read as a group path); raise :class:`DesignError` otherwise."""
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise DesignError(f"{argument}={key_added!r} must be a non-empty string without '/'.")
    return key_added


def check_obs_key(adata: AnnData, key: str, *, argument: str = "groupby") -> None:
    """Raise :class:`KeyNotFoundError` with a suggestion when ``key`` is not an ``.obs`` column."""
    if key not in adata.obs.columns:
        raise KeyNotFoundError(
            did_you_mean(key, adata.obs.columns, what=argument).replace(
                "is not available", "is not a column of adata.obs"
            )
        )


def check_layer(adata: AnnData, layer: str | None) -> None:
    """Raise :class:`KeyNotFoundError` with a suggestion when ``layer`` is not a layer of ``adata``."""
    if layer is not None and layer not in adata.layers:
        raise KeyNotFoundError(
            did_you_mean(layer, adata.layers.keys(), what="layer").replace(
                "is not available", "is not a layer of adata"
            )
        )


def get_matrix(adata: AnnData, layer: str | None = None) -> np.ndarray:
    """Return ``X`` (or ``layer``) as a dense float64 array (a view-safe copy is not made)."""
    import numpy as np
    import scipy.sparse as sp

    check_layer(adata, layer)
    m = adata.X if layer is None else adata.layers[layer]
    if sp.issparse(m):
        m = m.toarray()
    return np.asarray(m, dtype=np.float64)


def groups_of(adata: AnnData, groupby: str) -> Sequence[str]:
    """Levels of ``adata.obs[groupby]`` in their categorical order (or order of appearance)."""
    import pandas as pd

    check_obs_key(adata, groupby)
    col = adata.obs[groupby]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().astype(str))
        return [str(c) for c in col.cat.categories if str(c) in present]
    return list(pd.unique(col.dropna().astype(str)))


def gene_index(adata: AnnData) -> pd.Index | None:
    """``adata.var["gene"]`` as text for result tables (None without the column).

    Arrow-backed strings (from ``read_zarr_lazy``) stay Arrow strings, a missing one reading
    ``"<NA>"``; other columns are converted with ``astype(str)``.
    """
    import pandas as pd

    if "gene" not in adata.var.columns:
        return None
    col = adata.var["gene"]
    return pd.Index(
        col.fillna("<NA>") if isinstance(col.dtype, pd.StringDtype) else col.astype(str)
    )


#: ``adata.uns[TRACKS_KEY]``: what a signal-track dataset holds (written by
#: :func:`kratom_omics.io.read_bigwig` and ``simulate("tracks")``): ``mark`` (e.g. ``"H3K9ac"``,
#: ``""`` when not given), ``stat``, ``regions`` (the region source) and ``region_type``
#: (``"promoter"``, ``"gene_body"``, ``"peak"`` or ``"region"``).
TRACKS_KEY = "tracks"


def track_info(adata: AnnData) -> Mapping[str, Any] | None:
    """The signal-track record of ``adata`` (see :data:`TRACKS_KEY`), None for other data."""
    record = adata.uns.get(TRACKS_KEY)
    return record if isinstance(record, Mapping) else None


def track_mark(adata: AnnData) -> str:
    """The mark a signal-track dataset holds (``""`` when unknown or not track data)."""
    record = track_info(adata)
    return str(record.get("mark") or "") if record is not None else ""
