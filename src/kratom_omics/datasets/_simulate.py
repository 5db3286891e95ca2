"""Simulated withdrawal studies with planted, recorded truth.

The generative model, per feature ``g`` and sample ``j``::

    y[j, g] = mu[g] + effect[g, phase_j (time_j)] + batch[g, batch_j] + load[j] + subject[g, subject_j] + e
    e ~ N(0, sigma2[g]),   sigma2[g] = s0(mu[g])^2 * d0 / chi2(d0)   (scaled inverse chi-square prior)

``s0`` falls with intensity (low-abundance features are noisier, the trend limma's ``trend=True`` models) and a
few features get outlying variances (``robust=True``). Values go missing at random and, more often, when
they are low (missing not at random, as in mass spectrometry). For histone peptidoforms ``y`` is a log2
abundance that is closed to ratios within each peptide family, as EpiProfile reports them.

Truth is recorded in ``.var``: ``is_changed``, ``true_pattern`` and ``true_log2fc_<a>_vs_<b>`` for each contrast
``"<a> - <b>"`` listed in ``.uns["simulation"]["contrasts"]``; every parameter is in ``.uns["simulation"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, record_provenance
from ..errors import DesignError, InputFormatError
from ._design import (
    HISTONE_MARKERS,
    PROTEIN_MARKERS,
    StudyDesign,
    contrast_names,
    make_design,
    rat_genes,
    truth_column,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["simulate", "simulate_tracks"]


# EpiProfile 2.0 peptide families of rat/mouse histones H3 and H4: (family, sequence, peptidoforms with a
# rough baseline fraction of the family). Names follow EpiProfile: "<family> <marks>" or "<family> unmod".
HISTONE_FAMILIES: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = (
    (
        "H3_3_8",
        "TKQTAR",
        (("unmod", 0.90), ("K4me1", 0.05), ("K4me2", 0.02), ("K4me3", 0.02), ("K4ac", 0.01)),
    ),
    (
        "H3_9_17",
        "KSTGGKAPR",
        (
            ("unmod", 0.20),
            ("K9me1", 0.15),
            ("K9me2", 0.30),
            ("K9me3", 0.12),
            ("K9ac", 0.06),
            ("K14ac", 0.08),
            ("K9me1K14ac", 0.03),
            ("K9me2K14ac", 0.03),
            ("K9me3K14ac", 0.01),
            ("K9acK14ac", 0.02),
        ),
    ),
    (
        "H3_18_26",
        "KQLATKAAR",
        (
            ("unmod", 0.55),
            ("K18me1", 0.05),
            ("K18ac", 0.05),
            ("K23me1", 0.05),
            ("K23ac", 0.22),
            ("K18acK23ac", 0.08),
        ),
    ),
    (
        "H3_27_40",
        "KSAPATGGVKKPHR",
        (
            ("unmod", 0.10),
            ("K27me1", 0.08),
            ("K27me2", 0.30),
            ("K27me3", 0.15),
            ("K36me1", 0.05),
            ("K36me2", 0.10),
            ("K36me3", 0.03),
            ("K27me1K36me1", 0.04),
            ("K27me2K36me1", 0.08),
            ("K27me3K36me1", 0.03),
            ("K27ac", 0.04),
        ),
    ),
    ("H3_73_83", "EIAQDFKTDLR", (("unmod", 0.85), ("K79me1", 0.10), ("K79me2", 0.05))),
    (
        "H4_4_17",
        "GKGGKGLGKGGAKR",
        (
            ("unmod", 0.60),
            ("K16ac", 0.18),
            ("K12ac", 0.06),
            ("K8ac", 0.03),
            ("K5ac", 0.03),
            ("K12acK16ac", 0.04),
            ("K8acK16ac", 0.02),
            ("K5acK12ac", 0.01),
            ("K8acK12acK16ac", 0.02),
            ("K5acK8acK12acK16ac", 0.01),
        ),
    ),
    ("H4_20_23", "KVLR", (("unmod", 0.05), ("K20me1", 0.25), ("K20me2", 0.60), ("K20me3", 0.10))),
)


def _accessions(rng: np.random.Generator, n: int) -> list[str]:
    """UniProt-shaped accessions ([OPQ][0-9][A-Z0-9]{3}[0-9]), unique."""
    alnum = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        acc = (
            rng.choice(list("OPQ"))
            + str(rng.integers(10))
            + "".join(rng.choice(alnum, 3))
            + str(rng.integers(10))
        )
        if acc not in seen:
            seen.add(acc)
            out.append(acc)
    return out


def _time_shapes(pattern: np.ndarray, n_t: int) -> np.ndarray:
    """Withdrawal effect multipliers per time point for each feature's time pattern."""
    shapes = np.ones((pattern.size, max(n_t, 1)))
    if n_t <= 1:
        return shapes
    t = np.linspace(0.0, 1.0, n_t)
    shapes[pattern == "transient"] = (t == 0).astype(float)
    shapes[pattern == "recovering"] = 1.0 - t
    shapes[pattern == "delayed"] = t
    return shapes


def simulate(
    modality: Literal["protein", "histone", "tracks"] = "protein",
    *,
    seed: int = 0,
    n_features: int = 500,
    n_per_phase: int = 6,
    phases: Sequence[str] = DEFAULT_PHASES,
    timepoints: Sequence[float] | None = None,
    repeated: bool = False,
    n_batches: int = 2,
    batch_sd: float = 0.3,
    subject_sd: float = 0.4,
    fraction_changed: float = 0.1,
    effect_size: float = 1.0,
    prior_df: float = 6.0,
    prior_sd: float = 0.3,
    fraction_outlier_variance: float = 0.02,
    missing_mnar: float = 0.10,
    missing_mcar: float = 0.02,
    assay: Literal["ptm", "western", "counts"] = "ptm",
) -> AnnData:
    """Simulate a withdrawal study with planted, recorded truth.

    Parameters
    ----------
    modality
        ``"protein"``: MS protein intensities named with real rat gene symbols, Rab35 and Hdac2 up in
        withdrawal. ``"histone"``: EpiProfile-style peptidoform ratios of histones H3 and H4, with every form
        carrying H3K9ac or H4K12ac lowered in withdrawal (``n_features`` is then fixed by the families).
        ``"tracks"``: H3K9ac signal at gene promoters, lowered in withdrawal at the genes whose protein
        changes (see :func:`kratom_omics.datasets.simulate_tracks`; ``write_tracks`` writes bigWigs).
    seed
        Seed of the random generator; the same seed gives the same data.
    n_per_phase
        Samples per phase (per withdrawal time point when ``timepoints`` is given).
    phases
        Phase names in order; the first is the reference (control), the last is withdrawal.
    timepoints
        Withdrawal time points (e.g. days ``(1, 3, 7)``); changed features then follow a time pattern
        (``persistent``, ``transient``, ``recovering``, ``delayed``) recorded in ``.var["true_time_pattern"]``.
    repeated
        Sample the same ``n_per_phase`` animals in every phase (a paired / repeated-measures design) with
        a random subject effect of SD ``subject_sd``.
    n_batches, batch_sd
        Batches balanced over phases, with a feature-specific batch effect of SD ``batch_sd``.
    fraction_changed, effect_size
        Share of features (besides the planted markers) with a phase effect, and its typical size (log2).
    prior_df, prior_sd
        Scaled inverse chi-square prior of the residual variances (``d0``, ``s0`` at mean intensity).
    fraction_outlier_variance
        Share of features whose variance is 8 times what the prior gives.
    missing_mnar, missing_mcar
        Approximate share of values missing because they are low, and missing completely at random.
    assay
        For ``modality="histone"``: ``"ptm"`` (peptidoform ratios, above), ``"western"`` (blot
        densitometry, one blot per batch) or ``"counts"`` (ChIP/CUT&Tag read counts with spike-ins);
        see :mod:`kratom_omics.datasets._assays`.

    Returns
    -------
    AnnData (samples x features) with ``.X`` on the log2 scale (NaN = missing), ``.layers["raw"]`` on the
    linear scale (intensities, or ratios for histone), ``.obs`` with ``phase``, ``subject``, ``batch`` (and
    ``timepoint``), ``.var`` with ``gene`` or histone annotations, ``is_changed``, ``true_pattern`` and
    ``true_log2fc_<a>_vs_<b>`` per contrast, and ``.uns["simulation"]`` with every parameter.
    """
    if modality == "tracks":
        keys = (
            "seed", "n_features", "n_per_phase", "phases", "timepoints", "repeated", "n_batches",
            "batch_sd", "subject_sd", "effect_size", "fraction_changed", "prior_df", "prior_sd",
        )  # fmt: skip
        return simulate_tracks(**{k: v for k, v in locals().items() if k in keys})
    if modality not in ("protein", "histone"):
        raise InputFormatError(f"modality={modality!r}; expected 'protein', 'histone' or 'tracks'.")
    if not 0 <= fraction_changed <= 1:
        raise DesignError(f"fraction_changed={fraction_changed}; expected a share between 0 and 1.")
    if not (0 <= missing_mnar < 1 and 0 <= missing_mcar < 1):
        raise DesignError("missing_mnar and missing_mcar must be shares in [0, 1).")
    if assay != "ptm":
        from ._assays import simulate_assay

        return simulate_assay(modality, assay, dict(locals()))
    params = {k: v for k, v in locals().items() if k not in {"modality", "assay"}}
    rng = np.random.default_rng(seed)
    design = make_design(
        phases=phases,
        n_per_phase=n_per_phase,
        timepoints=timepoints,
        repeated=repeated,
        n_batches=n_batches,
    )
    if modality == "protein":
        var, mu, base_effects = _protein_features(rng, n_features, fraction_changed, effect_size)
    else:
        var, mu, base_effects = _histone_features(rng)
    n = len(var)
    # time patterns of withdrawal effects
    n_t = len(design.timepoints)
    time_pattern = np.full(n, "persistent", dtype=object)
    if n_t > 1:
        changed = base_effects[:, 1] != 0
        time_pattern[changed] = rng.choice(
            ["persistent", "transient", "recovering", "delayed"], size=int(changed.sum())
        )
        for name in (*PROTEIN_MARKERS, *HISTONE_MARKERS):
            time_pattern[var["marker"].to_numpy() == name] = "persistent"
    shapes = _time_shapes(time_pattern, n_t)

    obs = design.obs
    phase_codes = obs["phase"].cat.codes.to_numpy()
    n_phase = len(design.phases)
    # effect of each sample: phases before withdrawal use the "use" effect scaled per phase position
    eff = np.zeros((obs.shape[0], n))
    tindex = (
        np.searchsorted(np.asarray(design.timepoints), obs["timepoint"].to_numpy())
        if n_t
        else np.zeros(obs.shape[0], dtype=int)
    )
    for j, code in enumerate(phase_codes):
        if code == 0:
            continue
        if code == n_phase - 1:
            eff[j] = base_effects[:, 1] * shapes[:, tindex[j] if n_t else 0]
        else:
            eff[j] = base_effects[:, 0] * (code / max(n_phase - 2, 1))

    # variances with an intensity trend and outliers
    s0 = prior_sd * 2.0 ** (-(mu - np.median(mu)) / 6.0)
    sigma2 = s0**2 * prior_df / rng.chisquare(prior_df, n)
    is_marker = var["marker"].to_numpy() != ""
    sigma2[is_marker] = s0[is_marker] ** 2
    n_out = round(fraction_outlier_variance * n)
    outliers = rng.choice(
        np.flatnonzero(~is_marker), size=min(n_out, int((~is_marker).sum())), replace=False
    )
    sigma2[outliers] *= 8.0
    var["true_mean"] = mu
    var["true_sigma"] = np.sqrt(sigma2)
    flagged = np.zeros(n, dtype=bool)
    flagged[outliers] = True
    var["outlier_variance"] = flagged

    batch_codes = obs["batch"].cat.codes.to_numpy()
    batch_eff = rng.normal(0.0, batch_sd, (n_batches, n))
    batch_eff[0] = 0.0
    load = rng.normal(0.0, 0.1 if modality == "protein" else 0.0, obs.shape[0])
    subj_codes = obs["subject"].cat.codes.to_numpy()
    subj_eff = rng.normal(
        0.0, subject_sd if repeated else 0.0, (len(obs["subject"].cat.categories), n)
    )
    noise = rng.normal(size=(obs.shape[0], n)) * np.sqrt(sigma2)
    y = mu + eff + batch_eff[batch_codes] + load[:, None] + subj_eff[subj_codes] + noise

    area = _family_areas(y, var, rng) if modality == "histone" else None

    # missing values: low values more often (MNAR), plus a few at random (MCAR)
    ref = np.log2(area) if area is not None else y
    missing = rng.random(y.shape) < missing_mcar
    if missing_mnar > 0:
        thr = np.quantile(ref, missing_mnar)
        p = 1.0 / (1.0 + np.exp((ref - thr) / 0.4))
        missing |= rng.random(y.shape) < p
    if (
        area is not None
    ):  # EpiProfile: ratio = area / summed area of the forms detected in the family
        area[missing] = np.nan
        raw = _ratios(area, var)
        y = np.log2(raw)
    else:
        missing[:, is_marker] = False
        y[missing] = np.nan
        raw = 2.0**y

    contrasts = contrast_names(design.phases)
    truth = _truth(base_effects, shapes, design, contrasts, var, modality, mu)
    var = pd.concat([var, truth], axis=1)
    var["true_pattern"] = _pattern_names(base_effects)
    if n_t > 1:
        var["true_time_pattern"] = np.where(var["true_pattern"] == "none", "none", time_pattern)
    var["is_changed"] = (base_effects != 0).any(axis=1)

    import anndata as ad

    adata = ad.AnnData(X=y.astype(np.float64), obs=obs.copy(), var=var)
    adata.layers["raw"] = raw.astype(np.float64)
    if area is not None:
        adata.layers["area"] = area
    adata.uns["simulation"] = {
        "modality": modality,
        "phases": list(design.phases),
        "contrasts": contrasts,
        "timepoints": list(design.timepoints),
        "markers": list(PROTEIN_MARKERS if modality == "protein" else HISTONE_MARKERS),
        "scale": "log2",
        **{
            k: (list(v) if isinstance(v, (list, tuple)) else v)
            for k, v in params.items()
            if v is not None
        },
    }
    record_provenance(adata, "kratom_omics.datasets.simulate", {"modality": modality, **params})
    adata.uns["kratom_omics"]["x_transform"] = (
        "log2"  # .X is log2 already: pp.log2 must not run again
    )
    return adata


def _protein_features(
    rng: np.random.Generator, n: int, fraction_changed: float, effect_size: float
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    if n < len(PROTEIN_MARKERS) + 2:
        raise DesignError(
            f"n_features={n}: at least {len(PROTEIN_MARKERS) + 2} proteins are needed."
        )
    genes = rat_genes(n)
    markers = list(PROTEIN_MARKERS)
    others = [g for g in genes if g not in PROTEIN_MARKERS]
    chosen = markers + list(rng.permutation(np.array(others, dtype=object))[: n - len(markers)])
    order = rng.permutation(n)  # markers end up at random positions
    chosen = [chosen[i] for i in order]
    acc = _accessions(rng, n)
    var = pd.DataFrame(
        {
            "gene": chosen,
            "protein_ids": acc,
            "marker": [g if g in PROTEIN_MARKERS else "" for g in chosen],
        },
        index=pd.Index(acc),
    )
    mu = rng.normal(24.0, 2.0, n)
    effects = np.zeros((n, 2))  # columns: use vs control, withdrawal vs control
    free = np.flatnonzero(var["marker"].to_numpy() == "")
    n_changed = round(fraction_changed * n)
    changed = rng.choice(free, size=min(n_changed, free.size), replace=False)
    kind = rng.choice(["use_only", "withdrawal_only", "persistent"], size=changed.size)
    size = rng.choice([-1.0, 1.0], changed.size) * effect_size * rng.uniform(0.6, 1.6, changed.size)
    effects[changed[kind == "use_only"], 0] = size[kind == "use_only"]
    effects[changed[kind == "withdrawal_only"], 1] = size[kind == "withdrawal_only"]
    effects[changed[kind == "persistent"], 0] = size[kind == "persistent"]
    effects[changed[kind == "persistent"], 1] = size[kind == "persistent"]
    for name, (u, w) in PROTEIN_MARKERS.items():
        i = int(np.flatnonzero(var["gene"].to_numpy() == name)[0])
        effects[i] = (u, w)
        mu[i] = 25.0
    return var, mu, effects


def _histone_features(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rows = []
    for family, sequence, forms in HISTONE_FAMILIES:
        histone = family.split("_")[0]
        for form, frac in forms:
            marks = [] if form == "unmod" else _split_marks(form)
            site_marks = [f"{histone}{m}" for m in marks]
            marker = next((m for m in HISTONE_MARKERS if m in site_marks), "")
            rows.append(
                {
                    "feature": f"{family} {form}",
                    "histone": histone,
                    "peptide_family": family,
                    "sequence": sequence,
                    "peptidoform": form,
                    "marks": ";".join(site_marks),
                    "marker": marker,
                    "base_fraction": frac,
                }
            )
    var = pd.DataFrame(rows).set_index("feature")
    var.index.name = None
    mu = np.log2(var["base_fraction"].to_numpy()) + rng.normal(0.0, 0.1, len(var))
    effects = np.zeros((len(var), 2))
    for name, (u, w) in HISTONE_MARKERS.items():
        carries = var["marks"].str.split(";").apply(lambda ms, name=name: name in ms).to_numpy()
        effects[carries, 0] += u
        effects[carries, 1] += w
    return var.drop(columns="base_fraction"), mu, effects


def _split_marks(form: str) -> list[str]:
    import re

    return re.findall(r"[A-Z]\d+(?:me[123]|ac|ph|ub|cr|bu|pr|su|ma|hib|bz)", form)


def _family_areas(y: np.ndarray, var: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Peak areas: each family's composition (closed log2 abundances) times a family total area."""
    fam = var["peptide_family"].to_numpy()
    area = np.empty_like(y)
    for f in pd.unique(fam):
        cols = fam == f
        lin = 2.0 ** y[:, cols]
        area[:, cols] = (
            lin / lin.sum(axis=1, keepdims=True) * 2.0 ** rng.normal(29.0, 0.5, (y.shape[0], 1))
        )
    return area


def _ratios(area: np.ndarray, var: pd.DataFrame) -> np.ndarray:
    """Within-family ratios of the detected forms (each family sums to 1 in every sample)."""
    fam = var["peptide_family"].to_numpy()
    totals = pd.DataFrame(area.T).groupby(fam).transform("sum").to_numpy().T
    return area / totals


def _truth(
    base: np.ndarray,
    shapes: np.ndarray,
    design: StudyDesign,
    contrasts: list[str],
    var: pd.DataFrame,
    modality: str,
    mu: np.ndarray,
) -> pd.DataFrame:
    """True log2 effects of each recorded contrast (on the analysed scale)."""
    n_phase = len(design.phases)
    # expected log2 level per phase (withdrawal averaged over its time points)
    level = {design.phases[0]: np.zeros(base.shape[0])}
    for k, p in enumerate(design.phases[1:-1], start=1):
        level[p] = base[:, 0] * (k / max(n_phase - 2, 1))
    per_time = base[:, [1]] * shapes
    level[design.withdrawal] = per_time.mean(axis=1)
    extra: dict[str, None] = {}
    for i, tp in enumerate(design.timepoints):
        level[f"{design.withdrawal}_d{tp:g}"] = per_time[:, i]
        extra[f"{design.withdrawal}_d{tp:g} - {design.phases[0]}"] = None
    if modality == "histone":  # closure: effects on ratios, from the noise-free composition
        fam = var["peptide_family"].to_numpy()
        for key, eff in level.items():
            lin = 2.0 ** (mu + eff)
            tot = pd.Series(lin).groupby(fam).transform("sum").to_numpy()
            level[key] = np.log2(lin / tot)
    out = {}
    for c in [*contrasts, *extra]:
        a, b = (s.strip() for s in c.split(" - "))
        out[truth_column(c)] = level[a] - level[b]
    return pd.DataFrame(out, index=var.index)


def _pattern_names(base: np.ndarray) -> np.ndarray:
    u, w = base[:, 0] != 0, base[:, 1] != 0
    return np.select(
        [u & w, u & ~w, ~u & w], ["persistent", "use_only", "withdrawal_only"], default="none"
    ).astype(object)


def simulate_tracks(
    *,
    seed: int = 0,
    n_features: int = 500,
    n_per_phase: int = 6,
    phases: Sequence[str] = DEFAULT_PHASES,
    timepoints: Sequence[float] | None = None,
    repeated: bool = False,
    n_batches: int = 2,
    batch_sd: float = 0.2,
    subject_sd: float = 0.3,
    effect_size: float = 1.0,
    fraction_changed: float = 0.1,
    prior_df: float = 6.0,
    prior_sd: float = 0.25,
    scale_sd: float = 0.4,
    global_log2fc: float = 0.0,
    spacing: int = 20_000,
    upstream: int = 1000,
    downstream: int = 1000,
) -> AnnData:
    """Simulate promoter H3K9ac signal tracks with planted withdrawal losses.

    Parameters
    ----------
    seed
        Seed; the genes and their protein changes are those of
        ``simulate("protein", seed=seed, n_features=n_features, fraction_changed=...,
        effect_size=...)``.
    n_features
        Number of genes (one promoter each).
    n_per_phase, phases, timepoints, repeated, n_batches
        Study design, as in :func:`kratom_omics.datasets.simulate`.
    batch_sd, subject_sd
        SD (log2) of a gene's batch effect, and of an animal's own level in repeated designs.
    effect_size
        Loss (log2) of the mark in withdrawal at the promoters of genes whose protein changes in
        withdrawal (besides Rab35 and Hdac2, which lose 1.2 in withdrawal and 0.5 in use).
    fraction_changed
        Passed to the protein simulation (share of proteins that change).
    prior_df, prior_sd
        Scaled inverse chi-square prior of the promoters' residual variances.
    scale_sd
        SD (log2) of each sample's technical scale (whole-track factor).
    global_log2fc
        Change of the mark at every promoter in withdrawal (log2, biological: the spike-in does
        not follow it), on top of the gene-specific losses.
    spacing
        Mean distance (bases) from the end of a gene to the start of the next (at least 10 kb);
        genes are 2 to 40 kb long, so 500 genes take about 20 Mb.
    upstream, downstream
        Promoter window around the TSS over which the simulated value is the mean signal.

    Returns
    -------
    AnnData (samples x promoters) as :func:`kratom_omics.io.read_bigwig` returns it for the
    written files with ``stat="mean"``: ``.X`` = log2 mean signal, ``layers["raw"]`` the mean
    signal; ``.var`` indexed by ``<gene>_promoter`` with ``chrom`` (Ensembl name), ``start``,
    ``end``, ``strand``, ``gene``, ``gene_id``, ``tss``, ``gene_start``, ``gene_end``,
    ``protein_log2fc_withdrawal_vs_control`` (the protein's true change) and the truth
    (``is_changed``, ``true_pattern``, ``true_log2fc_<a>_vs_<b>``, global change included);
    ``.obs`` with the design, ``true_scale`` and ``spikein_reads``; ``.uns["simulation"]`` with
    the parameters and ``chrom_sizes``.
    """
    params = dict(locals())
    from ._tracks import check_track_parameters, tracks_from_protein

    check_track_parameters(n_features, spacing, upstream, downstream)
    protein = simulate(
        "protein",
        seed=seed,
        n_features=n_features,
        n_per_phase=2,
        fraction_changed=fraction_changed,
        effect_size=effect_size,
        missing_mnar=0.0,
        missing_mcar=0.0,
    )
    return tracks_from_protein(protein, params)
