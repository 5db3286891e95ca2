"""The moderation method of one ``kom.tl.differential`` call: its checks and what it hands to the
engine.

Every method runs through the one limma orchestration (:mod:`kratom_omics.tl._limma._engine`);
a method changes one step of it:

* ``"limma"``: nothing (the default; R limma's numbers);
* ``"count_trend"``: the prior variance trended on ``log(n_peptides)`` (the engine's
  ``covariate=``, R's ``eBayes(trend = log(n_peptides))``);
* ``"deqms"``: DEqMS's prior in place of limma's (the engine's ``variance_prior=``);
* ``"dpc"``: the least-squares fit replaced by group means estimated with a detection probability
  curve (:func:`~kratom_omics.tl._methods._dpc.dpc_linear_fit`); in memory only.

:func:`method_setup` checks that the method can run with the other options of the call (a clear
error naming a method or option that works otherwise) and returns a :class:`MethodSetup` holding
the pieces for the engine and the parameters to record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._defaults import DIFFERENTIAL_METHODS
from ...errors import DesignError, KeyNotFoundError, did_you_mean
from ._count_prior import DEqMSVariancePrior, check_count_trend, count_covariate
from ._dpc import DetectionCurve, dpc_linear_fit

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

    from ..._design import Design
    from .._limma import LinearFit

__all__ = [
    "COUNT_METHODS",
    "METHODS",
    "MethodSetup",
    "method_setup",
    "option_conflicts",
    "peptide_counts",
]

logger = logging.getLogger("kratom_omics")

#: The methods and what each changes (the first is the default).
METHODS: dict[str, str] = DIFFERENTIAL_METHODS
#: The methods that need a peptide (or precursor) count per feature.
COUNT_METHODS: tuple[str, ...] = ("count_trend", "deqms")

_COUNT_SOURCES = (
    "MaxQuant 'Razor + unique peptides' (else 'Peptides'), FragPipe 'Combined Total Peptides', "
    "DIA-NN 'N.Sequences' or the peptides of a report or pr_matrix, Spectronaut "
    "'PG.NrOfStrippedSequencesIdentified'"
)


def peptide_counts(adata: AnnData, n_peptides: str | np.ndarray, method: str) -> np.ndarray:
    """The peptide count of every feature for a count method, checked (one finite count >= 1)."""
    if isinstance(n_peptides, str):
        if n_peptides not in adata.var.columns:
            raise KeyNotFoundError(
                f"method={method!r} needs peptide counts per feature in adata.var[{n_peptides!r}], "
                f"which these data do not have (var columns: {list(adata.var.columns)[:12]}). "
                f"Loaders fill var['n_peptides'] where the input has counts ({_COUNT_SOURCES}); "
                "pass n_peptides= a column or an array, or use method='limma' or method='dpc', "
                "which need no counts."
            )
        import pandas as pd

        values = pd.to_numeric(adata.var[n_peptides], errors="coerce").to_numpy(dtype=float)
        source = f"adata.var[{n_peptides!r}]"
    else:
        values = np.asarray(n_peptides, dtype=float)
        source = "n_peptides"
    count_covariate(values, adata.n_vars, source=source)
    return values


@dataclass
class MethodSetup:
    """What a moderation method hands to the engine, and what it records."""

    method: str
    counts: np.ndarray | None = None
    counts_name: str = ""
    detection_curve: DetectionCurve | None = None
    variance_prior: DEqMSVariancePrior | None = None
    fit_info: dict[str, Any] = field(default_factory=dict)

    @property
    def covariate(self) -> np.ndarray | None:
        """The trend covariate of the variance prior (``count_trend``: log peptide counts)."""
        if self.method == "count_trend" and self.counts is not None:
            return np.log(self.counts)
        return None

    @property
    def replaces_fit(self) -> bool:
        """Whether the method replaces limma's least-squares fit (``dpc``)."""
        return self.method == "dpc"

    def fit(self, y: np.ndarray, design: Design, groups: pd.Series) -> LinearFit:
        """The fit that replaces ``lm_fit`` (``dpc``: group means with the detection curve)."""
        labels = groups.astype(str).to_numpy()
        masks = [labels == str(level) for level in design.levels]
        fit, info = dpc_linear_fit(
            y, design.matrix, masks, curve=self.detection_curve, coef_names=design.columns
        )
        self.fit_info = info
        return fit

    def check_prior_inputs(self, df_residual: np.ndarray, legacy: bool | None) -> None:
        """Checks on the gathered fit before the prior is fitted (the count trend's knots)."""
        cov = self.covariate
        if cov is not None:
            check_count_trend(cov, df_residual, legacy=legacy)

    def params(self) -> dict[str, Any]:
        """The method's entries of ``params`` (h5ad-safe scalars)."""
        out: dict[str, Any] = {"method": self.method, "n_peptides": self.counts_name}
        if self.method == "dpc":
            curve = self.fit_info.get("curve")
            if isinstance(curve, DetectionCurve):
                out["dpc_beta0"] = float(curve.beta0)
                out["dpc_beta1"] = float(curve.beta1)
                out["dpc_curve"] = "given" if self.detection_curve is not None else "fitted"
            out["dpc_n_filled"] = int(self.fit_info.get("n_filled", 0))
            out["dpc_n_onoff_kept"] = int(self.fit_info.get("n_onoff_kept", 0))
        if self.method == "deqms" and self.variance_prior is not None:
            fitted = self.variance_prior.fitted
            if fitted is not None:
                out["deqms_n_features"] = int(fitted.n_features)
        return out


def option_conflicts(
    method: str,
    *,
    trend: bool = False,
    robust: bool = False,
    legacy: bool | None = None,
    lfc: float = 0.0,
    block: str | None = None,
    weights: object = None,
    exact_se: bool = False,
    covariates: Sequence[str] = (),
    formula: str | None = None,
    chunked: bool = False,
) -> list[str]:
    """What a ``differential`` call's other options ask that ``method`` cannot do, each as one
    sentence naming the option and what works instead (empty: nothing). :func:`method_setup`
    raises the first; the workflow's configuration check lists them all before any job runs."""
    out = []
    if method in COUNT_METHODS and trend:
        out.append(
            f"method={method!r} trends the prior variance on the peptide counts; trend=True "
            "(on the mean intensity) cannot be combined with it. Drop trend=True or use "
            "method='limma' or 'dpc' with trend=True."
        )
    if method == "deqms":
        if lfc > 0:
            out.append(
                f"method='deqms' has no TREAT test (DEqMS computes none) and lfc={lfc!r} asks for "
                "one; use method='count_trend' or 'limma' with lfc=, or lfc=0."
            )
        if robust or legacy is not None:
            option = "robust=True" if robust else f"legacy={legacy!r}"
            out.append(
                f"{option} chooses limma's prior estimator; method='deqms' fits DEqMS's loess "
                "prior instead. Drop the option or use method='count_trend' (limma's prior on the "
                "peptide counts, with robust= and legacy=)."
            )
    if method == "dpc":
        beyond_groups = bool(covariates) or formula is not None
        refused = [
            (block is not None, f"block={block!r} (a within-block correlation)"),
            (weights is not None, "weights= (observation weights)"),
            (exact_se, "exact_se=True"),
            (beyond_groups, "covariates= or formula= (a design beyond the group means)"),
        ]
        out += [
            f"method='dpc' estimates group means for the design ~ 0 + groupby and cannot "
            f"take {what}; use method='limma' (or 'count_trend'/'deqms'), which supports it."
            for bad, what in refused
            if bad
        ]
        if chunked:
            out.append(
                "method='dpc' fits in memory only (the detection curve and the group means need "
                "the whole matrix); load the data (adata.to_memory(), scheduler=None, "
                "chunk_size=None) or use method='limma', 'count_trend' or 'deqms' chunk by chunk."
            )
    return out


def method_setup(
    adata: AnnData,
    method: str,
    *,
    n_peptides: str | np.ndarray,
    detection_curve: DetectionCurve | None,
    trend: bool,
    robust: bool,
    legacy: bool | None,
    lfc: float,
    block: str | None,
    weights: str | np.ndarray | None,
    exact_se: bool,
    covariates: Sequence[str],
    formula: str | None,
    chunked: bool,
) -> MethodSetup:
    """Check ``method`` against the other options of a ``differential`` call; load its inputs.

    Raises :class:`~kratom_omics.errors.DesignError` (or ``KeyNotFoundError`` for missing peptide
    counts) saying what is missing and which method or option works instead.
    """
    if not isinstance(method, str) or method not in METHODS:
        listed = "; ".join(f"{k}: {v}" for k, v in METHODS.items())
        raise DesignError(f"{did_you_mean(str(method), METHODS, what='method')} ({listed}).")
    if detection_curve is not None and method != "dpc":
        raise DesignError(
            f"detection_curve= is the detection model of method='dpc'; method={method!r} does not "
            "use it. Pass method='dpc' or drop detection_curve=."
        )
    conflicts = option_conflicts(
        method,
        trend=trend,
        robust=robust,
        legacy=legacy,
        lfc=lfc,
        block=block,
        weights=weights,
        exact_se=exact_se,
        covariates=covariates,
        formula=formula,
        chunked=chunked,
    )
    if conflicts:
        raise DesignError(conflicts[0])
    setup = MethodSetup(method=method, detection_curve=detection_curve)
    if method in COUNT_METHODS:
        setup.counts = peptide_counts(adata, n_peptides, method)
        setup.counts_name = n_peptides if isinstance(n_peptides, str) else "array"
    if method == "deqms":
        setup.variance_prior = DEqMSVariancePrior(setup.counts)
    return setup
