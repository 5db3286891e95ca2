"""``kom.tl.power``: animals per phase needed to find a fold change, by simulation from the fitted
empirical-Bayes model.

Feature variances are drawn from the fitted scaled inverse chi-square prior (``df_prior``,
``s2_prior`` of :func:`kratom_omics.tl.differential`), a fraction ``pi1`` of features is given the
target log2 fold change, and each simulated experiment is analysed by the engine itself
(``lm_fit``, ``contrasts_fit``, ``ebayes``) followed by the multiple-testing adjustment. Power is the
mean true-positive rate at the FDR level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, groups_of, record_provenance
from ..errors import DesignError, ResultNotFoundError
from ._limma import contrasts_fit, ebayes, lm_fit
from ._multitest import adjust_pvalues, check_method

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["POWER_COLUMNS", "power", "simulate_power"]

logger = logging.getLogger("kratom_omics")

POWER_COLUMNS: tuple[str, ...] = (
    "n_per_group",
    "power",
    "power_se",
    "fdr_achieved",
    "n_discoveries",
    "n_sim",
)


def _prior_arrays(value: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size == 0 or np.any(arr <= 0):
        raise DesignError(
            f"{name} must be > 0 (a number or per-feature values); got {value!r}. Run "
            "kom.tl.differential first or pass df_prior= and s2_prior= explicitly."
        )
    return arr


def simulate_power(
    n_per_group: Iterable[int],
    *,
    df_prior: Any,
    s2_prior: Any,
    log2fc: float,
    alpha: float,
    pi1: float,
    n_features: int,
    n_groups: int,
    n_sim: int,
    adjust: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Power table from ``n_sim`` simulated experiments per group size (see :func:`power`)."""
    dfp = _prior_arrays(df_prior, "df_prior")
    s2p = _prior_arrays(s2_prior, "s2_prior")
    sizes = [int(n) for n in n_per_group]
    n_changed = round(pi1 * n_features)
    n_max = max(sizes)
    cmat = np.zeros((n_groups, 1))
    cmat[0, 0], cmat[1, 0] = -1.0, 1.0
    tpr = np.empty((len(sizes), n_sim))
    fdp = np.empty((len(sizes), n_sim))
    n_disc = np.empty((len(sizes), n_sim))
    for b in range(n_sim):
        # one population of features and animals per replicate; each size takes its first n
        # animals per group (common random numbers make the curve smooth in n)
        pick = rng.integers(0, max(dfp.size, s2p.size), size=n_features)
        d0 = dfp[pick % dfp.size]
        v0 = s2p[pick % s2p.size]
        chi = rng.chisquare(np.where(np.isfinite(d0), d0, 1.0))
        sigma = np.sqrt(np.where(np.isfinite(d0), v0 * d0 / chi, v0))
        effect = np.zeros(n_features)
        effect[:n_changed] = rng.choice(np.array([-1.0, 1.0]), size=n_changed) * log2fc
        noise = rng.standard_normal((n_features, n_groups, n_max)) * sigma[:, None, None]
        noise[:, 1, :] += effect[:, None]
        for i, n in enumerate(sizes):
            y = noise[:, :, :n].reshape(n_features, n_groups * n)
            design = np.kron(np.eye(n_groups), np.ones((n, 1)))
            fit = lm_fit(y, design)
            eb = ebayes(contrasts_fit(fit, cmat), fit)
            padj, _ = adjust_pvalues(eb.p_value[:, 0], adjust)
            hit = padj < alpha
            true_pos = int(hit[:n_changed].sum())
            n_hit = int(hit.sum())
            tpr[i, b] = true_pos / n_changed
            fdp[i, b] = (n_hit - true_pos) / n_hit if n_hit else 0.0
            n_disc[i, b] = n_hit
    se = tpr.std(axis=1, ddof=1) / np.sqrt(n_sim) if n_sim > 1 else np.full(len(sizes), np.nan)
    rows = [
        {
            "n_per_group": n,
            "power": float(tpr[i].mean()),
            "power_se": float(se[i]),
            "fdr_achieved": float(fdp[i].mean()),
            "n_discoveries": float(n_disc[i].mean()),
            "n_sim": int(n_sim),
        }
        for i, n in enumerate(sizes)
    ]
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def _number(value: Any, name: str, lo: float, hi: float, *, lo_open: bool = True) -> float:
    ok_type = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    if not ok_type or not np.isfinite(value):
        raise DesignError(f"{name} must be a number; got {name}={value!r}.")
    v = float(value)
    if (v <= lo if lo_open else v < lo) or v >= hi:
        left = "(" if lo_open else "["
        raise DesignError(f"{name} must be in {left}{lo:g}, {hi:g}); got {name}={value!r}.")
    return v


def power(
    adata: AnnData,
    key: str = "differential",
    *,
    log2fc: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    n_per_group: Iterable[int] = range(3, 21),
    pi1: float = 0.1,
    n_features: int = 1000,
    n_groups: int | None = None,
    n_sim: int = 10,
    adjust: str = "bh",
    df_prior: float | None = None,
    s2_prior: float | None = None,
    seed: int = 0,
    key_added: str = "power",
) -> pd.DataFrame:
    """Power and sample size for a target fold change, simulated from the fitted limma model.

    Each simulated experiment has ``n_features`` features whose variances are drawn from the
    empirical-Bayes prior fitted by :func:`kratom_omics.tl.differential` (scaled inverse chi-square
    with ``df_prior`` degrees of freedom around ``s2_prior``; per-feature priors from ``trend`` or
    ``robust`` are resampled), ``n_groups`` groups of ``n`` animals, and a fraction ``pi1`` of
    features changed by ``+-log2fc`` between the first two groups. The experiment is analysed by the
    engine (``lm_fit``, ``contrasts_fit``, ``ebayes``) and adjusted (``adjust``); power is the mean
    share of changed features found at ``alpha``, the achieved FDR the mean false discovery
    proportion.

    Parameters
    ----------
    adata
        Data analysed with :func:`kratom_omics.tl.differential` (its prior is read from
        ``adata.uns[key]["prior"]``).
    key
        Key of the differential result in ``adata.uns``.
    log2fc
        Target absolute log2 fold change (e.g. 1 for a doubling).
    alpha
        FDR level (or family-wise level for ``adjust="bonferroni"``).
    power
        Target power; the smallest group size reaching it is reported.
    n_per_group
        Group sizes (animals per phase) to simulate.
    pi1
        Fraction of features that change.
    n_features
        Features per simulated experiment.
    n_groups
        Groups (phases) in the design; they share the residual variance. Default: the number of
        levels of the ``groupby`` of the stored analysis (2 if unknown).
    n_sim
        Simulated experiments per group size.
    adjust
        Multiple-testing method, as in :func:`kratom_omics.tl.adjust_pvalues` (default BH).
    df_prior, s2_prior
        Prior degrees of freedom (``numpy.inf`` for a known variance) and prior variance; override
        (or replace, when both are given) the stored prior.
    seed
        Seed of the simulation.
    key_added
        Key of ``adata.uns`` receiving the result.

    Returns
    -------
    The power table, one row per group size: ``n_per_group, power, power_se, fdr_achieved,
    n_discoveries, n_sim``; ``table.attrs["n_required"]`` is the smallest group size whose power
    reaches ``power`` (None if none does). Also writes ``adata.uns[key_added]`` with ``"params"``
    (the call and the prior used), ``"table"`` and ``"n_required"`` (NaN if not reached), and
    appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    check_key_added(key_added)
    log2fc = _number(log2fc, "log2fc", 0.0, np.inf)
    alpha = _number(alpha, "alpha", 0.0, 1.0)
    target = _number(power, "power", 0.0, 1.0)
    pi1 = _number(pi1, "pi1", 0.0, 1.0 + 1e-12)
    adjust = check_method(adjust)
    if adjust == "qvalue":
        raise DesignError("adjust='qvalue' is not available for power; use 'bh' or 'bonferroni'.")
    for name, value, low in (("n_features", n_features, 2), ("n_sim", n_sim, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DesignError(f"{name} must be an integer >= {low}; got {name}={value!r}.")
    if isinstance(n_per_group, (int, np.integer)):
        sizes = [int(n_per_group)]
    else:
        try:
            sizes = sorted({int(v) for v in n_per_group})
        except (TypeError, ValueError) as err:
            raise DesignError(
                f"n_per_group must be integers >= 2 (e.g. range(3, 21)); got {n_per_group!r}."
            ) from err
    if not sizes or min(sizes) < 2:
        raise DesignError(
            f"n_per_group must be integers >= 2 (e.g. range(3, 21)); got {sizes}: with one "
            "animal per group there are no residual degrees of freedom."
        )
    if round(pi1 * n_features) < 1:
        raise DesignError(
            f"pi1={pi1:g} x n_features={n_features} plants no changed feature; raise pi1 or "
            "n_features."
        )

    res = adata.uns.get(key)
    stored = res.get("prior") if isinstance(res, Mapping) else None
    if df_prior is None or s2_prior is None:
        if not isinstance(stored, Mapping):
            avail = [k for k, v in adata.uns.items() if isinstance(v, Mapping) and "prior" in v]
            raise ResultNotFoundError(
                f"key={key!r}: adata.uns[{key!r}] holds no fitted prior; run "
                f"kom.tl.differential(adata, ..., key_added={key!r}) first or pass df_prior= and "
                f"s2_prior=. Keys with a prior: {avail}"
            )
        df_used = stored["df_prior"] if df_prior is None else df_prior
        s2_used = stored["s2_prior"] if s2_prior is None else s2_prior
    else:
        df_used, s2_used = df_prior, s2_prior
    if n_groups is None:
        n_groups = 2
        params_in = res.get("params", {}) if isinstance(res, Mapping) else {}
        groupby = params_in.get("groupby") if isinstance(params_in, Mapping) else None
        if isinstance(groupby, str) and groupby in adata.obs.columns:
            n_groups = max(2, len(groups_of(adata, groupby)))
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 2:
        raise DesignError(f"n_groups must be an integer >= 2; got n_groups={n_groups!r}.")

    rng = np.random.default_rng(seed)
    table = simulate_power(
        sizes,
        df_prior=df_used,
        s2_prior=s2_used,
        log2fc=log2fc,
        alpha=alpha,
        pi1=pi1,
        n_features=int(n_features),
        n_groups=int(n_groups),
        n_sim=int(n_sim),
        adjust=adjust,
        rng=rng,
    )
    reached = table.loc[table["power"] >= target, "n_per_group"]
    n_required = int(reached.iloc[0]) if len(reached) else None
    table.attrs["n_required"] = n_required

    def summary(v: Any) -> float:
        arr = np.atleast_1d(np.asarray(v, dtype=float))
        return float(np.median(arr))

    params: dict[str, Any] = {
        "key": key,
        "log2fc": log2fc,
        "alpha": alpha,
        "power": target,
        "n_per_group": sizes,
        "pi1": pi1,
        "n_features": int(n_features),
        "n_groups": int(n_groups),
        "n_sim": int(n_sim),
        "adjust": adjust,
        "df_prior": summary(df_used),
        "s2_prior": summary(s2_used),
        "prior_per_feature": bool(np.size(df_used) > 1 or np.size(s2_used) > 1),
        "seed": int(seed),
    }
    stored_table = table.copy()
    stored_table.attrs = {}
    adata.uns[key_added] = {
        "params": params,
        "table": stored_table,
        "n_required": float("nan") if n_required is None else n_required,
    }
    logger.info(
        "power: log2fc=%g at %s %g: %s animals per group reach power %g",
        log2fc,
        adjust,
        alpha,
        n_required if n_required is not None else f"more than {max(sizes)}",
        target,
    )
    record_provenance(adata, "kratom_omics.tl.power", params)
    return table
