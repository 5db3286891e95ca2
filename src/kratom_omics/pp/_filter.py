"""Feature filters: flagged features (contaminants, decoys, only-by-site) and valid values."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import get_matrix, record_provenance
from ..errors import DesignError, InputFormatError
from ._common import group_codes, group_onehot, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["filter_valid", "remove_flagged"]

logger = logging.getLogger("kratom_omics")

_TRUE_TEXT = frozenset({"+", "true", "t", "yes", "y", "1", "x"})


def _flag_values(column: pd.Series) -> np.ndarray:
    """A ``.var`` flag column as bool: True, 1, '+', 'yes' are flagged; NaN and '' are not."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.fillna(False).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.nan_to_num(values, nan=0.0) != 0
    text = column.astype("string").str.strip().str.lower().fillna("")
    return text.isin(_TRUE_TEXT).to_numpy(dtype=bool)


def remove_flagged(
    adata: AnnData,
    *,
    contaminants: bool = True,
    decoys: bool = True,
    only_by_site: bool = True,
    copy: bool = False,
) -> AnnData | None:
    """Remove contaminant, decoy (reverse) and only-identified-by-site features.

    Uses the ``.var`` flag columns ``is_contaminant``, ``is_decoy`` and ``only_by_site`` written by
    the loaders. A flag column that is absent is skipped with a log line (histone-mark data, for
    example, has none of them). Flag values ``True``/``1``/``'+'``/``'yes'`` count as flagged;
    ``NaN`` does not.

    Parameters
    ----------
    adata
        Samples x features data.
    contaminants
        Remove features with ``var["is_contaminant"]``.
    decoys
        Remove features with ``var["is_decoy"]``.
    only_by_site
        Remove features with ``var["only_by_site"]``.
    copy
        Return a filtered copy instead of filtering ``adata`` in place.

    Returns
    -------
    None, or the filtered copy when ``copy=True``. Features are removed from every field; the
    number removed per flag is logged and stored in the provenance step
    (``uns["kratom_omics"]["provenance"]``, parameters ``n_removed``, ``n_removed_total``,
    ``n_kept``, ``skipped``).
    """
    adata = start(adata, copy)
    wanted = {"is_contaminant": contaminants, "is_decoy": decoys, "only_by_site": only_by_site}
    argument = {
        "is_contaminant": "contaminants",
        "is_decoy": "decoys",
        "only_by_site": "only_by_site",
    }
    remove = np.zeros(adata.n_vars, dtype=bool)
    n_removed: dict[str, int] = {}
    skipped: list[str] = []
    for column, use in wanted.items():
        if not isinstance(use, (bool, np.bool_)):
            raise InputFormatError(
                f"remove_flagged: {argument[column]}={use!r} must be True or False."
            )
        if not use:
            continue
        if column not in adata.var.columns:
            logger.info(
                "remove_flagged: adata.var has no %r column; that filter is skipped.", column
            )
            skipped.append(column)
            continue
        flagged = _flag_values(adata.var[column])
        n_removed[column] = int(flagged.sum())
        remove |= flagged
    n_total = int(remove.sum())
    logger.info(
        "remove_flagged: removed %d of %d features (%s); %d kept.",
        n_total,
        adata.n_vars,
        ", ".join(f"{k}: {v}" for k, v in n_removed.items()) or "no flag columns",
        adata.n_vars - n_total,
    )
    if n_total:
        adata._inplace_subset_var(~remove)
    record_provenance(
        adata,
        "kratom_omics.pp.remove_flagged",
        {
            "contaminants": contaminants,
            "decoys": decoys,
            "only_by_site": only_by_site,
            "n_removed": n_removed,
            "n_removed_total": n_total,
            "n_kept": int(adata.n_vars),
            "skipped": skipped,
        },
    )
    return adata if copy else None


def _required(min_valid: float, n: np.ndarray) -> np.ndarray:
    """Valid values required out of ``n`` samples: ``min_valid`` (int) or ceil(fraction * n)."""
    if isinstance(min_valid, (int, np.integer)):
        return np.full(n.shape, int(min_valid), dtype=np.int64)
    return np.ceil(float(min_valid) * n - 1e-9).astype(np.int64)


def filter_valid(
    adata: AnnData,
    *,
    min_valid: float = 0.7,
    mode: Literal["total", "each_group", "any_group"] = "any_group",
    groupby: str = "phase",
    copy: bool = False,
) -> AnnData | None:
    """Keep features with enough valid values (Perseus "Filter rows based on valid values").

    A value is valid when it is finite (not NaN or ±inf) in ``.X``.

    Parameters
    ----------
    adata
        Samples x features data.
    min_valid
        Minimum number of valid values (an ``int`` >= 0) or minimum fraction (a ``float`` in (0,
        1]) of the samples (of the group, in the group modes). A fraction ``f`` of ``n`` samples
        requires ``ceil(f * n)`` valid values, so ``0.7`` of 4 samples needs 3 and ``1.0`` needs
        all.
    mode
        ``"any_group"`` (default): required in at least one group of ``groupby``, which keeps
        on/off features (e.g. a protein detected only after withdrawal) for the explicit on/off
        results of :func:`kratom_omics.tl.differential`; ``"each_group"``: required in every
        group; ``"total"``: counted over all samples (``groupby`` unused). Samples whose
        ``groupby`` value is missing count only in ``"total"``.
    groupby
        ``.obs`` column defining the groups of the group modes.
    copy
        Return a filtered copy instead of filtering ``adata`` in place.

    Returns
    -------
    None, or the filtered copy when ``copy=True``. Features are removed from every field;
    ``n_removed`` and ``n_kept`` are stored in the provenance step
    (``uns["kratom_omics"]["provenance"]``).

    Raises
    ------
    InputFormatError
        ``min_valid`` or ``mode`` is not valid.
    DesignError
        An integer ``min_valid`` no feature could reach (larger than the number of samples or
        groups' sizes).
    """
    if isinstance(min_valid, (bool, np.bool_)) or not isinstance(
        min_valid, (int, float, np.integer, np.floating)
    ):
        raise InputFormatError(
            f"filter_valid: min_valid={min_valid!r} must be a count (int >= 0) or a fraction "
            "(float in (0, 1]), e.g. min_valid=3 or min_valid=0.7."
        )
    if isinstance(min_valid, (int, np.integer)):
        if min_valid < 0:
            raise InputFormatError(
                f"filter_valid: min_valid={min_valid} is negative; give a count >= 0 or a "
                "fraction in (0, 1]."
            )
    elif not (0.0 < float(min_valid) <= 1.0) or math.isnan(float(min_valid)):
        raise InputFormatError(
            f"filter_valid: min_valid={min_valid!r} is a float outside (0, 1]; give a fraction "
            "such as 0.7, or an int for a number of samples (e.g. min_valid=3)."
        )
    if mode not in ("total", "each_group", "any_group"):
        raise InputFormatError(
            f"filter_valid: mode={mode!r} is not one of 'total', 'each_group', 'any_group'."
        )
    valid = np.isfinite(get_matrix(adata))
    if mode == "total":
        sizes = np.array([adata.n_obs])
        counts = valid.sum(axis=0)[None, :]
        levels = ["all samples"]
    else:
        levels, codes = group_codes(adata, groupby)
        if not levels:
            raise DesignError(
                f"filter_valid: adata.obs[{groupby!r}] has no non-missing value; fill it in or "
                "use mode='total'."
            )
        onehot = group_onehot(codes, len(levels))
        sizes = onehot.sum(axis=0).astype(np.int64)
        counts = onehot.T @ valid.astype(np.float64)  # groups x features
    need = _required(min_valid, sizes)
    if isinstance(min_valid, (int, np.integer)):
        limit = sizes.min() if mode == "each_group" else sizes.max()
        if min_valid > limit:
            which = "smallest group" if mode == "each_group" else "largest group"
            which = "number of samples" if mode == "total" else which
            raise DesignError(
                f"filter_valid: min_valid={min_valid} but the {which} has only {int(limit)} "
                f"samples ({dict(zip(levels, sizes.tolist(), strict=True))}), so no feature can "
                "pass; lower min_valid or give a fraction."
            )
    passes = counts >= need[:, None]
    keep = passes.all(axis=0) if mode in ("total", "each_group") else passes.any(axis=0)
    n_removed = int((~keep).sum())
    adata = start(adata, copy)
    logger.info(
        "filter_valid(min_valid=%s, mode=%s): removed %d of %d features; %d kept.",
        min_valid,
        mode,
        n_removed,
        keep.size,
        int(keep.sum()),
    )
    if not keep.any():
        logger.warning("filter_valid: no feature passed; the data now has 0 features.")
    if n_removed:
        adata._inplace_subset_var(keep)
    record_provenance(
        adata,
        "kratom_omics.pp.filter_valid",
        {
            "min_valid": min_valid,
            "mode": mode,
            "groupby": groupby if mode != "total" else None,
            "required": dict(zip(levels, need.tolist(), strict=True)),
            "n_removed": n_removed,
            "n_kept": int(keep.sum()),
        },
    )
    return adata if copy else None
