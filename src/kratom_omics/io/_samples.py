"""Sample sheets: read, validate and attach them to data.

A sample sheet has one row per sample with a required ``sample`` and ``phase`` column and optional
``subject``, ``batch``, ``timepoint``, ``region``, ``sex`` and free columns. Column names are matched
case-insensitively. Phases become an ordered categorical (default ``control < use < withdrawal``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, SampleSheetError, did_you_mean

__all__ = ["read_samples", "validate_samples"]

STANDARD_COLUMNS = ("sample", "phase", "subject", "batch", "timepoint", "region", "sex")
_CATEGORICAL = ("subject", "batch", "region", "sex")


def _read_any_table(path: Path, *, what: str) -> pd.DataFrame:
    """Read CSV/TSV/XLSX as strings, with a clear error for unreadable files."""
    if not path.exists():
        raise InputFormatError(f"{what} {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            df = pd.read_excel(path, dtype=str)
        else:
            sep = "," if suffix == ".csv" else "\t"
            df = pd.read_csv(path, sep=sep, dtype=str, comment=None, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise InputFormatError(f"{what} {str(path)!r} is empty.") from None
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{what} {str(path)!r} could not be parsed: {exc}") from None
    if (
        df.shape[1] == 1
        and suffix not in {".csv", ".xlsx", ".xlsm", ".xls"}
        and "," in df.columns[0]
    ):
        raise InputFormatError(
            f"{what} {str(path)!r} looks comma-separated but has extension {suffix!r}; "
            "rename it to .csv or save it tab-separated."
        )
    return df


def _natural_key(text: str) -> tuple:
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple(
        (0, float(p)) if re.fullmatch(r"\d+(?:\.\d+)?", p) else (1, p.lower()) for p in parts
    )


def read_samples(
    path: str | os.PathLike | pd.DataFrame,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    timepoints: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read and validate a sample sheet.

    Parameters
    ----------
    path
        A ``.tsv``/``.txt`` (tab-separated), ``.csv`` or ``.xlsx`` file, or a DataFrame.
    phases
        Phase levels in their order. Phase values are matched case-insensitively and a value that is
        not listed is an error. ``None`` accepts any phase names, ordered as they first appear.
    timepoints
        Order of string time points (e.g. ``["W1", "W3", "W7"]``). By default numeric time points stay
        numeric and text time points are ordered naturally (``2d < 10d``).

    Returns
    -------
    DataFrame indexed by ``sample`` (str) with ``phase`` as an ordered categorical, ``subject``, ``batch``,
    ``region`` and ``sex`` as categoricals when present, ``timepoint`` numeric or ordered categorical, and
    every other column as read.

    Raises
    ------
    SampleSheetError
        Missing ``sample``/``phase`` column, duplicated or empty sample ids, empty or unknown phases,
        or a subject measured twice in the same phase (and time point). The message names the file and
        the offending lines.
    """
    if isinstance(path, pd.DataFrame):
        source, df = "sample sheet", path.copy()
        if "sample" not in {str(c).strip().lower() for c in df.columns}:
            df = df.rename_axis("sample").reset_index()  # already indexed by sample
        phase_col = next((c for c in df.columns if str(c).strip().lower() == "phase"), None)
        if phase_col is not None and phases is DEFAULT_PHASES:
            dtype = df[phase_col].dtype
            if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
                phases = [str(c) for c in dtype.categories]
        df = df.astype(
            {c: "string" for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])}
        )
        df = df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})
    else:
        p = Path(path)
        source = f"sample sheet {str(p)!r}"
        df = _read_any_table(p, what="sample sheet")
    return validate_samples(df, phases=phases, timepoints=timepoints, source=source)


def _lines(mask: pd.Series | np.ndarray, offset: int = 2) -> str:
    idx = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(i + offset) for i in idx[:20])
    return shown + (f" and {len(idx) - 20} more" if len(idx) > 20 else "")


def validate_samples(
    df: pd.DataFrame,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    timepoints: Sequence[str] | None = None,
    source: str = "sample sheet",
) -> pd.DataFrame:
    """Validate a sample-sheet DataFrame (one row per sample); see :func:`read_samples`.

    Line numbers in messages count the header as line 1, as a spreadsheet or text editor shows them.
    """
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    rename = {lower[c]: c for c in STANDARD_COLUMNS if c in lower and lower[c] != c}
    df = df.rename(columns=rename)
    for col in df.columns:
        if df[col].dtype == object:
            text = df[col].str.strip()
            df[col] = text.mask(text.isin(["", "nan", "NA"]))
    df = df.dropna(how="all").reset_index(drop=True)
    if df.empty:
        raise SampleSheetError(f"{source} has no rows; expected one row per sample.")

    for required in ("sample", "phase"):
        if required not in df.columns:
            msg = did_you_mean(required, df.columns, what="column").replace(
                f"column={required!r} is not available.", f"{source} has no {required!r} column."
            )
            raise SampleSheetError(
                msg + f" Add a {required!r} column (required columns: 'sample', 'phase')."
            )

    sample = df["sample"]
    if sample.isna().any():
        raise SampleSheetError(f"{source}: empty sample id on line(s) {_lines(sample.isna())}.")
    df["sample"] = sample.astype(str)
    dup = df["sample"].duplicated(keep=False)
    if dup.any():
        names = sorted(set(df.loc[dup, "sample"]))
        raise SampleSheetError(
            f"{source}: duplicated sample id(s) {names} on lines {_lines(dup)}; each sample must appear once."
        )

    phase = df["phase"]
    if phase.isna().any():
        raise SampleSheetError(
            f"{source}: empty phase on line(s) {_lines(phase.isna())} "
            f"(samples {list(df.loc[phase.isna(), 'sample'])[:10]}); give every sample a phase."
        )
    phase = phase.astype(str)
    if phases is None:
        order = list(pd.unique(phase))
    else:
        order = [str(p) for p in phases]
        if len(set(order)) != len(order):
            raise SampleSheetError(f"phases={order} lists a phase twice.")
        by_lower = {p.lower(): p for p in order}
        mapped = phase.str.lower().map(by_lower)
        unknown = mapped.isna()
        if unknown.any():
            bad = sorted(set(phase[unknown]))
            raise SampleSheetError(
                f"{source}: unknown phase(s) {bad} on line(s) {_lines(unknown)}; expected one of {order}. "
                "Fix the values or pass the study's phases in order, e.g. "
                f"phases={[*order, *bad]!r}."
            )
        phase = mapped
    df["phase"] = pd.Categorical(phase, categories=order, ordered=True)

    if "timepoint" in df.columns:
        df["timepoint"] = _parse_timepoints(df["timepoint"], timepoints, source)

    for col in _CATEGORICAL:
        if col in df.columns:
            df[col] = df[col].astype("string").astype("category")

    if "subject" in df.columns:
        keys = ["subject", "phase"] + (["timepoint"] if "timepoint" in df.columns else [])
        sub = df.dropna(subset=["subject"])
        twice = sub.duplicated(subset=keys, keep=False)
        if twice.any():
            rows = sub.index[twice]
            first = sub.loc[rows[0], keys].astype(str).to_dict()
            raise SampleSheetError(
                f"{source}: a subject is measured twice in the same "
                f"{'phase and time point' if len(keys) == 3 else 'phase'} on lines "
                f"{', '.join(str(i + 2) for i in rows[:20])} (e.g. {first}). Give repeated measures distinct "
                "time points or fix the subject ids."
            )

    df = df.set_index("sample")
    df.index.name = None
    df.index = df.index.astype(str)
    return df


def _parse_timepoints(col: pd.Series, order: Sequence[str] | None, source: str) -> pd.Series:
    numeric = pd.to_numeric(col, errors="coerce")
    if order is None and numeric.notna().sum() == col.notna().sum():
        return numeric.astype(float)
    text = col.astype("string")
    if order is None:
        levels = sorted(set(text.dropna()), key=_natural_key)
    else:
        levels = [str(t) for t in order]
        unknown = text.notna() & ~text.isin(levels)
        if unknown.any():
            raise SampleSheetError(
                f"{source}: unknown time point(s) {sorted(set(text[unknown]))} on line(s) "
                f"{_lines(unknown)}; expected one of {levels}."
            )
    return pd.Series(pd.Categorical(text, categories=levels, ordered=True), index=col.index)
