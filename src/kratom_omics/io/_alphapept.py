"""AlphaPept ``results_proteins.csv``; AlphaDIA ``pg.matrix`` and precursor tables.

AlphaPept writes a comma-separated protein table whose first, unnamed column holds the protein group
(FASTA identifiers such as ``sp|Q5U316|RAB35_RAT``, several joined by ``,``), followed by
``<sample>`` (raw intensity) and ``<sample>_LFQ`` columns; decoys start with ``REV__``.

AlphaDIA writes a protein matrix (``pg.matrix.tsv`` in 1.x, ``pg.matrix.parquet`` in 2.x) whose
first column is the protein group (``pg``; ``pg.name`` in 2.x) and whose other columns are runs:
the matrix carries no gene or protein-name columns (alphabase's reader of it maps ``pg`` and takes
every other column as a sample). The precursor table (``precursors.tsv`` in 1.x with AlphaDIA's
internal column names; ``precursors.parquet`` in 2.x with dotted output names such as
``raw.name``, ``pg.name``, ``pg.genes``, ``pg.intensity``, ``precursor.qval``, from
``alphadia/constants/keys.py``) has one row per precursor and run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError
from ._anndata import normalize_run_name
from ._choices import FormatMismatchError, note_choice
from ._columns import read_columns, read_parquet_columns
from ._format import Detection, Format, Probe, probe
from ._loader import loader
from ._precursors import (
    one_per_run,
    passing_rows,
    peptide_counts,
    precursor_runs,
    report_runs,
)
from ._protein import finish, protein_var
from ._text import TextFile, open_table

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_alphadia", "read_alphapept"]

_ALPHADIA_ID = ("pg", "pg.name")
_ALPHADIA_ANNOTATIONS = {"pg.genes": "gene", "genes": "gene", "pg.proteins": "proteins"}


def _accessions(groups: pd.Series) -> pd.Series:
    """``sp|Q5U316|RAB35_RAT,sp|Q6NYB7|RAB1A_RAT`` -> ``Q5U316;Q6NYB7`` (plain ids kept)."""
    parts = groups.astype("string").str.split(",")
    exploded = parts.explode()
    fasta = exploded.str.extract(r"^(?P<prefix>REV__)?(?:[a-z]{2}\|)?(?P<acc>[^|]+)")
    acc = fasta["prefix"].fillna("") + fasta["acc"].fillna("")
    return acc.groupby(level=0).agg(";".join).reindex(groups.index)


@loader
def read_alphapept(
    path: str | os.PathLike, *, quantity: str | None = None, encoding: str | None = None
) -> AnnData:
    """Read an AlphaPept protein table (``results_proteins.csv``) into a samples x proteins AnnData.

    Parameters
    ----------
    path
        ``results_proteins.csv`` (first column: protein group; ``<sample>`` and ``<sample>_LFQ``).
    quantity
        ``"lfq"`` (``<sample>_LFQ``, default; ``"maxlfq"`` is accepted) or ``"intensity"``
        (``<sample>``).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by the leading accession with ``protein_group`` (as written), ``protein_ids`` (accessions,
    ``;``-joined), ``protein_leading``, ``gene`` and ``gene_leading`` (AlphaPept reports no gene
    names: the leading accession), ``is_decoy`` (``REV__``), ``is_contaminant``.
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="AlphaPept table", encoding=encoding)
    source, header = tf.source, tf.header
    id_col = header[0]
    lfq = {c[: -len("_LFQ")]: c for c in header[1:] if c.endswith("_LFQ")}
    key = "lfq" if quantity is None else str(quantity).lower()
    key = ALPHAPEPT.quantities.get(key, key)
    if key not in {"lfq", "intensity"}:
        raise KeyNotFoundError(
            f"quantity={quantity!r} is not an AlphaPept quantity; expected 'lfq' or 'intensity'."
        )
    if not lfq:
        raise InputFormatError(
            f"{source}: not an AlphaPept protein table: no '<sample>_LFQ' columns "
            f"(found {header[:12]}). Use format='auto' to detect the tool."
        )
    if key == "lfq":
        columns = lfq
    else:
        columns = {s: s for s in lfq if s in header}
        if not columns:
            raise InputFormatError(
                f"{source}: quantity='intensity' needs '<sample>' columns beside '<sample>_LFQ'; "
                f"found only {list(lfq.values())}."
            )
    annotations, values = read_columns(
        tf, text=[id_col], numeric=list(columns.values()), row_label=id_col
    )
    groups = annotations[id_col]
    var = protein_var(
        _accessions(groups.fillna("")),
        genes=None,
        extra={"protein_group": groups},
        source=source,
    )
    values.columns = list(columns)
    return finish(
        values,
        var,
        source=source,
        reader="read_alphapept",
        parameters={"quantity": key},
    )


# AlphaDIA's precursor tables: 1.x (precursors.tsv, internal names) and 2.x (precursors.parquet
# or .tsv, dotted output names; alphadia/constants/keys.py)
_PRECURSOR_NAMES = {
    "2": {
        "run": "raw.name",
        "group": "pg.name",
        "genes": "pg.genes",
        "proteins": "pg.proteins",
        "pg_intensity": "pg.intensity",
        "qval": "precursor.qval",
        "pg_qval": "pg.qval",
        "decoy": "precursor.decoy",
        "channel": "precursor.channel",
        "sequence": "precursor.sequence",
        "precursor": "precursor.mod_seq_charge_hash",
        "precursor_idx": "precursor.idx",
        "intensity": "precursor.intensity",
    },
    "1": {
        "run": "run",
        "group": "pg",
        "genes": "genes",
        "proteins": "proteins",
        "pg_intensity": "pg_lfq_intensity",
        "qval": "qval",
        "pg_qval": "pg_qval",
        "decoy": "decoy",
        "channel": "channel",
        "sequence": "sequence",
        "precursor": "mod_seq_charge_hash",
        "precursor_idx": "precursor_idx",
        "intensity": "intensity",
    },
}


def _precursor_version(columns: set[str]) -> str | None:
    for version, names in _PRECURSOR_NAMES.items():
        if {names["run"], names["group"]} <= columns and (
            {names["qval"], names["pg_qval"], names["sequence"]} & columns
        ):
            return version
    return None


@loader
def read_alphadia(
    path: str | os.PathLike,
    *,
    q_value: float | None = 0.01,
    pg_q_value: float | None = 0.01,
    encoding: str | None = None,
) -> AnnData:
    """Read AlphaDIA protein groups from ``pg.matrix`` or from the precursor table.

    Parameters
    ----------
    path
        ``pg.matrix.tsv`` / ``pg.matrix.parquet`` (first column ``pg``, ``pg.name`` from AlphaDIA
        2, then one intensity column per run; multiplexed runs are named
        ``<run>.channel_<n>``), or the precursor table: ``precursors.tsv`` of AlphaDIA 1.x
        (``run``, ``pg``, ``genes``, ``proteins``, ``qval``, ``pg_qval``, ``decoy``,
        ``sequence``, ``mod_seq_charge_hash``, ``intensity``) or ``precursors.parquet`` /
        ``.tsv`` of AlphaDIA 2 (``raw.name``, ``pg.name``, ``pg.genes``, ``pg.proteins``,
        ``pg.qval``, ``pg.intensity``, ``precursor.qval``, ``precursor.decoy``,
        ``precursor.sequence``, ``precursor.mod_seq_charge_hash``, ``precursor.intensity``).
    q_value, pg_q_value
        Precursor table only: keep rows with precursor and protein-group q-values at or below
        these cut-offs (``None`` = no filter; AlphaDIA already filters at its configured FDR).
        Decoy rows are always removed.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by the leading protein of the protein group with ``protein_group``, ``protein_ids``,
    ``protein_leading``, ``gene``/``gene_leading`` (the precursor table's gene names; the matrix
    has none, so the leading protein stands in), ``is_contaminant``, ``is_decoy``; from the
    precursor table also ``n_peptides`` (distinct peptide sequences of the group after the
    filters) and ``n_precursors``. The protein quantity of a precursor table is AlphaDIA's
    ``pg.intensity`` (AlphaDIA 2); a 1.x table has none, so its precursor ``intensity`` values are
    combined with MaxLFQ (logged; AlphaDIA's own protein quantities are in ``pg.matrix.tsv``).
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    p = Path(path)
    parquet = p.name.lower().endswith(".parquet")
    tf = None
    if parquet:
        header = _parquet_columns(p)
        source = str(p)
    else:
        tf = open_table(p, what="AlphaDIA table", encoding=encoding)
        source, header = tf.source, tf.header
    version = _precursor_version(set(header))
    if version is not None:
        return _read_alphadia_precursors(
            p, tf, header, version, cutoffs={"qval": q_value, "pg_qval": pg_q_value}
        )
    if not header or header[0] not in _ALPHADIA_ID:
        raise FormatMismatchError(
            f"{source}: not an AlphaDIA table: the first column is {header[0] if header else ''!r}"
            f", expected one of {list(_ALPHADIA_ID)} (pg.matrix), or 'raw.name'/'pg.name' "
            "('run'/'pg' in AlphaDIA 1.x) with q-value columns (precursors table).",
            tool="AlphaDIA",
        )
    id_col = header[0]
    text = [id_col, *[c for c in header[1:] if c in _ALPHADIA_ANNOTATIONS]]
    runs = [c for c in header if c not in text]
    if tf is None:
        annotations, values = read_parquet_columns(p, text=text, numeric=runs, source=source)
    else:
        annotations, values = read_columns(tf, text=text, numeric=runs, row_label=id_col)
    ann = annotations.rename(columns=_ALPHADIA_ANNOTATIONS)
    var = protein_var(
        ann[id_col], genes=ann.get("gene"), extra={"protein_group": ann[id_col]}, source=source
    )
    names = [normalize_run_name(r) for r in values.columns]
    values.columns = names
    return finish(
        values,
        var,
        source=source,
        reader="read_alphadia",
        parameters={"kind": "pg_matrix"},
    )


def _read_alphadia_precursors(
    p: Path,
    tf: TextFile | None,
    header: list[str],
    version: str,
    *,
    cutoffs: dict[str, float | None],
) -> AnnData:
    names = {k: v for k, v in _PRECURSOR_NAMES[version].items() if v in header}
    source = tf.source if tf is not None else str(p)
    run, group = names["run"], names["group"]
    quantity = names.get("pg_intensity")
    if quantity is None and "intensity" not in names:
        raise InputFormatError(
            f"{source}: an AlphaDIA precursor table without '{_PRECURSOR_NAMES[version]['pg_intensity']}' "
            f"or '{_PRECURSOR_NAMES[version]['intensity']}' columns: it holds no quantities "
            "(label-free quantification switched off?). Read the pg.matrix of the same search."
        )
    filters = {}
    for key, cut in cutoffs.items():
        if cut is not None and key in names:
            filters[names[key]] = float(cut)
    text = [
        names[k] for k in ("run", "group", "genes", "proteins", "channel", "sequence") if k in names
    ]
    text += [names[k] for k in ("precursor", "precursor_idx") if k in names]
    numeric = [*filters, *([names["decoy"]] if "decoy" in names else [])]
    numeric += [quantity] if quantity is not None else [names["intensity"]]
    numeric = [c for c in dict.fromkeys(numeric) if c not in text]
    if tf is None:
        ann, vals = read_parquet_columns(p, text=text, numeric=numeric, source=source)
    else:
        ann, vals = read_columns(tf, text=text, numeric=numeric, row_label=group)
    if "channel" in names:
        channels = sorted({str(c) for c in ann[names["channel"]].dropna().unique()})
        if len(channels) > 1:
            raise InputFormatError(
                f"{source}: a multiplexed AlphaDIA search with channels {channels[:10]}; read "
                "its per-channel protein matrices (pg.matrix.ch<n>.parquet) instead."
            )
    keep = passing_rows(vals, filters, decoy=names.get("decoy"), source=source)
    keep &= ann[group].notna().to_numpy()
    runs = report_runs(ann, run, source)
    long = pd.concat([ann, vals], axis=1).loc[keep]
    if long.empty:
        raise InputFormatError(
            f"{source}: no precursor row passes the filters {filters}; relax q_value=/pg_q_value=."
        )
    if quantity is not None:
        wide, first = one_per_run(
            long, run=run, group=group, quantity=quantity, runs=runs, source=source
        )
        matrix = wide.to_numpy(dtype=np.float64)
        groups = pd.Index(first[group])
    else:
        note_choice(
            "aggregation",
            "maxlfq",
            source=source,
            why=f"AlphaDIA {version}.x precursor table without protein intensities: precursor "
            f"'{names['intensity']}' combined with MaxLFQ; AlphaDIA's own protein quantities are "
            "in pg.matrix.tsv",
        )
        prec_key = next((names[k] for k in ("precursor", "precursor_idx") if k in names), None)
        if prec_key is None:
            raise InputFormatError(
                f"{source}: an AlphaDIA precursor table without protein intensities and without "
                f"'{_PRECURSOR_NAMES[version]['precursor']}' or "
                f"'{_PRECURSOR_NAMES[version]['precursor_idx']}': its precursors cannot be told "
                "apart. Read the pg.matrix of the same search."
            )
        matrix, groups, first = precursor_runs(
            long, run=run, group=group, precursor=prec_key, quantity=names["intensity"], runs=runs
        )
    counts = peptide_counts(
        long, groups, group=group, sequence=names.get("sequence"), precursor=names.get("precursor")
    )
    var = protein_var(
        first[names["proteins"]].fillna(first[group]) if "proteins" in names else first[group],
        genes=first[names["genes"]] if "genes" in names else None,
        leading=first[group],
        extra={"protein_group": first[group], **counts},
        source=source,
    )
    values = pd.DataFrame(matrix, columns=[normalize_run_name(r) for r in runs])
    return finish(
        values,
        var,
        source=source,
        reader="read_alphadia",
        parameters={
            "kind": "precursors",
            "version": version,
            "quantity": quantity or f"maxlfq({names['intensity']})",
            "filters": filters,
        },
    )


def _parquet_columns(p: Path) -> list[str]:
    pr = probe(p)
    if pr.problem or not pr.columns:
        raise InputFormatError(pr.problem or f"{p}: the parquet file has no columns.")
    return list(pr.columns)


def _detect_alphapept(pr: Probe) -> bool:
    """AlphaPept results_proteins.csv: unnamed first column and '<sample>_LFQ' columns"""
    return (
        bool(pr.columns)
        and pr.columns[0] in {"", "Unnamed: 0", "protein_group"}
        and any(c.endswith("_LFQ") for c in pr.columns)
    )


def _detect_alphadia(pr: Probe) -> Detection | None:
    """AlphaDIA pg.matrix (.tsv/.parquet): first column 'pg' or 'pg.name'; precursors table:
    'raw.name' and 'pg.name' ('run' and 'pg' in 1.x) with q-value columns"""
    if not pr.columns:
        return None
    if _precursor_version(set(pr.columns)) is not None:
        return Detection("alphadia", kind="precursors", evidence="precursor table columns")
    if pr.columns[0] in _ALPHADIA_ID:
        return Detection("alphadia", kind="pg_matrix", evidence=f"first column {pr.columns[0]!r}")
    return None


ALPHAPEPT = Format(
    name="alphapept",
    label="AlphaPept",
    reader=read_alphapept,
    detect=_detect_alphapept,
    modality="protein",
    file_names=(r"results_proteins",),
    folder_files=("results_proteins.csv",),
    quantities={"lfq": "lfq", "intensity": "intensity", "maxlfq": "lfq"},
)

ALPHADIA = Format(
    name="alphadia",
    label="AlphaDIA",
    reader=read_alphadia,
    detect=_detect_alphadia,
    modality="protein",
    file_names=(r"^(pg\.matrix|protein)\.(tsv|parquet)", r"^precursors\.(tsv|parquet)"),
    folder_files=("pg.matrix.parquet", "pg.matrix.tsv", "protein.tsv"),
    options=("q_value", "pg_q_value"),
    kinds={
        "pg_matrix": "protein groups x runs (pg.matrix.tsv, pg.matrix.parquet)",
        "precursors": "one row per precursor and run (precursors.tsv, precursors.parquet)",
    },
)
