"""Protein quantification tables from the common proteomics tools, and their auto-detection.

:func:`read_proteomics` recognises the tool from the file name and header and calls its reader
(:func:`read_maxquant`, :func:`read_diann`, :func:`read_fragpipe`, :func:`read_spectronaut`,
:func:`read_alphapept`, :func:`read_alphadia`, :func:`read_mztab`): the registry records of
modality ``"protein"`` (:mod:`kratom_omics.io._registry`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._core import DEFAULT_PHASES
from ._loader import loader
from ._protein import JoinArg, SamplesArg
from ._registry import REGISTRY, detect, dispatch

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["PROTEOMICS_FORMATS", "detect_proteomics_format", "read_proteomics"]

#: Formats understood by :func:`read_proteomics` (``format=``).
PROTEOMICS_FORMATS: tuple[str, ...] = tuple(
    f.name for f in REGISTRY if f.modality == "protein" and f.reader is not None
)


def detect_proteomics_format(path: str | os.PathLike) -> str:
    """Name the tool that wrote a protein table, from its file name and header.

    Parameters
    ----------
    path
        The protein table (text, compressed text, ``.parquet`` or mzTab).

    Returns
    -------
    One of :data:`PROTEOMICS_FORMATS`, e.g. ``"maxquant"``.

    Raises
    ------
    InputFormatError
        When no known header signature matches; the message lists what was looked for.
    """
    fmt, _ = detect(path, modality="protein")
    return fmt.name


@loader
def read_proteomics(
    path: str | os.PathLike,
    samples: SamplesArg = None,
    *,
    format: str = "auto",
    quantity: str | None = None,
    encoding: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: JoinArg = "exact",
    **kwargs: Any,
) -> AnnData:
    """Read a protein quantification table from MaxQuant, DIA-NN, FragPipe, Spectronaut, AlphaPept,
    AlphaDIA or mzTab into a samples x proteins AnnData.

    Parameters
    ----------
    path
        The tool's protein-level output (``proteinGroups.txt``, ``report.pg_matrix.tsv``,
        ``report.tsv``/``report.parquet``, ``combined_protein.tsv``, a Spectronaut report,
        ``results_proteins.csv``, ``pg.matrix.tsv``, ``*.mzTab``), or the tool's output folder
        (e.g. MaxQuant's ``combined/txt``), searched for those file names.
    samples
        Sample sheet (path or DataFrame, see :func:`kratom_omics.io.read_samples`) joined by sample
        name; run names and file paths are reduced with :func:`kratom_omics.io.normalize_run_name`
        first.
    format
        ``"auto"`` (detect from file name and header) or one of :data:`PROTEOMICS_FORMATS`.
    quantity
        Which intensity to load; the choices depend on the tool (see the explicit readers). ``None``
        takes the tool's default (LFQ/MaxLFQ where present).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).
    phases
        Phase levels in order, see :func:`kratom_omics.io.read_samples`.
    join
        ``"exact"``: data and sample sheet must list the same samples; ``"inner"``: keep the common
        ones.
    **kwargs
        Passed to the explicit reader (e.g. ``q_value=`` for DIA-NN).

    Returns
    -------
    AnnData with ``.X`` and ``.layers["raw"]`` = raw intensities (float64, zeros and missing as
    NaN), ``.var`` with ``protein_ids``, ``protein_leading``, ``gene``, ``gene_leading``,
    ``is_contaminant``, ``is_decoy`` (and tool-specific columns), ``.obs`` with the sample sheet,
    and one provenance step in ``.uns["kratom_omics"]["provenance"]``.
    """
    return dispatch(
        path,
        samples,
        format=format,
        modality="protein",
        options={"quantity": quantity, "encoding": encoding, **kwargs},
        phases=phases,
        join=join,
    )
