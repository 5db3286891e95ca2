"""Defaults a user can set, kept once: preprocessing, the differential analysis, biomarker thresholds.

:func:`kratom_omics.pp.recipe`, the command line (``kratom-omics preprocess``/``differential``) and
the workflow (``workflows/rules/common.smk``, documented in ``workflows/schemas/config.schema.yaml``)
all read these values; a test checks that the schema's defaults agree with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "BIOMARKERS",
    "DIFFERENTIAL",
    "DIFFERENTIAL_METHODS",
    "PREPROCESS",
    "BiomarkerDefaults",
    "DifferentialDefaults",
    "PreprocessDefaults",
]


@dataclass(frozen=True)
class PreprocessDefaults:
    """Steps of :func:`kratom_omics.pp.recipe` (see there for their meaning)."""

    remove_flagged: bool = True
    transform: Literal["log2", "logit", "clr", "none"] = "log2"
    pseudocount: float = 0.0
    min_valid: float = 0.7
    valid_mode: Literal["total", "each_group", "any_group"] = "any_group"
    normalize: Literal[
        "median", "quantile", "none", "reference_sample", "reference_feature", "irs"
    ] = "median"
    impute: Literal["none", "downshift", "minprob", "knn", "mixed"] = "none"
    track_normalization: Literal["total", "track", "spikein", "none"] = "total"
    groupby: str = "phase"
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The defaults as a plain mapping (the workflow's starting point)."""
        return asdict(self)


#: The moderation methods of :func:`kratom_omics.tl.differential` (``method=``), each with what
#: it changes; the first is the default.
DIFFERENTIAL_METHODS: dict[str, str] = {
    "limma": "limma (lmFit + contrasts.fit + eBayes), each feature on its observed values",
    "count_trend": "limma's eBayes with the prior variance trended on log(n_peptides)",
    "deqms": "DEqMS: loess of the log variances on log2(n_peptides), its own prior df",
    "dpc": "group means by maximum likelihood with a detection probability curve "
    "(missing values as evidence of low abundance)",
}


@dataclass(frozen=True)
class DifferentialDefaults:
    """Options of :func:`kratom_omics.tl.differential` that the workflow exposes."""

    groupby: str = "phase"
    method: Literal["limma", "count_trend", "deqms", "dpc"] = "limma"
    n_peptides: str = "n_peptides"
    trend: bool = False
    robust: bool = False
    fdr: str = "bh"
    lfc: float = 0.0
    key_added: str = "differential"

    def as_dict(self) -> dict[str, Any]:
        """The defaults as a plain mapping (the workflow's starting point)."""
        return asdict(self)


@dataclass(frozen=True)
class BiomarkerDefaults:
    """Thresholds of :func:`kratom_omics.tl.flag_biomarkers`."""

    alpha: float = 0.05
    min_abs_log2fc: float = 0.58

    def as_dict(self) -> dict[str, Any]:
        """The defaults as a plain mapping (the workflow's starting point)."""
        return asdict(self)


#: The preprocessing defaults.
PREPROCESS = PreprocessDefaults()
#: The differential-analysis defaults.
DIFFERENTIAL = DifferentialDefaults()
#: The biomarker thresholds.
BIOMARKERS = BiomarkerDefaults()
