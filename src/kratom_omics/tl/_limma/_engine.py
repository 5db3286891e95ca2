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
3. **tables, per block** (:func:`table_blocks`): every column of the long table and of the F table,
   block by block, handed to a sink: :func:`collect` (a DataFrame in memory) or
   :func:`write_parquet` (results larger than memory).

The moderated statistics of a block are computed once and reused while the same block is read
again (:meth:`Moderation.tests`), so one block costs one pass. :func:`ebayes` and :func:`treat`
are this orchestration on one block, returning the arrays of limma's ``MArrayLM``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._files import atomic_path
from ..._results import DETECTION_COLUMNS, TABLE_COLUMNS
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
    "BlockTests",
    "ChunkStore",
    "EBayesResult",
    "Moderation",
    "block_summary",
    "collect",
    "contrast_columns",
    "ebayes",
    "moderate",
    "require_residual_df",
    "run",
    "stored_prior",
    "t_quantile_975",
    "table_blocks",
    "treat",
    "write_parquet",
]

FIT_KEYS: tuple[str, ...] = ("coef", "su", "sigma", "dfres")
Sides = Sequence[tuple[list[str], list[str]] | None]
Masks = Sequence[tuple[np.ndarray, np.ndarray] | None]
Block = dict[str, Any]
#: A prior value: one for all features, or one per feature (trend, robust).
Prior = float | np.ndarray


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
        "n_obs": fit.n_obs.astype(np.int64),
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
    fdr_info: dict[str, Any] = field(default_factory=dict)
    #: keep the tests of every block (a store in memory: about as much as the fit itself), not
    #: only of the last one read (a spilled store: bounded memory, tests recomputed per pass)
    keep_tests: bool = False
    _memo: dict[int, BlockTests] = field(default_factory=dict, repr=False)

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
        bt = BlockTests(t=t, df_total=df_total, p=p, s2_post=s2, dfres=dfres)
        if not self.keep_tests:
            self._memo.clear()
        self._memo[i] = bt
        return bt

    def f_test(
        self, bt: BlockTests, sl: slice, c: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Moderated F of one block: statistic, df1, df2 and p-value."""
        if self.separate_f:
            t = moderated_t(c["fcoef"], c["fsu"], bt.s2_post, bt.dfres, self.dfp[sl], self.df_cap)[
                0
            ]
        else:
            t = bt.t
        fstat, df1 = f_statistic(t, self.f_cov, self.fullrank)
        df2 = bt.dfres + self.dfp[sl]
        return fstat, df1, df2, f_pvalue(fstat, df1, df2)

    def contrast_t(
        self, bt: BlockTests, sl: slice, c: Mapping[str, np.ndarray], j: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The reported t (TREAT's with ``lfc > 0``) and B statistic of contrast ``j``."""
        if self.lfc > 0:
            t_j, _ = treat_tests(
                c["coef"][:, [j]], c["su"][:, [j]], bt.s2_post, bt.df_total, self.lfc
            )
            return t_j[:, 0], np.full(t_j.shape[0], np.nan)
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
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
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
    proportion, stdev_coef_lim, winsor_tail_p
        limma's ``eBayes`` constants.
    """
    sigma = gathered["sigma"]
    dfres = gathered["df_residual"]
    covariate = gathered.get("amean") if trend else None
    check_moderation_inputs(sigma, dfres, covariate)
    gathered.pop("sigma")
    var = np.square(sigma, out=sigma)  # in place: sigma is not needed any more
    del sigma
    sq = squeeze_var(
        var,
        dfres,
        covariate=covariate,
        robust=robust,
        winsor_tail_p=winsor_tail_p,
        legacy=legacy,
        overwrite=True,
    )
    del var, covariate
    gathered.pop("amean", None)
    g = dfres.size
    k = cov_coefficients.shape[0]
    separate_f = f_cov is not None
    m = Moderation(
        s2_post=np.asarray(sq["var_post"], dtype=float) if g < 3 else None,
        dfp=np.broadcast_to(np.asarray(sq["df_prior"], float), dfres.shape),
        df_prior=sq["df_prior"],
        s2_prior=sq["var_prior"],
        df_cap=float(np.nansum(dfres)),
        var_prior=np.full(k, np.nan),
        padj=np.empty((k, g)),
        f_padj=np.empty(g),
        f_df1=k,
        f_cov=f_cov if f_cov is not None else cov_coefficients,
        fullrank=is_fullrank(design),
        legacy=bool(sq["legacy"]),
        lfc=float(lfc),
        proportion=proportion,
        separate_f=separate_f,
        keep_tests=store.directory is None,
    )
    del sq
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
        n_t += has_t.sum(axis=0)
        for j in range(k):
            if has_t[:, j].any():
                maxdf[j] = max(maxdf[j], float(np.max(bt.df_total[has_t[:, j]])))
    # pass 2: limma's tmixture.vector from the top converted |t| of every block
    if lfc == 0:
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
                tc = tmixture_convert(bt.t[keep, j], bt.df_total[keep], float(maxdf[j]))
                o = tmixture_top(tc, min(ntarget[j], tc.size))
                cand_t[j].append(tc[o])
                cand_su[j].append(c["su"][keep, j][o])
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
) -> dict[str, np.ndarray]:
    """The float columns of the long table for one contrast and a block of features.

    ``se = su * sqrt(s2_post)`` and the 95% confidence interval ``log2fc +- t_{0.975, df_total}
    se`` (limma's ``topTable(confint=TRUE)``); the other columns are passed through. ``q975``:
    the quantiles ``t_{0.975, df_total}`` when already known (they are the same for every
    contrast of a block).
    """
    with np.errstate(invalid="ignore"):
        q = t_quantile_975(df_total) if q975 is None else q975
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


def t_quantile_975(df_total: np.ndarray) -> np.ndarray:
    """``qt(0.975, df_total)`` feature-wise (normal where df is infinite), once per distinct df."""
    return by_unique(lambda d: t_ppf(0.975, d), df_total)


def table_blocks(
    store: ChunkStore,
    m: Moderation,
    names: Sequence[str],
    var_names: pd.Index,
    genes: pd.Index | None,
    sides: Sides,
    totals: tuple[np.ndarray, np.ndarray],
) -> tuple[Iterator[Block], Iterator[Block], dict[str, int]]:
    """Column blocks of the long table (contrast-major) and of the F table.

    A block maps each column name to an array of the block's rows (``feature`` and ``gene``: a
    slice of the given index, so Arrow-backed names stay Arrow strings on their way to parquet) or
    to a scalar, the value of every row (the contrast name; the detection columns of a block with
    no missing value). Returns the two iterators and a dict counting NA contrasts and on/off
    results, filled as the long-table blocks are produced.
    """
    counts = {"na": 0, "onoff": 0}
    k = len(names)
    keys = (*FIT_KEYS, "amean", "n_obs", "det_a", "det_b", "none")
    fkeys = (*FIT_KEYS, "fcoef", "fsu") if m.separate_f else FIT_KEYS

    def long() -> Iterator[Block]:
        for j in range(k):
            for i in range(len(store)):
                sl = store.slice(i)
                n = sl.stop - sl.start
                c = store.get(i, keys)
                bt = m.tests(i, sl, c)
                t_out, b = m.contrast_t(bt, sl, c, j)
                coef = c["coef"][:, j]
                cols = contrast_columns(
                    coef,
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
                )
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
                cols["log2fc"] = fc[:, 0]
                block: Block = {"feature": var_names[sl], "contrast": names[j]}
                for name in TABLE_COLUMNS[2:]:
                    block[name] = c["n_obs"] if name == "n_obs" else cols[name]
                for name in DETECTION_COLUMNS:
                    v = det[name][:, 0]
                    if v.shape[0] != n:  # one value for the whole block
                        block[name] = v[0] if name == "reason" else np.float64(v[0])
                    else:
                        block[name] = v if name == "reason" else v.astype(float, copy=False)
                if genes is not None:
                    block["gene"] = genes[sl]
                del cols, det, fc, t_out, b, coef, coef_j
                yield block
                del block  # one block's temporaries at a time

    def ftable() -> Iterator[Block]:
        for i in range(len(store)):
            sl = store.slice(i)
            c = store.get(i, fkeys)
            bt = m.tests(i, sl, c)
            fstat, df1, df2, p = m.f_test(bt, sl, c)
            block: Block = {
                "feature": var_names[sl],
                "F": fstat,
                "df1": np.float64(df1),
                "df2": np.asarray(df2, dtype=float),
                "pvalue": p,
                "padj": m.f_padj[sl],
            }
            if genes is not None:
                block["gene"] = genes[sl]
            yield block

    return long(), ftable(), counts


def _object_column(values: np.ndarray | pd.Index) -> np.ndarray:
    """A column of text as an object array (an index slice's strings are not copied)."""
    import pandas as pd

    if isinstance(values, pd.Index) and values.dtype != object:
        return np.asarray(values.astype(str), dtype=object)
    return np.asarray(values, dtype=object)


def _dtype(value: Any) -> np.dtype:
    """The dtype of a block's column (an array, an index or a scalar): numbers keep theirs, text
    and anything else is object."""
    dtype = None if isinstance(value, str) else getattr(value, "dtype", None)
    if dtype is None:
        dtype = np.asarray(value).dtype
    return dtype if isinstance(dtype, np.dtype) and dtype.kind in "biuf" else np.dtype(object)


def collect(blocks: Iterator[Block], n_rows: int) -> pd.DataFrame:
    """Concatenate column blocks into one DataFrame of ``n_rows`` rows.

    The float columns are filled into one preallocated (columns x rows) array that the DataFrame
    keeps without a copy; the other columns are filled into one array each. A scalar in a block
    fills the block's rows.
    """
    import pandas as pd

    order: list[str] = []
    store = np.empty((0, n_rows))
    fpos: dict[str, int] = {}
    other: dict[str, np.ndarray] = {}
    pos = 0
    for block in blocks:
        if not order:
            order = list(block)
            dtypes = {k: _dtype(v) for k, v in block.items()}
            floats = [k for k, d in dtypes.items() if d == np.float64]
            fpos = {k: i for i, k in enumerate(floats)}
            store = np.empty((len(floats), n_rows))
            for k, d in dtypes.items():
                if k not in fpos:
                    other[k] = np.empty(n_rows, dtype=d)
        n = next(len(v) for v in block.values() if np.ndim(v))
        for k, v in block.items():
            if k in fpos:
                store[fpos[k], pos : pos + n] = v
            elif other[k].dtype == object and np.ndim(v):
                other[k][pos : pos + n] = _object_column(v)
            else:
                other[k][pos : pos + n] = v
        pos += n
    if pos != n_rows:
        raise KratomOmicsError(f"the result blocks hold {pos} rows; expected {n_rows}.")
    table = pd.DataFrame(store.T, columns=list(fpos), copy=False)
    del store
    for loc, name in enumerate(order):
        if name in other:
            # as a Series of its dtype: pandas copies it but does not scan text columns for
            # dates (which allocates several arrays of the column's length); each source is
            # freed as soon as it is inserted
            values = other.pop(name)
            column = pd.Series(values, index=table.index, dtype=values.dtype, copy=False)
            del values
            table.insert(loc, name, column)
            del column
    return table


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
        text = _dtype(values).kind == "O"
        return pa.repeat(pa.scalar(values, type=pa.string() if text else None), n)
    if values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)


def write_parquet(blocks: Iterator[Block], path: Path) -> int:
    """Write column blocks to one parquet file atomically; return the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    try:
        with atomic_path(path) as tmp:
            writer = None
            try:
                for block in blocks:
                    n = next(len(v) for v in block.values() if np.ndim(v))
                    table = pa.table({k: _arrow(v, n) for k, v in block.items()})
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
                    rows += table.num_rows
            finally:
                if writer is not None:
                    writer.close()
    except OSError as err:
        raise KratomOmicsError(f"could not write {str(path)!r}: {err}") from err
    return rows


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
) -> dict[str, Any]:
    """Steps 2 and 3 on a filled store: moderation, FDR and both tables.

    Returns ``table`` and ``f_table`` (DataFrames), or with ``out`` the paths ``table_path`` and
    ``f_table_path`` of the parquet files written there; ``df_prior``, ``s2_prior``, ``legacy``
    (the prior's path), ``fdr_info``, ``n_na`` (features with an NA contrast) and ``n_onoff``.
    """
    require_residual_df(gathered["df_residual"], design.shape[1])
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
    )
    long_blocks, f_blocks, counts = table_blocks(store, m, names, var_names, genes, sides, totals)
    result: dict[str, Any] = {
        "df_prior": m.df_prior,
        "s2_prior": m.s2_prior,
        "legacy": m.legacy,
        "fdr_info": m.fdr_info,
    }
    g = store.n_features
    if out is None:
        result["table"] = collect(long_blocks, g * len(names))
        result["f_table"] = collect(f_blocks, g)
    else:
        for part, blocks in (("table", long_blocks), ("f_table", f_blocks)):
            write_parquet(blocks, out / f"{part}.parquet")
            result[f"{part}_path"] = str(out / f"{part}.parquet")
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
) -> EBayesResult:
    """limma's ``eBayes`` on a contrast fit: moderated t, p, B and the moderated F.

    The orchestration of :func:`kratom_omics.tl.differential` on one block; with ``lfc > 0`` the
    tests are TREAT's (:func:`treat`).
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
    )
