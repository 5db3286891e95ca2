"""DIA-NN: ``report.pg_matrix.tsv``, ``report.pr_matrix.tsv`` and the main report (TSV/parquet).

The matrices have annotation columns followed by one column per run, named by the run's raw-file
path. ``pg_matrix`` (protein groups): ``Protein.Group``, ``Protein.Ids`` (1.8; not in 2.x),
``Protein.Names``, ``Genes``, ``First.Protein.Description`` and, from 1.9/2.x, ``N.Sequences``,
``N.Proteotypic.Sequences``. ``pr_matrix`` (precursors): the protein columns and ``Proteotypic``,
``Stripped.Sequence``, ``Modified.Sequence``, ``Precursor.Charge``, ``Precursor.Id``. The main
report has one row per precursor and run (``Run``, ``Protein.Group``, ``Precursor.Id``,
``Stripped.Sequence``, ``Q.Value``, ``PG.Q.Value``, ...) with the protein-group quantities
(``PG.MaxLFQ``; up to 1.9 also ``PG.Quantity`` and ``PG.Normalised``; from 2.0 ``PG.TopN``)
repeated on every precursor row. DIA-NN 2.x writes it as ``report.parquet`` (without
``File.Name``, ``PG.Quantity``, ``PG.Normalised``; with ``Run.Index``, ``Channel``, ``Decoy`` with
``--report-decoys``, ``Precursor.Lib.Index``, ``Lib.PG.Q.Value``, ``Global.PG.Q.Value``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError
from ._anndata import normalize_run_name
from ._choices import note_choice
from ._columns import ignore_quantity, read_columns, read_parquet_columns, require_columns
from ._format import Detection, Format, Probe, probe
from ._loader import loader
from ._precursors import (
    one_per_run,
    passing_rows,
    peptide_counts,
    precursors_to_groups,
    report_runs,
)
from ._protein import finish, protein_var
from ._text import TextFile, open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_diann"]

_MATRIX_ANNOTATIONS = {
    "Protein.Group": "protein_group",
    "Protein.Ids": "protein_ids",
    "Protein.Names": "protein_names",
    "Genes": "gene",
    "First.Protein.Description": "description",
    "N.Sequences": "n_sequences",
    "N.Proteotypic.Sequences": "n_proteotypic_sequences",
}
# columns of DIA-NN's matrices that are never runs, whatever they hold (numbers included)
_PRECURSOR_COLUMNS = (
    "Proteotypic",
    "Stripped.Sequence",
    "Modified.Sequence",
    "Precursor.Charge",
    "Precursor.Id",
    "Precursor.Lib.Index",
    "Precursor.Mz",
    "N.Proteins",
    "Q.Value",
    "Global.Q.Value",
    "Lib.Q.Value",
    "Decoy",
)
_NEVER_RUNS = frozenset({*_MATRIX_ANNOTATIONS, *_PRECURSOR_COLUMNS})
# DIA-NN annotation columns are dotted capitalised words (Protein.Group, N.Sequences)
_ANNOTATION_NAME = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")
QUANTITIES = {
    "maxlfq": "PG.MaxLFQ",
    "quantity": "PG.Quantity",
    "normalised": "PG.Normalised",
    "topn": "PG.TopN",
}
_TEXT = ("Protein.Group", "Protein.Ids", "Protein.Names", "Genes", "First.Protein.Description")


def _is_annotation(column: str) -> bool:
    if column in _NEVER_RUNS:
        return True
    return bool(_ANNOTATION_NAME.match(column)) and normalize_run_name(column) == column


@loader
def read_diann(
    path: str | os.PathLike,
    *,
    quantity: str | None = None,
    q_value: float | None = 0.01,
    pg_q_value: float | None = 0.01,
    lib_pg_q_value: float | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read DIA-NN protein groups from a pg_matrix, a pr_matrix or the main report.

    Parameters
    ----------
    path
        ``*.pg_matrix.tsv`` (protein groups x runs), ``*.pr_matrix.tsv`` (precursors x runs) or
        the long main report (``report.tsv`` of DIA-NN 1.7 to 1.9, ``report.parquet`` of 2.x).
        The kind is recognised from the header, the delimiter is sniffed (a comma-separated
        ``.tsv`` is read as such).
    quantity
        Main report only: ``"maxlfq"`` (``PG.MaxLFQ``), ``"quantity"`` (``PG.Quantity``),
        ``"normalised"`` (``PG.Normalised``) or ``"topn"`` (``PG.TopN``, DIA-NN 2.x); ``"lfq"`` and
        ``"intensity"`` are accepted for ``"maxlfq"`` and ``"quantity"``. ``None`` takes the first
        of these the report has, in this order: a report of DIA-NN 1.7 without ``PG.MaxLFQ`` is
        read with ``PG.Quantity``, and the fallback is logged as a warning and recorded in
        provenance. A matrix holds one quantity per run and ignores it.
    q_value, pg_q_value, lib_pg_q_value
        Main report only: keep precursor rows with ``Q.Value``, ``PG.Q.Value`` and
        ``Lib.PG.Q.Value`` at or below these cut-offs (``None`` = no filter). A column the report
        lacks is skipped with a log message, unless the cut-off was set explicitly for
        ``Lib.PG.Q.Value``. Decoy rows (``Decoy`` = 1, DIA-NN 2.x with ``--report-decoys``) are
        always removed.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw protein intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var``
    indexed by the leading protein of ``Protein.Group`` with ``protein_group``, ``protein_ids``,
    ``protein_leading``, ``gene`` (``;``-joined ``Genes``), ``gene_leading``, ``protein_names``,
    ``is_contaminant``, ``is_decoy`` and, where the file tells, ``n_peptides``: the number of
    distinct peptide sequences (``Stripped.Sequence``) of the group, counted on the main report
    rows that pass the q-value filters, on the pr_matrix precursors quantified in at least one
    run, or taken from the pg_matrix's ``N.Sequences`` (DIA-NN 1.9/2.x); reports and pr_matrix
    also give ``n_precursors`` (distinct ``Precursor.Id``). ``.obs["file"]`` holds the raw-file
    path when it differs from the run name; then the sample sheet.

    A pr_matrix is combined into protein groups with MaxLFQ, the algorithm of DIA-NN's own
    ``PG.MaxLFQ`` (see :mod:`kratom_omics.io._precursors`), over the precursors it lists; DIA-NN's
    ``report.pg_matrix.tsv`` of the same analysis holds DIA-NN's protein quantities and is the
    file to read when it is at hand (the choice is logged and recorded in provenance).
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    p = Path(path)
    source = str(p)
    tf: TextFile | None = None
    if p.name.lower().endswith(".parquet"):
        pr = probe(p)
        if pr.problem or not pr.columns:
            raise InputFormatError(pr.problem or f"{source}: the parquet file has no columns.")
        header, kind = pr.columns, _kind(set(pr.columns))
    else:
        tf = open_table(p, what="DIA-NN report", encoding=encoding)
        source, header, kind = tf.source, tf.header, _kind(set(tf.header))
    require_columns(header, ["Protein.Group"], source, "DIA-NN")
    if kind == "report":
        return _read_report(
            p,
            tf,
            header,
            quantity=quantity,
            cutoffs={
                "Q.Value": q_value,
                "PG.Q.Value": pg_q_value,
                "Lib.PG.Q.Value": lib_pg_q_value,
            },
        )
    ignore_quantity(quantity, source, f"DIA-NN {kind}")
    if tf is None:
        raise InputFormatError(
            f"{source}: a parquet file without 'Run'/'File.Name' and 'PG.MaxLFQ' columns; "
            "expected the DIA-NN 2.x main report (report.parquet)."
        )
    text, runs = _matrix_columns(tf, header)
    if kind == "pr_matrix":
        return _read_pr_matrix(tf, text, runs)
    annotations, values = read_columns(
        tf, text=text, numeric=runs, row_label="Protein.Group", fast=True
    )
    runs = list(values.columns)
    names = _run_names(runs, source)
    values.columns = names
    var = _var(annotations, source)
    if "n_sequences" in var:
        var["n_peptides"] = var["n_sequences"]
        note_choice("n_peptides", "N.Sequences", source=source, level=logging.DEBUG)
    return finish(
        values,
        var,
        source=source,
        reader="read_diann",
        parameters={"kind": "pg_matrix"},
        obs=_file_obs(runs, names),
    )


def _matrix_columns(tf: TextFile, header: list[str]) -> tuple[list[str], list[str]]:
    """``(annotation columns read as text, run columns)`` of a pg_matrix or pr_matrix.

    DIA-NN's own annotation columns are never runs (also when they hold numbers:
    ``Proteotypic``, ``Precursor.Charge``, ``N.Sequences``); other dotted names (a newer
    DIA-NN's annotation, or a run called ``Rat.A``) are annotations when they hold text.
    """
    source = tf.source
    text = [c for c in header if c in (*_TEXT, "Stripped.Sequence", "Precursor.Id")]
    known = [c for c in header if c in _NEVER_RUNS and c not in text]
    numeric_annotations = [c for c in known if c in ("N.Sequences", "N.Proteotypic.Sequences")]
    maybe = list(dict.fromkeys(c for c in header if c not in _NEVER_RUNS and _is_annotation(c)))
    if maybe:
        head = tf.read_csv(columns=[tf.names[header.index(c)] for c in maybe], nrows=100, dtype=str)
        head.columns = maybe
        worded = []
        for col in maybe:
            cells = head[col].dropna().str.strip()
            cells = cells[~cells.isin(["", "NA", "NaN", "nan"])]
            if pd.to_numeric(cells, errors="coerce").isna().any():
                worded.append(col)
        if worded:
            known += worded
            note_choice(
                "annotation_columns",
                worded,
                source=source,
                why="dotted columns holding text: annotations, not runs (not kept in .var)",
            )
    runs = [c for c in header if c not in text and c not in known]
    if not runs:
        raise InputFormatError(
            f"{source}: no run columns found; every column is an annotation "
            f"({[*text, *known]}). Expected one column per run after the annotation columns."
        )
    return text + numeric_annotations, runs


def _read_pr_matrix(tf: TextFile, text: list[str], runs: list[str]) -> AnnData:
    source = tf.source
    sibling = _sibling_pg_matrix(tf.path)
    note_choice(
        "aggregation",
        "maxlfq",
        source=source,
        why="precursor matrix: precursors combined into protein groups with MaxLFQ (DIA-NN's "
        "algorithm); DIA-NN's own protein quantities are in "
        + (f"{str(sibling)!r}" if sibling else "the report.pg_matrix.tsv of the same analysis"),
    )
    annotations, values = read_columns(
        tf, text=text, numeric=runs, row_label="Protein.Group", fast=True
    )
    runs = list(values.columns)
    group = annotations["Protein.Group"]
    if group.isna().any():
        lines = [int(v) for v in group.index[group.isna().to_numpy()][:10]]
        raise InputFormatError(
            f"{source}: empty 'Protein.Group' on line(s) {lines}; every precursor needs its "
            "protein group."
        )
    matrix, groups = precursors_to_groups(values.to_numpy(dtype=np.float64), group)
    cells = values.to_numpy()
    quantified = (~np.isnan(cells) & (cells != 0)).any(axis=1)
    var = _var(_group_annotations(annotations, groups), source)
    counts = peptide_counts(
        annotations.loc[quantified],
        groups,
        group="Protein.Group",
        sequence="Stripped.Sequence",
        precursor="Precursor.Id",
    )
    var = var.assign(**counts)
    names = _run_names(runs, source)
    wide = pd.DataFrame(matrix, columns=names)
    return finish(
        wide,
        var,
        source=source,
        reader="read_diann",
        parameters={"kind": "pr_matrix", "aggregation": "maxlfq", "precursors": len(values)},
        obs=_file_obs(runs, names),
    )


def _sibling_pg_matrix(path: Path) -> Path | None:
    name = path.name
    for stem in ("pr_matrix", "pr.matrix"):
        if stem in name:
            other = path.with_name(name.replace(stem, "pg_matrix" if "_" in stem else "pg.matrix"))
            if other.is_file():
                return other
    return None


def _group_annotations(rows: pd.DataFrame, groups: pd.Index) -> pd.DataFrame:
    """One annotation row per protein group (first precursor's names; ``Protein.Ids`` the union
    over the group's precursors, in order of appearance)."""
    cols = [c for c in _TEXT if c in rows]
    first = rows.drop_duplicates(subset=["Protein.Group"]).set_index("Protein.Group")
    out = first.reindex(groups)[[c for c in cols if c != "Protein.Group"]]
    if "Protein.Ids" in rows:
        ids = rows[["Protein.Group", "Protein.Ids"]].dropna()
        each = ids.assign(id=ids["Protein.Ids"].str.split(";")).explode("id")
        each["id"] = each["id"].str.strip()
        each = each[each["id"] != ""].drop_duplicates(subset=["Protein.Group", "id"])
        union = each.groupby("Protein.Group", sort=False)["id"].agg(";".join)
        out["Protein.Ids"] = union.reindex(groups).to_numpy()
    return out.reset_index(names="Protein.Group")


def _file_obs(runs: Sequence[str], names: Sequence[str]) -> pd.DataFrame | None:
    if all(r == n for r, n in zip(runs, names, strict=True)):
        return None
    return pd.DataFrame({"file": list(runs)}, index=list(names))


def _run_names(runs: Sequence[str], source: str) -> list[str]:
    names = [normalize_run_name(r) for r in runs]
    seen: dict[str, str] = {}
    for run, name in zip(runs, names, strict=True):
        if name in seen:
            raise InputFormatError(
                f"{source}: runs {seen[name]!r} and {run!r} have the same run name {name!r}; "
                "rename one raw file or pass a sample sheet with the full paths."
            )
        seen[name] = run
    return names


def _var(annotations: pd.DataFrame, source: str) -> pd.DataFrame:
    ann = annotations.rename(columns=_MATRIX_ANNOTATIONS)
    extra: dict[str, pd.Series | np.ndarray] = {"protein_group": ann["protein_group"]}
    for col in ("protein_names", "description", "n_sequences", "n_proteotypic_sequences"):
        if col in ann:
            series = ann[col]
            if col.startswith("n_"):
                series = as_integer(series)
            extra[col] = series
    ids = ann["protein_ids"] if "protein_ids" in ann else ann["protein_group"]
    return protein_var(
        ids.fillna(ann["protein_group"]),
        genes=ann.get("gene"),
        leading=ann["protein_group"],
        extra=extra,
        source=source,
    )


def _resolve_quantity(quantity: str | None, header: Sequence[str], source: str) -> str:
    if quantity is not None:
        key = FORMAT.quantities.get(str(quantity).lower(), str(quantity).lower())
        if key not in QUANTITIES:
            raise KeyNotFoundError(
                f"quantity={quantity!r} is not a DIA-NN protein quantity; expected one of "
                f"{list(QUANTITIES)} ({', '.join(QUANTITIES.values())})."
            )
        require_columns(header, [QUANTITIES[key]], source, "DIA-NN main report")
        return key
    present = [k for k, col in QUANTITIES.items() if col in header]
    if not present:
        require_columns(header, [QUANTITIES["maxlfq"]], source, "DIA-NN main report")
    key = present[0]
    if key == "maxlfq":
        note_choice("quantity", key, source=source, why="default")
    else:
        note_choice(
            "quantity",
            key,
            source=source,
            why=f"the report has no 'PG.MaxLFQ' column (DIA-NN 1.7 or MaxLFQ switched off): "
            f"'{QUANTITIES[key]}' read instead",
            level=logging.WARNING,
        )
    return key


def _read_report(
    p: Path,
    tf: TextFile | None,
    header: list[str],
    *,
    quantity: str | None,
    cutoffs: dict[str, float | None],
) -> AnnData:
    source = tf.source if tf is not None else str(p)
    key = _resolve_quantity(quantity, header, source)
    qcol = QUANTITIES[key]
    run_col = "Run" if "Run" in header else "File.Name"
    filters = {}
    for col, cut in cutoffs.items():
        if cut is None:
            continue
        if col not in header:
            if col == "Lib.PG.Q.Value":
                raise InputFormatError(
                    f"{source}: lib_pg_q_value={cut} was given but the report has no "
                    "'Lib.PG.Q.Value' column (written by DIA-NN 1.9+ with match-between-runs)."
                )
            note_choice(f"{col} filter", "skipped", source=source, why=f"no {col!r} column")
            continue
        filters[col] = float(cut)
    text = [
        c
        for c in (
            run_col,
            "Protein.Group",
            "Protein.Ids",
            "Protein.Names",
            "Genes",
            "Stripped.Sequence",
            "Precursor.Id",
            "Channel",
        )
        if c in header
    ]
    numeric = [qcol, *filters, *(["Decoy"] if "Decoy" in header else [])]
    numeric = list(dict.fromkeys(numeric))
    if tf is None:
        ann, vals = read_parquet_columns(
            p, text=text, numeric=numeric, source=source, what="report"
        )
    else:
        ann, vals = read_columns(
            tf, text=text, numeric=numeric, row_label="Protein.Group", fast=True
        )
    _check_channels(ann, source)
    keep = passing_rows(vals, filters, decoy="Decoy" if "Decoy" in vals else None, source=source)
    no_group = ann["Protein.Group"].isna().to_numpy() & keep
    if no_group.any():
        note_choice(
            "rows_without_protein_group",
            int(no_group.sum()),
            source=source,
            why="precursor rows with an empty 'Protein.Group' skipped",
            level=logging.WARNING,
        )
        keep &= ~no_group
    all_runs = report_runs(ann, run_col, source)
    long = pd.concat([ann, vals[[qcol]]], axis=1).loc[keep]
    if long.empty:
        raise InputFormatError(
            f"{source}: no precursor row passes the q-value filters {filters}; relax q_value=/"
            "pg_q_value= or check the report."
        )
    wide, first = one_per_run(
        long, run=run_col, group="Protein.Group", quantity=qcol, runs=all_runs, source=source
    )
    groups = pd.Index(first["Protein.Group"])
    names = _run_names(all_runs, source)
    wide.columns = names
    annotations = first[[c for c in _TEXT if c in first and c != "First.Protein.Description"]]
    counts = peptide_counts(
        long, groups, group="Protein.Group", sequence="Stripped.Sequence", precursor="Precursor.Id"
    )
    var = _var(annotations, source).assign(**counts)
    return finish(
        wide,
        var,
        source=source,
        reader="read_diann",
        parameters={"kind": "report", "quantity": key, "filters": filters},
        obs=_file_obs(all_runs, names),
    )


def _check_channels(ann: pd.DataFrame, source: str) -> None:
    if "Channel" not in ann:
        return
    channels = sorted({str(c) for c in ann["Channel"].dropna().unique()})
    if len(channels) > 1:
        raise InputFormatError(
            f"{source}: a multiplexed (plexDIA) report with channels {channels[:10]}; protein "
            "quantities per run and channel are not read from it. Split the report by "
            "'Channel' and read each part, or analyse the channels with DIA-NN's matrices."
        )


def _kind(columns: set[str]) -> str:
    """``"report"`` (long, one row per precursor and run), ``"pr_matrix"`` or ``"pg_matrix"``."""
    if {"Run", "File.Name"} & columns and {
        "Precursor.Id",
        "PG.MaxLFQ",
        "PG.Quantity",
        "PG.TopN",
    } & columns:
        return "report"
    if {"Precursor.Id", "Modified.Sequence", "Stripped.Sequence"} & columns:
        return "pr_matrix"
    return "pg_matrix"


def _detect(pr: Probe) -> Detection | None:
    """DIA-NN report (long): 'Protein.Group' with 'Run' or 'File.Name' and 'PG.MaxLFQ'; pg_matrix
    / pr_matrix: 'Protein.Group' with 'Protein.Ids', 'Genes' or 'First.Protein.Description'"""
    s = pr.colset
    if (
        "Protein.Group" in s
        and {"Protein.Ids", "PG.MaxLFQ", "PG.Quantity", "Genes", "First.Protein.Description"} & s
    ):
        kind = _kind(set(s))
        return Detection("diann", kind=kind, evidence=f"'Protein.Group' column ({kind})")
    return None


FORMAT = Format(
    name="diann",
    label="DIA-NN",
    reader=read_diann,
    detect=_detect,
    modality="protein",
    file_names=(r"pg_matrix", r"pr_matrix"),
    folder_files=("report.pg_matrix.tsv", "report.parquet", "*.pg_matrix.tsv"),
    quantities={**{k: k for k in QUANTITIES}, "lfq": "maxlfq", "intensity": "quantity"},
    options=("q_value", "pg_q_value", "lib_pg_q_value"),
    kinds={
        "pg_matrix": "protein groups x runs (report.pg_matrix.tsv)",
        "pr_matrix": "precursors x runs (report.pr_matrix.tsv), combined with MaxLFQ",
        "report": "the main report, one row per precursor and run (report.tsv, report.parquet)",
    },
)
