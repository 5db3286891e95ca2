"""Spreadsheet workbooks (``.xlsx``, ``.xlsm``, binary Excel 97-2003 ``.xls``, ``.ods``) as rows of text.

Tables reach users re-saved by Excel: EpiProfile's ``histone_ratios.xls`` (text) saved as a real
``.xls`` or ``.xlsx``, sample sheets kept in a workbook. They are read with ``python-calamine``
(the Rust ``calamine`` reader: every Excel format, several times faster than openpyxl) and given
to the readers as rows of text cells, so a workbook and a text export of the same table are
parsed by the same code.

A workbook is recognised by its bytes, not its name: a zip holding ``[Content_Types].xml``
(xlsx/xlsm), the OLE2 signature (binary xls), or an OpenDocument zip (ods). A text file named
``.xls`` (as EpiProfile writes) is text.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputFormatError, did_you_mean
from ._choices import note_choice
from ._text import check_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["read_sheet", "sheet_frame", "sheet_names", "workbook_kind"]

logger = logging.getLogger("kratom_omics")

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def workbook_kind(path: str | os.PathLike) -> str | None:
    """``"xlsx"``, ``"xls"`` or ``"ods"`` when ``path`` is a workbook (by its bytes), else None."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic[:4] == _OLE2[:4]:
        return "xls"
    if magic[:4] != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "[Content_Types].xml" in names:
                return "xlsx"
            if "mimetype" in names and b"spreadsheet" in zf.read("mimetype"):
                return "ods"
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    return None


def _cell(value: Any) -> str:
    """A cell as the text a text export would hold: whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return str(value)
    return str(value).strip()


def _open(path: Path, what: str) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for damaged workbooks
        raise InputFormatError(
            f"{what} {str(path)!r}: the workbook could not be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); open it in a spreadsheet and save it again."
        ) from None


def sheet_names(path: str | os.PathLike, *, what: str = "workbook") -> list[str]:
    """The names of a workbook's sheets, in order."""
    return list(_open(Path(path), what).sheet_names)


def read_sheet(
    path: str | os.PathLike,
    *,
    sheet: str | int | None = None,
    what: str = "workbook",
    nrows: int | None = None,
) -> tuple[list[list[str]], str, str]:
    """The rows of one sheet of a workbook as text cells.

    Parameters
    ----------
    path
        The workbook (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``).
    sheet
        Sheet name or 0-based position; ``None`` takes the first and, when there are others,
        notes the choice (logged, kept in provenance) with their names.
    what
        How messages name the file.
    nrows
        Read only the first rows (for detection).

    Returns
    -------
    ``(rows, sheet name, source)``: rows from the sheet's first row and column (cell A1), every
    cell as text (``""`` when empty; whole numbers without ``.0``; dates in ISO form), trailing
    empty cells and rows removed; ``source`` names file and sheet for messages
    (``histone_ratios.xlsx[old]``).

    Raises
    ------
    InputFormatError
        The workbook cannot be read, or ``sheet`` names no sheet (the message lists them).
    """
    p = Path(path)
    check_path(p, what)
    book = _open(p, what)
    names = list(book.sheet_names)
    if not names:
        raise InputFormatError(f"{what} {str(p)!r} holds no sheet.")
    if sheet is None:
        name = names[0]
        if len(names) > 1:
            note_choice(
                "sheet",
                name,
                source=str(p),
                why=f"the first of {len(names)} sheets {names}; pass sheet= to read another",
            )
    elif isinstance(sheet, int) and not isinstance(sheet, bool):
        if not -len(names) <= sheet < len(names):
            raise InputFormatError(
                f"{what} {str(p)!r}: sheet={sheet} but the workbook has {len(names)} sheet(s) "
                f"{names}; pass a position from 0 or a name."
            )
        name = names[sheet]
        note_choice("sheet", name, source=str(p), why="given", level=logging.DEBUG)
    else:
        lower = {n.lower(): n for n in names}
        found = sheet if sheet in names else lower.get(str(sheet).strip().lower())
        if found is None:
            raise InputFormatError(
                did_you_mean(str(sheet), names, what="sheet").replace(
                    "is not available.", f"is not a sheet of {str(p)!r}."
                )
            )
        name = found
        note_choice("sheet", name, source=str(p), why="given", level=logging.DEBUG)
    try:
        values = book.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=nrows)
    except Exception as exc:  # calamine raises its own error types for damaged sheets
        raise InputFormatError(
            f"{what} {str(p)!r}: sheet {name!r} could not be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]})."
        ) from None
    rows = [[_cell(v) for v in row] for row in values]
    for row in rows:
        while row and not row[-1]:
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows, name, f"{p}[{name}]"


def sheet_frame(
    path: str | os.PathLike,
    *,
    what: str = "workbook",
    sheet: str | int | None = None,
    comment: str | None = None,
) -> pd.DataFrame:
    """A sheet holding a table (a header row, then one row per record) as text cells.

    Returns
    -------
    DataFrame with the header row's cells as columns and every cell as text (``""`` when
    empty), blank rows dropped, and ``.attrs["lines"]``: the sheet row (1-based, as a spreadsheet
    shows it) of each record; ``.attrs["source"]`` names file and sheet. A column without a name
    is dropped when it is empty and an error when it holds values, as in text tables. Rows
    whose first cell starts with ``comment`` are skipped.
    """
    import pandas as pd

    rows, _, source = read_sheet(path, sheet=sheet, what=what)
    numbered = [
        (k, r)
        for k, r in enumerate(rows, start=1)
        if any(c.strip() for c in r) and not (comment and r[0].lstrip().startswith(comment))
    ]
    if not numbered:
        raise InputFormatError(f"{what} {source!r} is empty.")
    (_, header), body = numbered[0], numbered[1:]
    width = max(len(r) for _, r in numbered)
    header = [c.strip() for c in header] + [""] * (width - len(header))
    data = [r + [""] * (width - len(r)) for _, r in body]
    keep = []
    for j, name in enumerate(header):
        if name:
            keep.append(j)
            continue
        holding = next((k for (k, _), r in zip(body, data, strict=True) if r[j].strip()), None)
        if holding is not None:
            raise InputFormatError(
                f"{source}: column {j + 1} holds a value on row {holding} but has no name in the "
                "header row; name the column or delete the values."
            )
    df = pd.DataFrame(
        [[r[j] for j in keep] for r in data], columns=[header[j] for j in keep], dtype=object
    )
    df.attrs["lines"] = [k for k, _ in body]
    df.attrs["source"] = source
    return df
