"""Numeric core of the differential abundance engine: limma's linear models and empirical Bayes.

Pure numpy/scipy, no AnnData; matrices in limma's orientation (``y`` is features x samples). The
functions reproduce R limma (``lmFit``, ``contrasts.fit``, ``eBayes`` and ``treat`` with
``squeezeVar``, ``fitFDist``, ``fitFDistRobustly``, ``fitFDistUnequalDF1``, ``classifyTestsF``) to
numerical precision, including limma's handling of missing values. One module per concern:

* :mod:`._special`: distribution tails and special functions;
* :mod:`._fit`: ``lmFit`` and ``contrasts.fit``;
* :mod:`._prior`: the variance prior (``squeezeVar`` and the ``fitFDist`` family);
* :mod:`._moderate`: the feature-wise steps of ``eBayes``/``treat`` (moderated t, B, F);
* :mod:`._engine`: the one orchestration (fit per block, global steps, tables per block) that
  serves in-memory data (one block) and chunked dask data alike.

The smoothers (R's ``lowess``, limma's ``weightedLowess``, ``splines::ns``) are shared with
preprocessing and live in :mod:`kratom_omics._smooth`.
"""

from ..._smooth import r_lowess, weighted_lowess
from ._engine import (
    BlockTests,
    ChunkStore,
    EBayesResult,
    FrameSink,
    Moderation,
    ParquetSink,
    VariancePrior,
    block_summary,
    contrast_columns,
    ebayes,
    f_table,
    long_table,
    moderate,
    require_residual_df,
    run,
    stored_prior,
    treat,
)
from ._fit import ContrastFit, LinearFit, batched_fit, contrasts_fit, lm_fit
from ._prior import fit_f_dist, fit_f_dist_robustly, fit_f_dist_unequal_df1, squeeze_var

__all__ = [
    "BlockTests",
    "ChunkStore",
    "ContrastFit",
    "EBayesResult",
    "FrameSink",
    "LinearFit",
    "Moderation",
    "ParquetSink",
    "VariancePrior",
    "batched_fit",
    "block_summary",
    "contrast_columns",
    "contrasts_fit",
    "ebayes",
    "f_table",
    "fit_f_dist",
    "fit_f_dist_robustly",
    "fit_f_dist_unequal_df1",
    "lm_fit",
    "long_table",
    "moderate",
    "r_lowess",
    "require_residual_df",
    "run",
    "squeeze_var",
    "stored_prior",
    "treat",
    "weighted_lowess",
]
