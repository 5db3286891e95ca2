"""Simulated histone-mark assays besides PTM mass spectrometry: western blots and read counts.

:func:`simulate_western` draws band signals of H3K9ac, H4K12ac, total H3 and H4, Hdac2, Rab35 and
the loading control Gapdh on several blots (each blot holds samples of every phase, with its own
exposure), normalises them as :func:`kratom_omics.io.read_densitometry` does and keeps the raw long
table in ``.uns["densitometry"]`` for
:func:`~kratom_omics.datasets._writers_histone.write_densitometry`.

:func:`simulate_counts` draws featureCounts-like read counts of an acetylation mark over promoter
regions, with a global loss of the mark in withdrawal on top of region-specific changes, plus
background bins (unchanged) and spike-in chromatin regions added in proportion to the cells.
Library-
size normalisation hides the global loss; spike-in scaling recovers it.

Both are reached through ``kom.datasets.simulate(modality="histone", assay="western" | "counts")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, record_provenance
from ..errors import DesignError, InputFormatError
from ._design import StudyDesign, contrast_names, make_design, rat_genes, truth_column

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["WESTERN_TARGETS", "simulate_assay", "simulate_counts", "simulate_western"]

#: Targets of the simulated blots: (baseline log2 signal, (use, withdrawal) log2 effect, kind).
#: Marks move relative to their total histone, proteins relative to Gapdh.
WESTERN_TARGETS: dict[str, tuple[float, tuple[float, float]]] = {
    "H3K9ac": (13.0, (-0.5, -1.2)),
    "H4K12ac": (12.5, (-0.4, -1.0)),
    "H3": (15.0, (0.0, 0.0)),
    "H4": (14.8, (0.0, 0.0)),
    "Hdac2": (12.0, (0.3, 1.0)),
    "Rab35": (11.5, (0.4, 1.5)),
    "Gapdh": (15.5, (0.0, 0.0)),
}
_HISTONE_OF = {"H3K9ac": "H3", "H4K12ac": "H4"}


def _phase_effects(design: StudyDesign, effects: np.ndarray) -> np.ndarray:
    """Samples x features effect of each sample's phase; ``effects`` is features x (use,
    withdrawal)."""
    codes = design.obs["phase"].cat.codes.to_numpy()
    n_phase = len(design.phases)
    out = np.zeros((codes.size, effects.shape[0]))
    last = codes == n_phase - 1
    out[last] = effects[:, 1]
    mid = (codes > 0) & ~last
    out[mid] = effects[:, 0][None, :] * (codes[mid] / max(n_phase - 2, 1))[:, None]
    return out


def _truth_table(
    design: StudyDesign, effects: np.ndarray, index: pd.Index
) -> tuple[pd.DataFrame, list[str]]:
    n_phase = len(design.phases)
    level = {design.phases[0]: np.zeros(effects.shape[0])}
    for k, p in enumerate(design.phases[1:-1], start=1):
        level[p] = effects[:, 0] * (k / max(n_phase - 2, 1))
    level[design.withdrawal] = effects[:, 1]
    contrasts = contrast_names(design.phases)
    extra = []
    for tp in design.timepoints:
        level[f"{design.withdrawal}_d{tp:g}"] = effects[:, 1]
        extra.append(f"{design.withdrawal}_d{tp:g} - {design.phases[0]}")
    out = {}
    for c in [*contrasts, *extra]:
        a, b = (s.strip() for s in c.split(" - "))
        out[truth_column(c)] = level[a] - level[b]
    truth = pd.DataFrame(out, index=index)
    u, w = effects[:, 0] != 0, effects[:, 1] != 0
    truth["true_pattern"] = np.select(
        [u & w, u & ~w, ~u & w], ["persistent", "use_only", "withdrawal_only"], default="none"
    ).astype(object)
    truth["is_changed"] = u | w
    return truth, contrasts


def simulate_western(
    *,
    seed: int = 0,
    n_per_phase: int = 6,
    phases: Sequence[str] = DEFAULT_PHASES,
    timepoints: Sequence[float] | None = None,
    repeated: bool = False,
    n_blots: int = 3,
    noise_sd: float = 0.15,
    subject_sd: float = 0.2,
) -> AnnData:
    """Simulate western-blot densitometry with planted withdrawal changes.

    Parameters
    ----------
    seed
        Seed of the random generator.
    n_per_phase, phases, timepoints, repeated
        Study design, as in :func:`kratom_omics.datasets.simulate`.
    n_blots
        Number of blots (membranes); samples are spread so that every blot holds every phase.
    noise_sd
        SD (log2) of a band's measurement noise.
    subject_sd
        SD (log2) of an animal's own level of each target in repeated designs.

    Returns
    -------
    AnnData (samples x targets, without the loading control) as
    :func:`kratom_omics.io.read_densitometry` returns it: ``.X`` = log2 fold of the control mean on
    each blot, ``layers["raw"]``, ``layers["normalizer"]``, ``layers["ratio"]``; ``.obs`` with
    ``phase``, ``subject``, ``batch``, ``blot``; ``.var`` with ``kind``, ``normalizer`` and the
    truth (``is_changed``, ``true_pattern``, ``true_log2fc_<a>_vs_<b>``); ``.uns["densitometry"]``
    = the raw long table (``sample``, ``target``, ``signal``, ``blot``, ``lane``) and
    ``.uns["simulation"]``.
    """
    from ..io._densitometry import read_densitometry

    if n_blots < 1:
        raise DesignError(f"n_blots={n_blots}; expected 1 or more.")
    rng = np.random.default_rng(seed)
    design = make_design(
        phases=phases,
        n_per_phase=n_per_phase,
        timepoints=timepoints,
        repeated=repeated,
        n_batches=n_blots,
    )
    obs = design.obs
    targets = list(WESTERN_TARGETS)
    base = np.array([WESTERN_TARGETS[t][0] for t in targets])
    effects = np.array([WESTERN_TARGETS[t][1] for t in targets])
    n_s, n_t = obs.shape[0], len(targets)
    blot = np.array([f"blot{str(b)[1:]}" for b in obs["batch"].astype(str)])
    blot_codes = pd.factorize(blot)[0]
    load = rng.normal(0.0, 0.25, n_s)  # protein loaded per lane: moves every band of the lane
    histone_content = rng.normal(0.0, 0.1, n_s)  # histone per protein: moves H3/H4 and their marks
    exposure = rng.normal(0.0, 0.5, (blot_codes.max() + 1, n_t))  # per blot and antibody
    subj_codes = obs["subject"].cat.codes.to_numpy()
    subject = rng.normal(
        0.0, subject_sd if repeated else 0.0, (len(obs["subject"].cat.categories), n_t)
    )
    is_histone = np.array([t in ("H3", "H4") or t in _HISTONE_OF for t in targets])
    y = (
        base
        + _phase_effects(design, effects)
        + load[:, None]
        + np.where(is_histone, histone_content[:, None], 0.0)
        + exposure[blot_codes]
        + subject[subj_codes]
        + rng.normal(0.0, noise_sd, (n_s, n_t))
    )
    signal = np.round(2.0**y)
    lane = pd.Series(np.arange(n_s)).groupby(blot_codes).cumcount().to_numpy() + 1
    long = pd.DataFrame(
        {
            "sample": np.repeat(obs.index.to_numpy(), n_t),
            "target": np.tile(targets, n_s),
            "signal": signal.ravel(),
            "blot": np.repeat(blot, n_t),
            "lane": np.repeat(lane, n_t),
        }
    )
    adata = read_densitometry(long, obs)
    truth, contrasts = _truth_table(
        design,
        np.array([WESTERN_TARGETS[t][1] for t in adata.var_names]),
        adata.var_names,
    )
    adata.var = pd.concat([adata.var, truth], axis=1)
    adata.uns["densitometry"] = long
    params = {
        "seed": seed,
        "n_per_phase": n_per_phase,
        "phases": list(phases),
        "timepoints": list(timepoints) if timepoints else None,
        "repeated": repeated,
        "n_blots": n_blots,
        "noise_sd": noise_sd,
        "subject_sd": subject_sd,
    }
    adata.uns["simulation"] = {
        "modality": "histone",
        "assay": "western",
        "phases": list(design.phases),
        "contrasts": contrasts,
        "timepoints": list(design.timepoints),
        "markers": ["H3K9ac", "H4K12ac", "Hdac2", "Rab35"],
        "scale": "log2",
        **{k: v for k, v in params.items() if v is not None},
    }
    record_provenance(
        adata,
        "kratom_omics.datasets.simulate",
        {"modality": "histone", "assay": "western", **params},
    )
    adata.uns["kratom_omics"]["x_transform"] = "log2"
    return adata


def simulate_counts(
    *,
    seed: int = 0,
    n_features: int = 500,
    n_per_phase: int = 6,
    phases: Sequence[str] = DEFAULT_PHASES,
    timepoints: Sequence[float] | None = None,
    repeated: bool = False,
    n_batches: int = 2,
    global_log2fc: tuple[float, float] = (-0.3, -0.8),
    fraction_changed: float = 0.1,
    effect_size: float = 1.0,
    n_background: int = 50,
    n_spikein: int = 30,
    spikein_fraction: float = 0.05,
    dispersion: float = 0.05,
    depth: float = 2e6,
) -> AnnData:
    """Simulate ChIP-seq / CUT&Tag read counts of an acetylation mark with a global withdrawal loss.

    Parameters
    ----------
    seed, n_per_phase, phases, timepoints, repeated, n_batches
        As in :func:`kratom_omics.datasets.simulate`.
    n_features
        Promoter regions (named ``<gene>_promoter`` after rat genes; Rab35 and Hdac2 included).
    global_log2fc
        Change of the mark at every promoter per cell in (use, withdrawal), log2.
    fraction_changed, effect_size
        Share of promoters with a further region-specific change and its typical size (log2).
    n_background
        5-kb background bins without enrichment (``.var["is_background"]``), unchanged.
    n_spikein
        Regions of spike-in chromatin (``.var["is_spikein"]``) added in proportion to the cells.
    spikein_fraction
        Share of a control library's reads from the spike-in.
    dispersion
        Negative-binomial dispersion (biological CV squared).
    depth
        Mean sequenced reads per library (each library varies by a factor of about 2).

    Returns
    -------
    AnnData (samples x regions) shaped like :func:`kratom_omics.io.read_featurecounts` output:
    ``.X`` and ``layers["raw"]`` = integer counts (float64); ``.var`` with ``chrom``, ``start``
    (0-based), ``end``, ``strand``, ``length``, ``gene``, ``is_spikein``, ``is_background`` and the
    truth per cell (``is_changed``, ``true_pattern``, ``true_log2fc_<a>_vs_<b>``, global loss
    included); ``.obs`` with the design and ``bam``; ``.uns["simulation"]``.
    """
    import anndata as ad

    if n_features < 2:
        raise DesignError(f"n_features={n_features}; expected at least 2 promoter regions.")
    rng = np.random.default_rng(seed)
    design = make_design(
        phases=phases,
        n_per_phase=n_per_phase,
        timepoints=timepoints,
        repeated=repeated,
        n_batches=n_batches,
    )
    obs = design.obs.copy()
    n_s = obs.shape[0]
    genes = rat_genes(n_features)
    chosen = [
        "Rab35",
        "Hdac2",
        *[g for g in genes if g not in ("Rab35", "Hdac2")][: n_features - 2],
    ]
    names = [f"{g}_promoter" for g in chosen[:n_features]]
    n_p = len(names)
    # region-specific effects (per cell), on top of the global loss at every promoter
    eff = np.zeros((n_p, 2))
    n_changed = round(fraction_changed * n_p)
    changed = rng.choice(np.arange(2, n_p), size=min(n_changed, n_p - 2), replace=False)
    size = rng.choice([-1.0, 1.0], changed.size) * effect_size * rng.uniform(0.6, 1.6, changed.size)
    kind = rng.choice(["withdrawal_only", "persistent"], size=changed.size)
    eff[changed, 1] = size
    eff[changed[kind == "persistent"], 0] = size[kind == "persistent"] / 2
    eff[0] = (0.0, -0.6)  # Rab35 promoter: a further loss beyond the global one
    promoter_eff = eff + np.asarray(global_log2fc, dtype=np.float64)
    n_f = n_p + n_background + n_spikein
    all_eff = np.zeros((n_f, 2))
    all_eff[:n_p] = promoter_eff
    # abundance per cell: promoters enriched, background low, spike-in fixed per cell
    abundance = np.concatenate(
        [
            2.0 ** rng.normal(6.0, 1.2, n_p),
            2.0 ** rng.normal(3.0, 0.3, n_background),
            np.ones(n_spikein),
        ]
    )
    spike_share = abundance[: n_p + n_background].sum() * spikein_fraction / (1 - spikein_fraction)
    abundance[n_p + n_background :] = spike_share / n_spikein * 2.0 ** rng.normal(0, 0.2, n_spikein)
    sample_eff = _phase_effects(design, all_eff)
    weights = abundance * 2.0**sample_eff  # samples x features, per cell
    lib_depth = depth * 2.0 ** rng.normal(0.0, 0.5, n_s)
    mu = weights / weights.sum(axis=1, keepdims=True) * lib_depth[:, None]
    r = 1.0 / dispersion
    counts = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
    # coordinates: promoters on rat chromosomes, bins on chr1, spike-in on Drosophila contigs
    chrom = np.concatenate(
        [
            rng.choice([f"chr{i}" for i in range(1, 21)], n_p),
            np.full(n_background, "chr1"),
            rng.choice(["dm6_chr2L", "dm6_chr3R"], n_spikein),
        ]
    )
    start = np.concatenate(
        [
            rng.integers(1_000_000, 200_000_000, n_p),
            200_000_000 + 5000 * np.arange(n_background),
            rng.integers(100_000, 20_000_000, n_spikein),
        ]
    )
    length = np.concatenate(
        [np.full(n_p, 2000), np.full(n_background, 5000), np.full(n_spikein, 2000)]
    )
    index = names + [f"bin_chr1_{s}" for s in start[n_p : n_p + n_background]]
    index += [
        f"spikein_{c}_{s}"
        for c, s in zip(chrom[n_p + n_background :], start[n_p + n_background :], strict=True)
    ]
    var = pd.DataFrame(
        {
            "chrom": chrom,
            "start": start,
            "end": start + length,
            "strand": np.where(rng.random(n_f) < 0.5, "+", "-"),
            "length": length,
            "gene": chosen[:n_p] + [""] * (n_background + n_spikein),
            "is_background": np.r_[
                np.zeros(n_p, bool), np.ones(n_background, bool), np.zeros(n_spikein, bool)
            ],
            "is_spikein": np.r_[np.zeros(n_p + n_background, bool), np.ones(n_spikein, bool)],
        },
        index=pd.Index(index),
    )
    truth, contrasts = _truth_table(design, all_eff, var.index)
    var = pd.concat([var, truth], axis=1)
    obs["bam"] = [f"/data/cuttag/{s}.sorted.dedup.bam" for s in obs.index]
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.layers["raw"] = counts.copy()
    params = {
        "seed": seed,
        "n_features": n_features,
        "n_per_phase": n_per_phase,
        "phases": list(phases),
        "timepoints": list(timepoints) if timepoints else None,
        "repeated": repeated,
        "n_batches": n_batches,
        "global_log2fc": list(global_log2fc),
        "fraction_changed": fraction_changed,
        "effect_size": effect_size,
        "n_background": n_background,
        "n_spikein": n_spikein,
        "spikein_fraction": spikein_fraction,
        "dispersion": dispersion,
        "depth": depth,
    }
    adata.uns["simulation"] = {
        "modality": "histone",
        "assay": "counts",
        "phases": list(design.phases),
        "contrasts": contrasts,
        "timepoints": list(design.timepoints),
        "markers": ["Rab35_promoter"],
        "scale": "counts",
        **{k: v for k, v in params.items() if v is not None},
    }
    record_provenance(
        adata,
        "kratom_omics.datasets.simulate",
        {"modality": "histone", "assay": "counts", **params},
    )
    return adata


def simulate_assay(modality: str, assay: str, params: Mapping[str, Any]) -> AnnData:
    """Dispatch of ``simulate(modality="histone", assay=...)`` with ``simulate``'s parameters (one
    blot per batch for western blots)."""
    p = dict(params)
    if modality != "histone":
        raise InputFormatError(
            f"assay={assay!r} is for modality='histone'; got modality={modality!r} (use "
            "assay='ptm')."
        )
    if assay == "western":
        return simulate_western(
            seed=p["seed"],
            n_per_phase=p["n_per_phase"],
            phases=p["phases"],
            timepoints=p["timepoints"],
            repeated=p["repeated"],
            n_blots=p["n_batches"],
            subject_sd=p["subject_sd"],
        )
    if assay == "counts":
        return simulate_counts(
            seed=p["seed"],
            n_features=p["n_features"],
            n_per_phase=p["n_per_phase"],
            phases=p["phases"],
            timepoints=p["timepoints"],
            repeated=p["repeated"],
            n_batches=p["n_batches"],
            fraction_changed=p["fraction_changed"],
            effect_size=p["effect_size"],
        )
    raise InputFormatError(f"assay={assay!r}; expected 'ptm', 'western' or 'counts'.")
