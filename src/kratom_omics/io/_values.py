"""Numbers in tool exports: missing-value spellings, infinities, huge values, integer columns.

Rules shared by every loader:

- Missing: an empty cell and ``NA``, ``N/A``, ``#N/A``, ``NaN``, ``nan``, ``NULL``, ``null``,
  ``Filtered``, ``-`` are missing values (NaN).
- Infinite or huge measured values (``inf``, ``Infinity``, ``-Inf`` as R writes ``log(0)``, or a
  number beyond float64 such as ``1e400``) are read as missing, with a warning that names the file,
  the columns and how many cells; the count is recorded in provenance (``choices["infinite"]``).
  This holds for the matrix of every loader (:func:`finite_matrix`).
- Integer annotation columns (peptide counts, ids, replicates): integers when every value is a
  finite whole number within int64, else float64 with NaN (never a crash on ``inf`` or ``1e30``).
  Genomic coordinates must be whole numbers; anything else is an error naming the line
  (:func:`coordinates`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputFormatError
from ._choices import note_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "NA_VALUES",
    "as_integer",
    "coordinates",
    "finite_matrix",
    "to_float",
    "to_numeric_frame",
]

#: Cell texts read as missing values.
NA_VALUES = ["", "NA", "NaN", "nan", "N/A", "#N/A", "NULL", "null", "Filtered", "-"]
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INT64_MAX = float(np.iinfo(np.int64).max)


def _overflowing(text: pd.Series) -> pd.Series:
    """Numbers too large for float64 (``1e400``) as ±inf; NaN for text that is not a number."""
    import pandas as pd

    def value(cell: object) -> float:
        s = str(cell)
        return float(s) if _FLOAT.match(s) else np.nan

    return pd.Series([value(c) for c in text], index=text.index, dtype=np.float64)


def to_float(text: pd.Series) -> pd.Series:
    """Text cells (missing spellings already masked) as float64; numbers beyond float64 as ±inf,
    cells that are not numbers as NaN."""
    import pandas as pd

    num = pd.to_numeric(text, errors="coerce").astype(np.float64)
    bad = num.isna() & text.notna()
    if bad.any():
        num[bad] = _overflowing(text[bad]).to_numpy()
    return num


def to_numeric_frame(
    df: pd.DataFrame,
    *,
    source: str,
    decimal: str = ".",
    row_label: pd.Index | None = None,
    lines: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Convert string columns to float64; the first bad cell is named in the error.

    Empty cells and the missing-value spellings of :data:`NA_VALUES` become NaN; numbers beyond
    float64 become ±inf (then missing, see :func:`finite_matrix`).

    Parameters
    ----------
    df
        Text cells.
    source
        The file, as messages name it.
    decimal
        ``"."`` or ``","``; with ``","`` a ``.`` is read as a thousands separator.
    row_label, lines
        Names (features) and line numbers of the rows, for the error message.

    Returns
    -------
    A float64 frame with the index and columns of ``df``.
    """
    import pandas as pd

    out = {}
    labels = row_label if row_label is not None else df.index
    for col in df.columns:
        raw = df[col]
        text = raw.astype("string").str.strip()
        if decimal != ".":
            text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
        text = text.mask(text.isin(NA_VALUES))
        num = to_float(text)
        bad = num.isna() & text.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            where = f" (line {lines[i]})" if lines is not None else ""
            raise InputFormatError(
                f"{source}: column {col!r} has a non-numeric value {str(raw.iloc[i])[:80]!r} at "
                f"feature {str(labels[i])[:80]!r}{where} ({int(bad.sum())} such cell(s)); expected "
                "numbers or an empty cell for missing."
            )
        out[col] = num.to_numpy(dtype=np.float64)
    return pd.DataFrame(out, index=df.index, columns=df.columns)


def finite_matrix(
    values: np.ndarray, *, source: str, columns: Sequence[str], axis: int = 0
) -> np.ndarray:
    """Set ±inf to NaN (in place) with a warning naming the file, the columns and the count.

    Parameters
    ----------
    values
        The float64 matrix.
    source
        The file.
    columns
        Names of ``values``' columns (``axis=0``: the second axis holds the columns; ``axis=1``:
        the first, as in a samples x features matrix whose samples are the file's columns).
    axis
        See ``columns``.

    Returns
    -------
    ``values``.
    """
    inf = np.isinf(values)
    if not inf.any():
        return values
    per_column = inf.sum(axis=axis)
    named = [str(columns[int(j)]) for j in np.flatnonzero(per_column)]
    values[inf] = np.nan
    note_choice(
        "infinite",
        {"cells": int(inf.sum()), "columns": named[:20]},
        source=source,
        why=f"{int(inf.sum())} infinite or too-large value(s) in {named[:5]}"
        f"{' ...' if len(named) > 5 else ''} read as missing",
        level=logging.WARNING,
    )
    return values


def as_integer(series: pd.Series) -> pd.Series:
    """An annotation column as int64 when every value is a finite whole number within int64,
    else as float64 with NaN for missing, infinite and non-numeric cells."""
    import pandas as pd

    num = pd.to_numeric(series, errors="coerce").astype(np.float64)
    num = num.where(np.isfinite(num))
    arr = num.to_numpy()
    if (
        len(arr)
        and not np.isnan(arr).any()
        and (np.abs(arr) <= _INT64_MAX).all()
        and (arr == np.round(arr)).all()
    ):
        return pd.Series(arr.astype(np.int64), index=series.index, name=series.name)
    return num


def coordinates(
    text: pd.Series, *, source: str, column: str, lines: Sequence[int] | None = None
) -> np.ndarray:
    """Genomic coordinates as int64: whole numbers >= 0, anything else an error naming the line.

    Parameters
    ----------
    text
        The cells.
    source, column
        For the message.
    lines
        Line numbers of the rows (default: row position + 2, a header then the rows).

    Returns
    -------
    int64 array.
    """
    import pandas as pd

    num = pd.to_numeric(text.astype("string").str.strip(), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~np.isfinite(num) | (num != np.round(num)) | (num < 0) | (num > _INT64_MAX)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        line = lines[i] if lines is not None else i + 2
        raise InputFormatError(
            f"{source}: line {line}: {column} is {str(text.iloc[i])[:40]!r}; expected a whole "
            f"number >= 0 (a genomic coordinate) ({int(bad.sum())} such cell(s))."
        )
    return num.astype(np.int64)
