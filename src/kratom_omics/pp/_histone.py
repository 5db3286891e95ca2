"""Histone PTM ratios: site-level totals, merging of inseparable forms, QC filters, transforms.

EpiProfile reports peptidoforms (``H3_9_17 K9me1K14ac``) as ratios within their peptide family.
:func:`histone_sites` sums, for every single mark, the ratios of all forms that carry it (total
H3K9ac = K9ac + K9acK14ac + ...). :func:`merge_histone_forms` pools forms that differ only by
which of
some isobaric marks they carry (K9ac vs K14ac, K18ac vs K23ac), which many runs cannot separate.
:func:`filter_histone` applies the usual QC and :func:`histone_transform` takes ratios to a scale
fit for linear models (logit, centred log-ratio within the family, or log2).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import check_layer, get_matrix, record_provenance
from ..errors import InputFormatError, KeyNotFoundError, KratomOmicsWarning
from ._common import group_codes, set_x_transform, start

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["filter_histone", "histone_sites", "histone_transform", "merge_histone_forms"]

logger = logging.getLogger("kratom_omics")

#: Pairs of marks that co-elute or are isobaric in the usual propionylation workflows.
INSEPARABLE: tuple[tuple[str, str], ...] = (("H3K9ac", "H3K14ac"), ("H3K18ac", "H3K23ac"))
#: Abundant, stable forms used to spot failed runs: a run that misses them is suspect.
DEFAULT_SENTINELS: tuple[str, ...] = ("H3K27me2", "H4K20me2")

_SITE = re.compile(r"^(H[0-9A-Za-z.]*?)([A-Z]\d+)(me[123]|ac|ph|ub|cr|bu|pr|su|ma|hib|bz|gl|la)$")


def _marks_of(adata: AnnData) -> list[list[str]]:
    if "marks" not in adata.var.columns:
        raise KeyNotFoundError(
            "adata.var has no 'marks' column; expected peptidoform annotations as written by "
            "kom.io.read_epiprofile (e.g. marks='H3K9ac;H3K14ac')."
        )
    return [
        [m for m in str(v).split(";") if m and m != "nan"]
        for v in adata.var["marks"].astype(object).fillna("")
    ]


def _expand_group(group: str | Sequence[str]) -> list[str]:
    """``"H3K9ac/K14ac"`` or ``("H3K9ac", "H3K14ac")`` -> ``["H3K9ac", "H3K14ac"]``."""
    parts = group.split("/") if isinstance(group, str) else [str(g) for g in group]
    out: list[str] = []
    prefix = ""
    for part in parts:
        part = part.strip()
        m = _SITE.match(part)
        if m is None and prefix:
            m = _SITE.match(prefix + part)
        if m is None:
            raise InputFormatError(
                f"merge group {group!r}: {part!r} is not a mark such as 'H3K9ac' (write groups as "
                "'H3K9ac/K14ac' or ('H3K9ac', 'H3K14ac'))."
            )
        prefix = m.group(1)
        out.append(m.group(0))
    if len(out) < 2:
        raise InputFormatError(
            f"merge group {group!r} names {len(out)} mark; expected two or more."
        )
    return out


def _group_name(marks: Sequence[str]) -> str:
    first = _SITE.match(marks[0])
    prefix = first.group(1) if first else ""
    rest = [m[len(prefix) :] if m.startswith(prefix) else m for m in marks[1:]]
    return "/".join([marks[0], *rest])


def _nan_sum(values: np.ndarray, indicator: np.ndarray) -> np.ndarray:
    """Samples x groups sums of ``values`` (samples x features) over ``indicator`` (features x
    groups);
    NaN where every member is NaN."""
    filled = np.nan_to_num(values, nan=0.0)
    present = (~np.isnan(values)).astype(np.float64)
    out = filled @ indicator
    out[(present @ indicator) == 0] = np.nan
    return out


def histone_sites(
    adata: AnnData,
    *,
    layer: str | None = "raw",
    merge: Sequence[str | Sequence[str]] = (),
    marks: Sequence[str] | None = None,
) -> AnnData:
    """Site-level abundances from peptidoform ratios: each mark's total over the forms carrying it.

    Parameters
    ----------
    adata
        Peptidoform ratios with ``.var["marks"]`` (``"H3K9ac;H3K14ac"``), e.g. from
        :func:`kratom_omics.io.read_epiprofile`.
    layer
        Layer holding the ratios (``None`` = ``.X``); undetected forms (NaN) add nothing.
    merge
        Groups of marks reported as one site, e.g. ``["H3K9ac/K14ac", "H3K18ac/K23ac"]`` (see
        ``INSEPARABLE``): the total of the forms carrying any of them, each form counted once.
    marks
        Report only these sites (default: every mark found).

    Returns
    -------
    A new AnnData (samples x sites) with ``.X`` and ``layers["raw"]`` = summed ratios (NaN where no
    carrying form was detected), ``layers["area"]`` = summed areas when ``adata`` has them,
    ``.var`` indexed by the site (``H3K9ac``, ``H3K9ac/K14ac``) with ``histone``, ``mark``,
    ``residues``, ``modification``, ``n_forms`` and ``forms`` (``;``-joined), and ``.obs`` copied.
    """
    import anndata as ad

    groups = [_expand_group(g) for g in merge]
    form_marks = []
    for ms in _marks_of(adata):  # pooled forms (merge_histone_forms) carry marks like H3K9ac/K14ac
        flat: list[str] = []
        for m in ms:
            if "/" in m:
                members = _expand_group(m)
                if not any(set(members) == set(g) for g in groups):
                    groups.append(members)
                flat += members
            else:
                flat.append(m)
        form_marks.append(flat)
    grouped = {m for g in groups for m in g}
    singles = sorted({m for ms in form_marks for m in ms} - grouped, key=_site_key)
    sites: list[tuple[str, list[str]]] = [(m, [m]) for m in singles]
    sites += [(_group_name(g), g) for g in groups]
    if marks is not None:
        wanted = [str(m) for m in marks]
        known = {name for name, _ in sites}
        unknown = [m for m in wanted if m not in known]
        if unknown:
            raise KeyNotFoundError(
                f"marks={unknown} are not carried by any form; available sites: "
                f"{sorted(known)[:30]}"
            )
        sites = [s for s in sites if s[0] in wanted]
    indicator = np.array(
        [[any(m in ms for m in members) for _, members in sites] for ms in form_marks],
        dtype=np.float64,
    ).reshape(len(form_marks), len(sites))
    ratio = get_matrix(adata, layer)
    x = _nan_sum(ratio, indicator)
    names = list(adata.var_names)
    rows = []
    for j, (name, members) in enumerate(sites):
        hit = _SITE.match(members[0])
        forms = [names[i] for i in np.flatnonzero(indicator[:, j])]
        rows.append(
            {
                "histone": _histone_of(hit.group(1)) if hit else "",
                "mark": name,
                "residues": ";".join(_residue_mod(k)[0] for k in members),
                "modification": hit.group(3) if hit else "",
                "n_forms": len(forms),
                "forms": ";".join(forms),
            }
        )
    var = pd.DataFrame(rows, index=pd.Index([s[0] for s in sites]))
    out = ad.AnnData(X=x, obs=adata.obs.copy(), var=var)
    out.layers["raw"] = x.copy()
    if "area" in adata.layers:
        out.layers["area"] = _nan_sum(get_matrix(adata, "area"), indicator)
    if "kratom_omics" in adata.uns:
        out.uns["kratom_omics"] = {
            "provenance": dict(adata.uns["kratom_omics"].get("provenance", {}))
        }
    record_provenance(
        out,
        "kratom_omics.pp.histone_sites",
        {"layer": layer, "merge": [list(g) for g in groups], "marks": marks},
    )
    return out


def _residue_mod(mark: str) -> tuple[str, str]:
    m = _SITE.match(mark)
    return (m.group(2), m.group(3)) if m else ("", "")


def _histone_of(prefix: str) -> str:
    m = re.fullmatch(r"H3(\d)", prefix)
    return f"H3.{m.group(1)}" if m else prefix


def _site_key(mark: str) -> tuple:
    m = _SITE.match(mark)
    if m is None:
        return (mark, 0, "")
    return (m.group(1), int(m.group(2)[1:]), m.group(3))


def merge_histone_forms(
    adata: AnnData,
    groups: Sequence[str | Sequence[str]] = ("H3K9ac/K14ac", "H3K18ac/K23ac"),
    *,
    copy: bool = False,
) -> AnnData | None:
    """Pool peptidoforms that differ only by which mark of an inseparable group they carry.

    With the group K9ac/K14ac, ``H3_9_17 K9ac`` and ``H3_9_17 K14ac`` become ``H3_9_17
    K9ac/K14ac``; ``K9acK14ac`` (both) and ``K9me1K14ac`` stay as they are. Ratios, areas and every
    other numeric layer are summed (NaN only where every pooled form is NaN); retention times are
    averaged.

    Parameters
    ----------
    adata
        Peptidoform ratios with ``.var["marks"]`` and ``.var["peptide_family"]``.
    groups
        Groups of marks, as ``"H3K9ac/K14ac"`` or ``("H3K9ac", "H3K14ac")``.
    copy
        Return a new object (always the case here, since features change) instead of replacing
        ``adata``'s contents in place.

    Returns
    -------
    None, or the merged copy when ``copy=True``. Pooled features get ``.var["merged_from"]`` (the
    original names, ``;``-joined; empty for untouched features) and ``marks`` such as
    ``"H3K9ac/K14ac"``; ``.var`` columns that differ between pooled forms keep the first form's
    value.
    """
    import anndata as ad

    form_marks = _marks_of(adata)
    fam = (
        adata.var["peptide_family"].astype(str).to_numpy()
        if "peptide_family" in adata.var.columns
        else np.full(adata.n_vars, "")
    )
    expanded = [_expand_group(g) for g in groups]
    keys: list[tuple] = []
    labels: list[str] = []
    for i, ms in enumerate(form_marks):
        key: tuple = (fam[i], tuple(sorted(ms)))
        label = adata.var_names[i]
        for g in expanded:
            hit = [m for m in ms if m in g]
            if len(hit) == 1:
                rest = tuple(sorted(m for m in ms if m not in g))
                key = (fam[i], rest, tuple(g))
                name = _group_name(g)
                site = _SITE.match(g[0])
                short = name[len(site.group(1)) :] if site else name
                others = [m for m in ms if m not in g]
                pf = "".join("".join(_residue_mod(m)) for m in others)
                label = f"{fam[i]} {pf}{short}" if fam[i] else name
                break
        keys.append(key)
        labels.append(label)
    codes, uniques = pd.factorize(pd.Series([repr(k) for k in keys]))
    n_new = len(uniques)
    indicator = np.zeros((adata.n_vars, n_new))
    indicator[np.arange(adata.n_vars), codes] = 1.0
    first = np.array([int(np.flatnonzero(codes == c)[0]) for c in range(n_new)])
    counts = indicator.sum(axis=0)
    var = adata.var.iloc[first].copy()
    new_names = [labels[i] if counts[c] > 1 else adata.var_names[i] for c, i in enumerate(first)]
    var.index = pd.Index(new_names)
    var["merged_from"] = [
        ";".join(adata.var_names[codes == c]) if counts[c] > 1 else "" for c in range(n_new)
    ]
    for col in ("marks", "peptidoform"):  # categorical after a round trip through h5ad
        if col in var.columns:
            var[col] = var[col].astype(object)
    for c in np.flatnonzero(counts > 1):
        members = [form_marks[i] for i in np.flatnonzero(codes == c)]
        grp = next(e for e in expanded if all(any(m in e for m in ms) for ms in members))
        kept = [m for m in members[0] if m not in grp]
        var.iloc[c, var.columns.get_loc("marks")] = ";".join([*kept, _group_name(grp)])
        if "peptidoform" in var.columns:
            var.iloc[c, var.columns.get_loc("peptidoform")] = new_names[c].split(" ", 1)[-1]
    x = _nan_sum(get_matrix(adata), indicator)
    out = ad.AnnData(X=x, obs=adata.obs.copy(), var=var, uns=dict(adata.uns))
    for name in adata.layers:
        m = get_matrix(adata, name)
        if name == "rt":
            total = _nan_sum(m, indicator)
            n_obs_rt = (~np.isnan(m)).astype(float) @ indicator
            with np.errstate(invalid="ignore", divide="ignore"):
                out.layers[name] = total / n_obs_rt
        else:
            out.layers[name] = _nan_sum(m, indicator)
    record_provenance(
        out, "kratom_omics.pp.merge_histone_forms", {"groups": [list(g) for g in expanded]}
    )
    if copy:
        return out
    adata._init_as_actual(out)
    return None


def filter_histone(
    adata: AnnData,
    *,
    min_presence: float = 0.5,
    groupby: str | None = None,
    min_area: float | None = None,
    max_cv: float | None = None,
    sentinels: Sequence[str] = DEFAULT_SENTINELS,
    remove_failed_samples: bool = False,
    layer: str | None = "raw",
    copy: bool = False,
) -> AnnData | None:
    """Common QC filters of histone PTM data: detection, peak area, within-group CV, sentinel marks.

    Parameters
    ----------
    min_presence
        Keep a feature detected in at least this share of the samples (of at least one group with
        ``groupby``).
    groupby
        ``.obs`` column of the groups for ``min_presence`` and ``max_cv``.
    min_area
        Values whose peak area (``layers["area"]``) is below this are set missing in ``.X`` (not in
        ``layers["raw"]``) before the presence filter.
    max_cv
        Remove features whose median within-group coefficient of variation of the ratios exceeds
        this (e.g. 0.5).
    sentinels
        Abundant, stable marks (default H3K27me2, H4K20me2): features whose ``marks`` (or name)
        match are sentinels. A sample missing any sentinel fails QC (``.obs["histone_qc_pass"]``).
    remove_failed_samples
        Also drop the samples that fail the sentinel check.
    layer
        Layer of the ratios for the CV (``None`` = ``.X``).

    Returns
    -------
    None, or the filtered copy when ``copy=True``. Writes ``.var["presence"]`` (share of samples
    detected, maximum over groups), ``.var["cv"]`` (median within-group CV),
    ``.obs["sentinels_missing"]`` and ``.obs["histone_qc_pass"]``, ``.uns["filter_histone"]``
    (parameters and numbers removed); features (and failed samples when asked) are removed.
    """
    if not 0 <= min_presence <= 1:
        raise InputFormatError(f"min_presence={min_presence}; expected a share in [0, 1].")
    adata = start(adata, copy)
    x = get_matrix(adata).copy()
    if min_area is not None:
        check_layer(adata, "area")
        area = get_matrix(adata, "area")
        low = ~(area >= min_area) & ~np.isnan(x)
        x[low] = np.nan
        adata.X = x
        logger.info(
            "filter_histone: %d values with area < %g set missing", int(low.sum()), min_area
        )
    present = ~np.isnan(x)
    if groupby is not None:
        levels, codes = group_codes(adata, groupby)
        onehot = np.zeros((adata.n_obs, len(levels)))
        ok = codes >= 0
        onehot[np.flatnonzero(ok), codes[ok]] = 1.0
        share = (onehot.T @ present) / np.maximum(onehot.sum(axis=0), 1)[:, None]
        presence = share.max(axis=0)
    else:
        onehot = np.ones((adata.n_obs, 1))
        presence = present.mean(axis=0)
    ratio = get_matrix(adata, layer).copy()
    ratio[~present] = np.nan
    n_g = (onehot.T @ (~np.isnan(ratio))).astype(float)
    filled = np.nan_to_num(ratio)
    mean = (onehot.T @ filled) / np.where(n_g > 0, n_g, np.nan)
    ss = onehot.T @ (filled**2) - n_g * mean**2
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(ss, 0) / np.where(n_g > 1, n_g - 1, np.nan))
        cv_g = sd / mean
    cv = np.full(adata.n_vars, np.nan)
    has = ~np.all(np.isnan(cv_g), axis=0)
    cv[has] = np.nanmedian(cv_g[:, has], axis=0)
    adata.var["presence"] = presence
    adata.var["cv"] = cv
    keep = presence >= min_presence - 1e-12
    n_presence = int((~keep).sum())
    if max_cv is not None:
        bad_cv = cv > max_cv
        keep &= ~bad_cv
    # sentinel marks
    name_or_marks = adata.var["marks"].astype(str) if "marks" in adata.var.columns else None
    is_sentinel = np.zeros(adata.n_vars, dtype=bool)
    for s in sentinels:
        hit = adata.var_names == s
        if name_or_marks is not None:
            hit |= name_or_marks.to_numpy() == s
        if not hit.any():
            import warnings

            warnings.warn(
                f"filter_histone: sentinel {s!r} is not a feature or a form's marks; not checked.",
                KratomOmicsWarning,
                stacklevel=2,
            )
        is_sentinel |= hit
    missing_sent = (~present[:, is_sentinel]).sum(axis=1)
    adata.obs["sentinels_missing"] = missing_sent.astype(np.int64)
    adata.obs["histone_qc_pass"] = missing_sent == 0
    failed = list(adata.obs_names[missing_sent > 0])
    if failed:
        logger.warning(
            "filter_histone: sample(s) %s miss sentinel forms %s", failed, list(sentinels)
        )
    summary = {
        "min_presence": min_presence,
        "groupby": groupby,
        "min_area": min_area,
        "max_cv": max_cv,
        "sentinels": list(sentinels),
        "remove_failed_samples": remove_failed_samples,
        "n_removed_presence": n_presence,
        "n_removed_cv": int((~keep).sum()) - n_presence,
        "failed_samples": failed,
    }
    adata.uns["filter_histone"] = {k: v for k, v in summary.items() if v is not None}
    record_provenance(adata, "kratom_omics.pp.filter_histone", summary)
    rows = (
        ~adata.obs["histone_qc_pass"].to_numpy()
        if remove_failed_samples
        else np.zeros(adata.n_obs, bool)
    )
    sub = adata[~rows, keep].copy()
    if copy:
        return sub
    adata._init_as_actual(sub)
    return None


def histone_transform(
    adata: AnnData,
    method: Literal["logit", "clr", "log2"] = "logit",
    *,
    layer: str | None = "raw",
    by: str = "peptide_family",
    eps: float = 1e-6,
    copy: bool = False,
) -> AnnData | None:
    """Transform within-family ratios to a scale for linear models.

    Ratios of the forms of one peptide family sum to 1, so a rise of one form lowers the others.
    ``"logit"`` gives each ratio's log2 odds, ``log2(p / (1 - p))``; ``"clr"`` the centred log
    ratio within the family, ``log2(p) - mean(log2(p))`` over the forms detected in that sample;
    ``"log2"`` plain ``log2(p)``.

    Parameters
    ----------
    method
        ``"logit"``, ``"clr"`` or ``"log2"``.
    layer
        Layer of the ratios (default ``layers["raw"]`` as loaded; ``None`` = ``.X``).
    by
        ``.var`` column of the compositions for ``"clr"`` (peptide family).
    eps
        Ratios are clipped to ``[eps, 1 - eps]`` for ``"logit"`` (0 and 1 have no finite odds).

    Returns
    -------
    None, or the transformed copy when ``copy=True``. Writes ``.X`` and
    ``uns["kratom_omics"]["x_transform"]`` (``"logit"``, ``"clr"`` or ``"log2"``).
    """
    adata = start(adata, copy)
    p = get_matrix(adata, layer)
    finite = p[~np.isnan(p)]
    if finite.size and (finite.min() < 0 or (method == "logit" and finite.max() > 1)):
        raise InputFormatError(
            f"histone_transform(method={method!r}): values range over [{finite.min():g}, "
            f"{finite.max():g}]; expected ratios in [0, 1] (use layer='raw' for ratios as loaded)."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "logit":
            q = np.clip(p, eps, 1 - eps)
            out = np.log2(q / (1 - q))
        elif method in ("log2", "clr"):
            out = np.log2(np.where(p > 0, p, np.nan))
            if method == "clr":
                if by not in adata.var.columns:
                    raise KeyNotFoundError(
                        f"by={by!r} is not a column of adata.var; the centred log ratio needs the "
                        "composition each feature belongs to (peptide_family)."
                    )
                fam = adata.var[by].astype(str).to_numpy()
                means = pd.DataFrame(out.T).groupby(fam).transform("mean").to_numpy().T
                out = out - means
        else:
            raise InputFormatError(f"method={method!r}; expected 'logit', 'clr' or 'log2'.")
    adata.X = out
    set_x_transform(adata, method)
    record_provenance(
        adata,
        "kratom_omics.pp.histone_transform",
        {"method": method, "layer": layer, "by": by, "eps": eps},
    )
    return adata if copy else None
