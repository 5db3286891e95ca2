"""Alternative moderation methods on top of the limma engine (count-aware priors, detection models)."""

from ._count_prior import count_covariate, deqms_moderation, ebayes_count_trend
from ._dpc import DetectionCurve, dpc_linear_fit, fit_detection_curve, missing_value_posterior
from ._run import METHODS, differential_method

__all__ = [
    "METHODS",
    "DetectionCurve",
    "count_covariate",
    "deqms_moderation",
    "differential_method",
    "dpc_linear_fit",
    "ebayes_count_trend",
    "fit_detection_curve",
    "missing_value_posterior",
]
