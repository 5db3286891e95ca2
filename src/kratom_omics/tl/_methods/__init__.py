"""Alternative moderation methods of ``kom.tl.differential(method=...)``: count-aware priors and a
detection model, each one step of the single limma orchestration (see :mod:`._setup`)."""

from ._count_prior import (
    DEqMSPrior,
    DEqMSVariancePrior,
    count_covariate,
    deqms_moderation,
    deqms_prior,
    ebayes_count_trend,
)
from ._dpc import DetectionCurve, dpc_linear_fit, fit_detection_curve, missing_value_posterior
from ._setup import COUNT_METHODS, METHODS, MethodSetup, method_setup, peptide_counts

__all__ = [
    "COUNT_METHODS",
    "METHODS",
    "DEqMSPrior",
    "DEqMSVariancePrior",
    "DetectionCurve",
    "MethodSetup",
    "count_covariate",
    "deqms_moderation",
    "deqms_prior",
    "dpc_linear_fit",
    "ebayes_count_trend",
    "fit_detection_curve",
    "method_setup",
    "missing_value_posterior",
    "peptide_counts",
]
