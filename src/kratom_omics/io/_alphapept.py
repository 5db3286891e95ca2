"""AlphaPept ``results_proteins.csv`` and AlphaDIA ``pg.matrix.tsv`` / ``protein.tsv``.

AlphaPept writes a comma-separated protein table whose first, unnamed column holds the protein group
(FASTA identifiers such as ``sp|Q5U316|RAB35_RAT``, several joined by ``,``), followed by
``<sample>`` (raw intensity) and ``<sample>_LFQ`` columns; decoys start with ``REV__``. AlphaDIA
writes a tab-separated matrix with the protein group in ``pg`` (``pg.name`` from AlphaDIA 2) and one
column per run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError
from ._anndata import normalize_run_name
from ._columns import read_columns
from ._format import Format, Probe
from ._loader import loader
from ._protein import finish, protein_var
from ._text import open_table

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


@loader
def read_alphadia(path: str | os.PathLike, *, encoding: str | None = None) -> AnnData:
    """Read an AlphaDIA protein-group matrix (``pg.matrix.tsv``, ``protein.tsv``) into AnnData.

    Parameters
    ----------
    path
        Tab-separated matrix: ``pg`` (or ``pg.name``) then one intensity column per run.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by the leading protein of ``pg`` with ``protein_ids``, ``protein_leading``,
    ``gene``/``gene_leading`` (from a gene column when present, else the leading protein),
    ``is_contaminant``, ``is_decoy``.
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="AlphaDIA matrix", encoding=encoding)
    source, header = tf.source, tf.header
    if not header or header[0] not in _ALPHADIA_ID:
        raise InputFormatError(
            f"{source}: not an AlphaDIA protein matrix: the first column is {header[0]!r}, "
            f"expected one of {list(_ALPHADIA_ID)}."
        )
    id_col = header[0]
    text = [id_col, *[c for c in header[1:] if c in _ALPHADIA_ANNOTATIONS]]
    runs = [c for c in header if c not in text]
    annotations, values = read_columns(tf, text=text, numeric=runs, row_label=id_col)
    ann = annotations.rename(columns=_ALPHADIA_ANNOTATIONS)
    var = protein_var(ann[id_col], genes=ann.get("gene"), source=source)
    values.columns = [normalize_run_name(r) for r in values.columns]
    return finish(
        values,
        var,
        source=source,
        reader="read_alphadia",
        parameters={},
    )


def _detect_alphapept(pr: Probe) -> bool:
    """AlphaPept results_proteins.csv: unnamed first column and '<sample>_LFQ' columns"""
    return (
        bool(pr.columns)
        and pr.columns[0] in {"", "Unnamed: 0", "protein_group"}
        and any(c.endswith("_LFQ") for c in pr.columns)
    )


def _detect_alphadia(pr: Probe) -> bool:
    """AlphaDIA pg.matrix.tsv / protein.tsv: first column 'pg' or 'pg.name'"""
    return bool(pr.columns) and pr.columns[0] in _ALPHADIA_ID


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
    file_names=(r"^(pg\.matrix|protein)\.tsv",),
    folder_files=("pg.matrix.tsv", "protein.tsv"),
)
