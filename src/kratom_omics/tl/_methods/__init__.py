"""Alternative moderation methods on top of the limma engine (count-aware priors, detection models)."""

from ._count_prior import count_covariate, deqms_moderation, ebayes_count_trend

__all__ = ["count_covariate", "deqms_moderation", "ebayes_count_trend"]
