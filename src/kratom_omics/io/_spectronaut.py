"""Spectronaut protein reports: long (a row per run and protein group, or precursor) and pivot.

Long reports carry ``R.FileName`` (or ``R.Raw File Name``), ``R.Condition``, ``R.Replicate``,
``PG.ProteinGroups``, ``PG.Genes`` and ``PG.Quantity``; precursor-level exports repeat the protein
values on every row and are read once per run and group. Pivot reports have one column per run named
``[1] <run>.raw.PG.Quantity``. Both may be written with a decimal comma (``1234,5``, detected from
the cells) and with ``Filtered``/``NaN`` for missing values.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import InputFormatError
from ._anndata import normalize_run_name
from ._columns import read_columns, require_columns
from ._format import Format, Probe
from ._loader import loader
from ._protein import finish, protein_var
from ._text import open_table
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
_RUN_COLUMNS = ("R.FileName", "R.Raw File Name")
_GENERIC_QUANTITIES = {"lfq", "maxlfq", "intensity", "quantity"}


@loader
def read_spectronaut(
    path: str | os.PathLike,
    *,
    quantity: str | None = None,
    decimal: str = "auto",
    encoding: str | None = None,
) -> AnnData:
    """Read a Spectronaut protein report (long or pivot) into a samples x protein-groups AnnData.

    Parameters
    ----------
    path
        A Spectronaut report export (``.tsv``, ``.xls`` text or ``.csv``; the delimiter is sniffed).
    quantity
        The protein quantity column without run prefix, ``"PG.Quantity"`` by default (e.g.
        ``"PG.MS2Quantity"``); ``"lfq"``, ``"maxlfq"``, ``"intensity"`` and ``"quantity"`` mean
        ``"PG.Quantity"``.
    decimal
        ``"auto"`` (detect a decimal comma from the cells), ``"."`` or ``","``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw protein quantities in ``.X`` and ``.layers["raw"]`` (zeros, ``Filtered`` and
    ``NaN`` as NaN); ``.var`` indexed by the leading protein of ``PG.ProteinGroups`` with
    ``protein_group``, ``protein_ids``, ``protein_leading``, ``gene`` (``PG.Genes``, ``;``-joined),
    ``gene_leading``, ``is_contaminant``, ``is_decoy``; long reports add ``.obs["condition"]`` and
    ``.obs["replicate"]`` (``R.Condition``, ``R.Replicate``); plus the sample sheet.
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
    pivot = re.compile(r"^\[(\d+)\]\s+(.+)\." + re.escape(qname) + r"$")
    pivot_cols = [c for c in header if pivot.match(c)]
    text = [c for c in _ANNOTATIONS if c in header]
    if pivot_cols:
        runs = [normalize_run_name(pivot.match(c).group(2)) for c in pivot_cols]  # type: ignore[union-attr]
        dup = sorted({r for r in runs if runs.count(r) > 1})
        if dup:
            raise InputFormatError(
                f"{source}: run(s) {dup} appear in more than one '[n] <run>.{qname}' column; "
                "each run needs one column."
            )
        annotations, values = read_columns(
            tf, text=text, numeric=pivot_cols, decimal=decimal, row_label=id_col
        )
        values.columns = runs
        return finish(
            values,
            _var(annotations, id_col, source),
            source=source,
            reader="read_spectronaut",
            parameters={"kind": "pivot", "quantity": qname},
        )
    if run_col is None or qname not in header:
        raise InputFormatError(
            f"{source}: not a Spectronaut protein report: expected a long report with "
            f"{_RUN_COLUMNS[0]!r} and {qname!r} columns or a pivot report with "
            f"'[1] <run>.{qname}' columns; found {header[:12]}."
        )
    extra_obs = [c for c in ("R.Condition", "R.Replicate") if c in header]
    annotations, values = read_columns(
        tf, text=[run_col, *extra_obs, *text], numeric=[qname], decimal=decimal, row_label=id_col
    )
    long = pd.concat([annotations, values], axis=1)
    if long[run_col].isna().any():
        rows = [int(i) for i in long.index[long[run_col].isna().to_numpy()][:10]]
        raise InputFormatError(f"{source}: empty {run_col!r} on line(s) {rows}.")
    all_runs = list(pd.unique(long[run_col]))
    pairs = long.drop_duplicates(subset=[run_col, id_col])
    groups = pd.Index(pd.unique(pairs[id_col].dropna()))
    wide = pairs.pivot(index=id_col, columns=run_col, values=qname).reindex(
        index=groups, columns=all_runs
    )
    names = [normalize_run_name(r) for r in all_runs]
    if len(set(names)) != len(names):
        raise InputFormatError(f"{source}: run names {all_runs} are not unique without extensions.")
    wide.columns = names
    first = pairs.drop_duplicates(subset=[id_col]).set_index(id_col).loc[groups]
    first = first.reset_index(names=id_col)
    var = _var(first[text], id_col, source)
    obs = None
    if extra_obs:
        per_run = long.drop_duplicates(subset=[run_col]).set_index(run_col)[extra_obs]
        per_run.index = [normalize_run_name(r) for r in per_run.index]
        obs = per_run.rename(columns={"R.Condition": "condition", "R.Replicate": "replicate"})
        if "replicate" in obs:
            obs["replicate"] = as_integer(obs["replicate"])
    return finish(
        wide,
        var,
        source=source,
        reader="read_spectronaut",
        parameters={"kind": "long", "quantity": qname},
        obs=obs,
    )


def _var(annotations: pd.DataFrame, id_col: str, source: str) -> pd.DataFrame:
    ann = annotations.rename(columns=_ANNOTATIONS)
    key = _ANNOTATIONS[id_col]
    extra = {
        c: ann[c] for c in ("protein_group", "protein_names", "description", "organism") if c in ann
    }
    return protein_var(ann[key], genes=ann.get("gene"), extra=extra, source=source)


def _pivot_pg(cols: list[str]) -> bool:
    return any(re.match(r"^\[\d+\]\s.*\.PG\.\w+$", c) for c in cols)


def _detect(pr: Probe) -> bool:
    """Spectronaut report: 'PG.ProteinGroups' with 'R.FileName' (long) or '[n] <run>.PG.Quantity'
    columns (pivot)"""
    s = pr.colset
    return bool({"PG.ProteinGroups", "PG.ProteinAccessions"} & s) and (
        bool({"R.FileName", "R.Raw File Name"} & s) or _pivot_pg(pr.columns)
    )


FORMAT = Format(
    name="spectronaut",
    label="Spectronaut",
    reader=read_spectronaut,
    detect=_detect,
    modality="protein",
    quantities=dict.fromkeys(("PG.Quantity", *_GENERIC_QUANTITIES), "PG.Quantity"),
    options=("decimal",),
)
