"""Candidate marker lists: the ``candidates.tsv`` format and its reader.

A candidate list is a tab-separated file (comma- or semicolon-separated files are sniffed too) with
one row per expected marker and these columns:

``candidate``
    Gene symbol for proteins (any species' spelling: ``Rab35``, ``RAB35``) or a histone mark written
    as ``<histone><residue><modification>`` (``H3K9ac``, ``H4K12ac``).
``modality``
    ``protein`` or ``histone``.
``contrast``
    The comparison in which the change is expected, written ``"<level> - <level>"`` with levels of
    the grouping column used by :func:`kratom_omics.tl.differential`
    (e.g. ``"withdrawal - control"``).
``direction``
    ``up`` or ``down``: the expected sign of the change in ``contrast``.
``evidence``
    Free text: the reference(s) supporting the expectation.

An optional ``aliases`` column lists other symbols of the same candidate separated by ``;`` (e.g. an
ortholog whose symbol differs by more than letter case). Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import InputFormatError

__all__ = ["CANDIDATE_COLUMNS", "read_candidates"]

#: Required columns of a candidate list, in their canonical order.
CANDIDATE_COLUMNS: tuple[str, ...] = ("candidate", "modality", "contrast", "direction", "evidence")
_OPTIONAL = ("aliases",)
_MODALITIES = ("protein", "histone")
_DIRECTIONS = {
    "up": "up",
    "down": "down",
    "increase": "up",
    "decrease": "down",
    "+": "up",
    "-": "down",
}
_CONTRAST = re.compile(r"^\s*(\S.*?)\s+-\s+(\S.*?)\s*$")
_CONTRAST_TIGHT = re.compile(r"^\s*([^-\s][^-]*?)\s*-\s*([^-\s][^-]*?)\s*$")


def default_candidates_path() -> Path:
    """Path of the candidate list shipped with the package (``datasets/candidates.tsv``)."""
    return Path(str(resources.files("kratom_omics.datasets").joinpath("candidates.tsv")))


def read_candidates(path: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and validate a candidate marker list.

    Parameters
    ----------
    path
        A ``candidates.tsv`` file (format in the module docstring), a DataFrame with the same
        columns, or ``None`` for the list shipped with the package (markers reported after
        mitragynine withdrawal in rats: Rab35 and HDAC2 up, H3K9 and H4K12 acetylation down).

    Returns
    -------
    DataFrame with columns ``candidate, modality, contrast, direction, evidence, aliases`` (strings;
    values stripped, ``modality`` and ``direction`` lower-cased, contrasts normalised to ``"a -
    b"``), one row per candidate and contrast, in file order.

    Raises
    ------
    InputFormatError
        A required column is missing, a cell is empty or invalid, or a candidate is listed twice for
        the same modality and contrast. The message names the file, row and column.
    """
    if path is None:
        p = default_candidates_path()
    elif isinstance(path, pd.DataFrame):
        return _validate(path.copy(), "candidates DataFrame")
    else:
        p = Path(path)
    return _validate(_read_text(p), str(p))


def _read_text(path: Path) -> pd.DataFrame:
    """The list as text cells with ``.attrs["lines"]`` (each row's file line): a workbook
    (recognised by its bytes) or delimited text through the shared reading path (archives,
    encodings, sniffed delimiter, short rows); ``#`` lines are comments."""
    from ._columns import read_all_text
    from ._text import open_table
    from ._workbook import sheet_frame, workbook_kind

    if not path.exists():
        raise InputFormatError(
            f"candidate list {str(path)!r} does not exist; pass the path of a candidates.tsv file "
            "or None for the list shipped with the package."
        )
    if path.is_dir():
        raise InputFormatError(
            f"candidate list {str(path)!r} is a directory; pass the path of a candidates.tsv file."
        )
    if workbook_kind(path) is not None:
        df = sheet_frame(path, what="candidate list", comment="#")
        lines = list(df.attrs["lines"])
    else:
        tf = open_table(path, what="candidate list", comment="#")
        df = read_all_text(tf)
        lines = [int(v) for v in df.index]
    first = df.iloc[:, 0].astype(str).str.lstrip() if df.shape[1] else pd.Series(dtype=str)
    comment = first.str.startswith("#").to_numpy()
    df = df.loc[~comment].reset_index(drop=True)
    df.attrs["lines"] = [n for n, c in zip(lines, comment, strict=True) if not c]
    if df.empty:
        raise InputFormatError(
            f"candidate list {str(path)!r} has a header but no candidate; expected a header line "
            "and one row per candidate (candidate, modality, contrast, direction, evidence)."
        )
    return df


def _validate(df: pd.DataFrame, source: str) -> pd.DataFrame:
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    missing = [c for c in CANDIDATE_COLUMNS if c not in df.columns]
    if missing:
        raise InputFormatError(
            f"{source}: missing column(s) {missing}; found {list(df.columns)}. A candidate list "
            "needs the "
            f"columns {list(CANDIDATE_COLUMNS)} (tab-separated, one header line)."
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col in (*CANDIDATE_COLUMNS, *_OPTIONAL):
        if col in df.columns:
            values = df[col].astype(object).where(df[col].notna(), "")
            out[col] = [str(v).strip() for v in values]
        else:
            out[col] = ""
    lines = df.attrs.get("lines") or range(2, len(df) + 2)  # the file's lines (header = 1)
    rows = pd.Series(list(lines))
    for col in ("candidate", "modality", "contrast", "direction"):
        empty = (out[col] == "").to_numpy()
        if empty.any():
            raise InputFormatError(
                f"{source}: empty {col!r} on row(s) {rows[empty].tolist()[:10]}; every candidate "
                "needs "
                f"{list(CANDIDATE_COLUMNS[:4])}."
            )
    out["modality"] = out["modality"].str.lower()
    bad = ~out["modality"].isin(_MODALITIES)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputFormatError(
            f"{source}: row {rows[i]} column 'modality' is {out['modality'][i]!r}; expected one of "
            f"{list(_MODALITIES)}."
        )
    direction = out["direction"].str.lower().map(_DIRECTIONS)
    if direction.isna().any():
        i = int(direction.isna().to_numpy().argmax())
        raise InputFormatError(
            f"{source}: row {rows[i]} column 'direction' is {out['direction'][i]!r}; expected 'up' "
            "or 'down'."
        )
    out["direction"] = direction.astype(str)
    contrasts = []
    for i, text in enumerate(out["contrast"]):
        m = _CONTRAST.match(text) or _CONTRAST_TIGHT.match(text)
        if m is None:
            raise InputFormatError(
                f"{source}: row {rows[i]} column 'contrast' is {text!r}; expected two group levels "
                "separated by ' - ', e.g. 'withdrawal - control'."
            )
        contrasts.append(f"{m.group(1)} - {m.group(2)}")
    out["contrast"] = contrasts
    key = out["candidate"].str.casefold() + "|" + out["modality"] + "|" + out["contrast"]
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputFormatError(
            f"{source}: candidate {out['candidate'][int(dup.argmax())]!r} is listed more than once "
            "for the "
            f"same modality and contrast (rows {rows[dup].tolist()[:10]}); keep one row per "
            "candidate, "
            "modality and contrast."
        )
    return out.reset_index(drop=True)
