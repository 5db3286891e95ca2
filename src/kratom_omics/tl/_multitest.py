"""Multiple-testing adjustment over the non-missing p-values (NaN stays NaN, as R's ``p.adjust``).

Methods: ``"bh"`` (Benjamini-Hochberg), ``"by"`` (Benjamini-Yekutieli), ``"bonferroni"``, ``"holm"``
(the same numbers as R's ``p.adjust`` and statsmodels' ``multipletests``), ``"qvalue"`` (Storey's
q-values with pi0 estimated as R's ``qvalue`` package does with ``pi0.method="bootstrap"``) and
``"none"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DesignError, did_you_mean

__all__ = ["FDR_METHODS", "adjust_pvalues", "check_method", "pi0_bootstrap"]

FDR_METHODS: tuple[str, ...] = ("bh", "by", "bonferroni", "holm", "qvalue", "none")
_ALIASES = {"fdr": "bh", "fdr_bh": "bh", "benjamini-hochberg": "bh", "fdr_by": "by"}


def _check_p(p: np.ndarray) -> None:
    bad = (p < 0) | (p > 1)
    if np.any(bad):
        raise DesignError(
            f"p-values must lie in [0, 1]; got {int(bad.sum())} outside, "
            f"e.g. {p[bad][:3].tolist()}."
        )


def _step_up(p: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``pmin(1, cummin(factor * p[o]))`` over p sorted decreasingly, back in input order."""
    o = np.argsort(-p, kind="stable")
    adj = np.minimum(1.0, np.minimum.accumulate(factor * p[o]))
    out = np.empty_like(p)
    out[o] = adj
    return out


def pi0_bootstrap(p: np.ndarray, lambdas: np.ndarray | None = None) -> float:
    """Storey's pi0, bootstrap choice of lambda (``qvalue::pi0est(pi0.method="bootstrap")``)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    lam = np.arange(0.05, 0.951, 0.05) if lambdas is None else np.asarray(lambdas, dtype=float)
    if lam.size == 1:
        return float(min(np.mean(p >= lam[0]) / (1 - lam[0]), 1.0))
    if np.max(p) < np.max(lam):
        raise DesignError(
            f"qvalue: the largest p-value ({np.max(p):.3g}) is below the largest lambda "
            f"({np.max(lam):.3g}); the p-values do not look like p-values of a full feature set."
        )
    w = np.array([np.sum(p >= x) for x in lam], dtype=float)
    pi0 = w / (m * (1 - lam))
    minpi0 = float(np.quantile(pi0, 0.1))
    mse = (w / (m**2 * (1 - lam) ** 2)) * (1 - w / m) + (pi0 - minpi0) ** 2
    return float(min(pi0[mse == mse.min()].min(), 1.0))


def check_method(method: str) -> str:
    """The canonical name of an adjustment method, or a :class:`DesignError` with a suggestion."""
    key = _ALIASES.get(str(method).lower(), str(method).lower())
    if key not in FDR_METHODS:
        raise DesignError(
            did_you_mean(str(method), [*FDR_METHODS, *_ALIASES], what="fdr")
            + " Use one of 'bh', 'by', 'bonferroni', 'holm', 'qvalue', 'none'."
        )
    return key


def adjust_pvalues(p: np.ndarray, method: str = "bh") -> tuple[np.ndarray, dict[str, Any]]:
    """Adjust ``p`` over its non-missing values; returns adjusted values and info (pi0)."""
    key = check_method(method)
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    _check_p(q)
    n = q.size
    info: dict[str, Any] = {}
    if n == 0:
        return out, info
    if key == "none":
        adj = q.copy()
    elif key == "bonferroni":
        adj = np.minimum(1.0, n * q)
    elif key == "holm":
        o = np.argsort(q, kind="stable")
        steps = np.maximum.accumulate((n - np.arange(n)) * q[o])
        adj = np.empty(n)
        adj[o] = np.minimum(1.0, steps)
    elif key == "bh":
        adj = _step_up(q, n / np.arange(n, 0, -1))
    elif key == "by":
        cq = np.sum(1.0 / np.arange(1, n + 1))
        adj = _step_up(q, cq * n / np.arange(n, 0, -1))
    else:  # qvalue
        pi0 = pi0_bootstrap(q)
        adj = pi0 * _step_up(q, n / np.arange(n, 0, -1))
        info["pi0"] = pi0
    out[ok] = adj
    return out, info
