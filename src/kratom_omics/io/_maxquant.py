"""MaxQuant ``proteinGroups.txt``.

Sample columns are found by exact prefix + experiment name (``LFQ intensity S1``, ``Intensity S1``,
``iBAQ S1``). The experiment names come from the per-experiment columns MaxQuant always writes
(``Peptides S1``, ``Unique peptides S1``, ``MS/MS count S1``, ...), so ``Intensity L S1`` (SILAC),
``iBAQ peptides`` and the summary columns ``Intensity``/``iBAQ`` are never taken for samples. Tables
saved from R (``LFQ.intensity.S1``, ``Protein.IDs``, ``Potential.contaminant``) are read too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import r_name
from ._columns import choose_quantity, read_columns, require_columns
from ._format import Format, Probe
from ._loader import loader
from ._protein import fill_genes, finish, plus_flag, protein_var
from ._text import open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_maxquant"]

QUANTITIES = {"lfq": "LFQ intensity", "intensity": "Intensity", "ibaq": "iBAQ"}
_EXPERIMENT_FAMILIES = (
    "Peptides",
    "Razor + unique peptides",
    "Unique peptides",
    "MS/MS count",
    "Identification type",
    "Sequence coverage",
)
# canonical column -> .var column
_ANNOTATIONS = {
    "Protein IDs": "protein_ids",
    "Majority protein IDs": "majority_protein_ids",
    "Protein names": "protein_names",
    "Gene names": "gene",
    "Fasta headers": "fasta_headers",
    "Peptides": "n_peptides",
    "Razor + unique peptides": "n_peptides_razor_unique",
    "Unique peptides": "n_peptides_unique",
    "Sequence coverage [%]": "sequence_coverage",
    "Mol. weight [kDa]": "mol_weight_kda",
    "Q-value": "q_value",
    "Score": "score",
    "Reverse": "is_decoy",
    "Potential contaminant": "is_contaminant",
    "Contaminant": "is_contaminant",
    "Only identified by site": "only_by_site",
    "id": "maxquant_id",
}
_NUMERIC_ANNOTATIONS = (
    "n_peptides",
    "n_peptides_razor_unique",
    "n_peptides_unique",
    "sequence_coverage",
    "mol_weight_kda",
    "q_value",
    "score",
    "maxquant_id",
)


def _experiments(header: Sequence[str], sep: str) -> list[str]:
    names: dict[str, None] = {}
    for family in _EXPERIMENT_FAMILIES:
        prefix = (family if sep == " " else r_name(family)) + sep
        for col in header:
            if col.startswith(prefix):
                rest = col[len(prefix) :]
                if family == "Sequence coverage":
                    if not rest.endswith(" [%]") and not rest.endswith("...."):
                        continue
                    rest = rest.removesuffix(" [%]").removesuffix("....")
                names.setdefault(rest, None)
    return list(names)


def _sample_columns(
    header: Sequence[str], prefix: str, sep: str, experiments: Sequence[str]
) -> dict[str, str]:
    """Map sample name -> column for one quantity (``prefix`` already includes a SILAC label)."""
    full = prefix + sep
    found = {c[len(full) :]: c for c in header if c.startswith(full)}
    if experiments:
        return {e: found[e] for e in experiments if e in found}
    label = re.compile(r"^[LMH]([ .]|$)")
    return {
        name: col
        for name, col in found.items()
        if name and not label.match(name) and name.lower() != "peptides"
    }


@loader
def read_maxquant(
    path: str | os.PathLike,
    *,
    quantity: str | None = None,
    label: str | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read a MaxQuant ``proteinGroups.txt`` into a samples x protein-groups AnnData.

    Parameters
    ----------
    path
        ``proteinGroups.txt`` as written by MaxQuant, or a copy saved from R (``LFQ.intensity.S1``).
    quantity
        ``"lfq"`` (``LFQ intensity <sample>``, the default when present), ``"intensity"``
        (``Intensity <sample>``, the default otherwise) or ``"ibaq"`` (``iBAQ <sample>``);
        ``"maxlfq"`` is accepted for ``"lfq"``.
    label
        SILAC channel (``"L"``, ``"M"`` or ``"H"``) to read ``<quantity> <label> <sample>`` columns;
        ``None`` reads the label-summed columns.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by the leading majority protein id (made unique) with ``protein_ids``, ``majority_protein_ids``,
    ``protein_leading``, ``gene`` (all gene names, ``;``-joined, the leading protein id when
    missing), ``gene_leading``, ``protein_names``, ``n_peptides``, ``n_peptides_razor_unique``,
    ``n_peptides_unique`` and the boolean flags ``is_decoy`` (``Reverse``), ``is_contaminant``
    (``Potential contaminant``/``Contaminant``) and ``only_by_site``; ``.obs`` from the sample
    sheet. Proteins are not filtered (see the ``pp`` filters).
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="MaxQuant table", encoding=encoding)
    source, header = tf.source, tf.header
    r_style = "Protein.IDs" in header and "Protein IDs" not in header
    sep = "." if r_style else " "

    def col(name: str) -> str:
        return r_name(name) if r_style else name

    require_columns(
        header,
        [col("Protein IDs"), col("Majority protein IDs")],
        source,
        "MaxQuant proteinGroups",
    )
    if label is not None and str(label).upper() not in {"L", "M", "H"}:
        raise InputFormatError(f"label={label!r}; expected 'L', 'M', 'H' (SILAC channel) or None.")
    lab = "" if label is None else sep + str(label).upper()

    experiments = _experiments(header, sep)
    available = {
        key: _sample_columns(header, col(prefix) + lab, sep, experiments)
        for key, prefix in QUANTITIES.items()
    }
    key, columns = choose_quantity(
        quantity,
        available,
        tool="MaxQuant",
        preferred="lfq",
        aliases=FORMAT.quantities,
        source=source,
        wanted=lambda k: f"{col(QUANTITIES[k]) + lab}{sep}<sample>",
        hint=" Pass quantity= one of those (LFQ columns exist only when MaxQuant ran LFQ).",
    )

    text = [c for c in (col(name) for name in _ANNOTATIONS) if c in header]
    if col("Potential contaminant") in text and col("Contaminant") in text:
        text.remove(col("Contaminant"))
    annotations, values = read_columns(
        tf, text=text, numeric=list(columns.values()), row_label=col("Protein IDs")
    )
    annotations = annotations.rename(columns={col(k): v for k, v in _ANNOTATIONS.items()})
    n = len(annotations)
    genes = annotations.get("gene")
    if "fasta_headers" in annotations:
        genes = fill_genes(genes, annotations["fasta_headers"])
    extra: dict[str, pd.Series | np.ndarray] = {
        "majority_protein_ids": annotations["majority_protein_ids"],
        "only_by_site": plus_flag(annotations.get("only_by_site"), n),
    }
    for name in ("protein_names", *_NUMERIC_ANNOTATIONS):
        if name in annotations:
            series = annotations[name]
            if name.startswith("n_peptides") or name == "maxquant_id":
                series = as_integer(series)
            elif name in _NUMERIC_ANNOTATIONS:
                series = pd.to_numeric(series, errors="coerce")
            extra[name] = series
    var = protein_var(
        annotations["protein_ids"],
        genes=genes,
        leading=annotations["majority_protein_ids"].fillna(annotations["protein_ids"]),
        contaminant=plus_flag(annotations.get("is_contaminant"), n),
        decoy=plus_flag(annotations.get("is_decoy"), n),
        extra=extra,
        source=source,
    )
    values.columns = list(columns)
    return finish(
        values,
        var,
        source=source,
        reader="read_maxquant",
        parameters={"quantity": key, "label": label, "columns": list(columns.values())},
    )


def _detect(pr: Probe) -> str | None:
    """MaxQuant proteinGroups.txt: 'Protein IDs' and 'Majority protein IDs' (or R's 'Protein.IDs',
    'Majority.protein.IDs')"""
    for ids in (("Protein IDs", "Majority protein IDs"), ("Protein.IDs", "Majority.protein.IDs")):
        if set(ids) <= pr.colset:
            return f"columns {list(ids)}"
    return None


FORMAT = Format(
    name="maxquant",
    label="MaxQuant",
    reader=read_maxquant,
    detect=_detect,
    modality="protein",
    file_names=(r"proteinGroups",),
    folder_files=("proteinGroups.txt",),
    quantities={**{k: k for k in QUANTITIES}, "maxlfq": "lfq"},
    options=("label",),
)
