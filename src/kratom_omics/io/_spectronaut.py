"""Spectronaut reports: long (a row per run and protein group, precursor or fragment) and pivot.

Long reports carry ``R.FileName`` (or ``R.Raw File Name``), ``R.Condition``, ``R.Replicate``,
``PG.ProteinGroups`` (or ``PG.ProteinAccessions``), ``PG.Genes`` and the protein quantity
``PG.Quantity``, repeated on every precursor (``EG.PrecursorId``, ``EG.ModifiedSequence`` +
``FG.Charge``) or fragment (``F.FrgIon``, ``F.PeakArea``) row, with ``EG.Qvalue`` and
``PG.Qvalue``. Pivot reports have one column per run named ``[1] <run>.raw.PG.Quantity``; a pivot
report saved through R has them as ``X.1..<run>.raw.PG.Quantity`` (``make.names``), and its
annotation names too (``PG.NrOfStrippedSequencesIdentified..Experiment.wide.``). Either may be
written with a decimal comma (``1234,5``, detected from the cells) and with ``Filtered``/``NaN`` for
missing values. Protein identifiers written as FASTA entries (``sp|O75475|PSIP1_HUMAN``, or
``1/sp|O75475|PSIP1_HUMAN`` as libraries built by OpenSWATH tools write them) are reduced to
accessions; the original text stays in ``.var["protein_group"]``.
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import normalize_run_name, r_name
from ._choices import note_choice
from ._columns import read_columns, require_columns
from ._format import Detection, Format, Probe
from ._loader import loader
from ._precursors import accessions, one_per_run, peptide_counts, precursor_runs, report_runs
from ._protein import finish, protein_var
from ._text import TextFile, open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_spectronaut"]

_ANNOTATIONS = {
    "PG.ProteinGroups": "protein_group",
    "PG.ProteinAccessions": "protein_accessions",
    "PG.Genes": "gene",
    "PG.ProteinNames": "protein_names",
    "PG.ProteinDescriptions": "description",
    "PG.Organisms": "organism",
}
_PEPTIDES = "PG.NrOfStrippedSequencesIdentified (Experiment-wide)"
_RUN_COLUMNS = ("R.FileName", "R.Raw File Name")
_GENERIC_QUANTITIES = {"lfq", "maxlfq", "intensity", "quantity"}
#: precursor quantities of long reports without a protein quantity, in order of preference
_PRECURSOR_QUANTITIES = ("FG.Quantity", "FG.MS2Quantity", "EG.TotalQuantity (Settings)")
_FRAGMENT_QUANTITY = "F.PeakArea"


@loader
def read_spectronaut(
    path: str | os.PathLike,
    *,
    quantity: str | None = None,
    q_value: float | None = 0.01,
    pg_q_value: float | None = 0.01,
    decimal: str = "auto",
    encoding: str | None = None,
) -> AnnData:
    """Read a Spectronaut report (long or pivot) into a samples x protein-groups AnnData.

    Parameters
    ----------
    path
        A Spectronaut report export (``.tsv``, ``.xls`` text or ``.csv``; the delimiter is
        sniffed), also a pivot report whose names R's ``make.names`` mangled.
    quantity
        The protein quantity column without run prefix, ``"PG.Quantity"`` by default (e.g.
        ``"PG.MS2Quantity"``); ``"lfq"``, ``"maxlfq"``, ``"intensity"`` and ``"quantity"`` mean
        ``"PG.Quantity"``. A long report without it (a precursor or fragment report) is combined
        into protein groups: the precursor quantity ``FG.Quantity`` (else ``FG.MS2Quantity``, else
        ``EG.TotalQuantity (Settings)``, else the sum of the fragments' ``F.PeakArea`` without
        neutral-loss fragments and those ``F.ExcludedFromQuantification``) of each precursor and
        run, then MaxLFQ over the group's precursors (see :mod:`kratom_omics.io._precursors`);
        the choice is logged and recorded in provenance.
    q_value, pg_q_value
        Long reports only: keep rows with ``EG.Qvalue`` and ``PG.Qvalue`` at or below these
        cut-offs (``None`` = no filter; a column the report lacks is skipped).
    decimal
        ``"auto"`` (detect a decimal comma from the cells), ``"."`` or ``","``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw protein quantities in ``.X`` and ``.layers["raw"]`` (zeros, ``Filtered`` and
    ``NaN`` as NaN); ``.var`` indexed by the leading accession of ``PG.ProteinGroups`` with
    ``protein_group`` (as written), ``protein_ids`` (accessions), ``protein_leading``, ``gene``
    (``PG.Genes``, ``;``-joined), ``gene_leading``, ``is_contaminant``, ``is_decoy`` and, where
    the report tells, ``n_peptides``: ``PG.NrOfStrippedSequencesIdentified (Experiment-wide)``, or
    on long reports the distinct ``PEP.StrippedSequence`` (else precursors) of the group's rows
    that pass the filters; long reports add ``.obs["condition"]`` and ``.obs["replicate"]``
    (``R.Condition``, ``R.Replicate``); plus the sample sheet.
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="Spectronaut report", encoding=encoding)
    source, header = tf.source, tf.header
    qname = "PG.Quantity" if quantity is None else str(quantity)
    if qname.lower() in FORMAT.quantities:  # names the other readers use for their default
        qname = "PG.Quantity"
    if decimal not in {"auto", ".", ","}:
        raise InputFormatError(f"decimal={decimal!r}; expected 'auto', '.' or ','.")
    id_col = next((c for c in ("PG.ProteinGroups", "PG.ProteinAccessions") if c in header), None)
    if id_col is None:
        require_columns(header, ["PG.ProteinGroups"], source, "Spectronaut")
        raise InputFormatError(f"{source}: no 'PG.ProteinGroups' column.")  # pragma: no cover
    run_col = next((c for c in _RUN_COLUMNS if c in header), None)
    text = [c for c in _ANNOTATIONS if c in header]
    peptides = next((c for c in (_PEPTIDES, r_name(_PEPTIDES)) if c in header), None)
    pivot_cols, runs, mangled = _pivot_columns(header, qname)
    if pivot_cols:
        if mangled:
            note_choice(
                "column_names",
                "R make.names",
                source=source,
                why="pivot report saved through R: 'X.<n>..<run>.<quantity>' columns read as "
                "'[<n>] <run>.<quantity>'",
            )
        dup = sorted({r for r in runs if runs.count(r) > 1})
        if dup:
            raise InputFormatError(
                f"{source}: run(s) {dup} appear in more than one '[n] <run>.{qname}' column; "
                "each run needs one column."
            )
        annotations, values = read_columns(
            tf,
            text=[*text, *([peptides] if peptides else [])],
            numeric=pivot_cols,
            decimal=decimal,
            row_label=id_col,
        )
        values.columns = runs
        var = _var(annotations, id_col, source)
        if peptides:
            var["n_peptides"] = as_integer(annotations[peptides]).to_numpy()
        return finish(
            values,
            var,
            source=source,
            reader="read_spectronaut",
            parameters={"kind": "pivot", "quantity": qname},
        )
    if run_col is None:
        raise InputFormatError(
            f"{source}: not a Spectronaut protein report: expected a long report with "
            f"{_RUN_COLUMNS[0]!r} and {qname!r} (or precursor/fragment quantities) columns or a "
            f"pivot report with '[1] <run>.{qname}' columns; found {header[:12]}."
        )
    return _read_long(
        tf,
        id_col=id_col,
        run_col=run_col,
        qname=qname,
        given=quantity is not None,
        text=text,
        peptides=peptides,
        cutoffs={"EG.Qvalue": q_value, "PG.Qvalue": pg_q_value},
        decimal=decimal,
    )


def _pivot_columns(header: list[str], qname: str) -> tuple[list[str], list[str], bool]:
    """``(columns, run names, R-mangled)`` of a pivot report's ``[n] <run>.<quantity>`` columns."""
    plain = re.compile(r"^\[(\d+)\]\s+(.+)\." + re.escape(qname) + r"$")
    cols = [c for c in header if plain.match(c)]
    if cols:
        return cols, [normalize_run_name(plain.match(c).group(2)) for c in cols], False  # type: ignore[union-attr]
    mangled = re.compile(r"^X\.(\d+)\.\.(.+)\." + re.escape(r_name(qname)) + r"$")
    cols = [c for c in header if mangled.match(c)]
    return cols, [normalize_run_name(mangled.match(c).group(2)) for c in cols], True  # type: ignore[union-attr]


def _read_long(
    tf: TextFile,
    *,
    id_col: str,
    run_col: str,
    qname: str,
    given: bool,
    text: list[str],
    peptides: str | None,
    cutoffs: dict[str, float | None],
    decimal: str,
) -> AnnData:
    source, header = tf.source, tf.header
    extra_obs = [c for c in ("R.Condition", "R.Replicate") if c in header]
    precursor = "EG.PrecursorId" if "EG.PrecursorId" in header else None
    sequence = "PEP.StrippedSequence" if "PEP.StrippedSequence" in header else None
    parts = [c for c in ("EG.ModifiedSequence", "FG.Charge") if c in header]
    fragment_cols = [c for c in ("F.FrgIon", "F.Charge", "F.FrgLossType") if c in header]
    flags = [c for c in ("F.ExcludedFromQuantification",) if c in header]
    filters = {}
    for col, cut in cutoffs.items():
        if cut is None:
            continue
        if col in header:
            filters[col] = float(cut)
        else:
            note_choice(f"{col} filter", "skipped", source=source, why=f"no {col!r} column")
    lower_levels = (*_PRECURSOR_QUANTITIES, _FRAGMENT_QUANTITY)
    if qname in header and qname not in lower_levels:
        level, qcol = "protein", qname
    elif given and qname not in lower_levels:
        raise InputFormatError(
            f"{source}: no {qname!r} column; the report has "
            f"{[c for c in header if c.startswith('PG.') and 'Quantity' in c] or 'no protein quantities'}."
        )
    else:
        found = [qname] if given and qname in header else [c for c in lower_levels if c in header]
        if not found:
            raise InputFormatError(
                f"{source}: not a Spectronaut protein report: no {qname!r} column and no "
                f"precursor or fragment quantities ({[*_PRECURSOR_QUANTITIES, _FRAGMENT_QUANTITY]})"
                f"; found {header[:12]}. Export a report with PG.Quantity or FG.Quantity."
            )
        qcol = found[0]
        level = "fragment" if qcol == _FRAGMENT_QUANTITY else "precursor"
        if precursor is None and not parts:
            raise InputFormatError(
                f"{source}: a {level}-level report without 'EG.PrecursorId' or "
                "'EG.ModifiedSequence' + 'FG.Charge' columns: its precursors cannot be told apart."
            )
        note_choice(
            "aggregation",
            f"maxlfq({qcol})",
            source=source,
            why=f"no {qname!r} column: the {level}-level report is combined into protein groups"
            + (" (fragment areas summed per precursor and run)" if level == "fragment" else "")
            + " with MaxLFQ over the group's precursors",
            level=logging.WARNING,
        )
    names = [run_col, *extra_obs, *text]
    names += [c for c in (precursor, sequence, *parts, *fragment_cols, *flags) if c]
    if peptides:
        names.append(peptides)
    names = [c for c in dict.fromkeys(names) if c not in filters]
    annotations, values = read_columns(
        tf, text=names, numeric=[qcol, *filters], decimal=decimal, row_label=id_col
    )
    long = pd.concat([annotations, values], axis=1)
    all_runs = report_runs(long, run_col, source)
    keep = long[id_col].notna().to_numpy()
    for col, cut in filters.items():
        keep &= (long[col] <= cut).to_numpy()
    if filters:
        note_choice(
            "q_value_filters",
            filters,
            source=source,
            why=f"{int(keep.sum())} of {len(keep)} rows pass",
        )
    rows = long.loc[keep]
    if rows.empty:
        raise InputFormatError(
            f"{source}: no row passes the q-value filters {filters}; relax q_value=/pg_q_value=."
        )
    if precursor is None and parts:
        key = rows[parts[0]].astype(str)
        for col in parts[1:]:
            key = key + "/" + rows[col].astype(str)
        rows = rows.assign(_precursor=key)
        precursor = "_precursor"
    if level == "protein":
        wide, first = one_per_run(
            rows, run=run_col, group=id_col, quantity=qcol, runs=all_runs, source=source
        )
        matrix = wide.to_numpy(dtype=np.float64)
    else:
        prec = precursor if precursor is not None else "_precursor"  # set above
        if level == "fragment":
            rows = _fragments_to_precursors(
                rows, run=run_col, group=id_col, precursor=prec, source=source
            )
        matrix, groups, first = precursor_runs(
            rows, run=run_col, group=id_col, precursor=prec, quantity=qcol, runs=all_runs
        )
    groups = pd.Index(first[id_col])
    names_out = [normalize_run_name(r) for r in all_runs]
    if len(set(names_out)) != len(names_out):
        raise InputFormatError(f"{source}: run names {all_runs} are not unique without extensions.")
    var = _var(first[[c for c in text if c in first]], id_col, source)
    if peptides:
        var["n_peptides"] = as_integer(first[peptides]).to_numpy()
    else:
        counts = peptide_counts(rows, groups, group=id_col, sequence=sequence, precursor=precursor)
        var = var.assign(**counts)
    obs = None
    if extra_obs:
        per_run = long.drop_duplicates(subset=[run_col]).set_index(run_col)[extra_obs]
        per_run.index = [normalize_run_name(r) for r in per_run.index]
        obs = per_run.rename(columns={"R.Condition": "condition", "R.Replicate": "replicate"})
        if "replicate" in obs:
            obs["replicate"] = as_integer(obs["replicate"])
    return finish(
        pd.DataFrame(matrix, columns=names_out),
        var,
        source=source,
        reader="read_spectronaut",
        parameters={"kind": "long", "level": level, "quantity": qcol, "filters": filters},
        obs=obs,
    )


def _fragments_to_precursors(
    rows: pd.DataFrame, *, run: str, group: str, precursor: str, source: str
) -> pd.DataFrame:
    """One row per precursor and run with the summed ``F.PeakArea`` of its fragments (without
    neutral losses and fragments excluded from quantification)."""
    use = np.ones(len(rows), dtype=bool)
    if "F.FrgLossType" in rows:
        use &= (rows["F.FrgLossType"].fillna("noloss").str.lower() == "noloss").to_numpy()
    if "F.ExcludedFromQuantification" in rows:
        flag = rows["F.ExcludedFromQuantification"].fillna("False").str.strip().str.lower()
        use &= ~flag.isin(["true", "1", "yes"]).to_numpy()
    dropped = int((~use).sum())
    if dropped:
        note_choice(
            "fragments_skipped",
            dropped,
            source=source,
            why="neutral-loss fragments and fragments excluded from quantification not summed",
        )
    frag = rows.loc[use]
    keys = [group, precursor, run]
    summed = frag.groupby(keys, sort=False)[_FRAGMENT_QUANTITY].sum(min_count=1).reset_index()
    rest = frag.drop(columns=[_FRAGMENT_QUANTITY]).drop_duplicates(subset=keys)
    return rest.merge(summed, on=keys, how="left")


def _var(annotations: pd.DataFrame, id_col: str, source: str) -> pd.DataFrame:
    ann = annotations.rename(columns=_ANNOTATIONS)
    key = _ANNOTATIONS[id_col]
    raw = ann[key]
    ids = raw
    if raw.astype("string").str.contains("|", regex=False).fillna(False).any():
        ids = accessions(raw)
        note_choice(
            "protein_ids",
            "accessions",
            source=source,
            why=f"FASTA-style identifiers in {id_col!r} reduced to accessions (the original text "
            "is kept in .var['protein_group'])",
        )
    extra = {c: ann[c] for c in ("protein_names", "description", "organism") if c in ann}
    extra["protein_group"] = raw
    return protein_var(ids, genes=ann.get("gene"), extra=extra, source=source)


def _pivot_pg(cols: list[str]) -> bool:
    return any(
        re.match(r"^\[\d+\]\s.*\.PG\.\w+$", c) or re.match(r"^X\.\d+\.\..*\.PG\.\w+", c)
        for c in cols
    )


def _detect(pr: Probe) -> Detection | None:
    """Spectronaut report: 'PG.ProteinGroups' with 'R.FileName' (long) or '[n] <run>.PG.Quantity'
    columns (pivot; also 'X.<n>..<run>.PG.Quantity' as R writes them)"""
    s = pr.colset
    if not {"PG.ProteinGroups", "PG.ProteinAccessions"} & s:
        return None
    if {"R.FileName", "R.Raw File Name"} & s:
        return Detection("spectronaut", kind="long", evidence="'PG.ProteinGroups', 'R.FileName'")
    if _pivot_pg(pr.columns):
        return Detection("spectronaut", kind="pivot", evidence="'[n] <run>.PG.*' columns")
    return None


FORMAT = Format(
    name="spectronaut",
    label="Spectronaut",
    reader=read_spectronaut,
    detect=_detect,
    modality="protein",
    quantities=dict.fromkeys(("PG.Quantity", *_GENERIC_QUANTITIES), "PG.Quantity"),
    options=("decimal", "q_value", "pg_q_value"),
    kinds={
        "long": "one row per run and protein group, precursor or fragment",
        "pivot": "one '[n] <run>.PG.Quantity' column per run",
    },
)
