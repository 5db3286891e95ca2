"""Between-sample normalisation: median centring, quantile, reference sample, reference features,
internal reference scaling across isobaric plexes."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._core import get_matrix, record_provenance
from ..errors import DesignError, InputFormatError, KeyNotFoundError, did_you_mean
from ._common import Scale, as_name_list, is_log2, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["normalize", "normalize_quantiles"]

logger = logging.getLogger("kratom_omics")

_METHODS = ("median", "quantile", "none", "reference_sample", "reference_feature", "irs")
#: The methods that need ``reference=`` (and the only ones that take it).
REFERENCE_METHODS = ("reference_sample", "reference_feature", "irs")


def normalize_quantiles(values: np.ndarray) -> np.ndarray:
    """Quantile-normalise the columns of ``values`` (features x samples) as limma does.

    The result equals ``limma::normalizeQuantiles(values, ties=TRUE)``.

    Every column gets the same distribution, the mean of the sorted columns, so the intensity scale
    is kept. Missing values (NaN) stay missing: a column with ``k`` observed values is stretched
    over the ``n`` quantile positions by linear interpolation before the mean is taken, and its
    observed values are mapped back by interpolating their position ``(rank - 1) / (k - 1)``; ties
    get their mean rank (limma's ``ties=TRUE``).

    Parameters
    ----------
    values
        Features (rows) x samples (columns), the orientation of limma.

    Returns
    -------
    A new float64 array of the same shape.
    """
    from scipy.stats import rankdata

    a = np.asarray(values, dtype=np.float64)
    n_feat, n_samp = a.shape
    if n_samp < 2 or n_feat < 2:
        return a.copy()
    observed = ~np.isnan(a)
    nobs = observed.sum(axis=0)
    positions = np.arange(n_feat) / (n_feat - 1)
    sorted_cols = np.empty_like(a)
    complete = nobs == n_feat
    sorted_cols[:, complete] = np.sort(a[:, complete], axis=0)
    for j in np.flatnonzero(~complete):  # loop over samples with missing values
        column = np.sort(a[observed[:, j], j])
        sorted_cols[:, j] = np.interp(positions, np.arange(nobs[j]) / (nobs[j] - 1), column)
    target = sorted_cols.mean(axis=1)
    ranks = rankdata(a, axis=0, method="average", nan_policy="omit")
    return np.interp((ranks - 1.0) / (nobs - 1.0), positions, target)


def _log_view(x: np.ndarray, log_scale: bool) -> np.ndarray:
    if log_scale:
        return x
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, np.log2(np.where(x > 0, x, 1.0)), np.nan)


def _apply_offsets(x: np.ndarray, offsets: np.ndarray, log_scale: bool) -> np.ndarray:
    if log_scale:
        return x - offsets[:, None]
    return x / np.exp2(offsets)[:, None]


def normalize(
    adata: AnnData,
    *,
    method: Literal[
        "median", "quantile", "none", "reference_sample", "reference_feature", "irs"
    ] = "median",
    reference: str | int | Sequence[str | int] | None = None,
    plex_key: str = "plex",
    scale: Scale = "auto",
    copy: bool = False,
) -> AnnData | None:
    """Normalise samples so that they are comparable.

    Works on ``.X`` with NaN present. ``.X`` is expected on the log2 scale (after
    :func:`kratom_omics.pp.log2`); the offsets are then subtracted. On linear values
    (``scale="linear"``, or ``"auto"`` before ``log2``) the same offsets are computed from log2 of
    the positive values and applied as factors (divided by ``2**offset``).

    Parameters
    ----------
    adata
        Samples x features data.
    method
        ``"median"`` (default): subtract each sample's median (over its observed features) and add
        back the median of the sample medians, so the intensity scale is kept (MSstats'
        ``equalizeMedians``).

        ``"quantile"``: quantile normalisation identical to ``limma::normalizeQuantiles`` (each
        sample gets the mean sorted distribution; NaN handled as limma does; scale kept).

        ``"reference_sample"``: for a pooled QC or reference sample(s) named in ``reference``,
        subtract from each sample the median over features of its difference to the reference (the
        mean of the reference samples when several are given); a single reference sample ends with
        offset 0.

        ``"reference_feature"``: subtract, per sample, the mean of the centred reference features
        named in ``reference`` (``var_names`` or ``var["gene"]``), e.g. housekeeping proteins or
        total histone H3; each reference feature is centred on its mean over samples first, so the
        scale is kept and a missing reference value does not bias the offset.

        ``"irs"``: internal reference scaling across the plexes of an isobaric (TMT, iTRAQ)
        experiment (Plubell et al. 2017, as IRS and MSstatsTMT users apply it): every plex
        holds the same reference (a pooled sample) in one or more channels named by
        ``reference``; for each protein ``g`` and plex ``p``, with ``r[p, g]`` the mean log2 value
        of the plex's reference channels (the log of their geometric mean) and
        ``R[g] = mean_p r[p, g]`` over the plexes where it is observed (the geometric mean of the
        reference intensities), every sample ``s`` of plex ``p`` becomes
        ``x'[s, g] = x[s, g] - r[p, g] + R[g]`` (on linear values: multiplied by
        ``2**(R[g] - r[p, g])``). The reference channels end equal across plexes and the plex
        effects each protein gets from the MS2 sampling of its plex cancel. A protein whose
        reference is missing in a plex cannot be scaled there: its values in that plex become
        missing (counted in the log and the provenance), as IRS keeps only proteins seen in every
        reference. MSstatsTMT's reference normalisation takes the median instead of the mean
        over plexes; with two plexes the two agree. Usually preceded by a per-sample
        normalisation (``"median"``: IRS's sample loading step).

        ``"none"``: leave the values, record the decision in the provenance.
    reference
        Sample name(s) for ``"reference_sample"``; feature name(s) for ``"reference_feature"``.
        For ``"irs"``: the reference sample(s) by name (at least one per plex), or the reference
        channel of every plex: a channel number (``10``, matched to ``obs["channel"]``) or a
        label (``"TMT131"``, matched to ``obs["label"]``), as the isobaric loaders and SDRF
        sheets write them.
    plex_key
        ``"irs"`` only: the ``.obs`` column naming each sample's plex (the isobaric loaders
        write ``plex``: the MaxQuant experiment, the mzTab run).
    scale
        ``"auto"``: log2 when ``uns["kratom_omics"]["x_transform"]`` says so (set by
        :func:`kratom_omics.pp.log2`), otherwise judged from the values (negative values, or
        non-integer values below 64, are log-scale); or ``"log2"``/``"linear"``.
    copy
        Return a normalised copy instead of modifying ``adata``.

    Returns
    -------
    None, or the normalised copy when ``copy=True``. Writes ``.X`` and, except for ``"quantile"``,
    ``"irs"`` and ``"none"``, ``.obs["norm_offset"]`` (log2 units removed from each sample);
    ``"irs"`` writes ``.varm["irs_offset"]`` (proteins x plexes: the log2 units ``r[p, g] - R[g]``
    removed from each plex).
    ``layers["raw"]`` is not changed.

    Raises
    ------
    InputFormatError
        Unknown method, a missing or unneeded ``reference``, or a sample with too few observed
        values.
    KeyNotFoundError
        A reference sample or feature does not exist.
    DesignError
        A sample shares no observed feature with the reference.
    """
    refs = check_method(method, reference)
    log_scale = is_log2(adata, None, scale)
    x = get_matrix(adata)
    offsets: np.ndarray | None = None
    params: dict = {
        "method": method,
        "reference": refs or None,
        "scale": "log2" if log_scale else "linear",
    }
    observed = np.isfinite(x)
    n_obs = observed.sum(axis=1)
    if method != "none" and (n_obs < 2).any():
        bad = list(adata.obs_names[n_obs < 2])
        raise InputFormatError(
            f"normalize: sample(s) {bad[:10]} have fewer than 2 observed values; remove them "
            "(adata = adata[adata.obs_names != name].copy()) before normalising."
        )
    if method == "median":
        lx = _log_view(x, log_scale)
        medians = np.nanmedian(lx, axis=1)
        target = float(np.median(medians))
        offsets = medians - target
        params["target_median"] = target
        new = _apply_offsets(x, offsets, log_scale)
    elif method == "quantile":
        new = normalize_quantiles(np.where(observed, x, np.nan).T).T
    elif method == "reference_sample":
        names = list(map(str, adata.obs_names))
        missing = [r for r in refs if r not in names]
        if missing:
            raise KeyNotFoundError(
                did_you_mean(missing[0], names, what="normalize: reference").replace(
                    "is not available", "is not a sample of adata.obs_names"
                )
            )
        lx = _log_view(x, log_scale)
        idx = [names.index(r) for r in refs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            profile = np.nanmean(lx[idx], axis=0)
            offsets = np.nanmedian(lx - profile[None, :], axis=1)
        if np.isnan(offsets).any():
            bad = list(adata.obs_names[np.isnan(offsets)])
            raise DesignError(
                f"normalize: sample(s) {bad[:10]} share no observed feature with the reference "
                f"{refs}; choose another reference or remove those samples."
            )
        new = _apply_offsets(x, offsets, log_scale)
    elif method == "reference_feature":
        idx = _feature_indices(adata, refs)
        lx = _log_view(x, log_scale)
        ref = lx[:, idx]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centred = ref - np.nanmean(ref, axis=0)[None, :]
            offsets = np.nanmean(centred, axis=1)
        if np.isnan(offsets).any():
            bad = list(adata.obs_names[np.isnan(offsets)])
            raise DesignError(
                f"normalize: sample(s) {bad[:10]} have no observed value for the reference "
                f"feature(s) {refs}; add other reference features or remove those samples."
            )
        params["reference_features"] = [str(adata.var_names[i]) for i in idx]
        new = _apply_offsets(x, offsets, log_scale)
    elif method == "irs":
        new, irs_offsets = _irs(adata, x, refs, plex_key, log_scale, params)
    else:
        new = x
    adata = start(adata, copy)
    adata.X = np.asarray(new, dtype=np.float64)
    if method == "irs":
        adata.varm["irs_offset"] = irs_offsets
    if offsets is not None:
        adata.obs["norm_offset"] = offsets
        params["offsets"] = dict(
            zip(map(str, adata.obs_names), np.round(offsets, 6).tolist(), strict=True)
        )
        logger.info(
            "normalize(%s): per-sample offsets from %.3f to %.3f (log2).",
            method,
            float(np.min(offsets)),
            float(np.max(offsets)),
        )
    else:
        logger.info("normalize(%s): done on %d samples.", method, adata.n_obs)
    record_provenance(adata, "kratom_omics.pp.normalize", params)
    return adata if copy else None


def _feature_indices(adata: AnnData, refs: list[str]) -> list[int]:
    names = list(map(str, adata.var_names))
    position = {n: i for i, n in enumerate(names)}
    genes = adata.var["gene"].astype("string") if "gene" in adata.var.columns else None
    out: list[int] = []
    for r in refs:
        if r in position:
            out.append(position[r])
            continue
        if genes is not None:
            hits = np.flatnonzero((genes == r).fillna(False).to_numpy(dtype=bool))
            if hits.size:
                out.extend(int(h) for h in hits)
                continue
        raise KeyNotFoundError(
            did_you_mean(r, names, what="normalize: reference").replace(
                "is not available",
                "is neither a feature of adata.var_names nor a var['gene'] symbol",
            )
        )
    return sorted(set(out))


def irs_references(adata: AnnData, refs: list[str]) -> np.ndarray:
    """Boolean mask of the reference samples: names, else channels, else labels."""
    names = np.asarray(list(map(str, adata.obs_names)))
    if all(r in set(names) for r in refs):
        return np.isin(names, refs)

    def as_key(value: object) -> str:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            return re.sub(r"[\s_\-]+", "", text).upper()
        return str(int(number)) if number == int(number) else text

    mask = np.zeros(adata.n_obs, dtype=bool)
    known: list[str] = list(names)
    for col in ("channel", "label"):
        if col in adata.obs.columns:
            values = adata.obs[col].astype("string").fillna("")
            keys = np.asarray([as_key(v) if v else "" for v in values])
            known += sorted(set(values[values != ""]))
            mask |= np.isin(keys, [as_key(r) for r in refs])
    if not mask.any():
        raise KeyNotFoundError(
            did_you_mean(refs[0], known, what="normalize: reference").replace(
                "is not available",
                "is neither a sample of adata.obs_names nor a channel (obs['channel']) or label "
                "(obs['label'])",
            )
        )
    return mask


def _irs(
    adata: AnnData,
    x: np.ndarray,
    refs: list[str],
    plex_key: str,
    log_scale: bool,
    params: dict,
) -> tuple[np.ndarray, object]:
    """Internal reference scaling (see :func:`normalize`); returns the values and the offsets."""
    import pandas as pd

    if plex_key not in adata.obs.columns:
        raise KeyNotFoundError(
            f"normalize(method='irs') needs the plex of each sample in adata.obs[{plex_key!r}]; "
            f"the columns are {list(adata.obs.columns)[:15]}. The isobaric loaders (MaxQuant "
            "reporter intensities, mzTab TMT assays) write obs['plex']; else pass plex_key= the "
            "column naming the plex (e.g. 'experiment', 'mixture')."
        )
    plex_values = adata.obs[plex_key]
    if plex_values.isna().any():
        bad = list(adata.obs_names[plex_values.isna().to_numpy()])[:10]
        raise InputFormatError(f"normalize(method='irs'): sample(s) {bad} have no {plex_key!r}.")
    plex = plex_values.astype(str).to_numpy()
    plexes = list(dict.fromkeys(plex))
    is_ref = irs_references(adata, refs)
    without = [p for p in plexes if not is_ref[plex == p].any()]
    if without:
        raise DesignError(
            f"normalize(method='irs'): plex(es) {without[:10]} have no reference sample "
            f"(reference={refs}); every plex needs its reference channel."
        )
    if len(plexes) == 1:
        logger.warning(
            "normalize(irs): one plex only (%s); internal reference scaling changes nothing",
            plexes[0],
        )
    lx = _log_view(x, log_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref_level = np.vstack([np.nanmean(lx[is_ref & (plex == p)], axis=0) for p in plexes])
        target = np.nanmean(ref_level, axis=0)
    offsets = ref_level - target[None, :]  # plexes x features
    rows = np.array([plexes.index(p) for p in plex])
    per_sample = offsets[rows]  # samples x features, NaN where the plex lacks its reference
    lost = np.isnan(per_sample) & np.isfinite(x)
    new = x - per_sample if log_scale else x / np.exp2(per_sample)
    n_lost = int(lost.sum())
    if n_lost:
        logger.warning(
            "normalize(irs): %d value(s) of %d protein(s) set missing: their plex has no "
            "reference value to scale them",
            n_lost,
            int(lost.any(axis=0).sum()),
        )
    params.update(
        {
            "plex_key": plex_key,
            "plexes": plexes,
            "reference_samples": {
                p: [str(n) for n in adata.obs_names[is_ref & (plex == p)]] for p in plexes
            },
            "values_set_missing": n_lost,
        }
    )
    logger.info(
        "normalize(irs): %d plex(es), %d reference sample(s)", len(plexes), int(is_ref.sum())
    )
    table = pd.DataFrame(offsets.T, index=adata.var_names.copy(), columns=plexes)
    return new, table


def check_method(method: str, reference: str | int | Sequence[str | int] | None) -> list[str]:
    """The reference names of ``normalize(method=..., reference=...)``, checked: an unknown method,
    a missing reference (for the reference and IRS methods) or an unneeded one is an error."""
    if method not in _METHODS:
        raise InputFormatError(
            did_you_mean(str(method), _METHODS, what="normalize: method").replace(
                "is not available", "is not a normalisation method"
            )
        )
    refs = (
        [str(reference)]
        if isinstance(reference, int)
        else as_name_list(None if reference is None else [str(r) for r in reference])
        if not isinstance(reference, str)
        else [reference]
    )
    if method == "irs" and not refs:
        raise InputFormatError(
            "normalize(method='irs') needs reference= the reference channel of every plex (e.g. "
            "reference='TMT131' or reference=10) or the reference sample(s) by name.",
            cli="--normalize irs needs --reference: the reference channel of every plex (e.g. "
            "--reference 10 or --reference TMT131) or the reference sample(s) by name.",
        )
    if method in ("reference_sample", "reference_feature") and not refs:
        if method == "reference_sample":
            what, example = "sample name(s)", ("reference='pool_1'", "--reference pool_1")
        else:
            what = "feature name(s)"
            example = ("reference=['Gapdh', 'Actb']", "--reference Gapdh,Actb")
        raise InputFormatError(
            f"normalize(method={method!r}) needs reference= {what}, e.g. {example[0]}.",
            cli=f"--normalize {method} needs --reference: {what}, e.g. {example[1]}.",
        )
    if refs and method not in REFERENCE_METHODS:
        raise InputFormatError(
            f"normalize(method={method!r}) does not use reference={reference!r}; use "
            "method='reference_sample', 'reference_feature' or 'irs', or drop reference.",
            cli=f"--normalize {method} does not use --reference; use --normalize "
            "reference_sample, reference_feature or irs, or drop --reference.",
        )
    return refs
