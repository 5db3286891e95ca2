"""EpiProfile 2.0 histone PTM tables: ``histone_ratios.xls`` and the single-PTM table.

``histone_ratios.xls`` is, despite its extension, a text table: tab-separated with CRLF line ends,
often re-saved from a spreadsheet as comma- or semicolon-separated text::

    <empty>   1,S1    2,S2    <empty>  1,S1    2,S2    <empty>  1,S1     2,S2
    Peptide   Ratio   Ratio   <empty>  Area    Area    <empty>  RT(min)  RT(min)
    KSTGGKAPR(H3_9_17)
    H3_9_17 unmod   0.2   0.3     1.2e9  1.5e9     21.50  21.48
    H3_9_17 K9ac    0.1   0.05    ...

The first header row holds the run names (``<index>,<raw file name>``) over each of the Ratio,
Area and RT blocks, the second row the block labels; blocks are separated by an empty column. A
peptide-family row (``SEQUENCE(FAMILY)``, nothing else on the line) precedes the peptidoform rows
of that family, each named ``<FAMILY> <forms>`` (``unmod`` or the modified residues, e.g.
``K9me1K14ac``). A peptidoform that was not detected is written as 0. Older EpiProfile versions
wrote one ``RT(min) Area Ratio`` triplet per run with the run name over its first column; that
layout is read too.

``histone_ratios_single_PTMs.xls`` holds one row per single mark (``H3K9ac``; ``H31K27me1`` and
``H33K27me1`` for the H3.1 and H3.3 forms of K27/K36) with the run names on the first row and no
label row.

Opened in Excel and saved again, either table becomes a real workbook: a binary Excel 97-2003
``.xls`` or an ``.xlsx``, often with several sheets (one per batch or experiment). Workbooks are
recognised by their bytes (not their name) and read through :mod:`kratom_omics.io._workbook`
(python-calamine); their cells are then parsed exactly as the text table's.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import build_anndata
from ._choices import FormatMismatchError, note_choice
from ._format import Detection, Format, Probe
from ._loader import loader
from ._text import check_path, field_limit, open_text
from ._values import finite_matrix, to_float
from ._workbook import read_sheet, workbook_kind

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["histone_label", "parse_marks", "read_epiprofile", "split_site"]

logger = logging.getLogger("kratom_omics")

#: Modification suffixes recognised in peptidoform and site names.
MOD_TYPES = (
    "me1",
    "me2",
    "me3",
    "ac",
    "ph",
    "ub",
    "cr",
    "bu",
    "pr",
    "su",
    "ma",
    "hib",
    "bz",
    "gl",
    "la",
)
_MOD = "|".join(sorted(MOD_TYPES, key=len, reverse=True))
_MARK_RE = re.compile(rf"([A-Z])(\d+)({_MOD})")
_FAMILY_ROW_RE = re.compile(r"^\s*([A-Za-z]+)\s*\(\s*([^()\s]+)\s*\)\s*$")
_FAMILY_RE = re.compile(r"^(H[0-9A-Za-z.]*?)_(\d+)_(\d+)$")
_SITE_RE = re.compile(rf"^(H[0-9A-Za-z.]*?)([A-Z])(\d+)({_MOD})$")
_BLOCKS = {"ratio": "ratio", "area": "area", "rt(min)": "rt", "rt": "rt", "rt (min)": "rt"}
_RUN_PREFIX = re.compile(r"^\s*\d+\s*,\s*")


def histone_label(prefix: str) -> str:
    """Histone named by an EpiProfile family prefix: ``H3`` -> ``H3``, ``H33`` -> ``H3.3``,
    ``H31`` -> ``H3.1``."""
    m = re.fullmatch(r"H3(\d)", prefix)
    return f"H3.{m.group(1)}" if m else prefix


def parse_marks(form: str) -> list[tuple[str, str]]:
    """Residues and modifications of a peptidoform name: ``"K9me1K14ac"`` -> ``[("K9", "me1"),
    ("K14", "ac")]``.

    ``"unmod"`` (or any name without a recognised mark) gives an empty list.
    """
    return [(f"{aa}{pos}", mod) for aa, pos, mod in _MARK_RE.findall(str(form))]


def split_site(name: str) -> tuple[str, str, str] | None:
    """Split a single-mark name ``"H31K27me1"`` into ``("H31", "K27", "me1")`` (None if it is not
    one)."""
    m = _SITE_RE.match(str(name).strip())
    if m is None:
        return None
    return m.group(1), f"{m.group(2)}{m.group(3)}", m.group(4)


def _sniff(lines: list[str]) -> str:
    """Delimiter of an EpiProfile table, judged on the label row (the run row holds commas in its
    cells)."""
    probe = lines[1] if len(lines) > 1 else lines[0]
    for sep in ("\t", ";", ","):
        if sep in probe:
            return sep
    return "\t"


def _read_rows(
    path: Path, encoding: str | None, sheet: str | int | None
) -> tuple[list[list[str]], str, str]:
    """The table's rows (cells stripped), the delimiter (``"xlsx"``/``"xls"`` for a workbook) and
    the source."""
    check_path(path, "EpiProfile table")
    kind = workbook_kind(path)
    if kind is not None:  # re-saved from a spreadsheet
        rows, _, source = read_sheet(path, sheet=sheet, what="EpiProfile table")
        note_choice("workbook", kind, source=str(path), level=logging.DEBUG)
        if not rows:
            raise InputFormatError(
                f"{source} is empty; expected an EpiProfile histone_ratios table."
            )
        return rows, kind, source
    if sheet not in (None, 0):
        raise InputFormatError(
            f"{path}: sheet={sheet!r} but the file is text, not a workbook; leave sheet unset.",
            cli=f"{path}: --sheet {sheet} but the file is text, not a workbook; leave --sheet "
            "unset.",
        )
    tf = open_text(path, what="EpiProfile table", encoding=encoding)
    lines = list(tf.lines())
    while lines and not lines[-1].strip(" \t,;\r"):
        lines.pop()
    if not lines:
        raise InputFormatError(
            f"{tf.source} is empty; expected an EpiProfile histone_ratios table."
        )
    sep = _sniff(lines)
    with field_limit():
        rows = [[c.strip() for c in r] for r in csv.reader(lines, delimiter=sep)]
    return rows, sep, tf.source


def _run_name(cell: str) -> str:
    return _RUN_PREFIX.sub("", cell).strip()


def _parse_header(rows: list[list[str]], source: str) -> dict[str, list[tuple[str, int]]]:
    """Map block ("ratio", "area", "rt") -> [(run, column)] from the two header rows."""
    runs_row, label_row = rows[0], rows[1]
    blocks: dict[str, list[tuple[str, int]]] = {}
    current_run = ""
    prev_labelled = False
    for j in range(1, len(label_row)):
        label = label_row[j].strip().lower()
        run_cell = runs_row[j] if j < len(runs_row) else ""
        if not label:
            prev_labelled = False
            if run_cell:
                current_run = _run_name(
                    run_cell
                )  # interleaved layout: name over an empty label? keep it
            continue
        if label not in _BLOCKS:
            raise InputFormatError(
                f"{source}: column {j + 1} of the second header row is {label_row[j]!r}; expected "
                "'Ratio', "
                "'Area' or 'RT(min)' (EpiProfile's block labels)."
            )
        if run_cell:
            current_run = _run_name(run_cell)
        elif not prev_labelled or not current_run:
            raise InputFormatError(
                f"{source}: column {j + 1} ({label_row[j]!r}) has no run name in the first header "
                "row."
            )
        prev_labelled = True
        blocks.setdefault(_BLOCKS[label], []).append((current_run, j))
    if "ratio" not in blocks:
        raise InputFormatError(
            f"{source}: no 'Ratio' column in the second header row {label_row[:6]}...; expected "
            "EpiProfile's "
            "histone_ratios layout (run names on row 1, Ratio/Area/RT(min) labels on row 2)."
        )
    ratio_runs = [r for r, _ in blocks["ratio"]]
    dup = sorted({r for r in ratio_runs if ratio_runs.count(r) > 1})
    if dup:
        raise InputFormatError(f"{source}: run(s) {dup} appear twice in the Ratio block.")
    for name, cols in blocks.items():
        runs = [r for r, _ in cols]
        if runs != ratio_runs:
            raise InputFormatError(
                f"{source}: the {name!r} block lists runs {runs} but the Ratio block lists "
                f"{ratio_runs}; "
                "every block must hold the same runs in the same order (was a column deleted or "
                "moved?)."
            )
    return blocks


def _numeric(
    cells: np.ndarray,
    source: str,
    labels: list[str],
    cols: list[str],
    what: str,
    decimal_comma: bool = False,
) -> np.ndarray:
    df = pd.DataFrame(cells)
    text = df.apply(lambda c: c.str.strip())
    text = text.mask(text.isin(["", "NA", "NaN", "nan", "#N/A"]))
    if decimal_comma:  # semicolon-separated files from spreadsheets set to a decimal comma
        text = text.apply(lambda c: c.str.replace(",", ".", regex=False))
    num = text.apply(to_float)
    bad = num.isna() & text.notna()
    if bad.to_numpy().any():
        i, j = (int(v[0]) for v in np.nonzero(bad.to_numpy()))
        raise InputFormatError(
            f"{source}: {what} of {labels[i]!r} in run {cols[j]!r} is {cells[i, j]!r}; expected a "
            "number."
        )
    return finite_matrix(num.to_numpy(dtype=np.float64), source=source, columns=cols)


#: Largest ratio accepted (EpiProfile writes ratios rounded to 6 digits, at most 1).
_MAX_RATIO = 1.0 + 1e-4


def _check_ratios(ratio: np.ndarray, source: str, labels: list[str], runs: list[str]) -> None:
    """EpiProfile's ratios are shares of a peptide family (0 to 1); anything larger means the
    table holds other numbers (areas, intensities)."""
    over = np.nan_to_num(ratio, nan=0.0) > _MAX_RATIO
    if over.any():
        i, j = (int(v[0]) for v in np.nonzero(over))
        raise FormatMismatchError(
            f"{source}: the ratio of {labels[i]!r} in run {runs[j]!r} is {ratio[i, j]:g} "
            f"({int(over.sum())} value(s) above 1); EpiProfile's ratios are shares of a peptide "
            "family between 0 and 1. Is this another table (areas, intensities)? Read it with "
            "kom.io.read_table.",
            tool="EpiProfile",
        )


@loader
def read_epiprofile(
    path: str | os.PathLike,
    *,
    level: Literal["auto", "peptidoforms", "sites"] = "auto",
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read an EpiProfile 2.0 histone PTM table into a samples x features AnnData.

    Parameters
    ----------
    path
        ``histone_ratios.xls`` (peptidoforms) or ``histone_ratios_single_PTMs.xls`` (single marks):
        tab-, comma- or semicolon-separated text as EpiProfile writes it (the delimiter is
        detected), or the table re-saved by a spreadsheet as a binary ``.xls``, ``.xlsx`` or
        ``.ods`` workbook (recognised by its bytes, whatever its name).
    level
        ``"peptidoforms"`` for ``histone_ratios.xls``, ``"sites"`` for the single-PTM file;
        ``"auto"`` tells them apart by the second header row (``Peptide, Ratio, ...``).
    sheet
        For a workbook: the sheet to read, by name or 0-based position. By default the first;
        when the workbook has others, the choice and their names are logged and kept in
        provenance (``choices["sheet"]``).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with ``.X`` and ``layers["raw"]`` = ratios (0, i.e. not detected, -> NaN).
    Peptidoforms: ``layers["area"]`` (peak areas) and ``layers["rt"]`` (retention time, min) when
    the file has those blocks; ``.var`` indexed by EpiProfile's peptidoform name with ``histone``,
    ``peptide_family``, ``sequence``, ``peptidoform``, ``residues`` (``"K9;K14"``), ``marks``
    (``"H3K9ac;H3K14ac"``, empty for ``unmod``) and ``mark`` (as ``marks``, or ``"<histone>
    unmod"``). Sites: ``.var`` indexed by the mark (``H3K9ac``) with ``histone``, ``residues``,
    ``marks``, ``mark`` and ``modification``.

    Raises
    ------
    InputFormatError
        A table that is not EpiProfile's (neither the ``Peptide``/``Ratio`` header rows nor rows
        named by histone marks, or ratios above 1), missing or mislabelled header rows, blocks
        that list different runs, a family row without peptidoform rows, a peptidoform row outside
        its family, a non-numeric value (the message names the row and run), or a ``sheet`` the
        workbook does not have.
    """
    rows, sep, source = _read_rows(Path(path), encoding, sheet)
    if len(rows) < 2:
        raise InputFormatError(
            f"{source}: only {len(rows)} line; expected two header rows and data rows."
        )
    is_pf = bool(rows[1]) and rows[1][0].strip().lower() == "peptide"
    if level == "auto":
        level = "peptidoforms" if is_pf else "sites"
    if level == "peptidoforms":
        values, var, layers = _peptidoforms(rows, source, sep == ";")
    elif level == "sites":
        if is_pf:
            raise InputFormatError(
                f"{source} is a peptidoform table (second row starts with 'Peptide'); use "
                "level='peptidoforms'."
            )
        values, var, layers = _sites(rows, source, sep == ";")
    else:
        raise InputFormatError(f"level={level!r}; expected 'auto', 'peptidoforms' or 'sites'.")
    adata = build_anndata(
        values,
        var,
        source=source,
        reader="read_epiprofile",
        parameters={"level": level, "delimiter": sep, "sheet": sheet},
    )
    for name, mat in layers.items():
        adata.layers[name] = mat
    logger.info("%s: %d runs x %d %s", source, adata.n_obs, adata.n_vars, level)
    return adata


def _peptidoforms(
    rows: list[list[str]], source: str, decimal_comma: bool
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    blocks = _parse_header(rows, source)
    runs = [r for r, _ in blocks["ratio"]]
    width = max(len(r) for r in rows)
    records: list[dict[str, str]] = []
    data_rows: list[list[str]] = []
    family = sequence = ""
    family_line = 0
    n_forms = 0
    for k, row in enumerate(rows[2:], start=3):
        first = row[0].strip() if row else ""
        rest = [c for c in row[1:] if c.strip()]
        if not first and not rest:
            continue
        if first and not rest:
            m = _FAMILY_ROW_RE.match(first)
            if m is None:
                raise InputFormatError(
                    f"{source}: line {k} is {first!r} with no values; expected a peptide-family "
                    "row such as "
                    "'KSTGGKAPR(H3_9_17)' or a peptidoform row with values."
                )
            if family and n_forms == 0:
                raise InputFormatError(
                    f"{source}: peptide family {family!r} (line {family_line}) has no peptidoform "
                    "rows; "
                    "every family row must be followed by its peptidoforms."
                )
            sequence, family, family_line, n_forms = m.group(1), m.group(2), k, 0
            continue
        if not family:
            raise InputFormatError(
                f"{source}: line {k} ({first!r}) holds values before any peptide-family row such "
                "as "
                "'KSTGGKAPR(H3_9_17)'."
            )
        label, _, form = first.partition(" ")
        if label != family or not form.strip():
            raise InputFormatError(
                f"{source}: line {k} is the peptidoform {first!r} inside family {family!r} (line "
                f"{family_line}); "
                f"expected '{family} <form>' such as '{family} unmod'."
            )
        form = form.strip()
        fm = _FAMILY_RE.match(family)
        prefix = fm.group(1) if fm else family.split("_")[0]
        marks = parse_marks(form)
        records.append(
            {
                "feature": first,
                "histone": histone_label(prefix),
                "peptide_family": family,
                "sequence": sequence,
                "peptidoform": form,
                "residues": ";".join(r for r, _ in marks),
                "marks": ";".join(f"{prefix}{r}{mod}" for r, mod in marks),
            }
        )
        data_rows.append(row + [""] * (width - len(row)))
        n_forms += 1
    if family and n_forms == 0:
        raise InputFormatError(
            f"{source}: peptide family {family!r} (line {family_line}) has no peptidoform rows; "
            "every family row must be followed by its peptidoforms."
        )
    if not records:
        raise InputFormatError(f"{source}: no peptidoform rows found below the two header rows.")
    cells = np.array(data_rows, dtype=object)
    labels = [r["feature"] for r in records]
    mats = {
        name: _numeric(cells[:, [j for _, j in cols]], source, labels, runs, name, decimal_comma)
        for name, cols in blocks.items()
    }
    ratio = mats["ratio"]
    _check_ratios(ratio, source, labels, runs)
    missing = ~(ratio > 0)
    if "area" in mats:
        missing |= ~(mats["area"] > 0)
        mats["area"] = np.where(missing, np.nan, mats["area"])
    ratio = np.where(missing, np.nan, ratio)
    layers = {"area": mats["area"].T} if "area" in mats else {}
    if "rt" in mats:
        layers["rt"] = np.where(mats["rt"] > 0, mats["rt"], np.nan).T
    var = pd.DataFrame(records).set_index("feature")
    var.index.name = None
    unmodified = var["peptidoform"].str.lower() == "unmod"
    var["mark"] = np.where(
        var["marks"] != "",
        var["marks"],
        var["histone"] + " " + np.where(unmodified, "unmod", var["peptidoform"]),
    )
    values = pd.DataFrame(ratio.T, index=pd.Index(runs), columns=var.index)
    return values, var, layers


def _sites(
    rows: list[list[str]], source: str, decimal_comma: bool
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    header = rows[0]
    runs = [_run_name(c) for c in header[1:] if c.strip()]
    cols = [j for j in range(1, len(header)) if header[j].strip()]
    if not runs:
        raise InputFormatError(
            f"{source}: the first row holds no run names; expected EpiProfile's single-PTM layout "
            "('<tab>1,S1<tab>2,S2', then one row per mark)."
        )
    names: list[str] = []
    data: list[list[str]] = []
    for k, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        name = row[0].strip()
        if not name:
            raise InputFormatError(
                f"{source}: line {k} has values but no mark name in the first column."
            )
        padded = row + [""] * (len(header) - len(row))
        data.append([padded[j] for j in cols])
        names.append(name)
    if not names:
        raise InputFormatError(f"{source}: no mark rows below the run-name row.")
    marks = [_site_parts(n) for n in names]
    if not any(m is not None for m in marks):
        raise FormatMismatchError(
            f"{source} is not an EpiProfile table: its second row is not EpiProfile's block labels "
            "('Peptide', 'Ratio', ..., as in histone_ratios.xls) and no row is named by a histone "
            f"mark such as 'H3K9ac' (as in histone_ratios_single_PTMs.xls); the rows are "
            f"{[n[:30] for n in names[:5]]}. Read other tables with kom.io.read_table.",
            tool="EpiProfile",
        )
    ratio = _numeric(np.array(data, dtype=object), source, names, runs, "ratio", decimal_comma)
    _check_ratios(ratio, source, names, runs)
    ratio = np.where(ratio > 0, ratio, np.nan)
    others = [n for n, m in zip(names, marks, strict=True) if m is None]
    if others:
        note_choice(
            "rows_without_mark",
            others[:20],
            source=source,
            why=f"{len(others)} row(s) not named by a single histone mark kept without histone "
            "and residue",
            level=logging.WARNING,
        )
    recs = []
    for name, parts in zip(names, marks, strict=True):
        if parts is None:
            recs.append({"histone": "", "residues": "", "modification": "", "marks": name})
            continue
        prefix, residue, mod = parts
        recs.append(
            {
                "histone": histone_label(prefix),
                "residues": residue,
                "modification": mod,
                "marks": f"{prefix}{residue}{mod}",
            }
        )
    var = pd.DataFrame(recs, index=pd.Index(names))
    var["mark"] = var["marks"]
    values = pd.DataFrame(ratio.T, index=pd.Index(runs), columns=var.index)
    return values, var, {}


def _site_parts(name: str) -> tuple[str, str, str] | None:
    """``(histone prefix, residue, modification)`` of a single-PTM row name: ``H3K9ac``, or
    ``<family> K5ac`` in extended tables; None for anything else."""
    if " " not in name:
        return split_site(name)
    fam, _, mark = name.partition(" ")
    fm = _FAMILY_RE.match(fam)
    pm = parse_marks(mark)
    if fm and len(pm) == 1 and mark.strip() == f"{pm[0][0]}{pm[0][1]}":
        return fm.group(1), pm[0][0], pm[0][1]
    return None


def _detect(pr: Probe) -> Detection | None:
    """EpiProfile (file name histone_ratios*, or 'Peptide', 'Ratio' labels on the second row)"""
    second = [c.strip().lower() for c in pr.row(1)]
    labelled = second[:1] == ["peptide"] and "ratio" in second
    if labelled:
        return Detection("epiprofile", kind="peptidoforms", evidence="'Peptide', 'Ratio' labels")
    if pr.name.startswith("histone_ratios"):
        kind = "sites" if "single_ptm" in pr.name else None
        return Detection("epiprofile", kind=kind, evidence="file name histone_ratios*")
    if pr.problem and "workbook" in pr.problem and workbook_kind(pr.path) is not None:
        try:
            rows, _, _ = read_sheet(pr.path, nrows=2)
        except InputFormatError:
            return None
        second = [c.strip().lower() for c in (rows[1] if len(rows) > 1 else [])]
        if second[:1] == ["peptide"] and "ratio" in second:
            return Detection(
                "epiprofile", kind="peptidoforms", evidence="'Peptide', 'Ratio' labels (workbook)"
            )
    return None


FORMAT = Format(
    name="epiprofile",
    label="EpiProfile",
    reader=read_epiprofile,
    detect=_detect,
    modality="histone",
    file_names=(r"^histone_ratios",),
    options=("level", "sheet"),
    kinds={
        "peptidoforms": "histone_ratios.xls: ratios of the peptidoforms of each peptide family",
        "sites": "histone_ratios_single_PTMs.xls: one ratio per single mark",
    },
)
