"""Empirical Bayes and the result tables block by block, for the chunked (dask) fit.

limma's ``eBayes`` needs three things over all features at once: the residual variances and df
(for the prior, :func:`~kratom_omics.tl._limma.squeeze_var`), the p-values of each contrast (for
the FDR) and the largest moderated t (for the prior variance of the B statistic, limma's
``tmixture.vector``). Everything else is feature-wise. So the chunked engine keeps ``sigma`` and
``df_residual`` for all features, reads the per-block contrast fits from a
:class:`~kratom_omics.tl._dask.ChunkStore` and makes three passes over them:

1. moderated t and p per block, keeping the p-values (one float per feature and contrast), the
   number of t-statistics and their largest df;
2. the top ``proportion / 2`` converted |t| of each block (a superset of the global top), from
   which ``tmixture.vector`` is computed exactly as on all features;
3. after the FDR, every column of the long table and the F table, block by block, handed to a
   sink: a list of Arrow tables (the in-memory result) or a parquet writer (results larger than
   memory).

The numbers are those of :func:`~kratom_omics.tl._limma.ebayes` on the whole matrix: the same
feature-wise functions run on each block, and the global steps see the same values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import KratomOmicsError
from ._detection import detection_from_counts
from ._limma import (
    _f_pvalue,
    _f_stat,
    _fill_var_prior,
    _is_fullrank,
    _lods,
    _moderated_t,
    _post_var,
    _tmix_convert,
    _tmix_finish,
    _tmix_limits,
    _tmix_top,
    _treat_tp,
    check_moderation_inputs,
    squeeze_var,
)
from ._multitest import adjust_pvalues

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from ._dask import ChunkStore

__all__ = ["Moderation", "moderate_chunks", "table_blocks"]

_FIT_KEYS = ("coef", "su", "sigma", "dfres")


@dataclass
class Moderation:
    """The global results of empirical Bayes on a chunked fit."""

    s2_post: np.ndarray | None  # all features only when fewer than 3 (no moderation)
    dfp: np.ndarray
    df_prior: Any
    s2_prior: Any
    df_cap: float
    var_prior: np.ndarray
    padj: np.ndarray  # contrasts x features
    f_padj: np.ndarray
    f_df1: int
    fullrank: bool
    legacy: bool
    lfc: float
    proportion: float
    fdr_info: dict[str, Any] = field(default_factory=dict)

    def post(self, sl: slice, c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior variances and residual df of one block, from its spilled sigma and df.

        The same element-wise steps as :func:`~kratom_omics.tl._limma.squeeze_var`, so the
        values equal those of the whole-matrix call; nothing per feature is kept meanwhile.
        """
        dfres = c["dfres"]
        if self.s2_post is not None:
            return self.s2_post[sl], dfres
        var = np.square(c["sigma"])
        var[dfres == 0] = 0
        vp = self.s2_prior if np.ndim(self.s2_prior) == 0 else self.s2_prior[sl]
        dfp = self.df_prior if np.ndim(self.df_prior) == 0 else self.df_prior[sl]
        return _post_var(var, dfres, vp, dfp), dfres


def _block_tests(
    c: dict[str, np.ndarray], m: Any, sl: slice, lfc: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moderated t, total df, p (TREAT's with lfc > 0) and posterior variances of one block.

    ``t`` is the ordinary moderated t (it feeds the F); TREAT's t is taken in the table.
    """
    s2, dfres = m.post(sl, c)
    t, df_total, p = _moderated_t(c["coef"], c["su"], s2, dfres, m.dfp[sl], m.df_cap)
    if lfc > 0:
        _, p = _treat_tp(c["coef"], c["su"], s2, df_total, lfc)
    return t, df_total, p, s2


def moderate_chunks(
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
    proportion: float = 0.01,
    stdev_coef_lim: tuple[float, float] = (0.1, 4.0),
    winsor_tail_p: tuple[float, float] = (0.05, 0.1),
) -> Moderation:
    """Prior, FDR and B-statistic prior variances of a chunked fit (see the module docs).

    ``gathered`` holds ``sigma`` and ``df_residual`` of all features (and ``amean`` with
    ``trend``); ``sigma`` is dropped from it once the prior is fitted.
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
        fullrank=_is_fullrank(design),
        legacy=bool(sq["legacy"]),
        lfc=float(lfc),
        proportion=proportion,
    )
    del sq
    gathered.pop("df_residual")
    del dfres  # read back block by block with sigma
    # pass 1: p-values, and the count and largest df of the t-statistics
    n_t = np.zeros(k, dtype=np.int64)
    maxdf = np.full(k, -np.inf)
    for i in range(len(store)):
        sl = store.slice(i)
        c = store.get(i, _FIT_KEYS)
        t, df_total, p, _ = _block_tests(c, m, sl, lfc)
        m.padj[:, sl] = p.T
        fstat, m.f_df1 = _f_stat(t, cov_coefficients, m.fullrank)
        m.f_padj[sl] = _f_pvalue(fstat, m.f_df1, c["dfres"] + m.dfp[sl])
        has_t = ~np.isnan(t)
        n_t += has_t.sum(axis=0)
        for j in range(k):
            if has_t[:, j].any():
                maxdf[j] = max(maxdf[j], float(np.max(df_total[has_t[:, j]])))
    # pass 2: limma's tmixture.vector from the top converted |t| of every block
    if lfc == 0:
        ntarget = [math.ceil(proportion / 2 * int(n)) for n in n_t]
        cand_t: list[list[np.ndarray]] = [[] for _ in range(k)]
        cand_su: list[list[np.ndarray]] = [[] for _ in range(k)]
        for i in range(len(store)):
            sl = store.slice(i)
            c = store.get(i, _FIT_KEYS)
            t, df_total, _, _ = _block_tests(c, m, sl, lfc)
            for j in range(k):
                if ntarget[j] < 1:
                    continue
                keep = ~np.isnan(t[:, j])
                tc = _tmix_convert(t[keep, j], df_total[keep], float(maxdf[j]))
                o = _tmix_top(tc, min(ntarget[j], tc.size))
                cand_t[j].append(tc[o])
                cand_su[j].append(c["su"][keep, j][o])
        lim = _tmix_limits(m.s2_prior, stdev_coef_lim)
        for j in range(k):
            if ntarget[j] < 1:
                continue
            tc = np.concatenate(cand_t[j])
            su = np.concatenate(cand_su[j])
            o = _tmix_top(tc, ntarget[j])
            m.var_prior[j] = _tmix_finish(
                tc[o], su[o], int(n_t[j]), float(maxdf[j]), proportion, lim
            )
        m.var_prior = _fill_var_prior(m.var_prior, m.s2_prior)
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


def _names(index: pd.Index) -> pa.Array:
    """A slice of feature names as an Arrow string array (no Python objects for Arrow names)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(index.dtype, pd.StringDtype) and index.dtype.storage == "pyarrow":
        return pa.array(index.array).cast(pa.string())
    return pa.array(np.asarray(index.astype(str), dtype=object), type=pa.string())


def table_blocks(
    store: ChunkStore,
    m: Moderation,
    cov_coefficients: np.ndarray,
    names: Sequence[str],
    var_names: pd.Index,
    genes: pd.Index | None,
    sides: Sequence[tuple[list[str], list[str]] | None],
    totals: tuple[np.ndarray, np.ndarray],
) -> tuple[Iterator[pa.Table], Iterator[pa.Table], dict[str, int]]:
    """Arrow tables of the long table (contrast-major) and of the F table, block by block.

    Returns the two iterators and a dict counting NA contrasts and on/off results, filled as the
    long-table blocks are produced.
    """
    import pyarrow as pa

    from ._differential import DETECTION_COLUMNS, TABLE_COLUMNS, contrast_columns

    counts = {"na": 0, "onoff": 0}
    k = len(names)
    lfc = m.lfc
    keys = (*_FIT_KEYS, "amean", "n_obs", "det_a", "det_b", "none")

    def long() -> Iterator[pa.Table]:
        for j in range(k):
            for i in range(len(store)):
                sl = store.slice(i)
                c = store.get(i, keys)
                t, df_total, p, s2 = _block_tests(c, m, sl, lfc)
                dfres = c["dfres"]
                if lfc > 0:
                    t_j, _ = _treat_tp(c["coef"][:, [j]], c["su"][:, [j]], s2, df_total, lfc)
                    lods = np.full(t_j.shape[0], np.nan)
                    t_out = t_j[:, 0]
                else:
                    lods = _lods(
                        t[:, [j]],
                        c["su"][:, [j]],
                        df_total,
                        m.dfp[sl],
                        m.var_prior[[j]],
                        m.proportion,
                    )[:, 0]
                    t_out = t[:, j]
                cols = contrast_columns(
                    c["coef"][:, j],
                    c["su"][:, j],
                    t_out,
                    p[:, j],
                    m.padj[j, sl],
                    lods,
                    s2,
                    df_total,
                    c["amean"],
                    dfres,
                )
                det, fc = detection_from_counts(
                    c["det_a"][:, [j]],
                    c["det_b"][:, [j]],
                    (totals[0][[j]], totals[1][[j]]),
                    [sides[j]],
                    c["coef"][:, [j]],
                    dfres,
                    c["none"],
                )
                if j == 0:
                    counts["na"] += int(np.isnan(c["coef"]).any(axis=1).sum())
                counts["onoff"] += int(np.isinf(fc).sum())
                cols["log2fc"] = fc[:, 0]
                n = sl.stop - sl.start
                arrays: dict[str, Any] = {
                    "feature": _names(var_names[sl]),
                    "contrast": pa.array([names[j]] * n, type=pa.string()),
                }
                for name in TABLE_COLUMNS[2:]:
                    arrays[name] = (
                        pa.array(c["n_obs"], type=pa.int64())
                        if name == "n_obs"
                        else pa.array(np.asarray(cols[name], dtype=float))
                    )
                for name in DETECTION_COLUMNS:
                    v = det[name][:, 0]
                    arrays[name] = (
                        pa.array(v.tolist(), type=pa.string())
                        if name == "reason"
                        else pa.array(v.astype(float))
                    )
                if genes is not None:
                    arrays["gene"] = _names(genes[sl])
                yield pa.table(arrays)

    def ftable() -> Iterator[pa.Table]:
        for i in range(len(store)):
            sl = store.slice(i)
            c = store.get(i, _FIT_KEYS)
            t, _, _, _ = _block_tests(c, m, sl, lfc)
            fstat, df1 = _f_stat(t, cov_coefficients, m.fullrank)
            df2 = c["dfres"] + m.dfp[sl]
            arrays = {
                "feature": _names(var_names[sl]),
                "F": pa.array(fstat),
                "df1": pa.array(np.full(fstat.size, float(df1))),
                "df2": pa.array(np.asarray(df2, dtype=float)),
                "pvalue": pa.array(_f_pvalue(fstat, df1, df2)),
                "padj": pa.array(m.f_padj[sl]),
            }
            if genes is not None:
                arrays["gene"] = _names(genes[sl])
            yield pa.table(arrays)

    return long(), ftable(), counts


def write_parquet(blocks: Iterator[pa.Table], path: Path) -> int:
    """Write Arrow blocks to one parquet file atomically (temporary file, then rename)."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    rows = 0
    writer = None
    try:
        for block in blocks:
            if writer is None:
                writer = pq.ParquetWriter(tmp, block.schema)
            writer.write_table(block)
            rows += block.num_rows
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp, path)
    except OSError as err:
        raise KratomOmicsError(f"could not write {str(path)!r}: {err}") from err
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows


def collect(blocks: Iterator[pa.Table]) -> pd.DataFrame:
    """Concatenate Arrow blocks into one DataFrame (text columns as Python strings)."""
    import pyarrow as pa

    return pa.concat_tables(list(blocks)).to_pandas()
