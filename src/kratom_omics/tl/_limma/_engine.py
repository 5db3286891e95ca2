"""The one limma orchestration: fit per block of features, then eBayes, FDR and the result tables.

Every analysis (in memory or chunk by chunk on dask) runs the same steps:

1. **fit, per block** (:func:`block_summary`): ``lmFit`` + ``contrasts.fit`` of a block of features
   reduced to a few numbers per feature (contrasts and their unscaled standard errors, sigma,
   residual df, mean, number of observations, detected counts on both sides of each contrast),
   kept in a :class:`ChunkStore`. In memory the whole matrix is one block.
2. **global steps** (:func:`moderate`): limma's ``eBayes`` needs three things over all features at
   once: the residual variances and df (for the variance prior,
   :func:`~kratom_omics.tl._limma.squeeze_var`), the p-values of each contrast (for the FDR) and
   the largest moderated t (for the prior variance of the B statistic, limma's
   ``tmixture.vector``). Everything else is feature-wise. The store is read block by block:
   moderated t and p per block (keeping the p-values), then the top ``proportion / 2`` converted
   |t| of each block (a superset of the global top, from which ``tmixture.vector`` is computed
   exactly as on all features), then the FDR.
3. **tables, per block** (:func:`long_table`, :func:`f_table`): every column of the long table
   and of the F table, block by block, written into a :class:`TableSink`: a :class:`FrameSink`
   (a DataFrame in memory; the float columns of a block are computed straight into their rows of
   the table, so a value is written once) or a :class:`ParquetSink` (results larger than memory).

The moderated statistics of a block are computed once (:meth:`Moderation.tests`): for a store in
memory they are kept for every block, for a spilled store while the same block is read again.
:func:`ebayes` and :func:`treat` are this orchestration on one block, returning the arrays of
limma's ``MArrayLM``.

Two hooks let other moderation methods run through the same steps: ``covariate`` (the prior
variance trended on a numeric covariate, R's ``eBayes(trend = <numeric>)``) and
``variance_prior`` (a function that replaces limma's ``squeezeVar`` by another prior, returning a
:class:`VariancePrior`; e.g. DEqMS's).
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._files import atomic_path
from ..._results import (
    DETECTION_COLUMNS,
    F_COLUMNS,
    TABLE_COLUMNS,
    frame_of_blocks,
    table_buffer,
)
from ...errors import DesignError, KratomOmicsError
from .._detection import complete_counts, detection_counts, detection_from_counts
from .._multitest import adjust_pvalues
from ._fit import ContrastFit, LinearFit, single_blas_thread
from ._moderate import (
    check_moderation_inputs,
    f_pvalue,
    f_statistic,
    fill_var_prior,
    is_fullrank,
    lods,
    moderated_t,
    tmixture_convert,
    tmixture_finish,
    tmixture_limits,
    tmixture_top,
    treat_tests,
)
from ._prior import posterior_var, squeeze_var
from ._special import by_unique, t_ppf

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "F_FLOATS",
    "LONG_FLOATS",
    "BlockTests",
    "ChunkStore",
    "EBayesResult",
    "FrameSink",
    "Moderation",
    "ParquetSink",
    "TableSink",
    "VariancePrior",
    "block_summary",
    "contrast_columns",
    "ebayes",
    "f_table",
    "long_table",
    "moderate",
    "require_residual_df",
    "run",
    "stored_prior",
    "t_quantile_975",
    "table_columns",
    "treat",
]

FIT_KEYS: tuple[str, ...] = ("coef", "su", "sigma", "dfres")
Sides = Sequence[tuple[list[str], list[str]] | None]
Masks = Sequence[tuple[np.ndarray, np.ndarray] | None]
Block = dict[str, Any]
#: A prior value: one for all features, or one per feature (trend, robust).
Prior = float | np.ndarray


@dataclass
class VariancePrior:
    """A variance prior fitted by another method than limma's ``squeezeVar``.

    Returned by the ``variance_prior`` function given to :func:`moderate` (called with the
    residual variances and residual df of all features). Posterior variances are
    ``(df * s2 + df_prior * s2_prior) / (df + df_prior)`` as in limma; a NaN ``s2_prior`` leaves a
    feature untested (NaN moderated t).
    """

    df_prior: Prior
    s2_prior: Prior
    #: cap of the total df (None: limma's cap, the pooled residual df)
    df_cap: float | None = None
    #: whether limma's B statistic is reported (False: NaN)
    b_statistic: bool = True
    #: reported as the path taken (``params["legacy_path_used"]``)
    legacy: bool = False


VariancePriorFn = Callable[[np.ndarray, np.ndarray], VariancePrior]


# --------------------------------------------------------------------------------------------------
# step 1: per-block summaries
# --------------------------------------------------------------------------------------------------


def block_summary(
    fit: LinearFit,
    cfit: ContrastFit,
    detected: np.ndarray | None,
    masks: Masks,
    *,
    f_cfit: ContrastFit | None = None,
) -> dict[str, np.ndarray]:
    """The per-feature numbers of one fitted block that the later steps need.

    Parameters
    ----------
    fit, cfit
        ``lm_fit`` and ``contrasts_fit`` of the block.
    detected
        Features x samples: True where a value was observed, or the values themselves (NaN = not
        observed); None: detection unknown, no counts. Not read when every feature of the block
        was observed in every sample (``fit.n_obs``): the counts are then the side totals.
    masks
        Sample masks of side *a* and *b* of every contrast
        (:func:`~kratom_omics.tl._detection.side_masks`).
    f_cfit
        Contrasts whose moderated F is reported instead of the F of ``cfit``'s contrasts (e.g. the
        time coefficients of a time course).

    Returns
    -------
    ``coef``, ``su`` (features x contrasts), ``sigma``, ``dfres``, ``amean``, ``n_obs``,
    ``det_a``, ``det_b`` (features x contrasts, -1 without sides), ``none`` (nothing detected);
    ``fcoef``, ``fsu`` with ``f_cfit``. About ``6 + 4k`` numbers per feature. For a block with
    every value observed ``det_a``, ``det_b`` and ``none`` are one row
    (:func:`~kratom_omics.tl._detection.complete_counts`) that broadcasts over its features.
    """
    g = fit.sigma.shape[0]
    n = fit.design.shape[0]
    if detected is None:
        det_a = np.full((g, len(masks)), -1, dtype=np.int32)
        det_b = det_a.copy()
        none = np.zeros(g, dtype=bool)
    elif g > 0 and int(fit.n_obs.min()) == n:  # nothing missing: no per-feature counting
        det_a, det_b = complete_counts(masks)
        none = np.zeros(1, dtype=bool)
    else:
        if detected.dtype != bool:
            detected = np.isfinite(detected)
        det_a, det_b = detection_counts(detected, masks)
        none = np.asarray(~detected.any(axis=1))
    out = {
        "coef": cfit.coefficients,
        "su": cfit.stdev_unscaled,
        "sigma": fit.sigma,
        "dfres": fit.df_residual,
        "amean": fit.amean,
        "n_obs": np.asarray(fit.n_obs, dtype=np.int64),
        "det_a": det_a,
        "det_b": det_b,
        "none": none,
    }
    if f_cfit is not None:
        out["fcoef"] = f_cfit.coefficients
        out["fsu"] = f_cfit.stdev_unscaled
    return out


class ChunkStore:
    """Per-block summaries of a fit, in memory or spilled to ``.npy`` files.

    With ``directory`` each block's arrays are written to disk as they arrive and read back one
    block at a time, so the driver holds only what the empirical-Bayes prior needs for all
    features (sigma and residual df; the mean with ``trend``) and one block at a time.
    """

    def __init__(self, offsets: list[int], directory: str | os.PathLike[str] | None = None) -> None:
        self.offsets = offsets
        self.directory = None if directory is None else Path(directory)
        self._mem: dict[int, dict[str, np.ndarray]] = {}

    @classmethod
    def single(cls, summary: dict[str, np.ndarray]) -> ChunkStore:
        """A store holding one in-memory block (the whole matrix)."""
        store = cls([0, int(np.shape(summary["dfres"])[0])])
        store.put(0, summary)
        return store

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_features(self) -> int:
        return self.offsets[-1]

    def slice(self, i: int) -> slice:
        """The features of block ``i``."""
        return slice(self.offsets[i], self.offsets[i + 1])

    def put(self, i: int, arrays: dict[str, np.ndarray]) -> None:
        """Keep (or spill) the arrays of block ``i``."""
        if self.directory is None:
            self._mem[i] = arrays
            return
        for name, a in arrays.items():
            np.save(self.directory / f"{i:07d}_{name}.npy", a, allow_pickle=False)

    def get(self, i: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays ``names`` of block ``i``."""
        if self.directory is None:
            return {n: self._mem[i][n] for n in names}
        return {n: np.load(self.directory / f"{i:07d}_{n}.npy", allow_pickle=False) for n in names}

    def drop(self, name: str) -> None:
        """Forget the array ``name`` of every block held in memory (a spilled store keeps it)."""
        if self.directory is None:
            for arrays in self._mem.values():
                arrays.pop(name, None)

    def has(self, name: str) -> bool:
        """Whether the blocks hold the array ``name`` (e.g. ``fcoef``)."""
        if not len(self):
            return False
        if self.directory is None:
            return name in self._mem[0]
        return (self.directory / f"{0:07d}_{name}.npy").exists()


def stored_prior(value: Prior) -> Prior:
    """A prior value as stored in a result: a float, or a copy of the per-feature array."""
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else arr.copy()


def require_residual_df(df_residual: np.ndarray, n_columns: int) -> None:
    """Raise :class:`DesignError` when no feature has residual df (nothing to moderate)."""
    if float(np.max(df_residual, initial=0.0)) == 0:
        raise DesignError(
            "no feature has residual degrees of freedom (each has at most as many observed samples "
            f"as the {n_columns} design columns); add replicates, drop covariates or "
            "filter out features with many missing values."
        )


# --------------------------------------------------------------------------------------------------
# step 2: the global steps of eBayes
# --------------------------------------------------------------------------------------------------


@dataclass
class BlockTests:
    """Moderated statistics of one block (features x contrasts where two-dimensional)."""

    t: np.ndarray  # ordinary moderated t (it feeds the F; TREAT's t is taken in the table)
    df_total: np.ndarray
    p: np.ndarray  # TREAT's p-values with lfc > 0
    s2_post: np.ndarray
    dfres: np.ndarray
    _q975: np.ndarray | None = field(default=None, repr=False)
    #: the moderated F (statistic, df1, df2, p) once computed, for the F table
    f: tuple[np.ndarray, int, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def q975(self) -> np.ndarray:
        """``qt(0.975, df_total)`` of the block (for the confidence intervals), computed once."""
        if self._q975 is None:
            with np.errstate(invalid="ignore"):
                self._q975 = t_quantile_975(self.df_total)
        return self._q975


def _part(value: Prior, sl: slice) -> Prior:
    """The features ``sl`` of a per-feature prior value (a scalar stays a scalar)."""
    return value[sl] if isinstance(value, np.ndarray) and value.ndim else value


@dataclass
class Moderation:
    """The global results of empirical Bayes on a blocked fit, and the per-block statistics."""

    s2_post: np.ndarray | None  # all features only when fewer than 3 (no moderation)
    dfp: np.ndarray
    df_prior: Prior
    s2_prior: Prior
    df_cap: float
    var_prior: np.ndarray
    padj: np.ndarray  # contrasts x features
    f_padj: np.ndarray
    f_df1: int
    f_cov: np.ndarray
    fullrank: bool
    legacy: bool
    lfc: float
    proportion: float
    separate_f: bool = False
    b_statistic: bool = True
    fdr_info: dict[str, Any] = field(default_factory=dict)
    #: keep the tests of every block (a store in memory: about as much as the fit itself), not
    #: only of the last one read (a spilled store: bounded memory, tests recomputed per pass)
    keep_tests: bool = False
    #: contrasts x features: where the p-values go (the long table's ``pvalue`` column of a
    #: table in memory, which then holds the tests' p-values); None: they stay in the tests
    p_rows: np.ndarray | None = None
    _memo: dict[int, BlockTests] = field(default_factory=dict, repr=False)

    def release_long(self) -> None:
        """The long table is written: forget what only it reads (the p-values of the kept tests,
        the adjusted p-values, the t quantiles), before the F table is built."""
        self.padj = np.empty((0, 0))
        for bt in self._memo.values():
            bt.p = np.empty((0, 0))
            bt._q975 = None

    @property
    def fit_keys(self) -> tuple[str, ...]:
        """The fit arrays a block's tests are read from (the residual sd only while the tests of
        every block are not kept: :func:`run` drops it from a store in memory)."""
        return tuple(k for k in FIT_KEYS if k != "sigma") if self.keep_tests else FIT_KEYS

    def post(self, sl: slice, c: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior variances and residual df of one block, from its sigma and df.

        The same element-wise steps as :func:`~kratom_omics.tl._limma.squeeze_var`, so the
        values equal those of the whole-matrix call; nothing per feature is kept meanwhile.
        """
        dfres = c["dfres"]
        if self.s2_post is not None:
            return self.s2_post[sl], dfres
        var = np.square(c["sigma"])
        var[dfres == 0] = 0
        return posterior_var(var, dfres, _part(self.s2_prior, sl), _part(self.df_prior, sl)), dfres

    def tests(self, i: int, sl: slice, c: Mapping[str, np.ndarray]) -> BlockTests:
        """Moderated t, total df, p (TREAT's with ``lfc > 0``) and posterior variances of block
        ``i``, computed once per block with ``keep_tests`` (else once while the same block is
        read again)."""
        if i in self._memo:
            return self._memo[i]
        s2, dfres = self.post(sl, c)
        t, df_total, p = moderated_t(c["coef"], c["su"], s2, dfres, self.dfp[sl], self.df_cap)
        if self.lfc > 0:
            _, p = treat_tests(c["coef"], c["su"], s2, df_total, self.lfc)
        if self.p_rows is not None:
            self.p_rows[:, sl] = p.T
            p = self.p_rows[:, sl].T
        bt = BlockTests(t=t, df_total=df_total, p=p, s2_post=s2, dfres=dfres)
        if not self.keep_tests:
            self._memo.clear()
        self._memo[i] = bt
        return bt

    def f_test(
        self, bt: BlockTests, sl: slice, c: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Moderated F of one block: statistic, df1, df2 and p-value (computed once with
        ``keep_tests``)."""
        if bt.f is not None:
            return bt.f
        if self.separate_f:
            t = moderated_t(c["fcoef"], c["fsu"], bt.s2_post, bt.dfres, self.dfp[sl], self.df_cap)[
                0
            ]
        else:
            t = bt.t
        fstat, df1 = f_statistic(t, self.f_cov, self.fullrank)
        df2 = bt.dfres + self.dfp[sl]
        f = (fstat, df1, df2, f_pvalue(fstat, df1, df2))
        if self.keep_tests:
            bt.f = f
        return f

    def contrast_t(
        self, bt: BlockTests, sl: slice, c: Mapping[str, np.ndarray], j: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The reported t (TREAT's with ``lfc > 0``) and B statistic of contrast ``j``."""
        if self.lfc > 0:
            t_j, _ = treat_tests(
                c["coef"][:, [j]], c["su"][:, [j]], bt.s2_post, bt.df_total, self.lfc
            )
            return t_j[:, 0], np.full(t_j.shape[0], np.nan)
        if not self.b_statistic:
            return bt.t[:, j], np.full(bt.t.shape[0], np.nan)
        b = lods(
            bt.t[:, [j]],
            c["su"][:, [j]],
            bt.df_total,
            self.dfp[sl],
            self.var_prior[[j]],
            self.proportion,
        )
        return bt.t[:, j], b[:, 0]


def moderate(
    store: ChunkStore,
    gathered: dict[str, np.ndarray],
    cov_coefficients: np.ndarray,
    design: np.ndarray,
    *,
    trend: bool,
    robust: bool,
    legacy: bool | None,
    lfc: float,
    fdr: str,
    f_cov: np.ndarray | None = None,
    covariate: np.ndarray | None = None,
    variance_prior: VariancePriorFn | None = None,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    p_out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Moderation:
    """Prior, FDR and B-statistic prior variances of a blocked fit (see the module docs).

    Parameters
    ----------
    store
        The per-block summaries (:func:`block_summary`).
    gathered
        ``sigma`` and ``df_residual`` of all features (and ``amean`` with ``trend``); ``sigma`` is
        squared in place and dropped once the prior is fitted (pass a copy to keep it).
    cov_coefficients
        Unscaled covariance of the contrasts (``contrasts_fit(...).cov_coefficients``).
    design
        The design matrix (its rank decides whether an F can be computed).
    trend, robust, legacy
        limma's ``eBayes`` options (see :func:`kratom_omics.tl.differential`).
    lfc
        TREAT's threshold (0: ordinary moderated t).
    fdr
        Multiple-testing method of :func:`~kratom_omics.tl.adjust_pvalues`.
    f_cov
        Covariance of the contrasts of the F test when the blocks hold separate ones (``fcoef``).
    covariate
        One value per feature on which the prior variance is trended instead of the mean (R's
        ``eBayes(trend = covariate)``); ``trend`` is then not needed.
    variance_prior
        A function of the residual variances and residual df of all features returning a
        :class:`VariancePrior` that replaces limma's ``squeezeVar`` (``trend``, ``robust``,
        ``legacy`` and ``covariate`` are then not used).
    proportion, stdev_coef_lim, winsor_tail_p
        limma's ``eBayes`` constants.
    p_out
        Two contrasts x features arrays receiving the p-values and the adjusted p-values (the
        ``pvalue`` and ``padj`` columns of a long table in memory: written once, in place); for
        a store in memory only. None: arrays of their own.
    """
    sigma = gathered["sigma"]
    dfres = gathered["df_residual"]
    if variance_prior is not None:
        covariate = None
    elif covariate is None and trend:
        covariate = gathered.get("amean")
    check_moderation_inputs(sigma, dfres, covariate)
    gathered.pop("sigma")
    var = np.square(sigma, out=sigma)  # in place: sigma is not needed any more
    del sigma
    if variance_prior is None:
        sq = squeeze_var(
            var,
            dfres,
            covariate=covariate,
            robust=robust,
            winsor_tail_p=winsor_tail_p,
            legacy=legacy,
            overwrite=True,
        )
        vp = VariancePrior(df_prior=sq["df_prior"], s2_prior=sq["var_prior"], legacy=sq["legacy"])
        s2_post = np.asarray(sq["var_post"], dtype=float) if dfres.size < 3 else None
    else:
        vp = variance_prior(var, dfres)
        s2_post = None
    del var, covariate
    gathered.pop("amean", None)
    g = dfres.size
    k = cov_coefficients.shape[0]
    separate_f = f_cov is not None
    m = Moderation(
        s2_post=s2_post,
        dfp=np.broadcast_to(np.asarray(vp.df_prior, float), dfres.shape),
        df_prior=vp.df_prior,
        s2_prior=vp.s2_prior,
        df_cap=float(np.nansum(dfres)) if vp.df_cap is None else float(vp.df_cap),
        var_prior=np.full(k, np.nan),
        padj=np.empty((k, g)) if p_out is None else p_out[1],
        f_padj=np.empty(g),
        f_df1=k,
        f_cov=f_cov if f_cov is not None else cov_coefficients,
        fullrank=is_fullrank(design),
        legacy=bool(vp.legacy),
        lfc=float(lfc),
        proportion=proportion,
        separate_f=separate_f,
        b_statistic=vp.b_statistic,
        keep_tests=store.directory is None,
        p_rows=None if p_out is None else p_out[0],
    )
    if p_out is not None and not m.keep_tests:
        raise KratomOmicsError("p_out= needs a store in memory (the tests of every block kept).")
    del vp
    gathered.pop("df_residual")
    del dfres  # read back block by block with sigma
    keys = (*FIT_KEYS, "fcoef", "fsu") if separate_f else FIT_KEYS
    # pass 1: p-values, and the count and largest df of the t-statistics
    n_t = np.zeros(k, dtype=np.int64)
    maxdf = np.full(k, -np.inf)
    for i in range(len(store)):
        sl = store.slice(i)
        c = store.get(i, keys)
        bt = m.tests(i, sl, c)
        m.padj[:, sl] = bt.p.T
        _, m.f_df1, _, m.f_padj[sl] = m.f_test(bt, sl, c)
        has_t = ~np.isnan(bt.t)
        block_t = has_t.sum(axis=0)
        n_t += block_t
        for j in range(k):
            if block_t[j] == has_t.shape[0] and block_t[j]:  # every t: no selection
                maxdf[j] = max(maxdf[j], float(np.max(bt.df_total)))
            elif block_t[j]:
                maxdf[j] = max(maxdf[j], float(np.max(bt.df_total[has_t[:, j]])))
        del has_t
    # pass 2: limma's tmixture.vector from the top converted |t| of every block
    if lfc == 0 and m.b_statistic:
        ntarget = [math.ceil(proportion / 2 * int(n)) for n in n_t]
        cand_t: list[list[np.ndarray]] = [[] for _ in range(k)]
        cand_su: list[list[np.ndarray]] = [[] for _ in range(k)]
        for i in range(len(store)):
            sl = store.slice(i)
            c = store.get(i, FIT_KEYS)
            bt = m.tests(i, sl, c)
            for j in range(k):
                if ntarget[j] < 1:
                    continue
                keep = ~np.isnan(bt.t[:, j])
                n_keep = int(keep.sum())
                top = min(ntarget[j], n_keep)
                if n_keep == keep.size:  # every t: the columns themselves, no selected copies
                    tc = tmixture_convert(bt.t[:, j], bt.df_total, float(maxdf[j]), top=top)
                    su_j = c["su"][:, j]
                else:
                    tc = tmixture_convert(
                        bt.t[keep, j], bt.df_total[keep], float(maxdf[j]), top=top
                    )
                    su_j = c["su"][keep, j]
                o = tmixture_top(tc, top)
                cand_t[j].append(tc[o])
                cand_su[j].append(su_j[o])
                del keep, tc, su_j
        lim = tmixture_limits(m.s2_prior, stdev_coef_lim)
        for j in range(k):
            if ntarget[j] < 1:
                continue
            tc = np.concatenate(cand_t[j])
            su = np.concatenate(cand_su[j])
            o = tmixture_top(tc, ntarget[j])
            m.var_prior[j] = tmixture_finish(
                tc[o], su[o], int(n_t[j]), float(maxdf[j]), proportion, lim
            )
        m.var_prior = fill_var_prior(m.var_prior, m.s2_prior)
    # FDR over all features (in place: the p-values are recomputed block by block later)
    for j in range(k):
        adj, info = adjust_pvalues(m.padj[j], fdr, overwrite=True)
        if not np.shares_memory(adj, m.padj):  # else adjusted in place
            m.padj[j] = adj
        if "pi0" in info:
            m.fdr_info.setdefault("pi0", []).append(info["pi0"])
        del adj
    m.f_padj, _ = adjust_pvalues(m.f_padj, fdr, overwrite=True)
    return m


# --------------------------------------------------------------------------------------------------
# step 3: the result tables, block by block
# --------------------------------------------------------------------------------------------------


#: float columns of the long table (written in place, block by block) and of the F table
LONG_FLOATS: tuple[str, ...] = tuple(
    c for c in (*TABLE_COLUMNS[2:], *DETECTION_COLUMNS) if c not in ("n_obs", "reason")
)
F_FLOATS: tuple[str, ...] = tuple(c for c in F_COLUMNS if c != "feature")


def contrast_columns(
    coef: np.ndarray,
    su: np.ndarray,
    t: np.ndarray,
    pvalue: np.ndarray,
    padj: np.ndarray,
    b: np.ndarray,
    s2_post: np.ndarray,
    df_total: np.ndarray,
    amean: np.ndarray,
    df_residual: np.ndarray,
    *,
    q975: np.ndarray | None = None,
    out: Mapping[str, np.ndarray] | None = None,
) -> Mapping[str, np.ndarray]:
    """The float columns of the long table for one contrast and a block of features.

    ``se = su * sqrt(s2_post)`` and the 95% confidence interval ``log2fc +- t_{0.975, df_total}
    se`` (limma's ``topTable(confint=TRUE)``); the other columns are passed through. ``q975``:
    the quantiles ``t_{0.975, df_total}`` when already known (they are the same for every
    contrast of a block). ``out``: arrays the columns are written into (no temporaries; the
    mapping is returned) instead of a new dict of arrays.
    """
    q = t_quantile_975(df_total) if q975 is None else q975
    if out is None:
        with np.errstate(invalid="ignore"):
            se = su * np.sqrt(s2_post)
        margin = se * q
        return {
            "log2fc": coef,
            "se": se,
            "ci_low": coef - margin,
            "ci_high": coef + margin,
            "mean_log2": amean,
            "t": t,
            "df_total": df_total,
            "pvalue": pvalue,
            "padj": padj,
            "B": b,
            "s2_post": s2_post,
            "df_residual": df_residual,
        }
    with np.errstate(invalid="ignore"):
        np.sqrt(s2_post, out=out["se"])
    out["se"] *= su
    margin = np.multiply(out["se"], q, out=out["ci_high"])
    np.subtract(coef, margin, out=out["ci_low"])
    np.add(coef, margin, out=out["ci_high"])
    for name, value in (
        ("log2fc", coef),
        ("mean_log2", amean),
        ("t", t),
        ("df_total", df_total),
        ("pvalue", pvalue),
        ("padj", padj),
        ("B", b),
        ("s2_post", s2_post),
        ("df_residual", df_residual),
    ):
        if not _same_memory(out[name], value):  # else written in place already
            np.copyto(out[name], value)
    return out


def _same_memory(a: np.ndarray, b: Any) -> bool:
    """Whether ``b`` is the array ``a`` itself (the same memory, laid out the same way)."""
    return (
        isinstance(b, np.ndarray)
        and a.shape == b.shape
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def t_quantile_975(df_total: np.ndarray) -> np.ndarray:
    """``qt(0.975, df_total)`` feature-wise (normal where df is infinite), once per distinct df;
    one value broadcast (not a copy per feature) when every feature has the same df."""
    df_total = np.asarray(df_total, dtype=float)
    if df_total.size > 1 and df_total.min() == df_total.max():
        return np.broadcast_to(t_ppf(0.975, df_total[:1]), df_total.shape)
    return by_unique(lambda d: t_ppf(0.975, d), df_total)


class TableSink(abc.ABC):
    """Where the blocks of a result table go: the float columns of a block are written in place
    into the arrays :meth:`floats` returns, the other columns handed to :meth:`commit`.

    A column in ``commit`` is an array of the block's rows, an index slice (feature names) or a
    scalar (the value of every row).
    """

    def __init__(self, columns: Sequence[str], floats: Sequence[str]) -> None:
        self.columns = list(columns)
        self.float_names = [c for c in self.columns if c in floats]
        self.rows = 0

    @abc.abstractmethod
    def floats(self, n: int) -> dict[str, np.ndarray]:
        """Writable arrays for the float columns of the next ``n`` rows."""

    @abc.abstractmethod
    def commit(self, floats: dict[str, np.ndarray], other: Block) -> None:
        """The block is complete: its float columns are filled, ``other`` holds the rest."""


class FrameSink(TableSink):
    """A table of ``n_rows`` rows in memory, one preallocated array per dtype: the float columns
    in one (columns x rows) array, the text columns in another, the integer ones in a third.

    :meth:`frame` makes the DataFrame of these arrays without copying them: one block per dtype
    (what pandas would consolidate a table into), so a copy of the table (``kom.get``) is one
    copy per block, with nothing to merge. Large arrays are mapped in at once
    (:func:`~kratom_omics._results.table_buffer`).
    """

    def __init__(
        self,
        columns: Sequence[str],
        floats: Sequence[str],
        n_rows: int,
        dtypes: Mapping[str, np.dtype],
    ) -> None:
        super().__init__(columns, floats)
        self.n_rows = n_rows
        others = [c for c in self.columns if c not in self.float_names]
        kinds = {c: np.dtype(dtypes.get(c, np.dtype(object))) for c in others}
        self._groups: dict[np.dtype, list[str]] = {np.dtype(float): list(self.float_names)}
        for c in others:
            self._groups.setdefault(kinds[c], []).append(c)
        self._arrays = {d: table_buffer((len(cols), n_rows), d) for d, cols in self._groups.items()}
        self._where = {c: (d, i) for d, cols in self._groups.items() for i, c in enumerate(cols)}

    def column(self, name: str) -> np.ndarray:
        """The whole float column ``name`` (every row, written or not), to fill in place."""
        return self._arrays[np.dtype(float)][self.float_names.index(name)]

    def floats(self, n: int) -> dict[str, np.ndarray]:
        rows = slice(self.rows, self.rows + n)
        store = self._arrays[np.dtype(float)]
        return {name: store[i, rows] for i, name in enumerate(self.float_names)}

    def commit(self, floats: dict[str, np.ndarray], other: Block) -> None:
        n = len(next(iter(floats.values()))) if floats else _length(other)
        rows = slice(self.rows, self.rows + n)
        for name, value in other.items():
            dtype, i = self._where[name]
            text = dtype.kind == "O" and np.ndim(value)
            self._arrays[dtype][i, rows] = _object_column(value) if text else value
        self.rows += n

    def frame(self) -> pd.DataFrame:
        """The DataFrame (the sink is empty afterwards)."""
        if self.rows != self.n_rows:
            raise KratomOmicsError(
                f"the result blocks hold {self.rows} rows; expected {self.n_rows}."
            )
        blocks = {d: (self._arrays.pop(d), cols) for d, cols in self._groups.items()}
        return frame_of_blocks(blocks, self.columns)


class ParquetSink(TableSink):
    """A table written block by block to the parquet file ``path`` (:meth:`close` finishes it)."""

    def __init__(self, columns: Sequence[str], floats: Sequence[str], path: Path) -> None:
        super().__init__(columns, floats)
        self.path = path
        self._writer: Any = None

    def floats(self, n: int) -> dict[str, np.ndarray]:
        return {name: np.empty(n) for name in self.float_names}

    def commit(self, floats: dict[str, np.ndarray], other: Block) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(next(iter(floats.values()))) if floats else _length(other)
        cols = {**floats, **other}
        table = pa.table({c: _arrow(cols[c], n) for c in self.columns})
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += n

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _length(block: Block) -> int:
    return next(len(v) for v in block.values() if np.ndim(v))


def long_table(
    sink: TableSink,
    store: ChunkStore,
    m: Moderation,
    names: Sequence[str],
    var_names: pd.Index,
    genes: pd.Index | None,
    sides: Sides,
    totals: tuple[np.ndarray, np.ndarray],
) -> dict[str, int]:
    """Write the long table (contrast-major: every feature of the first contrast, then the next)
    into ``sink`` block by block; return the number of NA contrasts and of on/off results."""
    counts = {"na": 0, "onoff": 0}
    keys = (*m.fit_keys, "amean", "n_obs", "det_a", "det_b", "none")
    for j, name in enumerate(names):
        for i in range(len(store)):
            sl = store.slice(i)
            n = sl.stop - sl.start
            c = store.get(i, keys)
            bt = m.tests(i, sl, c)
            coef_j = c["coef"][:, [j]]
            det, fc = detection_from_counts(
                c["det_a"][:, [j]],
                c["det_b"][:, [j]],
                (totals[0][[j]], totals[1][[j]]),
                [sides[j]],
                coef_j,
                bt.dfres,
                c["none"],
            )
            if j == 0:
                counts["na"] += int(np.isnan(c["coef"]).any(axis=1).sum())
            if fc is not coef_j:  # on/off results were filled in
                counts["onoff"] += int(np.isinf(fc).sum())
            t_out, b = m.contrast_t(bt, sl, c, j)
            floats = sink.floats(n)
            contrast_columns(
                c["coef"][:, j],
                c["su"][:, j],
                t_out,
                bt.p[:, j],
                m.padj[j, sl],
                b,
                bt.s2_post,
                bt.df_total,
                c["amean"],
                bt.dfres,
                q975=bt.q975,
                out=floats,
            )
            if fc is not coef_j:  # on/off results: +-inf where limma's is NA
                floats["log2fc"][:] = fc[:, 0]
            other: Block = {"feature": var_names[sl], "contrast": name, "n_obs": c["n_obs"]}
            for col in DETECTION_COLUMNS:
                v = det[col][:, 0]  # one value for the whole block, or one per feature
                if col == "reason":
                    other[col] = v if v.shape[0] == n else v[0]
                else:
                    floats[col][:] = v
            if genes is not None:
                other["gene"] = genes[sl]
            del det, fc, t_out, b, coef_j
            sink.commit(floats, other)
            del floats, other
    return counts


def f_table(
    sink: TableSink, store: ChunkStore, m: Moderation, var_names: pd.Index, genes: pd.Index | None
) -> None:
    """Write the F table (one row per feature) into ``sink`` block by block."""
    keys: tuple[str, ...] = ("fcoef", "fsu") if m.separate_f else ()
    if not m.keep_tests:  # the tests of a block are computed again from its fit
        keys = (*FIT_KEYS, *keys)
    for i in range(len(store)):
        sl = store.slice(i)
        c = store.get(i, keys)
        bt = m.tests(i, sl, c)
        fstat, df1, df2, p = m.f_test(bt, sl, c)
        floats = sink.floats(sl.stop - sl.start)
        for name, value in (
            ("F", fstat),
            ("df1", float(df1)),
            ("df2", df2),
            ("pvalue", p),
            ("padj", m.f_padj[sl]),
        ):
            floats[name][:] = value
        other: Block = {"feature": var_names[sl]}
        if genes is not None:
            other["gene"] = genes[sl]
        sink.commit(floats, other)


def _release_long(store: ChunkStore, m: Moderation) -> None:
    """Forget the arrays only the long table reads (the F table reads the kept tests, or the fit
    of a spilled store again)."""
    m.release_long()
    if m.keep_tests:
        for name in ("coef", "su", "amean", "n_obs", "det_a", "det_b", "none"):
            store.drop(name)


def table_columns(genes: pd.Index | None) -> tuple[list[str], list[str]]:
    """Column names of the long table and of the F table (``gene`` last when known)."""
    extra = ["gene"] if genes is not None else []
    return [*TABLE_COLUMNS, *DETECTION_COLUMNS, *extra], [*F_COLUMNS, *extra]


def _object_column(values: np.ndarray | pd.Index) -> np.ndarray:
    """A column of text as an object array (an index slice's strings are not copied)."""
    import pandas as pd

    if isinstance(values, pd.Index) and values.dtype != object:
        return np.asarray(values.astype(str), dtype=object)
    return np.asarray(values, dtype=object)


def _arrow(values: Any, n: int) -> pa.Array:
    """One column of a block as an Arrow array of ``n`` rows (text as Arrow strings, without
    Python objects for Arrow-backed names; a scalar repeated)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, pd.Index):
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            return pa.array(values.array).cast(pa.string())
        return pa.array(np.asarray(values.astype(str), dtype=object), type=pa.string())
    if not np.ndim(values):
        text = isinstance(values, str)
        return pa.repeat(pa.scalar(values, type=pa.string() if text else None), n)
    if values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)


@single_blas_thread
def run(
    store: ChunkStore,
    gathered: dict[str, np.ndarray],
    design: np.ndarray,
    cov_coefficients: np.ndarray,
    names: Sequence[str],
    var_names: pd.Index,
    genes: pd.Index | None,
    sides: Sides,
    totals: tuple[np.ndarray, np.ndarray],
    *,
    trend: bool,
    robust: bool,
    legacy: bool | None,
    lfc: float,
    fdr: str,
    out: Path | None = None,
    f_cov: np.ndarray | None = None,
    covariate: np.ndarray | None = None,
    variance_prior: VariancePriorFn | None = None,
) -> dict[str, Any]:
    """Steps 2 and 3 on a filled store: moderation, FDR and both tables.

    ``covariate`` and ``variance_prior`` are those of :func:`moderate`.

    Returns ``table`` and ``f_table`` (DataFrames), or with ``out`` the paths ``table_path`` and
    ``f_table_path`` of the parquet files written there; ``df_prior``, ``s2_prior``, ``legacy``
    (the prior's path), ``fdr_info``, ``n_na`` (features with an NA contrast) and ``n_onoff``.
    """
    require_residual_df(gathered["df_residual"], design.shape[1])
    g, k = store.n_features, len(names)
    long_cols, f_cols = table_columns(genes)
    table_sink = p_out = None
    if out is None and store.directory is None:
        # the long table in memory: the p-values and adjusted p-values are written straight
        # into its columns (contrast-major: contrast j is rows j*g ... (j+1)*g - 1)
        table_sink = FrameSink(long_cols, LONG_FLOATS, g * k, {"n_obs": np.dtype(np.int64)})
        p_out = (
            table_sink.column("pvalue").reshape(k, g),
            table_sink.column("padj").reshape(k, g),
        )
    m = moderate(
        store,
        gathered,
        cov_coefficients,
        design,
        trend=trend,
        robust=robust,
        legacy=legacy,
        lfc=lfc,
        fdr=fdr,
        f_cov=f_cov,
        covariate=covariate,
        variance_prior=variance_prior,
        p_out=p_out,
    )
    del p_out
    if m.keep_tests:  # every block's tests are kept: the residual sd is not read again
        store.drop("sigma")
    result: dict[str, Any] = {
        "df_prior": m.df_prior,
        "s2_prior": m.s2_prior,
        "legacy": m.legacy,
        "fdr_info": m.fdr_info,
    }
    if out is None:
        long_sink = table_sink or FrameSink(
            long_cols, LONG_FLOATS, g * k, {"n_obs": np.dtype(np.int64)}
        )
        del table_sink
        counts = long_table(long_sink, store, m, names, var_names, genes, sides, totals)
        result["table"] = long_sink.frame()
        del long_sink
        _release_long(store, m)
        f_sink = FrameSink(f_cols, F_FLOATS, g, {})
        f_table(f_sink, store, m, var_names, genes)
        result["f_table"] = f_sink.frame()
    else:
        for part, cols, floats in (
            ("table", long_cols, LONG_FLOATS),
            ("f_table", f_cols, F_FLOATS),
        ):
            path = out / f"{part}.parquet"
            try:
                with atomic_path(path) as tmp:
                    sink = ParquetSink(cols, floats, tmp)
                    try:
                        if part == "table":
                            counts = long_table(
                                sink, store, m, names, var_names, genes, sides, totals
                            )
                            _release_long(store, m)
                        else:
                            f_table(sink, store, m, var_names, genes)
                    finally:
                        sink.close()
            except OSError as err:
                raise KratomOmicsError(f"could not write {str(path)!r}: {err}") from err
            result[f"{part}_path"] = str(path)
    result["n_na"] = counts["na"]
    result["n_onoff"] = counts["onoff"]
    return result


# --------------------------------------------------------------------------------------------------
# eBayes / treat on one in-memory block (limma's MArrayLM arrays)
# --------------------------------------------------------------------------------------------------


@dataclass
class EBayesResult:
    """limma's ``eBayes`` output arrays (features x contrasts where two-dimensional)."""

    t: np.ndarray
    p_value: np.ndarray
    lods: np.ndarray
    df_total: np.ndarray
    s2_post: np.ndarray
    df_prior: Prior
    s2_prior: Prior
    var_prior: np.ndarray
    f_stat: np.ndarray
    f_df1: int
    f_df2: np.ndarray
    f_p_value: np.ndarray
    legacy: bool


@single_blas_thread
def ebayes(
    cfit: ContrastFit,
    fit: LinearFit,
    *,
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    trend: bool = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    legacy: bool | None = None,
    lfc: float = 0.0,
    covariate: np.ndarray | None = None,
    variance_prior: VariancePriorFn | None = None,
) -> EBayesResult:
    """limma's ``eBayes`` on a contrast fit: moderated t, p, B and the moderated F.

    The orchestration of :func:`kratom_omics.tl.differential` on one block; with ``lfc > 0`` the
    tests are TREAT's (:func:`treat`). ``covariate`` (one value per feature) trends the prior
    variance on it instead of the mean (R's ``eBayes(fit, trend = covariate)``);
    ``variance_prior`` replaces limma's prior (see :func:`moderate`).
    """
    c = {
        "coef": cfit.coefficients,
        "su": cfit.stdev_unscaled,
        "sigma": fit.sigma,
        "dfres": fit.df_residual,
    }
    store = ChunkStore.single(c)
    gathered = {"sigma": np.array(fit.sigma, dtype=float), "df_residual": fit.df_residual}
    if trend:
        gathered["amean"] = fit.amean
    m = moderate(
        store,
        gathered,
        cfit.cov_coefficients,
        fit.design,
        trend=trend,
        robust=robust,
        legacy=legacy,
        lfc=lfc,
        fdr="none",
        covariate=covariate,
        variance_prior=variance_prior,
        proportion=proportion,
        stdev_coef_lim=stdev_coef_lim,
        winsor_tail_p=winsor_tail_p,
    )
    sl = store.slice(0)
    bt = m.tests(0, sl, c)
    k = c["coef"].shape[1]
    t = np.empty_like(bt.t)
    b = np.empty_like(bt.t)
    for j in range(k):
        t[:, j], b[:, j] = m.contrast_t(bt, sl, c, j)
    fstat, df1, df2, fp = m.f_test(bt, sl, c)
    return EBayesResult(
        t=t,
        p_value=bt.p,
        lods=b,
        df_total=bt.df_total,
        s2_post=bt.s2_post,
        df_prior=m.df_prior,
        s2_prior=m.s2_prior,
        var_prior=m.var_prior,
        f_stat=fstat,
        f_df1=df1,
        f_df2=df2,
        f_p_value=fp,
        legacy=m.legacy,
    )


def treat(
    cfit: ContrastFit,
    fit: LinearFit,
    lfc: float,
    *,
    trend: bool = False,
    robust: bool = False,
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
    legacy: bool | None = None,
    covariate: np.ndarray | None = None,
) -> EBayesResult:
    """limma's ``treat``: moderated tests of ``|contrast| > lfc`` (McCarthy and Smyth 2009).

    Variances are moderated as in :func:`ebayes`; ``t`` is 0 for contrasts within ``+-lfc`` (and,
    as in limma, where the contrast is NA), p-values come from the two-part formula, ``lods`` are
    NaN. The moderated F is the ordinary one (limma's ``treat`` computes none).
    """
    return ebayes(
        cfit,
        fit,
        trend=trend,
        robust=robust,
        winsor_tail_p=winsor_tail_p,
        legacy=legacy,
        lfc=abs(float(lfc)),
        covariate=covariate,
    )
