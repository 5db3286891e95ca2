"""Run names as tools write them, reduced to the name a sample sheet uses."""

from __future__ import annotations

import re

__all__ = ["normalize_run_name"]

_RUN_SUFFIXES = re.compile(
    r"(\.(raw|mzml|mzxml|wiff2?|d|dia|mgf|mzml\.gz|raw\.dia|quant|htrms|bam|sam|cram))+$",
    re.IGNORECASE,
)


def normalize_run_name(name: str) -> str:
    """Reduce a run name or raw-file path to the run name: ``D:\\data\\S1.raw`` -> ``S1``.

    Directories (``/`` or ``\\``) and mass-spectrometry or alignment file extensions are removed.

    Returns
    -------
    The run name.
    """
    base = re.split(r"[\\/]", str(name).strip().rstrip("\\/"))[-1]
    return _RUN_SUFFIXES.sub("", base)
