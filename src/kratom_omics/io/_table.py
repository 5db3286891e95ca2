"""Generic delimited or Excel tables of feature values."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._anndata import build_anndata

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_table"]

_NA_VALUES = ["", "NA", "NaN", "nan", "N/A", "#N/A", "NULL", "null", "Filtered", "-"]


def read_delimited(
    path: Path, *, sep: str | None = None, what: str = "table", **kwargs
) -> pd.DataFrame:
    """Read a text table as strings; the delimiter is sniffed (tab, comma, semicolon) unless given."""
    if not path.exists():
        raise InputFormatError(f"{what} {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm"}:
            return pd.read_excel(path, dtype=str, keep_default_na=False, **kwargs)
        if sep is None:
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                head = fh.readline()
            counts = {s: head.count(s) for s in ("\t", ",", ";")}
            sep = max(counts, key=lambda s: counts[s]) if any(counts.values()) else "\t"
        df = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kwargs
        )
    except pd.errors.EmptyDataError:
        raise InputFormatError(f"{what} {str(path)!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{what} {str(path)!r} could not be parsed: {exc}") from None
    if "header" not in kwargs:  # pandas renames repeated names to "x.1": report them instead
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            header = next(csv.reader([fh.readline().rstrip("\r\n")], delimiter=sep))
        names = [h.strip() for h in header if h.strip()]
        dups = sorted({h for h in names if names.count(h) > 1})
        if dups:
            raise InputFormatError(
                f"{what} {str(path)!r} has duplicated column(s) {dups}; each column name must be unique "
                "(a sample exported twice?)."
            )
    return df


def to_numeric_frame(
    df: pd.DataFrame, *, source: str, decimal: str = ".", row_label: pd.Index | None = None
) -> pd.DataFrame:
    """Convert string columns to float64; the first bad cell is named in the error.

    Empty cells and the usual missing-value spellings (``NA``, ``NaN``, ``Filtered``, ...) become NaN.
    """
    out = {}
    labels = row_label if row_label is not None else df.index
    for col in df.columns:
        raw = df[col]
        text = raw.astype(str).str.strip()
        if decimal != ".":
            text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
        text = text.mask(text.isin(_NA_VALUES))
        num = pd.to_numeric(text, errors="coerce")
        bad = num.isna() & text.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputFormatError(
                f"{source}: column {col!r} has a non-numeric value {raw.iloc[i]!r} at feature "
                f"{labels[i]!r} ({int(bad.sum())} such cell(s)); expected numbers or an empty cell for missing."
            )
        out[col] = num.astype(np.float64)
    return pd.DataFrame(out, index=df.index)


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

    Returns
    -------
    AnnData with ``.X`` and ``.layers["raw"]`` (float64, NaN for missing), ``.var`` annotations and the
    sample sheet in ``.obs``.
    """
    p = Path(path)
    source = str(p)
    df = read_delimited(p, sep=sep, what="table")
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
            f"{[int(i) + 2 for i in np.flatnonzero(ids == '')][:10]}."
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
        var = var.replace("", np.nan)
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
        text = text.mask(text.isin(_NA_VALUES))
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
