"""Column-level helpers shared by the table readers: select, parse, check and choose columns.

:func:`read_columns` reads the annotation (text) and value (numeric) columns a reader selected from
a :class:`~kratom_omics.io._text.TextFile` with pandas' C parser, straight to float64; the rules on
names are applied here:

- a column a reader needs must appear once in the header (the error names the repeated names);
  repeated columns it does not read are ignored;
- a value column with an empty header cell is dropped when it holds no value (a trailing delimiter
  on the header) and refused when it does, so no sample is ever named ``""``;
- a row whose every read cell is empty (``,,,,`` rows a spreadsheet leaves) is dropped and counted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputFormatError, KeyNotFoundError
from ._choices import FormatMismatchError, note_choice
from ._text import TextFile
from ._values import NA_VALUES, to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "TEXT_MISSING",
    "check_duplicates",
    "choose_quantity",
    "ignore_quantity",
    "read_all_text",
    "read_columns",
    "read_parquet_columns",
    "require_columns",
]

logger = logging.getLogger("kratom_omics")

#: Annotation cells read as missing.
TEXT_MISSING = ["", "NA", "N/A", "#N/A", "NaN", "nan", "null", "NULL"]


def check_duplicates(columns: Sequence[str], selected: Sequence[str], source: str) -> None:
    """Raise when a column a reader needs appears more than once in the header."""
    seen: dict[str, int] = {}
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
    dup = sorted({c for c in selected if c and seen.get(c, 0) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: column(s) {dup} appear more than once in the header; each needs exactly "
            "one column. Remove the repeated columns or re-export the table."
        )


def require_columns(header: Sequence[str], required: Sequence[str], source: str, tool: str) -> None:
    """Raise when the header lacks a column the tool always writes."""
    missing = [c for c in required if c not in header]
    if missing:
        shown = [str(h)[:60] for h in list(header)[:12]]
        raise FormatMismatchError(
            f"{source}: not a {tool} table: missing column(s) {missing} "
            f"(found {shown}{' ...' if len(header) > 12 else ''}). kom.io.read(path) detects the "
            "format from the header.",
            tool=tool,
        )


def _positions(tf: TextFile, wanted: Sequence[str]) -> dict[str, list[str]]:
    """Parser names (see :attr:`TextFile.names`) of each wanted header name (``""``: all empty)."""
    names = tf.names
    out: dict[str, list[str]] = {}
    for want in wanted:
        if want == "":
            out[want] = [n for n, h in zip(names, tf.header, strict=True) if h == ""]
        else:
            out[want] = [names[tf.header.index(want)]]
    return out


def read_columns(
    tf: TextFile,
    *,
    text: Sequence[str],
    numeric: Sequence[str],
    decimal: str = ".",
    row_label: str | None = None,
    fast: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``text`` columns as strings (missing -> NaN) and ``numeric`` columns as float64.

    Numbers are parsed by pandas' C parser; when a cell is not a number the columns are read again
    as text and :func:`~kratom_omics.io._values.to_numeric_frame` names the first bad cell (and
    its line). ``decimal="auto"`` tries ``.`` then ``,``. ``fast=True`` first tries pyarrow's
    reader on a plain table (:mod:`kratom_omics.io._fastcsv`; the same frames, several times
    faster on wide quantity matrices) and falls back to pandas on anything else.

    Returns
    -------
    ``(annotations, values)`` with the header's names as columns, indexed by the rows' line numbers
    (index name ``"line"``); value columns with an empty name and no value are left out.
    """
    import pandas as pd

    source = tf.source
    absent = [c for c in [*text, *numeric] if c and c not in tf.header]
    if absent:
        raise KeyNotFoundError(f"{source}: column(s) {absent} are not in the header.")
    check_duplicates(tf.header, [*numeric, *text], source)
    text = list(dict.fromkeys(text))
    numeric = [c for c in dict.fromkeys(numeric) if c not in text]
    pos = _positions(tf, [*text, *numeric])
    text_cols = [pos[c][0] for c in text]
    num_cols = [n for c in numeric for n in pos[c]]
    attempts = {".": ["."], ",": [","], "auto": [".", ","]}.get(decimal)
    if attempts is None:
        raise InputFormatError(f"decimal={decimal!r}; expected 'auto', '.' or ','.")
    usecols = [*text_cols, *num_cols]
    df: pd.DataFrame | None = None
    if fast and attempts[0] == ".":
        from ._fastcsv import read_plain

        df = read_plain(tf, text=text_cols, numeric=num_cols)
        if df is not None:
            attempts = []
    for mark in attempts:
        try:
            df = tf.read_csv(
                columns=usecols,
                dtype={**dict.fromkeys(text_cols, str), **dict.fromkeys(num_cols, np.float64)},
                na_values=dict.fromkeys(num_cols, NA_VALUES),
                decimal=mark,
            )
        except (ValueError, OverflowError) as exc:  # a cell is not a number with this mark
            if isinstance(exc, InputFormatError):
                raise
            continue
        if mark != ".":
            note_choice("decimal", mark, source=source, why="decimal comma in the numbers")
        break
    if df is None:  # read as text to name the first bad cell (or to parse '1.234,5')
        df = tf.read_csv(columns=usecols, dtype=str)
        mark = detect_decimal(df[num_cols]) if decimal == "auto" else decimal
        labels = pd.Index(df[pos[row_label][0]].astype(str)) if row_label in pos else None
        converted = to_numeric_frame(
            df[num_cols],
            source=source,
            decimal=mark,
            row_label=labels,
            lines=tf.line_of(np.arange(len(df))).tolist(),
        )
        df[num_cols] = converted
    annotations = df[text_cols].set_axis(text, axis=1) if text else pd.DataFrame(index=df.index)
    annotations = annotations.mask(annotations.isin(TEXT_MISSING))
    df.index = pd.Index(tf.line_of(np.arange(len(df))), name="line")
    annotations.index = df.index
    values = df[num_cols].astype(np.float64, copy=False)
    values = _drop_unnamed(values, tf)
    values.columns = [tf.header[tf.names.index(n)] for n in values.columns]
    annotations, values = _drop_blank_rows(annotations, values, source)
    if values.shape[0] == 0:
        raise InputFormatError(
            f"{source}: the header is there but there are no data rows; check that the export "
            "finished."
        )
    return annotations, values


def _drop_unnamed(values: pd.DataFrame, tf: TextFile) -> pd.DataFrame:
    unnamed = [n for n in values.columns if tf.header[tf.names.index(n)] == ""]
    if not unnamed:
        return values
    holding = [n for n in unnamed if values[n].notna().any()]
    if holding:
        k = tf.names.index(holding[0]) + 1
        raise InputFormatError(
            f"{tf.source}: column {k} holds values but its header cell is empty; name the column "
            "(the sample) in the header or delete it."
        )
    note_choice(
        "empty_columns",
        len(unnamed),
        source=tf.source,
        why="columns without a name and without values dropped",
        level=logging.DEBUG,
    )
    return values.drop(columns=unnamed)


def _drop_blank_rows(
    annotations: pd.DataFrame, values: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    blank = annotations.isna().all(axis=1).to_numpy() & values.isna().all(axis=1).to_numpy()
    if not blank.any():
        return annotations, values
    note_choice(
        "blank_rows", int(blank.sum()), source=source, why="rows with only empty cells dropped"
    )
    return annotations.loc[~blank], values.loc[~blank]


def read_parquet_columns(
    path: str | os.PathLike[str],
    *,
    text: Sequence[str],
    numeric: Sequence[str],
    source: str,
    what: str = "table",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``text`` and ``numeric`` columns of a parquet file, as :func:`read_columns` gives them.

    Text cells become ``str`` (empty, ``NA`` and ``NaN`` cells -> NaN); numeric columns become
    float64, and a non-numeric cell is an error naming its column. ``what`` names the file in the
    message for an empty file (``"table"``, ``"report"``).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=list(dict.fromkeys([*text, *numeric]))).to_pandas()
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputFormatError(
            f"{source}: the parquet file could not be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); write or copy it again."
        ) from None
    if table.empty:
        raise InputFormatError(f"{source}: the {what} has no rows.")
    texts, numbers = list(text), list(numeric)
    ann = table[texts].astype("string").astype(object).where(table[texts].notna(), np.nan)
    ann = ann.mask(ann.isin(["", "NA", "NaN", "nan"]))
    vals = table[numbers].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    bad = vals.isna() & table[numbers].notna()
    if bad.to_numpy().any():
        col = vals.columns[np.flatnonzero(bad.any().to_numpy())[0]]
        raise InputFormatError(f"{source}: column {col!r} holds non-numeric values.")
    return ann, vals


def read_all_text(tf: TextFile) -> pd.DataFrame:
    """Every column as text (``""`` for empty cells), indexed by line number (index name
    ``"line"``), for the small tables read whole (densitometry, generic tables).

    A repeated column name is an error naming it. An unnamed column is dropped when it is empty;
    an unnamed first column with values is kept under the name ``""`` (R's ``write.csv`` writes
    row names so); any other unnamed column with values is an error naming its position.
    """
    import pandas as pd

    dups = sorted({h for h in tf.header if h and tf.header.count(h) > 1})
    if dups:
        raise InputFormatError(
            f"{tf.source} has duplicated column(s) {[d[:60] for d in dups[:10]]}; each column "
            "name must be unique (a sample exported twice?)."
        )
    df = tf.read_csv(dtype=str).fillna("")
    df.index = pd.Index(tf.line_of(np.arange(len(df))), name="line")
    names, drop = [], []
    for k, (name, safe) in enumerate(zip(tf.header, tf.names, strict=True), start=1):
        if name:
            names.append(name)
        elif (df[safe].str.strip() == "").all():
            drop.append(safe)
        elif k == 1:
            names.append("")
        else:
            raise InputFormatError(
                f"{tf.source}: column {k} holds values but its header cell is empty; name the "
                "column in the header or delete it."
            )
    df = df.drop(columns=drop)
    df.columns = names
    blank = (df.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    if blank.any():
        note_choice("blank_rows", int(blank.sum()), source=tf.source, why="empty rows dropped")
        df = df.loc[~blank]
    return df


def detect_decimal(text: pd.DataFrame) -> str:
    """``","`` when number cells are written with a decimal comma (``1234,5``), else ``"."``."""
    pattern = r"^\s*[-+]?\d[\d.]*,\d+([eE][-+]?\d+)?\s*$"
    for col in text.columns:
        if text[col].astype("string").str.match(pattern).fillna(False).any():
            return ","
    return "."


def choose_quantity(
    quantity: str | None,
    available: dict[str, dict[str, str]],
    *,
    tool: str,
    preferred: str,
    aliases: Mapping[str, str],
    source: str,
    wanted: Callable[[str], str],
    hint: str = "",
) -> tuple[str, dict[str, str]]:
    """Resolve ``quantity`` among a wide table's quantities and return ``(key, sample -> column)``.

    ``None`` takes ``preferred`` when the table has it, else ``"intensity"`` (the choice is noted);
    ``aliases`` maps other tools' names (``lfq`` / ``maxlfq``). ``wanted(key)`` names the missing
    columns in the error.
    """
    given = quantity is not None
    if quantity is None:
        quantity = preferred if available.get(preferred) else "intensity"
    key = str(quantity).lower()
    key = aliases.get(key, key)
    if key not in available:
        raise KeyNotFoundError(
            f"quantity={quantity!r} is not a {tool} quantity; expected one of {list(available)}."
        )
    if not available[key]:
        present = [k for k, v in available.items() if v]
        raise InputFormatError(
            f"{source}: no '{wanted(key)}' columns for quantity={key!r}"
            + (f"; the table has {present}" if present else "; the table has no sample intensities")
            + f".{hint}"
        )
    if not given:
        others = [k for k, v in available.items() if v and k != key]
        note_choice(
            "quantity",
            key,
            source=source,
            why=f"default; also in the table: {others}" if others else "default",
        )
    return key, available[key]


def ignore_quantity(quantity: str | None, source: str, tool: str) -> None:
    """Formats with one quantity per run accept ``quantity=`` (e.g. from a config) and ignore it."""
    if quantity is not None:
        logger.warning(
            "%s: a %s table holds one quantity per run; quantity=%r is ignored",
            source,
            tool,
            quantity,
        )
