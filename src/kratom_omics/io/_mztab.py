"""mzTab 1.0 protein sections (PRIDE, OpenMS, MaxQuant and others export it).

The metadata section (``MTD``) links each ``protein_abundance_assay[n]`` column to a run
(``assay[n]-ms_run_ref`` -> ``ms_run[k]-location``), a sample (``assay[n]-sample_ref``) and a study
variable (``study_variable[m]-assay_refs``). Samples are the assays; the
``protein_abundance_study_variable[m]`` columns are summaries over assays and are not read. ``null``
cells are missing values.
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

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError
from ._anndata import normalize_run_name
from ._proteomics import (
    JoinArg,
    SamplesArg,
    check_exists,
    fill_genes,
    finish,
    ignore_quantity,
    open_text,
    protein_var,
)
from ._table import to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_mztab"]

logger = logging.getLogger("kratom_omics")

_ASSAY = re.compile(r"^protein_abundance_assay\[(\d+)\]$")
_NULL = {"null", "NULL", ""}
_LINE_TYPES = {"MTD", "COM", "PRH", "PRT", "PEH", "PEP", "PSH", "PSM", "SMH", "SML"}


def _parse(path: Path, source: str) -> tuple[dict[str, str], list[str], list[list[str]], int]:
    meta: dict[str, str] = {}
    header: list[str] = []
    rows: list[list[str]] = []
    first_row_line = 0
    with open_text(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            kind = fields[0]
            if kind == "MTD" and len(fields) >= 3:
                meta[fields[1]] = fields[2]
            elif kind == "PRH":
                header = fields[1:]
            elif kind == "PRT":
                if not header:
                    raise InputFormatError(
                        f"{source}: line {line_no} is a PRT row before the PRH header line."
                    )
                if len(fields) - 1 != len(header):
                    raise InputFormatError(
                        f"{source}: line {line_no} has {len(fields) - 1} fields but the PRH header "
                        f"has {len(header)}; the file may be truncated or edited."
                    )
                if not rows:
                    first_row_line = line_no
                rows.append(fields[1:])
            elif kind not in _LINE_TYPES and not meta and not header:
                raise InputFormatError(
                    f"{source}: not an mzTab file: line {line_no} starts with {kind[:30]!r}; "
                    "expected 'MTD', 'PRH', 'PRT', ... lines."
                )
    return meta, header, rows, first_row_line


def _location_name(location: str) -> str:
    loc = re.sub(r"^file:/*", "/", location.strip()) if location.startswith("file:") else location
    return normalize_run_name(loc)


def read_mztab(
    path: str | os.PathLike,
    samples: SamplesArg = None,
    *,
    quantity: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: JoinArg = "exact",
) -> AnnData:
    """Read the protein section of an mzTab 1.0 file into a samples (assays) x proteins AnnData.

    Parameters
    ----------
    path
        An ``.mzTab`` (or ``.mzTab.gz``) file with ``PRH``/``PRT`` lines and
        ``protein_abundance_assay[n]`` columns.
    samples
        Sample sheet (path or DataFrame) joined by the run name of each assay (the file name of
        ``ms_run[k]-location`` without directory and extension).
    quantity
        Accepted for a uniform call with the other readers and ignored (one abundance per assay).
    phases, join
        See :func:`kratom_omics.io.attach_samples`.

    Returns
    -------
    AnnData with the assay abundances in ``.X`` and ``.layers["raw"]`` (``null`` and zeros as NaN);
    ``.obs`` with ``assay`` (``assay[n]``), ``ms_run`` (the run's location), ``study_variable`` (the
    study variable's description, the default grouping) and ``sample_description`` when given, plus
    the sample sheet; ``.var`` indexed by ``accession`` with ``protein_ids`` (accession and
    ambiguity members), ``protein_leading``, ``gene`` (``GN=`` of the description or a gene ``opt_``
    column, else the accession), ``gene_leading``, ``description``, ``is_contaminant``,
    ``is_decoy``. ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.

    Raises
    ------
    InputFormatError
        No protein section, or an identification-only file without protein abundances.
    """
    p = Path(path)
    source = str(p)
    check_exists(p, "mzTab file")
    ignore_quantity(quantity, source, "mzTab")
    meta, header, rows, _ = _parse(p, source)
    if not meta and not header:
        raise InputFormatError(f"{source}: the file is empty or has no mzTab lines.")
    assay_cols = {int(m.group(1)): c for c in header if (m := _ASSAY.match(c))}
    if not assay_cols:
        mode = meta.get("mzTab-type", "?")
        raise InputFormatError(
            f"{source}: the mzTab file carries no protein abundances (mzTab-type {mode!r}, no "
            "'protein_abundance_assay[n]' columns in the PRH line); it is identification-only. "
            "Export a quantification mzTab or read the tool's quantification table."
        )
    if not rows:
        raise InputFormatError(f"{source}: the mzTab file has a protein header but no PRT rows.")
    table = pd.DataFrame(rows, columns=header)
    if "accession" not in table:
        raise InputFormatError(f"{source}: the PRH line has no 'accession' column.")
    order = sorted(assay_cols)

    # assay -> run, sample, study variable
    runs = {
        n: meta.get(f"{meta.get(f'assay[{n}]-ms_run_ref', '').strip()}-location", "") for n in order
    }
    names = {n: _location_name(runs[n]) if runs[n] else f"assay{n}" for n in order}
    if len(set(names.values())) != len(names):  # labelled designs: several assays per run
        names = {n: f"{names[n]}_assay{n}" for n in order}
    study: dict[int, str] = {}
    for key, value in meta.items():
        m = re.match(r"^study_variable\[(\d+)\]-assay_refs$", key)
        if m:
            label = meta.get(
                f"study_variable[{m.group(1)}]-description", f"study_variable[{m.group(1)}]"
            )
            for ref in re.findall(r"assay\[(\d+)\]", value):
                study[int(ref)] = label
    obs = pd.DataFrame(
        {
            "assay": [f"assay[{n}]" for n in order],
            "ms_run": [runs[n] or np.nan for n in order],
            "study_variable": [study.get(n, np.nan) for n in order],
        },
        index=[names[n] for n in order],
    )
    sample_desc = [
        meta.get(f"{meta.get(f'assay[{n}]-sample_ref', '').strip()}-description", "") for n in order
    ]
    if any(sample_desc):
        obs["sample_description"] = [d or np.nan for d in sample_desc]

    text = table.drop(columns=[c for c in header if c.startswith("protein_abundance_")])
    text = text.mask(text.isin(list(_NULL)))
    values = to_numeric_frame(
        table[[assay_cols[n] for n in order]], source=source, row_label=pd.Index(table["accession"])
    )
    values.columns = [names[n] for n in order]

    accession = text["accession"]
    ids = accession.astype("string")
    if "ambiguity_members" in text:
        members = (
            text["ambiguity_members"].astype("string").str.replace(r"\s*,\s*", ";", regex=True)
        )
        ids = ids.where(members.isna(), ids + ";" + members)
    genes = None
    gene_cols = [c for c in text.columns if c.startswith("opt_") and "gene" in c.lower()]
    if gene_cols:
        genes = text[gene_cols[0]]
    if "description" in text:
        genes = fill_genes(genes, text["description"])
    decoy_cols = [c for c in text.columns if c.startswith("opt_") and "decoy" in c.lower()]
    decoy = (
        text[decoy_cols[0]].astype("string").str.strip().isin(["1", "true", "TRUE", "+"]).to_numpy()
        if decoy_cols
        else None
    )
    extra = {c: text[c] for c in ("description", "species") if c in text}
    var = protein_var(
        ids.astype(object), genes=genes, leading=accession, decoy=decoy, extra=extra, source=source
    )
    return finish(
        values,
        var,
        samples=samples,
        source=source,
        reader="read_mztab",
        parameters={"assays": [f"assay[{n}]" for n in order]},
        phases=phases,
        join=join,
        obs=obs,
    )
