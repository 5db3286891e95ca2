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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import normalize_run_name
from ._choices import note_choice
from ._format import Format, Probe
from ._loader import loader
from ._protein import fill_genes, finish, protein_var
from ._text import TextFile, open_text
from ._values import to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_mztab"]

_ASSAY = re.compile(r"^protein_abundance_assay\[(\d+)\]$")
_NULL = {"null", "NULL", ""}
_LINE_TYPES = {"MTD", "COM", "PRH", "PRT", "PEH", "PEP", "PSH", "PSM", "SMH", "SML"}


def _parse(tf: TextFile) -> tuple[dict[str, str], list[str], list[list[str]], list[int]]:
    """The metadata, the PRH header, the PRT rows and their line numbers."""
    source = tf.source
    meta: dict[str, str] = {}
    header: list[str] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    short: tuple[int, int] | None = None  # the last line, when it is a short PRT row
    for line_no, line in enumerate(tf.lines(), start=1):
        if not line.strip():
            continue
        short = None
        fields = line.rstrip("\r").split("\t")
        kind = fields[0].strip()
        if kind == "MTD" and len(fields) >= 3:
            meta[fields[1].strip()] = fields[2].strip()
        elif kind == "PRH":
            header = [f.strip() for f in fields[1:]]
        elif kind == "PRT":
            if not header:
                raise InputFormatError(
                    f"{source}: line {line_no} is a PRT row before the PRH header line."
                )
            if len(fields) - 1 > len(header) and any(f.strip() for f in fields[len(header) + 1 :]):
                raise InputFormatError(
                    f"{source}: line {line_no} has {len(fields) - 1} fields but the PRH header "
                    f"has {len(header)}; the file may be truncated or edited."
                )
            row = fields[1 : len(header) + 1]
            rows.append(row + [""] * (len(header) - len(row)))
            lines.append(line_no)
            short = (line_no, len(row)) if len(row) < len(header) else None
        elif kind not in _LINE_TYPES and not meta and not header:
            raise InputFormatError(
                f"{source}: not an mzTab file: line {line_no} starts with {kind[:30]!r}; "
                "expected 'MTD', 'PRH', 'PRT', ... lines."
            )
    if short is not None and not tf.ends_with_newline:
        raise InputFormatError(
            f"{source}: the file looks truncated: its last line ({short[0]}) has {short[1]} of the "
            f"{len(header)} fields of the PRH header and no line end. Copy or export the file again."
        )
    return meta, header, rows, lines


def _location_name(location: str) -> str:
    loc = re.sub(r"^file:/*", "/", location.strip()) if location.startswith("file:") else location
    return normalize_run_name(loc)


@loader
def read_mztab(path: str | os.PathLike, *, encoding: str | None = None) -> AnnData:
    """Read the protein section of an mzTab 1.0 file into a samples (assays) x proteins AnnData.

    Parameters
    ----------
    path
        An ``.mzTab`` (or ``.mzTab.gz``) file with ``PRH``/``PRT`` lines and
        ``protein_abundance_assay[n]`` columns.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

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
    tf = open_text(path, what="mzTab file", encoding=encoding)
    source = tf.source
    meta, header, rows, lines = _parse(tf)
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
    header = _unique_header(header, [*assay_cols.values(), "accession"], source)
    table = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"))
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
        table[[assay_cols[n] for n in order]],
        source=source,
        row_label=pd.Index(table["accession"]),
        lines=lines,
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
        source=source,
        reader="read_mztab",
        parameters={"assays": [f"assay[{n}]" for n in order]},
        obs=obs,
    )


def _unique_header(header: list[str], needed: list[str], source: str) -> list[str]:
    """A PRH line naming a column twice: an error for the columns read, else the later copies get
    the suffix ``.1``, ``.2``, ... and are not read."""
    taken = set(header)
    seen: set[str] = set()
    out = []
    repeated = []
    for name in header:
        if name in seen:
            if name in needed:
                raise InputFormatError(
                    f"{source}: the PRH line names {name!r} more than once; each column must be "
                    "unique. Fix the header or export the file again."
                )
            repeated.append(name)
            k = 1
            while f"{name}.{k}" in taken or f"{name}.{k}" in seen:
                k += 1
            name = f"{name}.{k}"
        seen.add(name)
        out.append(name)
    if repeated:
        note_choice(
            "repeated_columns",
            sorted(set(repeated)),
            source=source,
            why="repeated PRH columns after the first are not read",
            level=logging.WARNING,
        )
    return out


def _detect(pr: Probe) -> str | None:
    """mzTab: lines starting with 'MTD'"""
    if pr.name.endswith(".mztab"):
        return "file name"
    first = pr.content[0] if pr.content else ""
    if first.startswith(("MTD\t", "COM\t")):
        return "MTD lines"
    return None


FORMAT = Format(
    name="mztab",
    label="mzTab",
    reader=read_mztab,
    detect=_detect,
    modality="protein",
    file_names=(r"\.mztab$",),
    folder_files=("*.mzTab",),
)
