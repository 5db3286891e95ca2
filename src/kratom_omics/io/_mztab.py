"""mzTab 1.0 protein sections (OpenMS, quantms, PRIDE, MaxQuant and others export it).

The metadata section (``MTD``) links each ``protein_abundance_assay[n]`` column to its runs
(``assay[n]-ms_run_ref`` -> ``ms_run[k]-location``; several runs are the fractions of one assay,
``ms_run[1],ms_run[4]`` as OpenMS writes them), its reagent (``assay[n]-quantification_reagent``),
a sample (``assay[n]-sample_ref``) and a study variable (``study_variable[m]-assay_refs``). Samples
are the assays; the ``protein_abundance_study_variable[m]`` columns are summaries over assays and
are read only when a file has no assay columns. ``null`` cells are missing values.

Parsing is this module's own (through :func:`kratom_omics.io._text.open_text`, like every text
reader: archives, encodings, line-numbered errors, truncated files): ``pyteomics``' mzTab reader
loads every section, including PSM sections of millions of rows, into memory, and cannot give
those messages; the tests compare the two on the same file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
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
_STUDY_VARIABLE = re.compile(r"^protein_abundance_study_variable\[(\d+)\]$")
_NULL = {"null", "NULL", ""}
_LINE_TYPES = {"MTD", "COM", "PRH", "PRT", "PEH", "PEP", "PSH", "PSM", "SMH", "SML"}
# rows of OpenMS/quantms protein sections that are not quantified protein groups
_NOT_GROUPS = {"protein_details", "general_protein_group", "protein_group"}
_GENERIC_DESCRIPTION = re.compile(
    r"^(no description given|null|none|n/?a|-|study[ _]?variable[ _]?\[?\d+\]?)?$", re.IGNORECASE
)
_FRACTION = re.compile(r"[_\-.]?(?:f|fr|frac|fraction)[_\-]?\d+$", re.IGNORECASE)
_REAGENT = re.compile(
    r"\b(TMT|iTRAQ)[A-Za-z0-9]*?(?:plex)?[\s_\-]*(?:reagent)?[\s_\-,]*(\d{3}(?:[NC]D?|D)?)\b",
    re.IGNORECASE,
)
_CONTAMINANT = re.compile(r"(?:^|\|)(?:CONTAMINANT_|CON__)")
_DECOY = re.compile(r"^(?:DECOY_|REV__|decoy_|rev_)")


@dataclass
class _Parsed:
    meta: dict[str, str] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)  # PEH, PSH, SMH
    counts: dict[str, int] = field(default_factory=dict)  # PEP, PSM, SML rows


def _parse(tf: TextFile) -> _Parsed:
    """The metadata, the PRH header, the PRT rows and their line numbers; the other sections'
    headers and row counts."""
    source = tf.source
    out = _Parsed()
    meta, rows, lines = out.meta, out.rows, out.lines
    header: list[str] = []
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
            while header and header[-1] == "":  # trailing tabs of a padded section
                header.pop()
            out.header = header
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
        elif kind in ("PEH", "PSH", "SMH"):
            out.headers[kind] = [f.strip() for f in fields[1:] if f.strip()]
        elif kind in ("PEP", "PSM", "SML"):
            out.counts[kind] = out.counts.get(kind, 0) + 1
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
    return out


def _location_name(location: str) -> str:
    loc = re.sub(r"^file:/*", "/", location.strip()) if location.startswith("file:") else location
    return normalize_run_name(loc)


def _location_file(location: str) -> str:
    """The file name of an ``ms_run[k]-location`` (``file:///data/a.mzML`` -> ``a.mzML``)."""
    return re.split(r"[\\/]", location.strip().rstrip("\\/"))[-1]


def _merge_fractions(stems: Sequence[str]) -> str:
    """One name for the runs of an assay: ``BSA1_F1``, ``BSA1_F2`` -> ``BSA1``."""
    if len(stems) == 1:
        return stems[0]
    cut = {_FRACTION.sub("", s) for s in stems}
    if len(cut) == 1 and next(iter(cut)):
        return next(iter(cut))
    first = stems[0]
    k = 0
    while k < len(first) and all(len(s) > k and s[k] == first[k] for s in stems):
        k += 1
    prefix = first[:k].rstrip("_-. ")
    return prefix or "+".join(stems)


def _reagent_label(cell: str) -> str | None:
    """``[MS, MS:1002616, TMT reagent 127N, ]`` -> ``TMT127N``; ``[PRIDE, PRIDE:0000115, iTRAQ
    reagent, 115]`` -> ``ITRAQ115``; unlabelled and unknown reagents -> ``None``."""
    if not cell or "unlabeled" in cell.lower() or "label free" in cell.lower():
        return None
    inner = cell.strip().strip("[]")
    parts = [p.strip() for p in inner.split(",")]
    text = " ".join(parts[2:]) if len(parts) >= 3 else inner
    m = _REAGENT.search(text)
    if m is None:
        return None
    family = "TMT" if m.group(1).upper() == "TMT" else "ITRAQ"
    return f"{family}{m.group(2).upper()}"


@dataclass
class _Assays:
    order: list[int]
    names: dict[int, str]
    obs: pd.DataFrame


def _study_variables(meta: dict[str, str]) -> tuple[dict[int, list[int]], dict[int, str]]:
    """``{study variable: [assays]}`` and the descriptions."""
    refs: dict[int, list[int]] = {}
    desc: dict[int, str] = {}
    for key, value in meta.items():
        m = re.match(r"^study_variable\[(\d+)\]-(assay_refs|description)$", key)
        if m is None:
            continue
        k = int(m.group(1))
        if m.group(2) == "assay_refs":
            refs[k] = [int(a) for a in re.findall(r"assay\[(\d+)\]", value)]
        else:
            desc[k] = value
    return refs, desc


def _informative(descriptions: Sequence[str]) -> bool:
    """Descriptions that can name samples: given, unique, not OpenMS's placeholder."""
    texts = [d.strip() for d in descriptions]
    return (
        bool(texts)
        and all(not _GENERIC_DESCRIPTION.match(t) for t in texts)
        and len(set(texts)) == len(texts)
    )


def _unique_names(names: dict[int, str], suffix: str) -> dict[int, str]:
    counts = pd.Series(list(names.values())).value_counts()
    return {n: f"{v}_{suffix}{n}" if counts[v] > 1 else v for n, v in names.items()}


def _assays(meta: dict[str, str], order: list[int], source: str) -> _Assays:
    """Sample names and ``.obs`` of the assays (see :func:`read_mztab`)."""
    runs = {
        n: [int(k) for k in re.findall(r"ms_run\[(\d+)\]", meta.get(f"assay[{n}]-ms_run_ref", ""))]
        for n in order
    }
    locations = {n: [meta.get(f"ms_run[{k}]-location", "") for k in runs[n]] for n in order}
    locations = {
        n: [loc for loc in locs if loc and loc.lower() != "null"] for n, locs in locations.items()
    }
    stems = {n: [_location_name(loc) for loc in locations[n]] for n in order}
    run_names = {n: _merge_fractions(stems[n]) if stems[n] else f"assay{n}" for n in order}
    merged = {run_names[n]: stems[n] for n in order if len(stems[n]) > 1}
    if merged:
        note_choice(
            "fractions_merged",
            merged,
            source=source,
            why="the runs of one assay are its fractions; the assay is named after them",
        )
    labels = {n: _reagent_label(meta.get(f"assay[{n}]-quantification_reagent", "")) for n in order}
    run_keys = [tuple(runs[n]) for n in order if runs[n]]
    shared = len(set(run_keys)) < len(run_keys)
    labelled = shared or any(labels.values())

    sv_refs, sv_desc = _study_variables(meta)
    sv_of: dict[int, list[int]] = {}
    for k, assays in sv_refs.items():
        for a in assays:
            sv_of.setdefault(a, []).append(k)
    one_to_one = (
        all(len(sv_of.get(n, [])) == 1 for n in order)
        and all(len(sv_refs[sv_of[n][0]]) == 1 for n in order)
        and all(sv_of[n][0] in sv_desc for n in order)
    )
    if one_to_one and _informative([sv_desc[sv_of[n][0]] for n in order]):
        names = {n: sv_desc[sv_of[n][0]].strip() for n in order}
        note_choice(
            "sample_names",
            "study_variable descriptions",
            source=source,
            why="one study variable per assay, each described",
        )
    elif labelled:
        names = {
            n: f"{run_names[n]}_{labels[n]}" if labels[n] else f"{run_names[n]}_assay{n}"
            for n in order
        }
        names = _unique_names(names, "assay")
    else:
        names = _unique_names(run_names, "assay")
    obs = pd.DataFrame(
        {
            "assay": [f"assay[{n}]" for n in order],
            "ms_run": [";".join(locations[n]) or np.nan for n in order],
            "data_file": [
                ";".join(_location_file(x) for x in locations[n]) or np.nan for n in order
            ],
            "study_variable": [
                ";".join(sv_desc.get(k, f"study_variable[{k}]") for k in sv_of[n])
                if n in sv_of
                else np.nan
                for n in order
            ],
        },
        index=[names[n] for n in order],
    )
    if labelled:
        obs["plex"] = [run_names[n] for n in order]
        obs["label"] = [labels[n] if labels[n] else np.nan for n in order]
    sample_desc = [
        meta.get(f"{meta.get(f'assay[{n}]-sample_ref', '').strip()}-description", "") for n in order
    ]
    if any(sample_desc):
        obs["sample_description"] = [d or np.nan for d in sample_desc]
    return _Assays(order, names, obs)


def _study_variable_samples(meta: dict[str, str], columns: dict[int, str], source: str) -> _Assays:
    """A file without assay columns: the study variables are the samples."""
    order = sorted(columns)
    _, desc = _study_variables(meta)
    given = [desc.get(k, "") for k in order]
    names = (
        {k: desc[k].strip() for k in order}
        if _informative(given)
        else {k: f"study_variable{k}" for k in order}
    )
    note_choice(
        "quantity",
        "protein_abundance_study_variable",
        source=source,
        why="no protein_abundance_assay[n] columns; each study variable is read as a sample",
        level=logging.WARNING,
    )
    obs = pd.DataFrame(
        {"study_variable": [desc.get(k, f"study_variable[{k}]") for k in order]},
        index=[names[k] for k in order],
    )
    return _Assays(order, names, obs)


def _protein_rows(table: pd.DataFrame, abundance: list[str], source: str) -> pd.DataFrame:
    """The rows that are quantified protein groups: OpenMS's and quantms' ``protein_details``
    (one per member protein, no quantities) and general protein groups are skipped; a protein
    listed twice keeps the row that carries its abundances."""
    n = len(table)
    drop = np.zeros(n, dtype=bool)
    why: dict[str, int] = {}
    accession = table["accession"].astype(str).str.strip()
    if "opt_global_result_type" in table:
        kind = table["opt_global_result_type"].astype(str).str.strip().str.lower()
        drop = kind.isin(_NOT_GROUPS).to_numpy()
        for k, c in kind[drop].value_counts().items():
            why[f"opt_global_result_type {k}"] = int(c)
    elif "opt_global_protein_group_type" in table:  # OpenMS before 2.5
        kind = table["opt_global_protein_group_type"].astype(str).str.strip().str.lower()
        groups = kind == "indistinguishable_proteins"
        members: set[str] = set(accession[groups])
        if "ambiguity_members" in table:
            for cell in table.loc[groups, "ambiguity_members"].astype(str):
                members |= {m.strip() for m in cell.split(",") if m.strip()}
        details = ((kind == "single_protein") & accession.isin(members)).to_numpy()
        details &= bool(groups.any())
        general = (kind == "protein_group").to_numpy()
        drop = details | general
        if details.any():
            why["single_protein rows of proteins in an indistinguishable_proteins group"] = int(
                details.sum()
            )
        if general.any():
            why["opt_global_protein_group_type protein_group"] = int(general.sum())
    values = table[abundance].astype(str).apply(lambda c: c.str.strip())
    empty = values.isin(list(_NULL)).all(axis=1).to_numpy()
    kept = pd.Series(accession.to_numpy()[~drop])
    repeated = accession.isin(kept[kept.duplicated()]).to_numpy() & ~drop
    has_values = pd.Series(~empty & ~drop).groupby(accession.to_numpy()).transform("any").to_numpy()
    twin = repeated & empty & has_values
    if twin.any():
        why["repeated accessions without abundances (a quantified row of the protein is kept)"] = (
            int(twin.sum())
        )
        drop |= twin
    if drop.any():
        note_choice(
            "skipped_rows",
            why,
            source=source,
            why=f"{int(drop.sum())} of {n} PRT rows are not quantified protein groups",
        )
    return table.loc[~drop]


def _no_quantities(parsed: _Parsed, source: str) -> InputFormatError:
    """The error for a file without protein quantities, saying what it does hold."""
    meta = parsed.meta
    kind, mode = meta.get("mzTab-type", "?"), meta.get("mzTab-mode", "?")
    parts = []
    if parsed.header:
        shown = parsed.header[:8]
        more = " ..." if len(parsed.header) > 8 else ""
        parts.append(
            f"its protein section ({len(parsed.rows)} PRT rows) has the columns {shown}{more} and "
            "no 'protein_abundance_assay[n]' or 'protein_abundance_study_variable[n]'"
        )
    else:
        parts.append("it has no protein section (PRH/PRT lines)")
    if "PEH" in parsed.headers:
        pep = [c for c in parsed.headers["PEH"] if c.startswith("peptide_abundance_")]
        n_pep = parsed.counts.get("PEP", 0)
        parts.append(
            f"its peptide section ({n_pep} PEP rows) has peptide abundances {pep[:3]}, which "
            "kratom-omics does not sum to proteins"
            if pep
            else f"its peptide section ({n_pep} PEP rows) has no 'peptide_abundance_...' columns"
        )
    if "PSH" in parsed.headers:
        parts.append(
            f"its PSM section ({parsed.counts.get('PSM', 0)} PSM rows) holds identifications "
            "(mzTab 1.0 PSMs carry no intensities)"
        )
    ident = ", identification-only" if kind.lower() == "identification" else ""
    return InputFormatError(
        f"{source}: the mzTab file carries no protein abundances (mzTab-type {kind!r}, mode "
        f"{mode!r}{ident}): " + "; ".join(parts) + ". Export a protein quantification mzTab "
        "(with protein_abundance_assay[n] columns: OpenMS ProteomicsLFQ or ProteinQuantifier, "
        "the quantms pipeline's mzTab) or read the tool's protein table instead."
    )


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
    AnnData with the assay abundances in ``.X`` and ``.layers["raw"]`` (``null`` and zeros as NaN).

    Rows: the quantified protein groups. OpenMS and quantms write a ``protein_details`` row for
    every member protein (no quantities) before the groups (``opt_global_result_type``
    ``single_protein`` or ``indistinguishable_protein_group``); those rows and general protein
    groups are skipped, and so are the ``single_protein`` detail rows of OpenMS before 2.5
    (``opt_global_protein_group_type``); a protein listed twice keeps its quantified row. The
    skipped rows are counted in the provenance (``choices["skipped_rows"]``).

    Samples are the assays, named (in this order of preference) by their study variables'
    descriptions when each assay has its own study variable with a given, distinct description
    (OpenMS's ``no description given`` is not one); else by their runs: the ``ms_run`` file name
    without directory and extension, the fractions of an assay (``assay[1]-ms_run_ref``
    ``ms_run[1],ms_run[4]``: ``BSA1_F1``, ``BSA1_F2``) merged into one name (``BSA1``). Isobaric
    assays (TMT, iTRAQ: several assays per run) are named ``<run>_<label>`` with the label from
    ``assay[n]-quantification_reagent`` (``TMT reagent 127N`` -> ``TMT127N``, as an SDRF names
    them; ``<run>_assay<n>`` when the reagent names no label). A file without assay columns but
    with ``protein_abundance_study_variable[m]`` columns gives one sample per study variable
    (with a warning).

    ``.obs``: ``assay`` (``assay[n]``), ``ms_run`` (its locations), ``data_file`` (their file
    names), ``study_variable`` (the description, the default grouping), ``sample_description``
    when given; for isobaric assays ``plex`` (the run) and ``label``; then the sample sheet.
    ``.var`` indexed by ``accession`` with ``protein_ids`` (accession and ambiguity members),
    ``protein_leading``, ``gene`` (``GN=`` of the description or a gene ``opt_`` column, else
    the accession), ``gene_leading``, ``description``, ``is_contaminant`` (any member
    ``CONTAMINANT_`` as quantms and OpenMS mark them, inside the UniProt id as well:
    ``sp|CONTAMINANT_P02768|ALBU_HUMAN``; or ``CON__``), ``is_decoy`` (``DECOY_``/``REV__``
    accessions or an ``opt_`` decoy column). ``.uns["kratom_omics"]["provenance"]`` records the
    call and its parameters.

    Raises
    ------
    InputFormatError
        No protein section, or a file without protein abundances (identification-only, or
        exported without quantities): the message says what its sections hold.
    """
    tf = open_text(path, what="mzTab file", encoding=encoding)
    source = tf.source
    parsed = _parse(tf)
    meta, header, rows, lines = parsed.meta, parsed.header, parsed.rows, parsed.lines
    if not meta and not header:
        raise InputFormatError(f"{source}: the file is empty or has no mzTab lines.")
    assay_cols = {int(m.group(1)): c for c in header if (m := _ASSAY.match(c))}
    sv_cols = {int(m.group(1)): c for c in header if (m := _STUDY_VARIABLE.match(c))}
    if not assay_cols and not sv_cols:
        raise _no_quantities(parsed, source)
    if not rows:
        raise InputFormatError(f"{source}: the mzTab file has a protein header but no PRT rows.")
    value_cols = assay_cols or sv_cols
    header = _unique_header(header, [*value_cols.values(), "accession"], source)
    table = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"))
    if "accession" not in table:
        raise InputFormatError(f"{source}: the PRH line has no 'accession' column.")
    order = sorted(value_cols)
    table = _protein_rows(table, [value_cols[n] for n in order], source)
    if table.empty:
        raise InputFormatError(
            f"{source}: every PRT row is a protein_details row or a general protein group; the "
            "file has no quantified protein groups."
        )
    assays = (
        _assays(meta, order, source)
        if assay_cols
        else _study_variable_samples(meta, sv_cols, source)
    )

    text = table.drop(columns=[c for c in header if c.startswith("protein_abundance_")])
    text = text.mask(text.isin(list(_NULL)))
    values = to_numeric_frame(
        table[[value_cols[n] for n in order]],
        source=source,
        row_label=pd.Index(table["accession"]),
        lines=list(table.index),
    )
    values.columns = [assays.names[n] for n in order]

    accession = text["accession"].astype("string").str.strip()
    ids = accession
    members_text = pd.Series(pd.NA, index=text.index, dtype="string")
    if "ambiguity_members" in text:
        members_text = (
            text["ambiguity_members"].astype("string").str.replace(r"\s*,\s*", ";", regex=True)
        )
        # OpenMS lists the accession among the members; keep each id once
        joined = (accession + ";" + members_text).where(members_text.notna(), accession)
        ids = joined.map(
            lambda t: ";".join(dict.fromkeys(x for x in str(t).split(";") if x)), na_action="ignore"
        )
    genes = None
    gene_cols = [c for c in text.columns if c.startswith("opt_") and "gene" in c.lower()]
    if gene_cols:
        genes = text[gene_cols[0]]
    if "description" in text:
        genes = fill_genes(genes, text["description"])
    all_ids = ids.astype(str).tolist()
    contaminant = np.array(
        [
            bool(_CONTAMINANT.search(x)) or any(_CONTAMINANT.search(m) for m in x.split(";"))
            for x in all_ids
        ]
    )
    decoy_cols = [c for c in text.columns if c.startswith("opt_") and "decoy" in c.lower()]
    decoy = np.array([bool(_DECOY.match(str(a))) for a in accession])
    if decoy_cols:
        decoy |= (
            text[decoy_cols[0]]
            .astype("string")
            .str.strip()
            .isin(["1", "true", "TRUE", "+"])
            .to_numpy()
        )
    extra = {c: text[c] for c in ("description", "species") if c in text}
    var = protein_var(
        ids.astype(object),
        genes=genes,
        leading=accession.astype(object),
        contaminant=contaminant,
        decoy=decoy,
        extra=extra,
        source=source,
    )
    what = "assays" if assay_cols else "study_variables"
    return finish(
        values,
        var,
        source=source,
        reader="read_mztab",
        parameters={what: [f"{what[:-1]}[{n}]" for n in order]},
        obs=assays.obs,
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
