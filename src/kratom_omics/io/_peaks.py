"""Peak and region files: BED and the MACS2/MACS3 outputs.

BED is 0-based and half-open (``chrom start end``, then optionally ``name score strand thickStart
thickEnd itemRgb blockCount blockSizes blockStarts``). MACS2/MACS3 write, for one sample:

``<name>_peaks.narrowPeak``
    BED6+4: ``signalValue`` (fold enrichment at the summit), ``pValue`` and ``qValue`` (-log10)
    and ``peak`` (the summit's offset from the start; -1 when not called).
``<name>_peaks.broadPeak``
    BED6+3: the same without ``peak``.
``<name>_peaks.gappedPeak``
    BED12+3: the broad region, its strong parts as BED12 blocks (``thickStart``/``thickEnd``,
    ``itemRgb``, ``blockCount``, ``blockSizes``, ``blockStarts``), then ``signalValue pValue
    qValue``.
``<name>_summits.bed``
    BED5: the summit base (``start``, ``start + 1``), the peak name and -log10 q-value (a float).
``<name>_peaks.xls``
    Not Excel: a tab-separated text table after ``#`` lines that record the command and its
    parameters, with the header ``chr start end length abs_summit pileup -log10(pvalue)
    fold_enrichment -log10(qvalue) name`` (broad peaks: no ``abs_summit``); its ``start`` and
    ``abs_summit`` are 1-based.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import _make_unique
from ._choices import note_choice
from ._loader import loader
from ._text import open_text
from ._values import as_integer, coordinates

__all__ = ["PEAK_KINDS", "read_peaks"]

logger = logging.getLogger("kratom_omics")

BED_COLUMNS = (
    "chrom", "start", "end", "name", "score", "strand",
    "thick_start", "thick_end", "item_rgb", "block_count", "block_sizes", "block_starts",
)  # fmt: skip
_MACS = ("signal_value", "p_value", "q_value")
#: Columns of each kind of peak file (BED: the first ``n`` of :data:`BED_COLUMNS`).
PEAK_KINDS: dict[str, tuple[str, ...]] = {
    "narrowPeak": (*BED_COLUMNS[:6], *_MACS, "peak"),
    "broadPeak": (*BED_COLUMNS[:6], *_MACS),
    "gappedPeak": (*BED_COLUMNS, *_MACS),
    "summits": BED_COLUMNS[:5],
}
#: MACS2/MACS3 ``peaks.xls`` header names -> column names (the BED kinds' names where they mean
#: the same).
_XLS_NAMES = {
    "chr": "chrom",
    "start": "start",
    "end": "end",
    "length": "length",
    "abs_summit": "abs_summit",
    "pileup": "pileup",
    "-log10(pvalue)": "p_value",
    "fold_enrichment": "signal_value",
    "-log10(qvalue)": "q_value",
    "name": "name",
}
_BY_SUFFIX = {
    ".narrowpeak": "narrowPeak",
    ".broadpeak": "broadPeak",
    ".gappedpeak": "gappedPeak",
    "summits.bed": "summits",
    "_peaks.xls": "xls",
}
_HEADER_WORDS = {"chr", "chrom", "chromosome", "seqnames", "#chrom", "seqname"}
_RGB = re.compile(r"^(\d{1,3},\d{1,3},\d{1,3}|0)$")
_COMPRESSED = (".gz", ".gzip", ".bz2", ".xz", ".zip")
Kind = Literal["auto", "narrowPeak", "broadPeak", "gappedPeak", "summits", "xls", "bed"]


def _content(path: str | os.PathLike, encoding: str | None) -> tuple[str, list[int], list[str]]:
    """The source and the numbered lines that hold regions or a header (``#``, ``track`` and
    ``browser`` lines and blank lines left out, their numbers kept)."""
    tf = open_text(path, what="peak file", encoding=encoding)
    numbers: list[int] = []
    lines: list[str] = []
    for k, line in enumerate(tf.lines(), start=1):
        text = line.rstrip("\r")
        if not text.strip() or text.startswith(("#", "track", "browser")):
            continue
        numbers.append(k)
        lines.append(text)
    if not lines:
        raise InputFormatError(f"peak file {tf.source!r} holds no regions.")
    return tf.source, numbers, lines


def _kind_by_name(path: str | os.PathLike) -> str | None:
    name = Path(path).name.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    return next((k for s, k in _BY_SUFFIX.items() if name.endswith(s)), None)


def _is_whole(cells: Sequence[str]) -> bool:
    return all(re.fullmatch(r"-?\d+", c.strip() or "x") for c in cells)


def _kind_by_columns(rows: list[list[str]]) -> str:
    n = len(rows[0])
    head = rows[:20]
    if n == 10:
        return "narrowPeak"
    if n == 9:
        bed9 = all(_RGB.match(r[8].strip()) and _is_whole(r[6:8]) for r in head)
        return "bed" if bed9 else "broadPeak"
    if n == 15 and all(_is_whole(r[6:8]) and _is_whole(r[9:10]) for r in head):
        return "gappedPeak"
    return "bed"


def _number(
    df: pd.DataFrame, col: str, source: str, lines: Sequence[int], *, whole: bool
) -> pd.Series:
    """A numeric column: ``.``, ``NA`` and empty cells missing; other text an error naming the
    line. ``whole``: int64 when every value is a whole number (else float64)."""
    text = df[col].astype("string").str.strip()
    missing = text.isin([".", "", "NA", "NaN", "nan"]) | text.isna()
    num = pd.to_numeric(text.mask(missing), errors="coerce").astype(np.float64)
    bad = (num.isna() & ~missing).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(
            f"{source}: line {lines[i]}: {col} is {str(df[col].iat[i])[:40]!r}; expected a number "
            f"({int(bad.sum())} such cell(s))."
        )
    if whole:
        as_int = as_integer(num)
        if as_int.dtype == np.int64:
            return as_int
    return num


def _bed_table(
    rows: list[list[str]], lines: list[int], kind: str, source: str
) -> tuple[pd.DataFrame, str]:
    n = len(rows[0])
    expected = PEAK_KINDS.get(kind)
    if kind == "auto":
        kind = _kind_by_columns(rows)
        expected = PEAK_KINDS.get(kind)
    if expected is not None and n != len(expected):
        raise InputFormatError(
            f"{source}: {n} columns; a {kind} file has {len(expected)} ({', '.join(expected)}). "
            "Pass kind= naming what the file is (kind='bed' reads any BED)."
        )
    if n < 3:
        raise InputFormatError(f"{source}: {n} column(s); expected at least chrom, start, end.")
    names = list(expected or BED_COLUMNS[: min(n, 12)])
    if expected is None and n > 6 and not all(_is_whole(r[6:8]) for r in rows[:20]):
        names = list(BED_COLUMNS[:6])  # BED6 and other columns (not thickStart/thickEnd)
    names += [f"extra_{i}" for i in range(len(names), n)]
    df = pd.DataFrame(rows, index=pd.Index(lines, name="line"), columns=names)
    for col in ("start", "end", "thick_start", "thick_end"):
        if col in df.columns:
            df[col] = coordinates(df[col], source=source, column=col, lines=lines)
    if "score" in df.columns:
        df["score"] = _number(df, "score", source, lines, whole=True)
        if df["score"].dtype != np.int64:
            note_choice("score", "float", source=source, why="scores with decimals kept as numbers")
    for col in ("peak", "block_count"):
        if col in df.columns:
            df[col] = _number(df, col, source, lines, whole=True)
            if df[col].dtype != np.int64:
                i = int(np.flatnonzero(df[col].isna() | (df[col] != np.round(df[col])))[0])
                raise InputFormatError(
                    f"{source}: line {lines[i]}: {col} is {str(rows[i][names.index(col)])[:40]!r}; "
                    "expected an integer."
                )
    for col in _MACS:
        if col in df.columns:
            df[col] = _number(df, col, source, lines, whole=False)
    return df, kind


def _xls_table(
    rows: list[list[str]], lines: list[int], source: str
) -> tuple[pd.DataFrame, list[int]]:
    """MACS2 ``peaks.xls``: header mapped to the BED kinds' names, coordinates made 0-based."""
    header = [c.strip() for c in rows[0]]
    unknown = [c for c in header if c not in _XLS_NAMES]
    if unknown or header[:3] != ["chr", "start", "end"]:
        raise InputFormatError(
            f"{source}: the header (line {lines[0]}) is {header[:12]}; expected MACS2's peaks.xls "
            f"columns {list(_XLS_NAMES)} ('abs_summit' only for narrow peaks)."
        )
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: the header (line {lines[0]}) repeats {dup}; MACS2's peaks.xls names each "
            "column once."
        )
    body, numbers = rows[1:], lines[1:]
    if not body:
        raise InputFormatError(f"peak file {source!r} holds no regions (only the header).")
    width = len(header)
    odd = next((i for i, r in enumerate(body) if len(r) != width), None)
    if odd is not None:
        raise InputFormatError(
            f"{source}: line {numbers[odd]} has {len(body[odd])} columns but the header has "
            f"{width}; every peak needs the same columns (tab-separated)."
        )
    df = pd.DataFrame(body, index=pd.Index(numbers, name="line"), columns=header)
    df = df.rename(columns=_XLS_NAMES)
    start = coordinates(df["start"], source=source, column="start", lines=numbers)
    if (start == 0).any():
        i = int(np.flatnonzero(start == 0)[0])
        raise InputFormatError(
            f"{source}: line {numbers[i]}: start is 0, but peaks.xls starts are 1-based; is this "
            "a BED file? Pass kind='bed'."
        )
    df["start"] = start - 1
    df["end"] = coordinates(df["end"], source=source, column="end", lines=numbers)
    for col in ("length", "abs_summit"):
        if col in df.columns:
            df[col] = _number(df, col, source, numbers, whole=True)
    if "abs_summit" in df.columns:
        summit = df["abs_summit"].to_numpy(dtype=np.float64) - 1
        df["abs_summit"] = as_integer(pd.Series(summit, index=df.index))
        df["peak"] = as_integer(pd.Series(summit - df["start"].to_numpy(), index=df.index))
    for col in ("pileup", *_MACS):
        if col in df.columns:
            df[col] = _number(df, col, source, numbers, whole=False)
    return df, numbers


@loader(sheet=False)
def read_peaks(
    path: str | os.PathLike,
    *,
    kind: Kind = "auto",
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a peak or region file: MACS2/MACS3 narrowPeak, broadPeak, gappedPeak, summits.bed or
    peaks.xls, or a plain BED.

    Parameters
    ----------
    path
        The file (``track``/``browser``/``#`` lines are skipped; compressed files are read too).
    kind
        ``"narrowPeak"``, ``"broadPeak"``, ``"gappedPeak"``, ``"summits"``, ``"xls"`` (MACS2's
        ``peaks.xls``) or ``"bed"``. ``"auto"`` decides by the file name (``.narrowPeak``,
        ``.broadPeak``, ``.gappedPeak``, ``summits.bed``, ``_peaks.xls``), by a ``chr start end``
        header (``peaks.xls``), else by the columns: 10 narrowPeak, 9 broadPeak (BED9 when
        columns 7-9 are thickStart, thickEnd and an RGB colour), 15 gappedPeak, otherwise BED.
        The kind is logged and stored in ``.attrs["kind"]``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    DataFrame indexed by peak name (``chrom:start-end`` when unnamed; a repeated name gets the
    suffix ``-1``, ``-2``, ... so the index is unique) with ``chrom``, ``start`` (0-based) and
    ``end`` (exclusive) and, as the kind has them: ``name``; ``score`` (int64, float64 when a
    score has decimals, as in summits.bed; ``.`` is missing); ``strand``; ``signal_value`` (fold
    enrichment), ``p_value`` and ``q_value`` (-log10); ``peak`` (summit offset from ``start``);
    BED12's ``thick_start``, ``thick_end``, ``item_rgb``, ``block_count``, ``block_sizes``,
    ``block_starts`` (gappedPeak); peaks.xls's ``length``, ``abs_summit`` (0-based position of
    the summit) and ``pileup``. Columns beyond a kind's are ``extra_<i>``. A plain BED's header
    line (``chrom start end``) is skipped.

    Raises
    ------
    InputFormatError
        No regions, rows with different numbers of columns, a column count that is not the
        kind's, coordinates that are not whole numbers >= 0 or an end not after its start, or a
        score, p-value or summit that is not a number; the message names the file's own line.
    """
    source, lines, texts = _content(path, encoding)
    kinds = ("auto", *PEAK_KINDS, "xls", "bed")
    if kind not in kinds:
        raise InputFormatError(f"kind={kind!r}; expected one of {list(kinds)}.")
    chosen: str = kind
    header_xls = texts[0].split("\t")[:3] == ["chr", "start", "end"]
    if chosen == "auto":
        chosen = _kind_by_name(path) or ("xls" if header_xls else "auto")
    sep = "\t"
    if "\t" not in texts[0] and len(texts[0].split()) >= 3:
        sep = " "
        note_choice("delimiter", "space", source=source, why="no tab on the first region line")
    rows = [ln.split("\t") if sep == "\t" else ln.split() for ln in texts]
    if chosen == "xls":
        df, lines = _xls_table(rows, lines, source)
    else:
        first = rows[0]
        if (
            len(first) >= 3
            and first[0].strip().lower() in _HEADER_WORDS
            and not _is_whole(first[1:3])
        ):
            note_choice("header", first[:6], source=source, why=f"line {lines[0]} is a header")
            rows, lines = rows[1:], lines[1:]
            if not rows:
                raise InputFormatError(f"peak file {source!r} holds no regions (only a header).")
        n = len(rows[0])
        odd = next((i for i, r in enumerate(rows) if len(r) != n), None)
        if odd is not None:
            raise InputFormatError(
                f"{source}: line {lines[odd]} has {len(rows[odd])} columns but line {lines[0]} has "
                f"{n}; every region needs the same columns (tab-separated)."
            )
        df, chosen = _bed_table(rows, lines, chosen, source)
    empty = (df["chrom"].str.strip() == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputFormatError(f"{source}: line {lines[i]} has no chromosome in column 1.")
    wrong = (df["end"] <= df["start"]).to_numpy()
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise InputFormatError(
            f"{source}: line {lines[i]} has start {df['start'].iat[i]} and end {df['end'].iat[i]}; "
            "BED regions are 0-based with start >= 0 and end > start."
        )
    note_choice(
        "kind",
        chosen,
        source=source,
        why="given" if kind != "auto" else "from the file name and columns",
        level=logging.DEBUG,
    )
    label = df["chrom"] + ":" + df["start"].astype(str) + "-" + df["end"].astype(str)
    if "name" in df.columns:
        idx = df["name"].where(~df["name"].str.strip().isin(["", "."]), label)
    else:
        idx = label
    df.index = pd.Index(_make_unique(idx.astype(str).tolist(), source))
    df.attrs["kind"] = chosen
    return df
