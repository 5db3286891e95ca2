"""``kom.tl.differential``: limma-equivalent differential abundance on an AnnData.

The AnnData side of the engine: design, contrasts, the fit of the data (in memory as one block, or
chunk by chunk with dask) and the stored result. The statistics are those of the one limma
orchestration in :mod:`kratom_omics.tl._limma._engine`; ``method=`` changes one step of it
(:mod:`kratom_omics.tl._methods`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_key_added, check_layer, gene_index, get_matrix, record_provenance
from .._defaults import DIFFERENTIAL
from .._design import Design, build_design, contrast_matrix, normalize_contrast, quote_name
from .._results import DETECTION_COLUMNS, F_COLUMNS, TABLE_COLUMNS
from ..errors import DesignError, KeyNotFoundError, did_you_mean
from ._dask import chunked_fit, is_dask_backed
from ._detection import contrast_sides, side_masks, side_totals
from ._dupcor import blocked_fit
from ._limma import ChunkStore, LinearFit, block_summary, contrasts_fit, lm_fit, run, stored_prior
from ._methods import DetectionCurve, method_setup
from ._multitest import check_method

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["DETECTION_COLUMNS", "F_COLUMNS", "TABLE_COLUMNS", "differential"]

logger = logging.getLogger("kratom_omics")

LIMMA_VERSION = "3.62"
LEGACY_LIMMA_VERSION = "3.54"


def _weights_matrix(
    adata: AnnData, weights: str | np.ndarray | None
) -> tuple[np.ndarray | None, str]:
    """Observation weights as features x samples (or one per sample) and their name for params."""
    if weights is None:
        return None, ""
    if isinstance(weights, str):
        if weights not in adata.layers:
            check_layer(adata, weights)
        w = get_matrix(adata, weights).T
        name = weights
    else:
        arr = np.asarray(weights, dtype=float)
        if arr.shape == (adata.n_obs,):
            w = arr
        elif arr.shape == (adata.n_obs, adata.n_vars):
            w = arr.T
        else:
            raise DesignError(
                f"weights has shape {arr.shape}; expected (n_obs, n_vars) = "
                f"{(adata.n_obs, adata.n_vars)} "
                f"for observation weights or ({adata.n_obs},) for one weight per sample."
            )
        name = "array"
    with np.errstate(invalid="ignore"):
        neg = np.asarray(w < 0)
    if np.any(neg):
        raise DesignError(
            f"weights {name!r} contain {int(neg.sum())} negative value(s); weights must be >= 0 "
            "(0 or NaN drops an observation)."
        )
    return np.asarray(w, dtype=float), name


def _sides(
    adata: AnnData, design: Design, cmat: np.ndarray, groupby: str | None
) -> tuple[list[tuple[list[str], list[str]] | None], pd.Series]:
    """Contrast sides and the group of every sample, for the detection columns."""
    k = cmat.shape[1]
    if groupby is not None and groupby in adata.obs.columns and design.level_vectors:
        return contrast_sides(cmat, design.level_vectors), adata.obs[groupby]
    return [None] * k, pd.Series(np.full(adata.n_obs, np.nan), index=adata.obs_names)


def _make_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DesignError(
            f"out={str(out)!r} is a file; give a directory for table.parquet and f_table.parquet."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DesignError(f"could not create the output directory {str(out)!r}: {err}") from err


def _fit_in_memory(
    adata: AnnData,
    design: Design,
    cmat: np.ndarray,
    masks: list[tuple[np.ndarray, np.ndarray] | None],
    *,
    layer: str | None,
    weights: str | np.ndarray | None,
    exact_se: bool,
    block: str | None,
    correlation: float | None,
    replace_fit: Callable[[np.ndarray], LinearFit] | None = None,
) -> tuple[ChunkStore, dict[str, np.ndarray], np.ndarray, dict[str, Any], str]:
    """The whole matrix fitted as one block: store, prior inputs, contrasts' covariance, block
    information and the name of the weights. ``replace_fit`` (a function of the features x
    samples matrix) fits instead of ``lm_fit`` (a method's own estimates, e.g. ``dpc``)."""
    y = get_matrix(adata, layer).T  # features x samples
    fit: LinearFit
    block_info: dict[str, Any] = {}
    wname = ""
    if replace_fit is not None:
        fit = replace_fit(np.asarray(y, dtype=float))
    elif block is not None:
        fit, block_info = blocked_fit(
            adata, y, design, block, correlation, weights=weights, exact_se=exact_se
        )
    else:
        w, wname = _weights_matrix(adata, weights)
        fit = lm_fit(
            y, design.matrix, weights=w, coef_names=design.columns, per_feature_cov=exact_se
        )
    cfit = contrasts_fit(fit, cmat, exact=exact_se)
    summary = block_summary(fit, cfit, y, masks)
    del y
    gathered = {"sigma": fit.sigma.copy(), "df_residual": fit.df_residual, "amean": fit.amean}
    return ChunkStore.single(summary), gathered, cfit.cov_coefficients, block_info, wname


def _fit_chunked(
    adata: AnnData,
    design: Design,
    cmat: np.ndarray,
    masks: list[tuple[np.ndarray, np.ndarray] | None],
    stack: contextlib.ExitStack,
    *,
    layer: str | None,
    weights: str | np.ndarray | None,
    exact_se: bool,
    trend: bool,
    scheduler: str | None,
    chunk_size: int | None,
    out: Path | None,
) -> tuple[ChunkStore, dict[str, np.ndarray], np.ndarray]:
    """The fit chunk by chunk on dask; with ``out`` the blocks are spilled to a temporary
    directory inside it (removed when ``stack`` closes)."""
    # the contrasts' covariance, from a fit of no features (the design's unscaled covariance)
    empty = lm_fit(np.empty((0, adata.n_obs)), design.matrix, per_feature_cov=exact_se)
    cov_out = contrasts_fit(empty, cmat, exact=exact_se).cov_coefficients
    spill = None
    if out is not None:
        spill = stack.enter_context(tempfile.TemporaryDirectory(dir=out, prefix=".chunks-"))
    store, gathered = chunked_fit(
        adata,
        design.matrix,
        cmat,
        masks=masks,
        layer=layer,
        weights=weights,
        exact=exact_se,
        keep_amean=trend,
        scheduler=scheduler,
        chunk_size=chunk_size,
        spill=spill,
    )
    return store, gathered, cov_out


def differential(
    adata: AnnData,
    groupby: str = DIFFERENTIAL.groupby,
    contrasts: Sequence[str] | str | None = None,
    *,
    covariates: Sequence[str] = (),
    formula: str | None = None,
    layer: str | None = None,
    weights: str | np.ndarray | None = None,
    trend: bool = DIFFERENTIAL.trend,
    robust: bool = DIFFERENTIAL.robust,
    legacy: bool | None = None,
    fdr: str = DIFFERENTIAL.fdr,
    lfc: float = DIFFERENTIAL.lfc,
    exact_se: bool = False,
    key_added: str = DIFFERENTIAL.key_added,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    block: str | None = None,
    correlation: float | None = None,
    out: str | os.PathLike | None = None,
    method: str = DIFFERENTIAL.method,
    n_peptides: str | np.ndarray = DIFFERENTIAL.n_peptides,
    detection_curve: DetectionCurve | None = None,
) -> None:
    """Moderated (limma) tests of contrasts between groups, for every feature.

    Each feature is fit by least squares on its observed samples (R limma's ``lmFit``), contrasts
    are taken with limma's ``contrasts.fit`` and variances are moderated by empirical Bayes
    (``eBayes``). Results agree with R limma 3.62 (``legacy=True``: with limma 3.54 and earlier).
    ``method=`` chooses another moderation (opt-in; ``"limma"`` stays the default and exact).

    Parameters
    ----------
    adata
        Samples x features, log2 scale, NaN for missing values.
    groupby
        Column of ``adata.obs`` whose levels are compared (default ``"phase"``).
    contrasts
        Linear combinations of the levels of ``groupby``, e.g. ``"withdrawal - control"``,
        ``"(use + withdrawal)/2 - control"``; back-quote level names that are not identifiers
        (```24h` - control``). With ``formula``, design column names may be used too. Default:
        every level against the first one.
    covariates
        Further ``.obs`` columns: categorical ones (``batch``, ``subject`` for a paired design)
        enter with treatment coding, numeric ones linearly. The design is
        ``~ 0 + groupby + covariates``.
    formula
        A formulaic/R formula such as ``"~ 0 + phase + batch"`` used instead of ``groupby`` +
        ``covariates``. Contrasts in level names of ``groupby`` are mapped onto its columns.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    weights
        Observation weights: the name of a layer, an ``(n_obs, n_vars)`` array, or one weight per
        sample; they enter the least squares as limma's ``lmFit`` weights. 0 or NaN drops a value.
    trend
        Let the prior variance depend on the mean abundance (limma ``trend=TRUE``).
    robust
        Robust empirical Bayes, protecting against outlying variances (``robust=TRUE``).
    legacy
        limma's ``legacy``: ``None`` chooses the unequal-df estimator when residual df differ (e.g.
        with missing values), ``True`` always uses moment matching (limma <= 3.60 behaviour).
    lfc
        Log2 fold-change threshold: with ``lfc > 0`` each contrast is tested for
        ``|log2fc| > lfc`` by limma's TREAT (``t`` is 0 inside the threshold, ``B`` is NaN); the
        F table stays the ordinary moderated F.
    exact_se
        Standard errors of contrasts from each feature's own observed design (exact least squares)
        instead of limma's single correlation matrix of the complete design. Differs from limma only
        for features with missing values (or observation weights) in non-orthogonal designs; the
        moderated F keeps limma's matrix.
    fdr
        Multiple-testing adjustment per contrast: ``"bh"``, ``"by"``, ``"bonferroni"``, ``"holm"``,
        ``"qvalue"`` (Storey, pi0 smoothed as R's ``qvalue`` does by default; reported in
        ``params["pi0"]``, one per contrast) or ``"none"``.
    key_added
        Key of ``adata.uns`` receiving the result.
    scheduler
        Fit chunk by chunk with dask (needs ``kratom-omics[dask]``): ``"local:N"`` starts a
        ``LocalCluster`` of N workers, ``"threads"``/``"synchronous"``/``"processes"`` choose a
        local dask scheduler, any other string is a scheduler address (``"tcp://head:8786"``).
        ``None`` uses the active ``dask.distributed`` client, if any. A dask-backed ``adata.X``
        (e.g. from :func:`kratom_omics.io.read_zarr_lazy`) is always fitted chunk by chunk, never
        loaded whole; results equal those of the in-memory fit.
    chunk_size
        Features per dask task (default: the dask chunks, at most 100,000 features).
    block
        Column of ``adata.obs`` (e.g. ``"subject"``) whose samples are repeated measures of one
        unit: instead of a fixed subject effect, the within-block correlation is estimated by
        limma's ``duplicateCorrelation`` (a consensus of per-feature REML fits, see
        :func:`duplicate_correlation`) and every feature is fit by generalised least squares
        (``lmFit(block=, correlation=)``). Agrees with R limma + statmod. Use it when subjects
        are not measured in every group (incomplete blocks); with complete blocks, a fixed
        ``covariates=["subject"]`` is the simpler paired analysis. Not combinable with
        ``weights`` or ``exact_se``.
    correlation
        The within-block correlation to use with ``block`` instead of estimating it (e.g. a
        consensus from :func:`duplicate_correlation` on another layer).
    out
        A directory receiving the long table and the F table as ``table.parquet`` and
        ``f_table.parquet`` instead of ``adata.uns`` (which then holds ``table_path`` and
        ``f_table_path``; :func:`kratom_omics.get.differential` reads them). For results larger
        than memory: with the chunked (dask) fit the tables are written block by block and the
        per-block fits are spilled to a temporary directory inside ``out``, so the driver holds
        only a few numbers per feature (sigma and residual df for the variance prior, then the
        adjusted p-values).
    method
        ``"limma"`` (default): limma as above. ``"count_trend"``: limma's eBayes with the prior
        variance trended on ``log(n_peptides)`` instead of the mean (R's ``eBayes(trend =
        log(n_peptides))``, same numbers; ``robust``, ``legacy`` and ``lfc`` apply; not with
        ``trend=True``). ``"deqms"``: DEqMS's ``spectraCounteBayes`` (a loess of the log residual
        variances on ``log2(n_peptides)`` as prior, its own prior df, ``df_residual + d0`` degrees
        of freedom, no B statistic; features without residual df stay untested; not with
        ``trend``, ``robust``, ``legacy`` or ``lfc > 0``). ``"dpc"``: missing values as evidence
        of low abundance: a detection probability curve (as in limpa) is fitted to the data and
        each group mean is estimated by maximum likelihood with it; residual variances and df
        still come from the observed values, and features with a whole group missing keep their
        on/off result. Only for the design ``~ 0 + groupby`` in memory (not with ``covariates``,
        ``formula``, ``block``, ``weights``, ``exact_se`` or a chunked fit); needs missing values
        that depend on intensity. Every method writes the same tables.
    n_peptides
        For ``"count_trend"`` and ``"deqms"``: the column of ``adata.var`` (or one value per
        feature) with the number of peptides or precursors per protein (>= 1 each).
    detection_curve
        For ``"dpc"``: a curve fitted beforehand (e.g.
        ``kom.tl._methods.fit_detection_curve(adata.X.T)`` on the data before the valid-value
        filter) instead of one fitted on ``adata``.

    Returns
    -------
    None. Writes ``adata.uns[key_added]``, a dict with

    ``"params"``
        the call, the design columns, ``method`` and ``n_peptides`` (the count column, or ""),
        ``limma_version_matched`` ("" for ``"deqms"`` and ``"dpc"``, which are not limma's
        numbers), and ``pi0`` for ``fdr="qvalue"``; with ``block``: ``correlation``, the consensus
        within-block correlation used, and ``correlation_estimated``; with ``"dpc"``: the curve
        ``dpc_beta0``, ``dpc_beta1`` (``logit P(detected) = beta0 + beta1 * log2 value``),
        ``dpc_curve`` ("fitted" or "given"), ``dpc_n_filled`` (missing values used as evidence)
        and ``dpc_n_onoff_kept``.
    ``"contrasts"``
        list of contrast names.
    ``"table"``
        long DataFrame, one row per feature and contrast: ``feature, contrast, log2fc, se, ci_low,
        ci_high, mean_log2, t, df_total, pvalue, padj, B, s2_post, df_residual, n_obs``, then
        the on/off detection columns ``n_detected_a, n_a, n_detected_b, n_b, detection_pvalue,
        reason`` (+ ``gene``). For a contrast of ``groupby`` levels, side *a* is the samples of the
        levels with positive weight and side *b* those with negative weight; ``n_detected_*``
        counts their non-missing values and ``detection_pvalue`` is the two-sided Fisher's exact
        test of detected vs. missing between the sides. When limma cannot estimate the contrast
        because one side is entirely missing while the other is detected, ``log2fc`` is ``+inf``
        (detected only on side *a*) or ``-inf`` (only on side *b*); the limma columns (``t``,
        ``pvalue``, ``padj``, ``B``, ``se``) stay NaN as limma gives them. ``reason`` says why a
        row has no moderated t (empty when it has one). Contrasts with a covariate coefficient
        have NaN detection columns.
    ``"f_table"``
        moderated F test of all contrasts per feature: ``feature, F, df1, df2, pvalue, padj``.
    ``"prior"``
        ``df_prior`` and ``s2_prior`` (scalars, or per-feature arrays with ``trend``/``robust``
        and the count methods).
    ``"contrast_matrix"``
        long DataFrame ``contrast, coefficient, weight``: each contrast as weights of the design
        columns.

    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    check_key_added(key_added)
    fdr = check_method(fdr)
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = list(covariates)
    if (
        not isinstance(lfc, (int, float))
        or isinstance(lfc, bool)
        or not np.isfinite(lfc)
        or lfc < 0
    ):
        raise DesignError(f"lfc must be a finite number >= 0 (log2 fold change); got {lfc!r}.")
    for flag, value in (("trend", trend), ("robust", robust), ("exact_se", exact_se)):
        if not isinstance(value, bool):
            raise DesignError(f"{flag} must be True or False; got {flag}={value!r}.")
    if legacy is not None and not isinstance(legacy, bool):
        raise DesignError(f"legacy must be None, True or False; got {legacy!r}.")
    if groupby is not None and groupby not in adata.obs.columns and formula is None:
        raise KeyNotFoundError(
            did_you_mean(groupby, adata.obs.columns, what="groupby").replace(
                "is not available", "is not a column of adata.obs"
            )
        )
    design = build_design(adata.obs, groupby, covariates=covariates, formula=formula)

    if contrasts is None:
        if len(design.levels) < 2 or not design.level_vectors:
            raise DesignError(
                f"no contrasts given and groupby={groupby!r} does not define levels in the design "
                f"{design.columns}; pass contrasts in design column names."
            )
        first = quote_name(design.levels[0])
        contrasts = [f"{quote_name(lv)} - {first}" for lv in design.levels[1:]]
    elif isinstance(contrasts, str):
        contrasts = [contrasts]
    names = [normalize_contrast(c) for c in contrasts]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise DesignError(f"contrasts {dup} are given more than once; list each contrast once.")
    cmat = contrast_matrix(design, names)

    out_dir = Path(out) if out is not None else None
    if correlation is not None and block is None:
        raise DesignError(
            f"correlation={correlation!r} needs block= (the .obs column of the repeated unit, "
            "e.g. block='subject')."
        )
    chunked = bool(scheduler) or chunk_size is not None or is_dask_backed(adata, layer)
    if block is not None and chunked:
        raise DesignError(
            "block= is fit in memory only; load the data into memory (adata.to_memory()) or "
            "put the subject in covariates= as a fixed effect."
        )
    setup = method_setup(
        adata,
        method,
        n_peptides=n_peptides,
        detection_curve=detection_curve,
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
    replace_fit: Callable[[np.ndarray], LinearFit] | None = None
    if setup.replaces_fit:
        obs_groups = adata.obs[groupby]

        def replace_fit(y: np.ndarray) -> LinearFit:
            return setup.fit(y, design, obs_groups)

    sides, groups = _sides(adata, design, cmat, groupby)
    masks = side_masks(groups, sides)
    block_info: dict[str, Any] = {}
    wname = ""
    if out_dir is not None:
        _make_out(out_dir)
    with contextlib.ExitStack() as stack:
        if chunked:
            store, gathered, cov_out = _fit_chunked(
                adata,
                design,
                cmat,
                masks,
                stack,
                layer=layer,
                weights=weights,
                exact_se=exact_se,
                trend=trend,
                scheduler=scheduler,
                chunk_size=chunk_size,
                out=out_dir,
            )
        else:
            store, gathered, cov_out, block_info, wname = _fit_in_memory(
                adata,
                design,
                cmat,
                masks,
                layer=layer,
                weights=weights,
                exact_se=exact_se,
                block=block,
                correlation=correlation,
                replace_fit=replace_fit,
            )
        setup.check_prior_inputs(gathered["df_residual"], legacy)
        result = run(
            store,
            gathered,
            design.matrix,
            cov_out,
            names,
            adata.var_names,
            gene_index(adata),
            sides,
            side_totals(masks),
            trend=trend,
            robust=robust,
            legacy=legacy,
            lfc=lfc,
            fdr=fdr,
            out=out_dir,
            covariate=setup.covariate,
            variance_prior=setup.variance_prior,
        )
        del store, gathered
    g, k = int(adata.n_vars), len(names)

    matched = LEGACY_LIMMA_VERSION if legacy is True else LIMMA_VERSION
    if method not in ("limma", "count_trend"):
        matched = ""  # DEqMS's and the detection model's numbers are not limma's
    params: dict[str, Any] = {
        "groupby": groupby if groupby is not None else "",
        "contrasts": list(names),
        "covariates": covariates,
        "formula": formula if formula is not None else "",
        "design_formula": design.formula,
        "design_columns": list(design.columns),
        "trend": trend,
        "robust": robust,
        "legacy": "" if legacy is None else legacy,
        "legacy_path_used": bool(result["legacy"]),
        "lfc": float(lfc),
        "exact_se": exact_se,
        "block": block if block is not None else "",
        **block_info,
        "fdr": str(fdr).lower(),
        "layer": layer if layer is not None else "",
        "weights": wname,
        **setup.params(),
        "limma_version_matched": matched,
        "n_features": int(g),
        "n_samples": int(adata.n_obs),
    }
    if "pi0" in result["fdr_info"]:
        params["pi0"] = [float(x) for x in result["fdr_info"]["pi0"]]
    if out_dir is not None:
        params["out"] = str(out_dir)
    tables: dict[str, Any] = {
        part: result[part]
        for part in ("table", "f_table", "table_path", "f_table_path")
        if part in result
    }
    adata.uns[key_added] = {
        "params": params,
        "contrasts": list(names),
        **tables,
        "prior": {
            "df_prior": stored_prior(result["df_prior"]),
            "s2_prior": stored_prior(result["s2_prior"]),
        },
        "contrast_matrix": pd.DataFrame(
            {
                "contrast": np.repeat(np.array(names, dtype=object), len(design.columns)).astype(
                    str
                ),
                "coefficient": np.tile(np.array(design.columns, dtype=object), k).astype(str),
                "weight": cmat.T.reshape(-1),
            }
        ),
    }
    logger.info(
        "differential: %d features x %d contrasts (%s); %d feature(s) with an NA contrast, "
        "%d on/off result(s)",
        g,
        k,
        ", ".join(names),
        result["n_na"],
        result["n_onoff"],
    )
    record_provenance(adata, "kratom_omics.tl.differential", params)
