"""Generic delimited or Excel tables of feature values."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._anndata import build_anndata
from ._columns import read_all_text
from ._format import Format
from ._loader import loader
from ._text import check_path, open_table
from ._values import NA_VALUES, to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_table"]


def read_delimited(
    path: Path, *, sep: str | None = None, what: str = "table", encoding: str | None = None
) -> pd.DataFrame:
    """Read a whole table as text (``""`` for empty cells): ``.xlsx`` with openpyxl, text through
    the shared reading path (:mod:`kratom_omics.io._text`; delimiter sniffed unless given)."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        check_path(path, what)
        try:
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
        except Exception as exc:  # openpyxl raises several types for broken workbooks
            raise InputFormatError(
                f"{what} {str(path)!r}: the workbook could not be read: {exc}"
            ) from None
        df.index = pd.Index(np.arange(len(df)) + 2, name="line")
        return df
    return read_all_text(open_table(path, what=what, sep=sep, encoding=encoding))


@loader
def read_table(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    orientation: Literal["features", "samples"] = "features",
    feature_column: str | None = None,
    sample_columns: Sequence[str] | None = None,
    sep: str | None = None,
    decimal: str = ".",
    zero_as_missing: bool = False,
    encoding: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
) -> AnnData:
    """Read a generic table of feature values into a samples x features AnnData.

    Parameters
    ----------
    path
        Delimited text (delimiter sniffed unless ``sep`` is given) or ``.xlsx``.
    samples
        Sample sheet (path or DataFrame, see :func:`read_samples`) joined onto ``.obs`` by name.
    orientation
        ``"features"``: one row per feature, one column per sample (the usual export).
        ``"samples"``: one row per sample, one column per feature.
    feature_column
        Column (or, for ``orientation="samples"``, the sample-id column) holding the row ids;
        defaults to the first column.
    sample_columns
        With ``orientation="features"``: the columns holding sample values. By default the columns named
        in the sample sheet, or without a sheet every column that is entirely numeric. Other columns become
        ``.var`` annotations.
    decimal
        Decimal mark (``","`` for files written with a decimal comma).
    zero_as_missing
        Treat 0 as missing (as intensity exports write it).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).
    phases, join
        Phase levels of the sample sheet and how it is joined (see
        :func:`kratom_omics.io.attach_samples`).

    Returns
    -------
    AnnData with ``.X`` and ``.layers["raw"]`` (float64, NaN for missing), ``.var`` annotations and the
    sample sheet in ``.obs``.
    """
    p = Path(path)
    source = str(p)
    df = read_delimited(p, sep=sep, what="table", encoding=encoding)
    if df.shape[1] < 2:
        raise InputFormatError(
            f"{source}: found {df.shape[1]} column; expected an id column and at least one value column. "
            "Check the delimiter (pass sep=...)."
        )
    id_col = feature_column if feature_column is not None else df.columns[0]
    if id_col not in df.columns:
        raise KeyNotFoundError(did_you_mean(id_col, df.columns, what="feature_column"))
    ids = df[id_col].astype(str).str.strip()
    if (ids == "").any():
        raise InputFormatError(
            f"{source}: empty id in column {id_col!r} on line(s) "
            f"{[int(i) for i in df.index[(ids == '').to_numpy()][:10]]}."
        )
    df = df.drop(columns=[id_col])
    df.index = pd.Index(ids)

    if orientation == "samples":
        values = to_numeric_frame(df, source=source, decimal=decimal)
        var = None
    elif orientation == "features":
        cols = _sample_columns(df, samples, sample_columns, source, decimal, phases)
        values = to_numeric_frame(df[cols], source=source, decimal=decimal).T
        var = df.drop(columns=cols)
        var = var.mask(var == "")
    else:
        raise InputFormatError(f"orientation={orientation!r}; expected 'features' or 'samples'.")
    if zero_as_missing:
        values = values.mask(values == 0)
    return build_anndata(
        values,
        var,
        samples=samples,
        source=source,
        reader="read_table",
        parameters={
            "orientation": orientation,
            "zero_as_missing": zero_as_missing,
            "decimal": decimal,
        },
        phases=phases,
        join=join,
    )


def _sample_columns(df, samples, sample_columns, source, decimal, phases) -> list[str]:
    if sample_columns is not None:
        missing = [c for c in sample_columns if c not in df.columns]
        if missing:
            raise KeyNotFoundError(
                f"{source}: sample_columns {missing} are not columns of the table; available: {list(df.columns)}"
            )
        return list(sample_columns)
    if samples is not None:
        from ._anndata import _match
        from ._samples import read_samples

        sheet = read_samples(samples, phases=phases)
        mapping = _match(list(df.columns), list(sheet.index))
        if mapping:
            return [c for c in df.columns if c in mapping]
    numeric = []
    for c in df.columns:
        text = df[c].astype(str).str.strip()
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
        text = text.mask(text.isin(NA_VALUES))
        if (
            text.notna().any()
            and pd.to_numeric(text, errors="coerce").notna().sum() == text.notna().sum()
        ):
            numeric.append(c)
    if not numeric:
        raise InputFormatError(
            f"{source}: no numeric sample column found among {list(df.columns)[:20]}; "
            "pass sample_columns=[...] or a sample sheet."
        )
    return numeric


FORMAT = Format(
    name="table",
    label="generic table",
    reader=read_table,
    detect=None,
    options=(
        "orientation",
        "feature_column",
        "sample_columns",
        "sep",
        "decimal",
        "zero_as_missing",
    ),
)
