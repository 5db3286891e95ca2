"""One entry point for every supported input format (used by the CLI and the workflow)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["FORMATS", "read"]

#: Every format :func:`read` accepts, with the reader that handles it.
FORMATS: dict[str, str] = {
    "maxquant": "read_maxquant",
    "diann": "read_diann",
    "fragpipe": "read_fragpipe",
    "spectronaut": "read_spectronaut",
    "alphapept": "read_alphapept",
    "alphadia": "read_alphadia",
    "mztab": "read_mztab",
    "table": "read_table",
    "epiprofile": "read_epiprofile",
    "densitometry": "read_densitometry",
    "featurecounts": "read_featurecounts",
}


def _detect(path: Path) -> str:
    """Histone and count formats by their signatures; everything else by the proteomics detector."""
    from ._proteomics import detect_proteomics_format

    name = path.name.lower()
    if name.startswith("histone_ratios"):
        return "epiprofile"
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
    except OSError as exc:
        raise InputFormatError(f"{str(path)!r} cannot be read: {exc}") from None
    if first.startswith(("# Program:featureCounts", "Geneid\tChr\tStart\tEnd")):
        return "featurecounts"
    header = {h.strip().strip('"').lower() for h in re.split(r"[\t,;]", first)}
    if header & {"target", "protein", "antibody"} and header & {
        "signal",
        "volume",
        "adj. volume",
        "density",
    }:
        return "densitometry"
    try:
        return detect_proteomics_format(path)
    except InputFormatError as exc:
        raise InputFormatError(
            f"{exc} Also looked for EpiProfile (file name histone_ratios*.xls), featureCounts "
            "('# Program:featureCounts' line) and densitometry ('target' and 'signal' columns)."
        ) from None


def read(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    format: str = "auto",
    quantity: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
    phase_column: str | None = None,
    **options: Any,
) -> AnnData:
    """Read any supported tool output into a samples x features AnnData.

    Parameters
    ----------
    path
        The tool output (see :data:`FORMATS`).
    samples
        Sample sheet (path or DataFrame) joined onto ``.obs``; every mismatch is reported.
    format
        One of :data:`FORMATS` or ``"auto"`` (detected from the file name and header).
    quantity
        Which quantity to load where the format has several (e.g. MaxQuant ``"lfq"``, ``"intensity"``,
        ``"ibaq"``); ignored by formats with one.
    phases
        Phase order of the sample sheet.
    join
        ``"exact"`` (every sample in both) or ``"inner"``.
    phase_column
        Column of the sample sheet that gives the phases (see :func:`read_samples`).
    options
        Passed on to the format's reader.

    Returns
    -------
    AnnData as the format's reader returns it (``.X`` and ``.layers["raw"]`` as loaded, ``.obs`` from the
    sample sheet, ``.var`` annotations). ``.uns["kratom_omics"]["format"]`` records the format read.
    """
    from .. import io as kio

    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{str(p)!r} does not exist.")
    if p.is_file() and p.stat().st_size == 0:
        raise InputFormatError(f"{str(p)!r} is empty; export the table from the tool again.")
    fmt = _detect(p) if format == "auto" else format
    if fmt not in FORMATS:
        raise InputFormatError(did_you_mean(format, ["auto", *FORMATS], what="format"))
    reader = getattr(kio, FORMATS[fmt])
    if phase_column is not None and samples is not None:
        samples = kio.read_samples(samples, phases=phases, phase_column=phase_column)
    kwargs: dict[str, Any] = {"phases": phases, "join": join, **options}
    if quantity and fmt in {
        "maxquant",
        "fragpipe",
        "diann",
        "spectronaut",
        "alphapept",
        "alphadia",
        "mztab",
    }:
        kwargs["quantity"] = quantity
    adata = reader(p, samples, **kwargs)
    adata.uns.setdefault("kratom_omics", {})["format"] = fmt
    return adata
