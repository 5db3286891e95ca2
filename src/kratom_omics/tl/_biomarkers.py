"""Flag withdrawal markers: each feature's status per contrast, and each expected candidate's fate.

:func:`flag_biomarkers` reads the result of :func:`kratom_omics.tl.differential`
(``adata.uns[key]["table"]``: one row per feature and contrast with ``log2fc`` and ``padj``) and a
candidate list (:func:`kratom_omics.io.read_candidates`). A feature is *significant* in a contrast
when ``padj < alpha`` and ``|log2fc| >= min_abs_log2fc``; a feature detected in one group only
(``log2fc`` of ``+inf``/``-inf``, from an on/off detection test) has status ``"on/off"``.

Candidates are matched to features

- proteins: by symbol, ignoring letter case (``RAB35``, ``Rab35`` and ``rab35`` are one candidate
  across human, rat and mouse spellings), inside protein groups (``Rab35;Rab1a``) and in UniProt
  entry names (``RAB35_RAT``, also inside ids like ``sp|Q5U316|RAB35_RAT``); the candidate's
  ``aliases`` are matched too. Symbols are read from ``.var["gene"]`` (or ``genes``,
  ``gene_names``, ``Gene names``, ``symbol``) and from the feature ids.
- histone marks: by mark name (``H3K9ac``) in ``.var["marks"]`` / ``.var["mark"]``
  (``;``-separated site marks such as ``"H3K9ac;H3K14ac"``) and in feature names, both EpiProfile
  peptidoforms (``"H3_9_17 K9ac"``, ``"H3_9_17 K9acK14ac"``: the histone is read from the peptide
  family) and site-level names (``"H3K9ac"``). Histone variants count as their core histone (H3.3
  as H3).
- signal tracks (:func:`kratom_omics.io.read_bigwig`: regions such as promoters, one mark per
  dataset in ``.uns["tracks"]["mark"]``): a histone-mark candidate matches every region when it
  names the dataset's mark (H3K9ac candidates are matched at the promoters of an H3K9ac ChIP),
  never by the regions' names; protein candidates are not measured there
  (:func:`kratom_omics.tl.cross_modality` pairs each protein with the mark at its gene's
  promoter).

A candidate absent from the data is kept, with status ``"not measured"``.

A candidate is *concordant* when its reported feature is significant and changes in the expected
direction (:func:`is_concordant`, the one definition the candidate table, the log line and the
report share); ``concordant`` is False for a candidate tested but not significant or changing the
other way, and missing for one not measured or not tested.

The ROC AUCs are given in the direction of the change they describe, so that a perfect marker
scores 1 whether it goes up or down: a feature's ``auc`` is the probability that a sample of the
group where it is higher has the higher value (its direction in ``auc_direction``, e.g.
``"withdrawal > control"``), and a candidate's ``auc`` is taken in its expected direction.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import get_matrix, record_provenance, track_info, track_mark
from .._defaults import BIOMARKERS
from .._results import get_result
from ..errors import DesignError, InputFormatError, ResultNotFoundError
from ._performance import _auc, auc_with_ci

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = [
    "CANDIDATE_STATUSES",
    "FEATURE_STATUSES",
    "cross_table",
    "flag_biomarkers",
    "is_concordant",
]

log = logging.getLogger("kratom_omics")

#: Status of a feature in a contrast.
FEATURE_STATUSES: tuple[str, ...] = ("up", "down", "on/off", "not significant", "not tested")
#: Status of a candidate in its contrast.
CANDIDATE_STATUSES: tuple[str, ...] = (
    "concordant",
    "discordant",
    "on/off",
    "not significant",
    "not tested",
    "not measured",
)

_SYMBOL_COLUMNS = ("gene", "genes", "gene_names", "Gene names", "gene_name", "symbol", "Gene")
_MARK_COLUMNS = ("marks", "mark")
_ENTRY_NAME = re.compile(r"^([A-Za-z0-9]+)_(?:RAT|MOUSE|HUMAN)$")
_HISTONE_CORE = re.compile(r"^(H2A|H2B|H3|H4|H1)", re.IGNORECASE)
_SITE_MARK = re.compile(
    r"([KRSTY]\d+)(ac|me[123]?|ph|ub|cr|bu|pr|su|ma|hib|bz|la|gl|ox)", re.IGNORECASE
)
_EPIPROFILE = re.compile(r"^(H[0-9A-Za-z.]+?)_\d+_\d+\s+(.+)$")
_SITE_LEVEL = re.compile(
    r"(H2A|H2B|H3|H4|H1)[0-9A-Za-z.]*?[\s_:.-]?([KRSTY]\d+)(ac|me[123]?|ph|ub|cr|bu|pr|su|ma|hib|bz|la)",
    re.IGNORECASE,
)


# -------------------------------------------------------------------------------------------------
# matching
# -------------------------------------------------------------------------------------------------


def normalize_mark(text: str) -> str:
    """``"H3K9ac"``, ``"H3.3 K9ac"``, ``"h3-k9Ac"`` -> ``"h3k9ac"``; ``""`` for a non-mark."""
    m = _SITE_LEVEL.search(str(text))
    if m is None:
        return ""
    core = _HISTONE_CORE.match(m.group(1))
    return (
        f"{(core.group(1) if core else m.group(1)).lower()}{m.group(2).lower()}{m.group(3).lower()}"
    )


def _join_lower(parts: tuple[str, ...]) -> str:
    return "".join(parts).lower()


def _long_tokens(values: pd.Series, sep: str = r"[;,|]") -> pd.DataFrame:
    """One row per (feature position, token) from ``;``-separated cells (vectorised)."""
    s = values.astype(object).where(values.notna(), "").astype(str)
    exploded = s.str.split(sep).explode()
    parts = exploded.astype(str).str.strip()
    out = pd.DataFrame({"pos": parts.index.to_numpy(), "token": parts.to_numpy()})
    return out[out["token"] != ""]


def _protein_index(var: pd.DataFrame) -> pd.DataFrame:
    """Long table of (feature position, casefolded symbol) from symbol columns and feature ids."""
    frames = []
    reset = var.reset_index(drop=True)
    for col in _SYMBOL_COLUMNS:
        if col in reset.columns:
            frames.append(_long_tokens(reset[col]))
    frames.append(_long_tokens(pd.Series(np.asarray(var.index, dtype=object))))
    long = pd.concat(frames, ignore_index=True)
    # UniProt entry names ("RAB35_RAT", as in "sp|Q5U316|RAB35_RAT") also give their symbol
    entry = long["token"].str.extract(_ENTRY_NAME, expand=False).dropna()
    if len(entry):
        long = pd.concat(
            [long, pd.DataFrame({"pos": long.loc[entry.index, "pos"], "token": entry})]
        )
    long["key"] = long["token"].str.casefold()
    return long.drop_duplicates(["pos", "key"])


def _histone_index(var: pd.DataFrame) -> pd.DataFrame:
    """Long table of (feature position, normalised mark) from mark columns and feature names."""
    frames = []
    reset = var.reset_index(drop=True)
    for col in _MARK_COLUMNS:
        if col in reset.columns:
            t = _long_tokens(reset[col], sep=r"[;,|/]")
            t["key"] = t["token"].map(normalize_mark)
            frames.append(t)
    names = pd.Series(np.asarray(var.index, dtype=str))
    # EpiProfile peptidoforms: "<family> <marks>" with the histone taken from the family
    parts = names.str.extract(_EPIPROFILE)
    has = parts[0].notna()
    if has.any():
        core = parts.loc[has, 0].str.extract(_HISTONE_CORE, expand=False).fillna(parts.loc[has, 0])
        sites = parts.loc[has, 1].str.findall(_SITE_MARK).explode().dropna()
        if len(sites):
            key = core.loc[sites.index].str.lower() + sites.map(_join_lower)
            frames.append(pd.DataFrame({"pos": sites.index.to_numpy(), "key": key.to_numpy()}))
    # site-level names ("H3K9ac", "H3K9ac_H3K14ac", "H3 K9ac")
    site = names[~has].str.findall(_SITE_LEVEL).explode().dropna()
    if len(site):
        key = site.map(_join_lower)
        frames.append(pd.DataFrame({"pos": site.index.to_numpy(), "key": key.to_numpy()}))
    if not frames:
        return pd.DataFrame({"pos": np.array([], dtype=int), "key": np.array([], dtype=object)})
    long = pd.concat([f[["pos", "key"]] for f in frames], ignore_index=True)
    long = long[long["key"] != ""]
    return long.drop_duplicates()


def match_candidates(
    var: pd.DataFrame, candidates: pd.DataFrame, modality: str, *, mark: str | None = None
) -> dict[int, np.ndarray]:
    """Positions of the features matching each candidate row (only rows of ``modality``; with
    ``"mixed"``, e.g. western blots of marks and proteins, every row by its own modality).

    ``mark`` (signal tracks: the one mark of the dataset, ``""`` when unknown) matches the
    histone candidates naming that mark to every feature, and nothing by feature names."""
    kinds = ("protein", "histone") if modality == "mixed" else (modality,)
    by_kind = {
        kind: (_histone_index(var) if kind == "histone" else _protein_index(var))
        .groupby("key")["pos"]
        .apply(lambda s: np.unique(s.to_numpy()))
        .to_dict()
        for kind in kinds
        if not (kind == "histone" and mark is not None)
    }
    if mark is not None and "histone" in kinds:
        key = normalize_mark(mark)
        by_kind["histone"] = {key: np.arange(len(var))} if key else {}
    out: dict[int, np.ndarray] = {}
    for i, row in candidates.reset_index(drop=True).iterrows():
        if row["modality"] not in kinds:
            continue
        by_key = by_kind[row["modality"]]
        names = [
            row["candidate"],
            *[a for a in re.split(r"[;,|]", str(row.get("aliases", ""))) if a.strip()],
        ]
        keys = (
            {normalize_mark(n) for n in names} - {""}
            if row["modality"] == "histone"
            else {n.strip().casefold() for n in names}
        )
        hits = [by_key[k] for k in keys if k in by_key]
        out[int(str(i))] = (
            np.unique(np.concatenate(hits)).astype(int) if hits else np.array([], dtype=int)
        )
    return out


# -------------------------------------------------------------------------------------------------
# inputs
# -------------------------------------------------------------------------------------------------


def _differential(adata: AnnData, key: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    res = get_result(adata, key)
    table = res.table()
    need = ("feature", "contrast", "log2fc", "padj")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputFormatError(
            f"adata.uns[{key!r}]['table'] lacks column(s) {missing}; expected the table written by "
            "kom.tl.differential (feature, contrast, log2fc, padj, ...)."
        )
    params = dict(res.params)
    return table, params


def _infer_modality(adata: AnnData) -> str:
    if track_info(adata) is not None:  # signal tracks of a histone mark (kom.io.read_bigwig)
        return "histone"
    marks = any(c in adata.var.columns for c in ("marks", "mark", "histone", "peptide_family"))
    genes = "gene" in adata.var.columns and (adata.var["gene"].astype(str).str.strip() != "").any()
    if marks and genes:  # e.g. western blots of histone marks and of proteins (HDAC2, Rab35)
        return "mixed"
    sim = adata.uns.get("simulation")
    if isinstance(sim, Mapping) and sim.get("modality") in ("protein", "histone"):
        return str(sim["modality"])
    if marks:
        return "histone"
    return "protein"


def _contrast_levels(contrast: str, levels: Sequence[str]) -> tuple[str, str] | None:
    parts = [p.strip() for p in str(contrast).split(" - ")]
    if len(parts) == 2 and parts[0] in levels and parts[1] in levels:
        return parts[0], parts[1]
    return None


def is_concordant(significant: Any, observed: Any, expected: Any) -> bool:
    """The one definition of a concordant candidate: significant, and changing in the expected
    direction (``observed == expected``, each ``"up"`` or ``"down"``)."""
    return bool(significant is True or significant is np.True_) and str(observed) == str(expected)


def _auc_direction(contrast: str, higher_first: bool) -> str:
    """``"withdrawal > control"`` for contrast ``withdrawal - control`` when the first is higher."""
    parts = [p.strip() for p in str(contrast).split(" - ")]
    if len(parts) != 2:
        return f"{contrast} {'>' if higher_first else '<'} 0"
    return f"{parts[0]} {'>' if higher_first else '<'} {parts[1]}"


def _oriented(
    auc: np.ndarray, lo: np.ndarray, hi: np.ndarray, flip: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUC and interval of the other group where ``flip`` (``1 - auc``; the bounds swap)."""
    return (
        np.where(flip, 1.0 - auc, auc),
        np.where(flip, 1.0 - hi, lo),
        np.where(flip, 1.0 - lo, hi),
    )


def _label(var: pd.DataFrame) -> np.ndarray:
    for col in _SYMBOL_COLUMNS:
        if col in var.columns:
            lab = var[col].astype(object).where(var[col].notna(), "").astype(str).to_numpy()
            return np.where(lab == "", np.asarray(var.index, dtype=str), lab)
    return np.asarray(var.index, dtype=str)


# -------------------------------------------------------------------------------------------------
# flag_biomarkers
# -------------------------------------------------------------------------------------------------


def flag_biomarkers(
    adata: AnnData,
    key: str = "differential",
    candidates: str | os.PathLike | pd.DataFrame | None = None,
    *,
    alpha: float = BIOMARKERS.alpha,
    min_abs_log2fc: float = BIOMARKERS.min_abs_log2fc,
    key_added: str = "biomarkers",
    modality: Literal["protein", "histone", "mixed"] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ci_method: Literal["bootstrap", "delong"] = "bootstrap",
) -> None:
    """Flag significant features and report every expected candidate marker.

    Parameters
    ----------
    adata
        Samples x features with a result of :func:`kratom_omics.tl.differential` in
        ``adata.uns[key]``.
    key
        Key of the differential result.
    candidates
        Candidate list: a ``candidates.tsv`` path or a DataFrame (see
        :func:`kratom_omics.io.read_candidates`); ``None`` uses the list shipped with the package.
    alpha
        FDR level: a feature is significant when ``padj < alpha`` ...
    min_abs_log2fc
        ... and ``|log2fc| >= min_abs_log2fc`` (0.58 = a 1.5-fold change).
    key_added
        Key of ``adata.uns`` for the result.
    modality
        What the features are (``"protein"`` or ``"histone"``); candidates of the other modality are
        reported as not measured. ``"mixed"`` (western blots of marks and proteins) matches each
        candidate by its own modality. ``None`` infers it (histone for signal tracks, which carry
        ``.uns["tracks"]``, and when ``.var`` has ``marks``/``mark``/``histone``/
        ``peptide_family`` columns; mixed when it also has gene symbols). The histone candidates
        of signal tracks are matched by the tracks' mark (``.uns["tracks"]["mark"]``, from
        ``read_bigwig(mark=...)``) to every region.
    n_boot, confidence, seed
        Bootstrap of the ROC AUC intervals (for candidate features and significant features).
    ci_method
        ``"bootstrap"`` (stratified percentile bootstrap) or ``"delong"`` for the AUC intervals.

    Returns
    -------
    None. Writes ``adata.uns[key_added]`` = ``{"params", "features", "candidates"}``:

    ``features``
        One row per feature and contrast: ``feature, label, contrast, log2fc, padj, significant,
        direction ("up"/"down"/""), status`` (one of :data:`FEATURE_STATUSES`), ``candidates``
        (matched candidate names, ``;``-separated), ``auc`` (ROC AUC in the direction of the change:
        a feature lower in the contrast's first group is scored as lower there, so that 1 is a
        perfect separation either way), ``auc_direction`` (e.g. ``"withdrawal < control"``),
        ``auc_ci_low, auc_ci_high`` (for significant and candidate features) and
        ``n_detected_<group>`` (samples with a measured, non-imputed value per group).
    ``candidates``
        One row per candidate: ``candidate, modality, contrast, expected, evidence, found,
        n_features, features, best_feature, label, log2fc, padj, significant, observed, concordant,
        n_significant, n_concordant, n_detected_<group>, auc, auc_direction, auc_ci_low,
        auc_ci_high, status`` (one of :data:`CANDIDATE_STATUSES`) and ``note``. ``best_feature`` is
        the matched feature reported (a significant one first, then the lowest ``padj``); the counts
        cover all matched features. ``concordant`` follows :func:`is_concordant`; ``auc`` is taken
        in the expected direction (a perfect down-marker has 1.0, ``auc_direction`` says
        ``"withdrawal < control"``).

    ``kom.get.biomarkers(adata, key=key_added, table="candidates" | "features")`` returns them.
    """
    from ..io._candidates import read_candidates

    if not 0 < alpha < 1:
        raise DesignError(f"alpha={alpha}; expected an FDR level between 0 and 1 (e.g. 0.05).")
    if min_abs_log2fc < 0:
        raise DesignError(
            f"min_abs_log2fc={min_abs_log2fc}; expected 0 or a positive log2 fold change."
        )
    if modality is not None and modality not in ("protein", "histone", "mixed"):
        raise DesignError(
            f"modality={modality!r}; expected 'protein', 'histone', 'mixed' or None to infer it."
        )
    table, dparams = _differential(adata, key)
    cands = read_candidates(candidates)
    mod = modality or _infer_modality(adata)
    groupby = str(dparams.get("groupby", "phase"))
    layer = dparams.get("layer")
    layer = None if layer in (None, "", "X") else str(layer)

    var_names = pd.Index(adata.var_names)
    pos = var_names.get_indexer(table["feature"].astype(str))
    if (pos < 0).any():
        unknown = table["feature"][pos < 0].iloc[0]
        raise InputFormatError(
            f"adata.uns[{key!r}]['table'] names feature {unknown!r} that is not in adata.var_names "
            f"({int((pos < 0).sum())} rows); was the AnnData subset after kom.tl.differential? "
            "Re-run it."
        )

    # groups, detection and values for AUCs
    x = get_matrix(adata, layer)
    detected = ~np.isnan(x)
    if "imputed_mask" in adata.layers:
        detected &= ~np.asarray(adata.layers["imputed_mask"], dtype=bool)
    if groupby in adata.obs.columns:
        gcol = adata.obs[groupby]
        levels = (
            [str(c) for c in gcol.cat.categories]
            if isinstance(gcol.dtype, pd.CategoricalDtype)
            else list(pd.unique(gcol.dropna().astype(str)))
        )
        group = gcol.astype(str).to_numpy()
    else:
        log.warning(
            "flag_biomarkers: groupby %r not in adata.obs; no detection counts or AUCs", groupby
        )
        levels, group = [], np.array([], dtype=str)
    n_det = {lv: detected[group == lv].sum(axis=0) for lv in levels}

    # feature table
    feats = table[["feature", "contrast"]].copy().reset_index(drop=True)
    feats["feature"] = feats["feature"].astype(str)
    feats["contrast"] = feats["contrast"].astype(str)
    feats.insert(1, "label", _label(adata.var)[pos])
    lfc = pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float)
    padj = pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float)
    feats["log2fc"] = lfc
    feats["padj"] = padj
    feats = _flag(feats, alpha, min_abs_log2fc)
    tracks = track_info(adata) is not None and mod == "histone"
    mark = track_mark(adata) if tracks else None
    matches = match_candidates(adata.var, cands, mod, mark=mark)
    names_of = pd.Series([""] * adata.n_vars, dtype=object)
    for i, hit in matches.items():
        for j in hit:
            names_of[j] = (
                f"{names_of[j]};{cands['candidate'][i]}" if names_of[j] else cands["candidate"][i]
            )
    feats["candidates"] = names_of.to_numpy()[pos]

    # AUCs per contrast
    auc = np.full(len(feats), np.nan)
    lo, hi = auc.copy(), auc.copy()
    with_ci = _interval_rows(feats, pos, matches, adata.n_vars)
    for k, contrast in enumerate(pd.unique(feats["contrast"])):
        pair = _contrast_levels(contrast, levels)
        if pair is None:
            continue
        rows = np.flatnonzero(feats["contrast"].to_numpy() == contrast)
        cols = pos[rows]
        xa, xb = x[group == pair[0]][:, cols], x[group == pair[1]][:, cols]
        auc[rows] = _auc(xa, xb)
        want = with_ci[rows]
        if want.any() and (n_boot > 0 or ci_method == "delong"):
            _, l_, h_ = auc_with_ci(
                xa[:, want],
                xb[:, want],
                n_boot=n_boot,
                confidence=confidence,
                seed=seed + k,
                method=ci_method,
            )
            lo[rows[want]], hi[rows[want]] = l_, h_
    # in the direction of the change: a feature lower in the first group is scored as lower there
    down = lfc < 0
    feats["auc"], feats["auc_ci_low"], feats["auc_ci_high"] = _oriented(auc, lo, hi, down)
    feats["auc_direction"] = [
        _auc_direction(c, not d) for c, d in zip(feats["contrast"], down, strict=True)
    ]
    for lv in levels:
        feats[f"n_detected_{lv}"] = np.asarray(n_det[lv])[pos].astype(np.int64)

    cand_table = _candidate_rows(cands, matches, feats, pos, mod, levels, alpha, adata)
    if tracks:
        _track_notes(cand_table, mark or "")

    params: dict[str, Any] = {
        "key": key,
        "alpha": alpha,
        "min_abs_log2fc": min_abs_log2fc,
        "modality": mod,
        "groupby": groupby,
        "candidates": "default"
        if candidates is None
        else ("DataFrame" if isinstance(candidates, pd.DataFrame) else str(candidates)),
        "n_boot": n_boot,
        "confidence": confidence,
        "seed": seed,
        "ci_method": ci_method,
        "mark": mark or "",
    }
    adata.uns[key_added] = {"params": params, "features": feats, "candidates": cand_table}
    record_provenance(adata, "kratom_omics.tl.flag_biomarkers", {**params, "key_added": key_added})
    n_sig = int(feats["significant"].sum())
    conc = cand_table["concordant"].fillna(False).astype(bool)
    log.info(
        "flag_biomarkers: %d significant feature-contrast pairs; %d of %d candidates concordant "
        "(significant in the expected direction%s); %d not measured in these data",
        n_sig,
        int(conc.sum()),
        len(cand_table),
        (": " + ", ".join(cand_table.loc[conc, "candidate"].astype(str))) if conc.any() else "",
        int((cand_table["status"] == "not measured").sum()),
    )


#: A candidate matching more features than this (a mark over every promoter of a track) gets AUC
#: intervals only for its significant, on/off and smallest-padj features, not for every one.
_CI_MAX_MATCHES = 50


def _interval_rows(
    feats: pd.DataFrame, pos: np.ndarray, matches: Mapping[int, np.ndarray], n_vars: int
) -> np.ndarray:
    """Rows of the feature table whose AUC gets an interval: significant features and the
    features of candidates (of a candidate matching many features, those it may report)."""
    want = feats["significant"].to_numpy().copy()
    small = np.zeros(n_vars, dtype=bool)
    broad = []
    for hit in matches.values():
        if hit.size <= _CI_MAX_MATCHES:
            small[hit] = True
        else:
            broad.append(hit)
    want |= small[pos]
    if broad:
        contrast = feats["contrast"].to_numpy()
        padj = feats["padj"].fillna(2.0).to_numpy()
        onoff = (feats["status"] == "on/off").to_numpy()
        for hit in broad:
            member = np.isin(pos, hit)
            want |= member & onoff
            for c in pd.unique(contrast[member]):
                rows = member & (contrast == c)
                want |= rows & (padj == padj[rows].min())
    return want


def _track_notes(cand_table: pd.DataFrame, mark: str) -> None:
    """Say why candidates are not measured in signal tracks (of ``mark``)."""
    unmeasured = cand_table["status"] == "not measured"
    protein = unmeasured & (cand_table["modality"] == "protein")
    cand_table.loc[protein, "note"] = (
        f"protein candidate; these data are {mark or 'signal'} tracks (kom.tl.cross_modality "
        "pairs the protein with the mark at its gene's promoter)"
    )
    histone = unmeasured & (cand_table["modality"] == "histone")
    cand_table.loc[histone, "note"] = (
        f"these tracks hold {mark}, another mark"
        if mark
        else "the tracks' mark is not recorded; read them with kom.io.read_bigwig(mark=...) or a "
        "'mark' column in the sample sheet"
    )


def _flag(feats: pd.DataFrame, alpha: float, min_abs_log2fc: float) -> pd.DataFrame:
    lfc = feats["log2fc"].to_numpy()
    padj = feats["padj"].to_numpy()
    tested = ~np.isnan(lfc)
    onoff = np.isinf(lfc)
    with np.errstate(invalid="ignore"):
        sig = tested & (padj < alpha) & (np.abs(lfc) >= min_abs_log2fc)
    direction = np.where(tested & (lfc > 0), "up", np.where(tested & (lfc < 0), "down", ""))
    status = np.select(
        [~tested, onoff, sig],
        ["not tested", "on/off", direction],
        default="not significant",
    )
    feats["significant"] = sig
    feats["direction"] = np.where(sig | onoff, direction, "")
    feats["status"] = status
    return feats


def _candidate_rows(
    cands: pd.DataFrame,
    matches: dict[int, np.ndarray],
    feats: pd.DataFrame,
    pos: np.ndarray,
    mod: str,
    levels: Sequence[str],
    alpha: float,
    adata: AnnData,
) -> pd.DataFrame:
    contrasts = set(feats["contrast"])
    var_names = np.asarray(adata.var_names, dtype=str)
    rows = []
    for i, c in cands.reset_index(drop=True).iterrows():
        i = int(str(i))
        row: dict[str, Any] = {
            "candidate": c["candidate"],
            "modality": c["modality"],
            "contrast": c["contrast"],
            "expected": c["direction"],
            "evidence": c["evidence"],
            "found": False,
            "n_features": 0,
            "features": "",
            "best_feature": "",
            "label": "",
            "log2fc": np.nan,
            "padj": np.nan,
            "significant": pd.NA,
            "observed": "",
            "concordant": pd.NA,
            "n_significant": 0,
            "n_concordant": 0,
            **{f"n_detected_{lv}": 0 for lv in levels},
            "auc": np.nan,
            "auc_direction": "",
            "auc_ci_low": np.nan,
            "auc_ci_high": np.nan,
            "status": "not measured",
            "note": "",
        }
        hit = matches.get(i, np.array([], dtype=int))
        if mod != "mixed" and c["modality"] != mod:
            row["note"] = f"{c['modality']} candidate; these data are {mod}"
            rows.append(row)
            continue
        if hit.size == 0:
            row["note"] = "no feature matches this candidate"
            rows.append(row)
            continue
        row["found"] = True
        row["n_features"] = int(hit.size)
        row["features"] = ";".join(var_names[hit][:20]) + (";..." if hit.size > 20 else "")
        sign = 1.0
        contrast = c["contrast"]
        if contrast not in contrasts:
            a, b = contrast.split(" - ")
            if f"{b} - {a}" in contrasts:
                contrast, sign = f"{b} - {a}", -1.0
            else:
                row["status"] = "not tested"
                row["note"] = (
                    f"contrast {c['contrast']!r} not in the differential results "
                    f"{sorted(contrasts)}"
                )
                _most_detected(row, hit, feats, pos, levels, var_names)
                rows.append(row)
                continue
        sub = feats[(feats["contrast"] == contrast) & np.isin(pos, hit)].copy()
        sub = sub[sub["status"] != "not tested"]
        if sub.empty:
            row["status"] = "not tested"
            row["note"] = "matched features have no result in this contrast"
            _most_detected(row, hit, feats, pos, levels, var_names)
            rows.append(row)
            continue
        lfc = sub["log2fc"].to_numpy() * sign
        obs_dir = np.where(lfc > 0, "up", np.where(lfc < 0, "down", ""))
        conc = obs_dir == c["direction"]
        sig = sub["significant"].to_numpy()
        onoff = np.isinf(lfc)
        order = np.lexsort(
            (
                -np.abs(np.nan_to_num(lfc, posinf=1e300, neginf=1e300)),
                sub["padj"].fillna(2.0).to_numpy(),
                ~(sig | onoff),
            )
        )
        b = order[0]
        best = sub.iloc[b]
        # the stored AUC is in the feature's own direction: back to "first group higher" in the
        # candidate's contrast, then to the expected direction
        first_higher = float(best["log2fc"]) >= 0 if np.isfinite(best["log2fc"]) else True
        a_raw, l_raw, h_raw = _oriented(
            np.array([best["auc"]]),
            np.array([best["auc_ci_low"]]),
            np.array([best["auc_ci_high"]]),
            np.array([not first_higher]),
        )
        flip = np.array([(sign < 0) != (c["direction"] == "down")])
        a_exp, l_exp, h_exp = _oriented(a_raw, l_raw, h_raw, flip)
        row.update(
            {
                "best_feature": best["feature"],
                "label": best["label"],
                "log2fc": float(lfc[b]),
                "padj": float(best["padj"]),
                "significant": bool(sig[b]),
                "observed": obs_dir[b],
                "concordant": is_concordant(bool(sig[b]), obs_dir[b], c["direction"]),
                "n_significant": int(sig.sum()),
                "n_concordant": int((sig & conc).sum()),
                **{f"n_detected_{lv}": int(best[f"n_detected_{lv}"]) for lv in levels},
                "auc": float(a_exp[0]),
                "auc_direction": _auc_direction(c["contrast"], c["direction"] != "down"),
                "auc_ci_low": float(l_exp[0]),
                "auc_ci_high": float(h_exp[0]),
            }
        )
        if onoff[b]:
            row["status"] = "on/off"
            row["note"] = (
                f"detected in one group only ({'up' if lfc[b] > 0 else 'down'} in {c['contrast']})"
            )
        elif sig[b]:
            row["status"] = "concordant" if row["concordant"] else "discordant"
        else:
            row["status"] = "not significant"
        if sign < 0:
            row["note"] = (
                row["note"] + "; " if row["note"] else ""
            ) + f"read from {contrast!r} with sign flipped"
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("significant", "concordant"):
        out[col] = out[col].astype("boolean")
    for col in (
        "n_features",
        "n_significant",
        "n_concordant",
        *[f"n_detected_{lv}" for lv in levels],
    ):
        out[col] = out[col].astype(np.int64)
    return out


def _most_detected(
    row: dict[str, Any],
    hit: np.ndarray,
    feats: pd.DataFrame,
    pos: np.ndarray,
    levels: Sequence[str],
    var_names: np.ndarray,
) -> None:
    """Report the matched feature detected in the most samples (for candidates without a test)."""
    sub = feats[np.isin(pos, hit)].drop_duplicates("feature")
    if sub.empty:
        row["best_feature"] = var_names[hit[0]]
        return
    cols = [f"n_detected_{lv}" for lv in levels]
    best = sub.iloc[int(np.argmax(sub[cols].sum(axis=1).to_numpy()))] if cols else sub.iloc[0]
    row["best_feature"] = best["feature"]
    row["label"] = best["label"]
    for col in cols:
        row[col] = int(best[col])


# -------------------------------------------------------------------------------------------------
# cross-modality view
# -------------------------------------------------------------------------------------------------

CROSS_COLUMNS: tuple[str, ...] = (
    "contrast",
    "modality",
    "candidate",
    "expected",
    "observed",
    "log2fc",
    "padj",
    "significant",
    "concordant",
    "auc",
    "auc_direction",
    "status",
    "best_feature",
    "n_features",
    "dataset",
    "evidence",
)


def _as_mapping(data: Mapping[str, AnnData] | MuData) -> Mapping[str, AnnData]:
    if hasattr(data, "mod") and isinstance(data.mod, Mapping):  # MuData
        return dict(data.mod)
    if isinstance(data, Mapping):
        return data
    raise InputFormatError(
        "expected a mapping of modality name to AnnData (e.g. "
        f"{{'protein': adata_p, 'histone': adata_h}}) "
        f"or a MuData; got {type(data).__name__}."
    )


def cross_table(data: Mapping[str, AnnData] | MuData, key: str = "biomarkers") -> pd.DataFrame:
    """Side-by-side candidates of several modalities from stored :func:`flag_biomarkers` results."""
    mapping = _as_mapping(data)
    frames = []
    for name, ad in mapping.items():
        if key not in ad.uns or "candidates" not in ad.uns[key]:
            raise ResultNotFoundError(
                f"dataset {name!r} has no biomarker result under adata.uns[{key!r}]; run "
                f"kom.tl.flag_biomarkers(adata, key_added={key!r}) on it first, or use "
                "kom.tl.cross_modality."
            )
        res = ad.uns[key]
        mod = str(res["params"]["modality"])
        t = res["candidates"]
        t = (t if mod == "mixed" else t[t["modality"] == mod]).copy()
        t["dataset"] = str(name)
        frames.append(t)
    both = pd.concat(frames, ignore_index=True)
    # candidates of a modality no dataset measured: keep them, as not measured
    first = next(iter(mapping.values())).uns[key]["candidates"]
    covered = set(both["modality"])
    rest = first[~first["modality"].isin(covered)].copy()
    if not rest.empty:
        rest["dataset"] = ""
        rest["note"] = "no dataset of this modality"
        both = pd.concat([both, rest], ignore_index=True)
    order_c = {c: i for i, c in enumerate(pd.unique(first["contrast"]))}
    order_m = {"protein": 0, "histone": 1}
    both["_c"] = both["contrast"].map(order_c).fillna(len(order_c))
    both["_m"] = both["modality"].map(order_m).fillna(2)
    both = both.sort_values(["_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
    return both.reindex(columns=list(CROSS_COLUMNS)).reset_index(drop=True)
