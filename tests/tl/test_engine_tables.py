"""The limma orchestration writing p-values straight into the long table held in memory."""

from __future__ import annotations

import numpy as np
import pytest

from kratom_omics.errors import KratomOmicsError
from kratom_omics.tl._limma import (
    ChunkStore,
    block_summary,
    contrasts_fit,
    ebayes,
    lm_fit,
    moderate,
)
from kratom_omics.tl._multitest import adjust_pvalues


def _fit(missing: float = 0.0) -> tuple:
    rng = np.random.default_rng(5)
    g, n = 400, 9
    design = np.eye(3)[np.repeat([0, 1, 2], 3)]
    y = rng.normal(10, 1, (g, n))
    y[:20, 6:] += 2
    if missing:
        y[rng.random(y.shape) < missing] = np.nan
        y[:, 0] = np.where(np.isnan(y[:, 0]), 10.0, y[:, 0])
    cmat = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    fit = lm_fit(y, design)
    cfit = contrasts_fit(fit, cmat)
    return fit, cfit, design


def _store(fit, cfit, directory=None) -> tuple[ChunkStore, dict]:
    summary = block_summary(fit, cfit, None, [None, None])
    g = fit.sigma.shape[0]
    if directory is None:
        store = ChunkStore.single(summary)
    else:  # two spilled blocks
        store = ChunkStore([0, g // 2, g], directory)
        for i, sl in enumerate((slice(0, g // 2), slice(g // 2, g))):
            store.put(
                i, {k: (v[sl] if np.ndim(v) and len(v) == g else v) for k, v in summary.items()}
            )
    gathered = {"sigma": fit.sigma.copy(), "df_residual": fit.df_residual.copy()}
    return store, gathered


@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_p_values_written_into_the_given_columns(missing: float) -> None:
    fit, cfit, design = _fit(missing)
    store, gathered = _store(fit, cfit)
    g, k = fit.sigma.shape[0], 2
    column = np.full(2 * k * g, -1.0)  # pvalue and padj rows of a long table, contrast-major
    p_out = (column[: k * g].reshape(k, g), column[k * g :].reshape(k, g))
    m = moderate(
        store,
        gathered,
        cfit.cov_coefficients,
        design,
        trend=False,
        robust=False,
        legacy=None,
        lfc=0.0,
        fdr="bh",
        p_out=p_out,
    )
    eb = ebayes(cfit, fit)
    np.testing.assert_array_equal(p_out[0], eb.p_value.T)  # the same p-values, bit for bit
    for j in range(k):
        np.testing.assert_array_equal(p_out[1][j], adjust_pvalues(eb.p_value[:, j], "bh")[0])
    assert m.padj is p_out[1]
    bt = m.tests(0, store.slice(0), store.get(0, m.fit_keys))
    assert np.shares_memory(bt.p, p_out[0])  # the tests hold no copy of their own
    assert not np.any(column == -1.0)


def test_p_out_needs_a_store_in_memory(tmp_path) -> None:
    fit, cfit, design = _fit()
    store, gathered = _store(fit, cfit, directory=tmp_path)
    g = fit.sigma.shape[0]
    p_out = (np.empty((2, g)), np.empty((2, g)))
    with pytest.raises(KratomOmicsError, match=r"p_out= needs a store in memory"):
        moderate(
            store,
            gathered,
            cfit.cov_coefficients,
            design,
            trend=False,
            robust=False,
            legacy=None,
            lfc=0.0,
            fdr="bh",
            p_out=p_out,
        )
