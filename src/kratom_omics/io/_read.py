"""One entry point for every supported input format (used by the CLI and the workflow).

Reading rules shared by every loader (see :mod:`kratom_omics.io._text` and
:mod:`kratom_omics.io._values` for the details): ``.gz``/``.bz2``/``.xz``/one-file ``.zip`` read
transparently; the encoding detected (UTF-8, else Windows-1252, else Latin-1; ``encoding=``
forces one); the delimiter sniffed; rows shorter than the header read with missing values, longer
rows refused unless the extra fields are empty; NUL bytes refused; infinite values read as missing
with a warning. Every choice a loader makes is logged and recorded in the provenance step
(``parameters["choices"]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._core import DEFAULT_PHASES
from ._format import Format
from ._loader import loader
from ._registry import FORMATS as _REGISTERED
from ._registry import dispatch

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["FORMATS", "read"]

#: Every format :func:`read` accepts (name -> registry record with reader, label, quantities, ...).
FORMATS: Mapping[str, Format] = _REGISTERED


@loader
def read(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    format: str = "auto",
    quantity: str | None = None,
    encoding: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
    phase_column: str | None = None,
    **options: Any,
) -> AnnData:
    """Read any supported tool output into a samples x features AnnData.

    Parameters
    ----------
    path
        The tool output (see :data:`FORMATS`), compressed or not, or the tool's output folder.
    samples
        Sample sheet (path or DataFrame) joined onto ``.obs``; every mismatch is reported.
    format
        One of :data:`FORMATS` or ``"auto"`` (detected from the file name and header; a file that
        is recognised as something else, e.g. a sample sheet, is refused with what to do).
    quantity
        Which quantity to load where the format has several (e.g. MaxQuant ``"lfq"``,
        ``"intensity"``, ``"ibaq"``; see each record's ``quantities``); ignored (and logged) by
        formats with one.
    encoding
        Text encoding; ``None`` detects it: UTF-8 (with or without byte-order mark), UTF-16/32 by
        their byte-order mark, else Windows-1252 (Excel and other Windows tools), else Latin-1.
    phases
        Phase order of the sample sheet.
    join
        ``"exact"`` (every sample in both) or ``"inner"``.
    phase_column
        Column of the sample sheet that gives the phases (see :func:`read_samples`).
    options
        Passed on to the format's reader (e.g. ``q_value=`` for DIA-NN); an option the reader does
        not take is an error naming the ones it does.

    Returns
    -------
    AnnData as the format's reader returns it (``.X`` and ``.layers["raw"]`` as loaded, ``.obs`` from
    the sample sheet, ``.var`` annotations). ``.uns["kratom_omics"]["format"]`` records the format
    read (``"format_kind"`` the kind a detector named, e.g. DIA-NN ``"pg_matrix"``); the
    provenance step records the reader's parameters and choices.
    """
    if phase_column is not None and samples is not None:
        from ._samples import read_samples

        samples = read_samples(samples, phases=phases, phase_column=phase_column)
    return dispatch(
        path,
        samples,
        format=format,
        modality="any",
        options={"quantity": quantity, "encoding": encoding, **options},
        phases=phases,
        join=join,
    )
