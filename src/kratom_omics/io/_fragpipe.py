"""FragPipe (IonQuant/Philosopher) ``combined_protein.tsv``.

Per-sample columns are ``<sample> Spectral Count``, ``<sample> Unique Spectral Count``, ``<sample>
Total Spectral Count``, ``<sample> Intensity``, ``<sample> MaxLFQ Intensity``, ``<sample> Razor
Intensity`` and more. Sample names are taken from the ``<sample> Spectral Count`` family (or,
without it, from the intensity columns) so that ``S1 MaxLFQ Intensity`` is never read as the
``Intensity`` of a sample called ``S1 MaxLFQ``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._columns import choose_quantity, read_columns, require_columns
from ._format import Format, Probe
from ._loader import loader
from ._protein import CONTAMINANT_PREFIXES, DECOY_PREFIXES, finish, prefix_flag, protein_var
from ._text import open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_fragpipe"]

QUANTITIES = {"maxlfq": "MaxLFQ Intensity", "intensity": "Intensity", "razor": "Razor Intensity"}
_BASIC = ("Unique", "Total", "Razor")
_QUALIFIERS = (*_BASIC, "MaxLFQ", *(f"MaxLFQ {q}" for q in _BASIC))
_ANNOTATIONS = {
    "Protein": "protein",
    "Protein ID": "protein_id",
    "Entry Name": "entry_name",
    "Gene": "gene",
    "Protein Description": "description",
    "Description": "description",
    "Organism": "organism",
    "Protein Probability": "protein_probability",
    "Combined Total Peptides": "n_peptides",
    "Indistinguishable Proteins": "indistinguishable",
}


def _samples(header: Sequence[str]) -> list[str]:
    def stems(suffix: str) -> list[str]:
        return [c[: -len(suffix)] for c in header if c.endswith(suffix) and len(c) > len(suffix)]

    found = stems(" Spectral Count") or stems(" Intensity")
    found = [s for s in found if not s.startswith("Combined")]
    qualified = {f"{s} {q}" for s in found for q in _QUALIFIERS}
    return [s for s in found if s not in qualified]


@loader
def read_fragpipe(
    path: str | os.PathLike, *, quantity: str | None = None, encoding: str | None = None
) -> AnnData:
    """Read a FragPipe ``combined_protein.tsv`` into a samples x proteins AnnData.

    Parameters
    ----------
    path
        ``combined_protein.tsv`` from FragPipe (IonQuant or Philosopher quantification).
    quantity
        ``"maxlfq"`` (``<sample> MaxLFQ Intensity``, default when present), ``"intensity"``
        (``<sample> Intensity``, default otherwise) or ``"razor"`` (``<sample> Razor Intensity``).
        ``"lfq"`` is accepted for ``"maxlfq"``. Spectral counts are never read as intensities.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by ``Protein ID`` with ``protein_ids`` (with the indistinguishable proteins),
    ``protein_leading``, ``gene``, ``gene_leading``, ``entry_name``, ``description``, ``n_peptides``
    (``Combined Total Peptides``), ``is_contaminant`` (``contam_`` entries), ``is_decoy``.
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="FragPipe table", encoding=encoding)
    source, header = tf.source, tf.header
    require_columns(header, ["Protein", "Protein ID"], source, "FragPipe combined_protein")
    names = _samples(header)
    available = {
        key: {s: f"{s} {suffix}" for s in names if f"{s} {suffix}" in header}
        for key, suffix in QUANTITIES.items()
    }
    key, columns = choose_quantity(
        quantity,
        available,
        tool="FragPipe",
        preferred="maxlfq",
        aliases=FORMAT.quantities,
        source=source,
        wanted=lambda k: f"<sample> {QUANTITIES[k]}",
    )
    text = [c for c in _ANNOTATIONS if c in header]
    if "Protein Description" in text and "Description" in text:
        text.remove("Description")
    annotations, values = read_columns(
        tf, text=text, numeric=list(columns.values()), row_label="Protein ID"
    )
    ann = annotations.rename(columns=_ANNOTATIONS)
    ids = ann["protein_id"].astype("string")
    if "indistinguishable" in ann:
        others = (
            ann["indistinguishable"].astype("string").str.findall(r"\|([^|,\s]+)\|").str.join(";")
        )
        ids = ids.where(others.isna() | (others == ""), ids + ";" + others)
    protein = ann["protein"].fillna("")
    extra: dict[str, pd.Series | np.ndarray] = {}
    for col in ("entry_name", "description", "organism"):
        if col in ann:
            extra[col] = ann[col]
    for col in ("n_peptides", "protein_probability"):
        if col in ann:
            extra[col] = (
                as_integer(ann[col])
                if col == "n_peptides"
                else pd.to_numeric(ann[col], errors="coerce")
            )
    var = protein_var(
        ids.astype(object),
        genes=ann.get("gene"),
        contaminant=prefix_flag(protein, CONTAMINANT_PREFIXES),
        decoy=prefix_flag(protein, DECOY_PREFIXES),
        extra=extra,
        source=source,
    )
    values.columns = list(columns)
    return finish(
        values,
        var,
        source=source,
        reader="read_fragpipe",
        parameters={"quantity": key, "columns": list(columns.values())},
    )


def _detect(pr: Probe) -> bool:
    """FragPipe combined_protein.tsv: 'Protein', 'Protein ID', 'Entry Name'"""
    return pr.colset >= {"Protein", "Protein ID", "Entry Name"}


FORMAT = Format(
    name="fragpipe",
    label="FragPipe",
    reader=read_fragpipe,
    detect=_detect,
    modality="protein",
    file_names=(r"combined_protein",),
    folder_files=("combined_protein.tsv",),
    quantities={**{k: k for k in QUANTITIES}, "lfq": "maxlfq"},
)
