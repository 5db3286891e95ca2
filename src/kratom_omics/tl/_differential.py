"""``kom.tl.differential``: limma-equivalent differential abundance on an AnnData."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import check_layer, get_matrix, record_provenance
from ..errors import DesignError, KeyNotFoundError, did_you_mean
from ._dask import chunked_fit, is_dask_backed
from ._design import build_design, contrast_matrix, normalize_contrast, quote_name
from ._detection import (
    DETECTION_COLUMNS,
    contrast_sides,
    detection_columns,
    side_masks,
    side_totals,
)
from ._dupcor import block_labels, duplicate_correlation_matrix, gls_fit
from ._limma import contrasts_fit, ebayes, lm_fit, treat
from ._multitest import adjust_pvalues, check_method

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["DETECTION_COLUMNS", "F_COLUMNS", "TABLE_COLUMNS", "differential"]

logger = logging.getLogger("kratom_omics")

LIMMA_VERSION = "3.62"
LEGACY_LIMMA_VERSION = "3.54"
TABLE_COLUMNS: tuple[str, ...] = (
    "feature",
    "contrast",
    "log2fc",
    "se",
    "ci_low",
    "ci_high",
    "mean_log2",
    "t",
    "df_total",
    "pvalue",
    "padj",
    "B",
    "s2_post",
    "df_residual",
    "n_obs",
)
F_COLUMNS: tuple[str, ...] = ("feature", "F", "df1", "df2", "pvalue", "padj")


def _weights_matrix(adata: AnnData, weights: Any) -> tuple[np.ndarray | None, str]:
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


def contrast_columns(
    coef: np.ndarray,
    su: np.ndarray,
    t: np.ndarray,
    pvalue: np.ndarray,
    padj: np.ndarray,
    lods: np.ndarray,
    s2_post: np.ndarray,
    df_total: np.ndarray,
    amean: np.ndarray,
    df_residual: np.ndarray,
) -> dict[str, np.ndarray]:
    """The float columns of the long table for one contrast and a block of features.

    Feature-wise, so the in-memory table (all features at once) and the chunked writer (block by
    block) compute the same numbers.
    """
    from scipy import stats

    from ._limma import _by_unique

    with np.errstate(invalid="ignore"):
        q = _by_unique(
            lambda d: np.where(np.isinf(d), stats.norm.ppf(0.975), stats.t.ppf(0.975, d)),
            df_total,
        )
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
        "B": lods,
        "s2_post": s2_post,
        "df_residual": df_residual,
    }


def _long_table(
    features: np.ndarray, names: list[str], fit: Any, cfit: Any, eb: Any, fdr: str
) -> pd.DataFrame:
    """The long result table, filled contrast by contrast into one float block (no copy).

    Arrays of ``fit``, ``cfit`` and ``eb`` that are copied into the table are released on the way
    (replaced by empty arrays) to bound the peak memory on large data.
    """
    g, k = cfit.coefficients.shape
    empty = np.empty(0)
    fit.coefficients = fit.stdev_unscaled = empty  # not needed after contrasts_fit
    float_cols = [c for c in TABLE_COLUMNS if c not in ("feature", "contrast", "n_obs")]
    # columns stored contiguously; store.T is the (rows x columns) block pandas keeps as is
    store = np.empty((len(float_cols), g * k))
    col = {c: i for i, c in enumerate(float_cols)}
    fdr_info: dict[str, Any] = {}
    dfres = np.asarray(fit.df_residual, dtype=float)
    df_total = np.asarray(eb.df_total, dtype=float)
    for j in range(k):
        padj, info = adjust_pvalues(eb.p_value[:, j], fdr)
        if "pi0" in info:
            fdr_info.setdefault("pi0", []).append(info["pi0"])
        cols = contrast_columns(
            cfit.coefficients[:, j],
            cfit.stdev_unscaled[:, j],
            eb.t[:, j],
            eb.p_value[:, j],
            padj,
            eb.lods[:, j],
            eb.s2_post,
            df_total,
            fit.amean,
            dfres,
        )
        for name, values in cols.items():
            store[col[name], j * g : (j + 1) * g] = values
        del cols, padj
    cfit.coefficients = cfit.stdev_unscaled = empty
    eb.t = eb.p_value = eb.lods = empty
    table = pd.DataFrame(store.T, columns=float_cols, copy=False)
    table.insert(0, "feature", np.tile(features.astype(object), k))
    table.insert(1, "contrast", np.repeat(np.array(names, dtype=object), g))
    table.insert(len(TABLE_COLUMNS) - 1, "n_obs", np.tile(fit.n_obs.astype(np.int64), k))
    table.attrs["fdr_info"] = fdr_info
    return table


def _add_detection(
    table: pd.DataFrame,
    adata: AnnData,
    y: np.ndarray | None,
    design: Any,
    cmat: np.ndarray,
    groupby: str | None,
    df_residual: np.ndarray,
    g: int,
    k: int,
) -> int:
    """Add the on/off detection columns to ``table`` (in place); return the number of on/off rows."""
    if y is None:  # no detection pattern available: counts unknown
        y = np.zeros((g, adata.n_obs))
        sides, groups = _sides(adata, design, cmat, None)
    else:
        sides, groups = _sides(adata, design, cmat, groupby)
    fc = table["log2fc"].to_numpy(dtype=float).reshape(k, g).T
    cols, fc_long = detection_columns(y, groups, sides, fc, df_residual)
    table["log2fc"] = fc_long
    for name, values in cols.items():
        table[name] = values
    return int(np.isinf(fc_long).sum())


def _require_residual_df(df_residual: np.ndarray, design: Any) -> None:
    if float(np.max(df_residual, initial=0.0)) == 0:
        raise DesignError(
            "no feature has residual degrees of freedom (each has at most as many observed samples "
            f"as the {len(design.columns)} design columns); add replicates, drop covariates or "
            "filter out features with many missing values."
        )


def _in_memory_result(
    adata: AnnData,
    fit: Any,
    y: np.ndarray | None,
    design: Any,
    cmat: np.ndarray,
    names: list[str],
    groupby: str | None,
    exact_se: bool,
    lfc: float,
    trend: bool,
    robust: bool,
    legacy: bool | None,
    fdr: str,
) -> dict[str, Any]:
    """Moderation and both tables of an in-memory fit."""
    _require_residual_df(fit.df_residual, design)
    cfit = contrasts_fit(fit, cmat, exact=exact_se)
    if lfc > 0:
        eb = treat(cfit, fit, lfc, trend=trend, robust=robust, legacy=legacy)
    else:
        eb = ebayes(cfit, fit, trend=trend, robust=robust, legacy=legacy)

    features = adata.var_names.astype(str).to_numpy()
    g, k = cfit.coefficients.shape
    n_na = int(np.isnan(cfit.coefficients).any(axis=1).sum())
    table = _long_table(features, names, fit, cfit, eb, fdr)
    fdr_info: dict[str, Any] = table.attrs.pop("fdr_info", {})
    n_onoff = _add_detection(table, adata, y, design, cmat, groupby, fit.df_residual, g, k)
    if "gene" in adata.var.columns:
        table["gene"] = np.tile(adata.var["gene"].astype(str).to_numpy().astype(object), k)
    fpadj, _ = adjust_pvalues(eb.f_p_value, fdr)
    f_table = pd.DataFrame(
        {
            "feature": features,
            "F": eb.f_stat,
            "df1": np.full(g, float(eb.f_df1)),
            "df2": np.asarray(eb.f_df2, dtype=float),
            "pvalue": eb.f_p_value,
            "padj": fpadj,
        }
    )
    if "gene" in adata.var.columns:
        f_table["gene"] = adata.var["gene"].astype(str).to_numpy()
    return {
        "table": table,
        "f_table": f_table,
        "df_prior": eb.df_prior,
        "s2_prior": eb.s2_prior,
        "legacy": eb.legacy,
        "fdr_info": fdr_info,
        "n_na": n_na,
        "n_onoff": n_onoff,
    }


def _sides(
    adata: AnnData, design: Any, cmat: np.ndarray, groupby: str | None
) -> tuple[list[Any], pd.Series]:
    """Contrast sides and the group of every sample, for the detection columns."""
    k = cmat.shape[1]
    if groupby is not None and groupby in adata.obs.columns and design.level_vectors:
        return contrast_sides(cmat, design.level_vectors), adata.obs[groupby]
    return [None] * k, pd.Series(np.full(adata.n_obs, np.nan), index=adata.obs_names)


def _chunked_differential(
    adata: AnnData,
    design: Any,
    cmat: np.ndarray,
    names: list[str],
    groupby: str | None,
    *,
    layer: str | None,
    weights: Any,
    exact_se: bool,
    trend: bool,
    robust: bool,
    legacy: bool | None,
    lfc: float,
    fdr: str,
    scheduler: str | None,
    chunk_size: int | None,
    out: Path | None,
) -> dict[str, Any]:
    """The chunked (dask) engine: fit per block, moderation and tables block by block."""
    from ._stream import collect, moderate_chunks, table_blocks, write_parquet

    sides, groups = _sides(adata, design, cmat, groupby)
    masks = side_masks(groups, sides)
    # the contrasts' covariance, from a fit of no features (the design's unscaled covariance)
    empty = lm_fit(np.empty((0, adata.n_obs)), design.matrix, per_feature_cov=exact_se)
    cov_out = contrasts_fit(empty, cmat, exact=exact_se).cov_coefficients
    genes = None
    if "gene" in adata.var.columns:  # Arrow strings (read_zarr_lazy) stay Arrow strings
        col = adata.var["gene"]
        genes = pd.Index(
            col.fillna("<NA>") if isinstance(col.dtype, pd.StringDtype) else col.astype(str)
        )
    with contextlib.ExitStack() as stack:
        spill = None
        if out is not None:
            _make_out(out)
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
        _require_residual_df(gathered["df_residual"], design)
        m = moderate_chunks(
            store,
            gathered,
            cov_out,
            design.matrix,
            trend=trend,
            robust=robust,
            legacy=legacy,
            lfc=lfc,
            fdr=fdr,
        )
        long_blocks, f_blocks, counts = table_blocks(
            store, m, cov_out, names, adata.var_names, genes, sides, side_totals(masks)
        )
        result: dict[str, Any] = {
            "df_prior": m.df_prior,
            "s2_prior": m.s2_prior,
            "legacy": m.legacy,
            "fdr_info": m.fdr_info,
        }
        if out is None:
            result["table"] = collect(long_blocks)
            result["f_table"] = collect(f_blocks)
        else:
            write_parquet(long_blocks, out / "table.parquet")
            write_parquet(f_blocks, out / "f_table.parquet")
            result["table_path"] = str(out / "table.parquet")
            result["f_table_path"] = str(out / "f_table.parquet")
        result["n_na"] = counts["na"]
        result["n_onoff"] = counts["onoff"]
    return result


def _make_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DesignError(
            f"out={str(out)!r} is a file; give a directory for table.parquet and f_table.parquet."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DesignError(f"could not create the output directory {str(out)!r}: {err}") from err


def _write_out(result: dict[str, Any], out: Path) -> dict[str, Any]:
    """Move in-memory tables of ``result`` to parquet files in ``out`` (atomically)."""
    from ._stream import write_parquet

    if "table" not in result:
        return result
    import pyarrow as pa

    _make_out(out)
    for part in ("table", "f_table"):
        table = result.pop(part)
        path = out / f"{part}.parquet"
        write_parquet(iter([pa.Table.from_pandas(table, preserve_index=False)]), path)
        result[f"{part}_path"] = str(path)
    return result


def _blocked_fit(
    adata: AnnData,
    y: np.ndarray,
    design: Any,
    block: str,
    correlation: float | None,
    *,
    weights: Any,
    exact_se: bool,
) -> tuple[Any, dict[str, Any]]:
    """GLS fit with a within-``block`` correlation (estimated by duplicateCorrelation if None)."""
    if weights is not None or exact_se:
        raise DesignError(
            "block= cannot be combined with weights= or exact_se=True; drop them or put the "
            "subject in covariates= as a fixed effect."
        )
    labels = block_labels(adata, block)
    if correlation is None:
        res = duplicate_correlation_matrix(y, design.matrix, labels)
        rho = res.consensus
    else:
        if (
            not isinstance(correlation, (int, float))
            or isinstance(correlation, bool)
            or not -1 < correlation < 1
        ):
            raise DesignError(
                f"correlation must be a number strictly between -1 and 1; got {correlation!r}."
            )
        rho = float(correlation)
    fit = gls_fit(y, design.matrix, labels, rho, coef_names=design.columns)
    logger.info("differential: within-%s correlation %.6g", block, rho)
    return fit, {"correlation": rho, "correlation_estimated": correlation is None}


def differential(
    adata: AnnData,
    groupby: str = "phase",
    contrasts: Sequence[str] | str | None = None,
    *,
    covariates: Sequence[str] = (),
    formula: str | None = None,
    layer: str | None = None,
    weights: str | np.ndarray | None = None,
    trend: bool = False,
    robust: bool = False,
    legacy: bool | None = None,
    fdr: str = "bh",
    lfc: float = 0.0,
    exact_se: bool = False,
    key_added: str = "differential",
    scheduler: str | None = None,
    chunk_size: int | None = None,
    block: str | None = None,
    correlation: float | None = None,
    out: str | os.PathLike | None = None,
) -> None:
    """Moderated (limma) tests of contrasts between groups, for every feature.

    Each feature is fit by least squares on its observed samples (R limma's ``lmFit``), contrasts
    are taken with limma's ``contrasts.fit`` and variances are moderated by empirical Bayes
    (``eBayes``). Results agree with R limma 3.62 (``legacy=True``: with limma 3.54 and earlier).

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

    Returns
    -------
    None. Writes ``adata.uns[key_added]``, a dict with

    ``"params"``
        the call, the design columns, ``limma_version_matched`` (and ``pi0`` for ``fdr="qvalue"``;
        with ``block``: ``correlation``, the consensus within-block correlation used, and
        ``correlation_estimated``).
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
        ``df_prior`` and ``s2_prior`` (scalars, or per-feature arrays with ``trend``/``robust``).
    ``"contrast_matrix"``
        long DataFrame ``contrast, coefficient, weight``: each contrast as weights of the design
        columns.

    Also appends a step to ``adata.uns["kratom_omics"]["provenance"]``.
    """
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        raise DesignError(f"key_added={key_added!r} must be a non-empty string without '/'.")
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

    block_info: dict[str, Any] = {}
    y: np.ndarray | None = None
    fit: Any = None
    result: dict[str, Any] | None = None
    out_dir = Path(out) if out is not None else None
    if correlation is not None and block is None:
        raise DesignError(
            f"correlation={correlation!r} needs block= (the .obs column of the repeated unit, "
            "e.g. block='subject')."
        )
    if block is not None:
        if scheduler or chunk_size is not None or is_dask_backed(adata, layer):
            raise DesignError(
                "block= is fit in memory only; load the data into memory (adata.to_memory()) or "
                "put the subject in covariates= as a fixed effect."
            )
        y = get_matrix(adata, layer).T  # features x samples
        fit, block_info = _blocked_fit(
            adata, y, design, block, correlation, weights=weights, exact_se=exact_se
        )
        wname = ""
    elif scheduler or chunk_size is not None or is_dask_backed(adata, layer):
        result = _chunked_differential(
            adata,
            design,
            cmat,
            names,
            groupby,
            layer=layer,
            weights=weights,
            exact_se=exact_se,
            trend=trend,
            robust=robust,
            legacy=legacy,
            lfc=lfc,
            fdr=fdr,
            scheduler=scheduler,
            chunk_size=chunk_size,
            out=out_dir,
        )
        wname = ""
    else:
        y = get_matrix(adata, layer).T  # features x samples
        w, wname = _weights_matrix(adata, weights)
        fit = lm_fit(
            y, design.matrix, weights=w, coef_names=design.columns, per_feature_cov=exact_se
        )
    if result is None:
        result = _in_memory_result(
            adata, fit, y, design, cmat, names, groupby, exact_se, lfc, trend, robust, legacy, fdr
        )
    if out_dir is not None:
        result = _write_out(result, out_dir)
    g, k = int(adata.n_vars), len(names)

    def prior_value(v: Any) -> Any:
        arr = np.asarray(v, dtype=float)
        return float(arr) if arr.ndim == 0 else arr.copy()

    matched = LEGACY_LIMMA_VERSION if legacy is True else LIMMA_VERSION
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
            "df_prior": prior_value(result["df_prior"]),
            "s2_prior": prior_value(result["s2_prior"]),
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
