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

import io
import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import InputFormatError
from ._table import read_delimited

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
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return read_delimited(path, what="candidate list")
    if not path.exists():
        raise InputFormatError(
            f"candidate list {str(path)!r} does not exist; pass the path of a candidates.tsv file "
            "or None for the list shipped with the package."
        )
    if path.is_dir():
        raise InputFormatError(
            f"candidate list {str(path)!r} is a directory; pass the path of a candidates.tsv file."
        )
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        lines = [
            ln for ln in fh.read().splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
    if len(lines) < 2:
        raise InputFormatError(
            f"candidate list {str(path)!r} "
            + ("is empty" if not lines else "has a header but no candidate")
            + "; expected a header line and one row per candidate (candidate, modality, "
            "contrast, direction, evidence)."
        )
    counts = {s: lines[0].count(s) for s in ("\t", ",", ";")}
    sep = max(counts, key=lambda s: counts[s]) if any(counts.values()) else "\t"
    try:
        return pd.read_csv(
            io.StringIO("\n".join(lines)), sep=sep, dtype=str, keep_default_na=False, quotechar='"'
        )
    except pd.errors.ParserError as exc:
        raise InputFormatError(f"candidate list {str(path)!r} could not be parsed: {exc}") from None


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
    rows = pd.Series(range(2, len(df) + 2))  # 1-based file lines after the header
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
