"""DIA-NN protein tables: ``report.pg_matrix.tsv`` (wide) and the main report (long, TSV/parquet).

The wide matrix has annotation columns (``Protein.Group``, ``Protein.Ids``, ``Protein.Names``,
``Genes``, ``First.Protein.Description`` and, depending on the version, more) followed by one column
per run, named by the run's raw-file path. The main report has one row per precursor and run; the
protein group quantities (``PG.MaxLFQ``, ...) repeat on every precursor row and are read once per
run and group after the q-value filters.
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
from ._columns import ignore_quantity, read_columns, require_columns
from ._format import Detection, Format, Probe, probe
from ._loader import loader
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
# DIA-NN annotation columns are dotted capitalised words (Protein.Group, N.Sequences)
_ANNOTATION_NAME = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")
QUANTITIES = {"maxlfq": "PG.MaxLFQ", "quantity": "PG.Quantity", "normalised": "PG.Normalised"}


def _is_annotation(column: str) -> bool:
    if column in _MATRIX_ANNOTATIONS:
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
    """Read DIA-NN protein groups from ``report.pg_matrix.tsv`` or the main report.

    Parameters
    ----------
    path
        ``*.pg_matrix.tsv`` (one column per run) or the long main report (``*.tsv`` or
        ``*.parquet``, DIA-NN 1.8 to 2.x). The kind is recognised from the header.
    quantity
        Main report only: ``"maxlfq"`` (``PG.MaxLFQ``, default), ``"quantity"`` (``PG.Quantity``) or
        ``"normalised"`` (``PG.Normalised``); ``"lfq"`` and ``"intensity"`` are accepted for
        ``"maxlfq"`` and ``"quantity"``. A pg_matrix holds one quantity per run and ignores it.
    q_value, pg_q_value, lib_pg_q_value
        Main report only: keep precursor rows with ``Q.Value``, ``PG.Q.Value`` and
        ``Lib.PG.Q.Value`` at or below these cut-offs (``None`` = no filter). A column the report
        lacks is skipped with a log message, unless the cut-off was set explicitly for
        ``Lib.PG.Q.Value``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw protein intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var``
    indexed by the leading protein of ``Protein.Group`` with ``protein_group``, ``protein_ids``,
    ``protein_leading``, ``gene`` (``;``-joined ``Genes``), ``gene_leading``, ``protein_names``,
    ``is_contaminant``, ``is_decoy``; ``.obs["file"]`` with the raw-file path when it differs from
    the run name, and the sample sheet.
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
    ignore_quantity(quantity, source, "DIA-NN pg_matrix")
    if tf is None:
        raise InputFormatError(
            f"{source}: a parquet file without 'Run'/'File.Name' and 'PG.MaxLFQ' columns; "
            "expected the DIA-NN 2.x main report (report.parquet)."
        )
    text = [c for c in header if c in _MATRIX_ANNOTATIONS]
    # other dotted names (a newer DIA-NN's annotation, or a run called 'Rat.A'): text -> annotation
    maybe = [c for c in header if c not in _MATRIX_ANNOTATIONS and _is_annotation(c)]
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
            text += worded
            note_choice(
                "annotation_columns",
                worded,
                source=source,
                why="dotted columns holding text: annotations, not runs (not kept in .var)",
            )
    runs = [c for c in header if c not in text]
    if not runs:
        raise InputFormatError(
            f"{source}: no run columns found; every column is an annotation ({text}). "
            "Expected one column per run after the annotation columns."
        )
    annotations, values = read_columns(tf, text=text, numeric=runs, row_label="Protein.Group")
    runs = list(values.columns)
    names = _run_names(runs, source)
    values.columns = names
    var = _var(annotations, source)
    obs = pd.DataFrame({"file": runs}, index=names)
    return finish(
        values,
        var,
        source=source,
        reader="read_diann",
        parameters={"kind": "pg_matrix"},
        obs=obs if any(r != n for r, n in zip(runs, names, strict=True)) else None,
    )


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


def _read_report(
    p: Path,
    tf: TextFile | None,
    header: list[str],
    *,
    quantity: str | None,
    cutoffs: dict[str, float | None],
) -> AnnData:
    source = tf.source if tf is not None else str(p)
    key = "maxlfq" if quantity is None else str(quantity).lower()
    key = FORMAT.quantities.get(key, key)
    if key not in QUANTITIES:
        raise KeyNotFoundError(
            f"quantity={quantity!r} is not a DIA-NN protein quantity; expected one of "
            f"{list(QUANTITIES)} ({', '.join(QUANTITIES.values())})."
        )
    qcol = QUANTITIES[key]
    require_columns(header, [qcol], source, "DIA-NN main report")
    if quantity is None:
        note_choice("quantity", key, source=source, why="default")
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
        for c in (run_col, "Protein.Group", "Protein.Ids", "Protein.Names", "Genes")
        if c in header
    ]
    numeric = [qcol, *filters]
    if tf is None:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p, columns=list(dict.fromkeys([*text, *numeric]))).to_pandas()
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise InputFormatError(
                f"{source}: the parquet file could not be read ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); write or copy it again."
            ) from None
        if table.empty:
            raise InputFormatError(f"{source}: the report has no rows.")
        ann = table[text].astype("string").astype(object).where(table[text].notna(), np.nan)
        vals = table[numeric].apply(pd.to_numeric, errors="coerce").astype(np.float64)
        bad = vals.isna() & table[numeric].notna()
        if bad.to_numpy().any():
            col = vals.columns[np.flatnonzero(bad.any().to_numpy())[0]]
            raise InputFormatError(f"{source}: column {col!r} holds non-numeric values.")
    else:
        ann, vals = read_columns(tf, text=text, numeric=numeric, row_label="Protein.Group")
    keep = np.ones(len(vals), dtype=bool)
    for col, cut in filters.items():
        keep &= (vals[col] <= cut).to_numpy()
    note_choice(
        "q_value_filters",
        filters,
        source=source,
        why=f"{int(keep.sum())} of {len(keep)} precursor rows pass",
    )
    long = pd.concat([ann, vals[[qcol]]], axis=1)
    all_runs = list(pd.unique(long[run_col].astype(str)))
    long = long.loc[keep]
    pairs = long.drop_duplicates(subset=[run_col, "Protein.Group", qcol])
    clash = pairs.duplicated(subset=[run_col, "Protein.Group"], keep=False)
    if clash.any():
        note_choice(
            "differing_quantities",
            int(clash.sum()),
            source=source,
            why=f"run/protein-group pairs with differing {qcol} across precursor rows: the first "
            "is used",
            level=logging.WARNING,
        )
    pairs = pairs.drop_duplicates(subset=[run_col, "Protein.Group"])
    if pairs.empty:
        raise InputFormatError(
            f"{source}: no precursor row passes the q-value filters {filters}; relax q_value=/"
            "pg_q_value= or check the report."
        )
    groups = pd.Index(pd.unique(pairs["Protein.Group"]))
    wide = pairs.pivot(index="Protein.Group", columns=run_col, values=qcol)
    wide = wide.reindex(index=groups, columns=all_runs)
    names = _run_names(all_runs, source)
    wide.columns = names
    first = pairs.drop_duplicates(subset=["Protein.Group"]).set_index("Protein.Group").loc[groups]
    annotations = first.reset_index(names="Protein.Group")[
        [c for c in ("Protein.Group", "Protein.Ids", "Protein.Names", "Genes") if c in pairs]
    ]
    var = _var(annotations, source)
    obs = pd.DataFrame({"file": all_runs}, index=names)
    return finish(
        wide,
        var,
        source=source,
        reader="read_diann",
        parameters={"kind": "report", "quantity": key, "filters": filters},
        obs=obs if any(r != n for r, n in zip(all_runs, names, strict=True)) else None,
    )


def _kind(columns: set[str]) -> str:
    """``"report"`` (long, one row per precursor and run), ``"pr_matrix"`` or ``"pg_matrix"``."""
    if {"Run", "File.Name"} & columns and {"Precursor.Id", "PG.MaxLFQ", "PG.Quantity"} & columns:
        return "report"
    if {"Precursor.Id", "Modified.Sequence", "Stripped.Sequence"} & columns:
        return "pr_matrix"
    return "pg_matrix"


def _detect(pr: Probe) -> Detection | None:
    """DIA-NN report (long): 'Protein.Group' with 'Run' or 'File.Name' and 'PG.MaxLFQ'; pg_matrix:
    'Protein.Group' with 'Protein.Ids', 'Genes' or 'First.Protein.Description'"""
    s = pr.colset
    if (
        "Protein.Group" in s
        and {"Protein.Ids", "PG.MaxLFQ", "Genes", "First.Protein.Description"} & s
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
    file_names=(r"pg_matrix",),
    folder_files=("report.pg_matrix.tsv", "report.parquet", "*.pg_matrix.tsv"),
    quantities={**{k: k for k in QUANTITIES}, "lfq": "maxlfq", "intensity": "quantity"},
    options=("q_value", "pg_q_value", "lib_pg_q_value"),
    kinds={
        "pg_matrix": "protein groups x runs (report.pg_matrix.tsv)",
        "pr_matrix": "precursors x runs (report.pr_matrix.tsv)",
        "report": "the main report, one row per precursor and run (report.tsv, report.parquet)",
    },
)
