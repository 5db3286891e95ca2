"""FragPipe (IonQuant/Philosopher) ``combined_protein.tsv``, current and older layouts.

Current FragPipe (Philosopher ``abacus`` with IonQuant) writes ``Protein``, ``Protein ID``,
``Entry Name``, ``Gene``, ..., ``Combined Total Peptides`` and, per sample, ``<sample> Spectral
Count``, ``<sample> Unique Spectral Count``, ``<sample> Total Spectral Count``, ``<sample>
Intensity`` (unique + razor peptides), ``<sample> Unique Intensity``, ``<sample> Total Intensity``
and with MaxLFQ ``<sample> MaxLFQ Intensity`` (``MaxLFQ Unique``/``MaxLFQ Total Intensity``).
Older Philosopher versions wrote ``Protein Group``, ``SubGroup``, ``Protein ID``, ``Entry Name``,
``Gene Names``, ..., ``Unique Stripped Peptides`` and, per sample, ``<sample> Total Spectral
Count``, ``<sample> Unique Spectral Count``, ``<sample> Razor Spectral Count``, ``<sample> Total
Intensity``, ``<sample> Unique Intensity``, ``<sample> Razor Intensity`` (column names from
Philosopher's report writer). Sample names are the stems of the per-sample spectral-count (or else
intensity) families with every known qualifier removed, so ``S1 MaxLFQ Intensity`` is never the
``Intensity`` of a sample ``S1 MaxLFQ`` and an old table's ``S1 Total``/``S1 Unique``/``S1 Razor``
columns are one sample ``S1``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._choices import note_choice
from ._columns import choose_quantity, read_columns, require_columns
from ._format import Detection, Format, Probe
from ._loader import loader
from ._protein import CONTAMINANT_PREFIXES, DECOY_PREFIXES, finish, prefix_flag, protein_var
from ._text import open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_fragpipe"]

#: quantity -> per-sample column suffix; ``None`` takes the first one present in this order
QUANTITIES = {
    "maxlfq": "MaxLFQ Intensity",
    "intensity": "Intensity",
    "razor": "Razor Intensity",
    "unique": "Unique Intensity",
    "total": "Total Intensity",
    "maxlfq_unique": "MaxLFQ Unique Intensity",
    "maxlfq_total": "MaxLFQ Total Intensity",
}
_DEFAULT_ORDER = ("maxlfq", "intensity", "razor", "unique", "total")
_QUALIFIERS = (
    "MaxLFQ Unique",
    "MaxLFQ Total",
    "MaxLFQ Razor",
    "MaxLFQ",
    "Unique",
    "Total",
    "Razor",
)
_FAMILIES = ("Spectral Count", "Intensity")
_ANNOTATIONS = {
    "Protein": "protein",
    "Protein ID": "protein_id",
    "Entry Name": "entry_name",
    "Gene": "gene",
    "Gene Names": "gene",
    "Protein Description": "description",
    "Description": "description",
    "Organism": "organism",
    "Protein Probability": "protein_probability",
    "Combined Total Peptides": "n_peptides",
    "Total Peptides": "n_peptides",
    "Unique Stripped Peptides": "n_peptides",
    "Indistinguishable Proteins": "indistinguishable",
}
#: columns giving ``n_peptides``, the first present wins
_PEPTIDE_COUNTS = ("Combined Total Peptides", "Total Peptides", "Unique Stripped Peptides")


def _samples(header: Sequence[str]) -> list[str]:
    """Sample names: stems of ``<sample> [qualifier] Spectral Count`` (else ``... Intensity``)."""
    cols = set(header)
    for family in _FAMILIES:
        suffix = f" {family}"
        stems = [c[: -len(suffix)] for c in header if c.endswith(suffix) and len(c) > len(suffix)]
        found: list[str] = []
        for stem in stems:
            if stem.startswith(("Combined", "Summarized")) or stem in ("Total", "Unique", "Razor"):
                continue
            base = stem
            for q in _QUALIFIERS:
                if stem.endswith(f" {q}") and len(stem) > len(q) + 1:
                    # 'S1 Total' is sample 'S1' when 'S1 ...' siblings exist, not a sample itself
                    cand = stem[: -len(q) - 1]
                    if any(f"{cand} {o}{suffix}" in cols for o in ("Unique", "Total", "Razor")) or (
                        f"{cand}{suffix}" in cols
                    ):
                        base = cand
                    break
            if base not in found:
                found.append(base)
        if found:
            return found
    return []


def _layout(header: Sequence[str]) -> str:
    """``"current"`` (``Protein`` + ``Gene``) or ``"philosopher"`` (``Protein Group`` +
    ``Gene Names``, per-sample ``Total``/``Unique``/``Razor`` columns)."""
    if "Protein" in header:
        return "current"
    return "philosopher"


@loader
def read_fragpipe(
    path: str | os.PathLike, *, quantity: str | None = None, encoding: str | None = None
) -> AnnData:
    """Read a FragPipe/Philosopher ``combined_protein.tsv`` into a samples x proteins AnnData.

    Parameters
    ----------
    path
        ``combined_protein.tsv`` from FragPipe (IonQuant or Philosopher quantification), current
        or older Philosopher layout (see the module docstring).
    quantity
        ``"maxlfq"`` (``<sample> MaxLFQ Intensity``), ``"intensity"`` (``<sample> Intensity``:
        unique + razor peptides), ``"razor"``, ``"unique"``, ``"total"`` (``<sample> Razor /
        Unique / Total Intensity``), ``"maxlfq_unique"``, ``"maxlfq_total"``; ``"lfq"`` is accepted
        for ``"maxlfq"``. ``None`` takes the first present of maxlfq, intensity, razor, unique,
        total; anything but MaxLFQ is logged as a warning and recorded in provenance. Spectral
        counts are never read as intensities.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by ``Protein ID`` with ``protein_ids`` (with the indistinguishable proteins),
    ``protein_leading``, ``gene`` (``Gene``, ``Gene Names`` in older tables), ``gene_leading``,
    ``entry_name``, ``description``, ``n_peptides`` (``Combined Total Peptides``, else ``Total
    Peptides``, else the older ``Unique Stripped Peptides``: peptide sequences of the protein
    over all samples), ``is_contaminant`` (``contam_`` entries), ``is_decoy``.
    ``.uns["kratom_omics"]["provenance"]`` records the call, the layout and the quantity.
    """
    tf = open_table(path, what="FragPipe table", encoding=encoding)
    source, header = tf.source, tf.header
    require_columns(header, ["Protein ID", "Entry Name"], source, "FragPipe combined_protein")
    layout = _layout(header)
    names = _samples(header)
    available = {
        key: {s: f"{s} {suffix}" for s in names if f"{s} {suffix}" in header}
        for key, suffix in QUANTITIES.items()
    }
    given = quantity is not None
    if not given:
        present = [k for k in _DEFAULT_ORDER if available[k]]
        quantity = present[0] if present else "intensity"
    key, columns = choose_quantity(
        quantity,
        available,
        tool="FragPipe",
        preferred="maxlfq",
        aliases=FORMAT.quantities,
        source=source,
        wanted=lambda k: f"<sample> {QUANTITIES[k]}",
    )
    if not given:
        others = [k for k, v in available.items() if v and k != key]
        note_choice(
            "quantity",
            key,
            source=source,
            why="default"
            if key == "maxlfq"
            else f"no '<sample> MaxLFQ Intensity' columns: '<sample> {QUANTITIES[key]}' read "
            f"instead (also in the table: {others})",
            level=logging.INFO if key == "maxlfq" else logging.WARNING,
        )
    if layout == "philosopher":
        note_choice(
            "layout",
            "philosopher",
            source=source,
            why="older Philosopher combined_protein.tsv (Protein Group, Gene Names, per-sample "
            "Total/Unique/Razor columns)",
        )
    text = list(dict.fromkeys(c for c in _ANNOTATIONS if c in header))
    if "Protein Description" in text and "Description" in text:
        text.remove("Description")
    if "Gene" in text and "Gene Names" in text:
        text.remove("Gene Names")
    counts = [c for c in _PEPTIDE_COUNTS if c in header]
    text = [c for c in text if c not in _PEPTIDE_COUNTS or c == (counts[0] if counts else None)]
    annotations, values = read_columns(
        tf, text=text, numeric=list(columns.values()), row_label="Protein ID"
    )
    ann = annotations.rename(columns=_ANNOTATIONS)
    # a FASTA without UniProt headers leaves the header text in 'Protein ID'
    # ('contam_A2I7N1 TREMBL:A2I7N1 (Bos taurus) SERPINA3-5'): its first word is the identifier
    ids = ann["protein_id"].astype("string").str.strip().str.split(r"\s+", n=1).str[0]
    if "indistinguishable" in ann:
        listed = ann["indistinguishable"].astype("string")
        indist = listed.str.findall(r"\|([^|,\s]+)\|").str.join(";")
        plain = listed.str.replace(r"\s*,\s*", ";", regex=True)  # accessions without FASTA bars
        bare = (~listed.str.contains("|", regex=False)).fillna(False).astype(bool)
        found = (indist.notna() & (indist != "")).fillna(False).astype(bool)
        indist = indist.where(found, plain.where(bare))
        ids = ids.where(indist.isna() | (indist == ""), ids + ";" + indist)
    label = ann["protein"] if "protein" in ann else ann["protein_id"]
    label = label.fillna("")
    extra: dict[str, pd.Series | np.ndarray] = {}
    for col in ("entry_name", "description", "organism"):
        if col in ann:
            extra[col] = ann[col]
    if "n_peptides" in ann:
        extra["n_peptides"] = as_integer(ann["n_peptides"])
        note_choice("n_peptides", counts[0], source=source, level=logging.DEBUG)
    if "protein_probability" in ann:
        extra["protein_probability"] = pd.to_numeric(ann["protein_probability"], errors="coerce")
    var = protein_var(
        ids.astype(object),
        genes=ann.get("gene"),
        contaminant=prefix_flag(label, CONTAMINANT_PREFIXES),
        decoy=prefix_flag(label, DECOY_PREFIXES),
        extra=extra,
        source=source,
    )
    values.columns = list(columns)
    return finish(
        values,
        var,
        source=source,
        reader="read_fragpipe",
        parameters={"quantity": key, "layout": layout, "columns": list(columns.values())},
    )


def _detect(pr: Probe) -> Detection | None:
    """FragPipe combined_protein.tsv: 'Protein ID', 'Entry Name' with 'Protein' (current) or
    'Protein Group' and 'Gene Names' (older Philosopher)"""
    s = pr.colset
    if not {"Protein ID", "Entry Name"} <= s:
        return None
    if "Protein" in s:
        return Detection(
            "fragpipe", kind="current", evidence="'Protein', 'Protein ID', 'Entry Name'"
        )
    if "Protein Group" in s and ({"Gene Names", "SubGroup"} & s):
        return Detection(
            "fragpipe", kind="philosopher", evidence="'Protein Group', 'Protein ID', 'Gene Names'"
        )
    return None


FORMAT = Format(
    name="fragpipe",
    label="FragPipe",
    reader=read_fragpipe,
    detect=_detect,
    modality="protein",
    file_names=(r"combined_protein",),
    folder_files=("combined_protein.tsv",),
    quantities={**{k: k for k in QUANTITIES}, "lfq": "maxlfq"},
    kinds={
        "current": "FragPipe/IonQuant combined_protein.tsv (Protein, Gene, <sample> Intensity)",
        "philosopher": "older Philosopher combined_protein.tsv (Protein Group, Gene Names, "
        "<sample> Total/Unique/Razor Intensity)",
    },
)
