"""Simulated histone-mark signal tracks (bigWig) over a gene annotation, linked to the proteins.

:func:`simulate_tracks` draws the mean H3K9ac signal at every gene's promoter (TSS - 1 kb to
TSS + 1 kb, as :func:`kratom_omics.io.read_regions` defines it) for each sample. The genes are
those of ``simulate("protein")`` with the same ``seed`` and ``n_features``, and the mark is lowered
in withdrawal at the promoters of the genes whose protein changes in withdrawal there: Rab35 and
Hdac2 by the H3K9ac effect of the histone simulation, the others by ``effect_size``. Each sample
also has its own technical scale (antibody efficiency, sequencing depth) that moves its whole
track, and spike-in reads proportional to that scale.

:func:`write_tracks` writes the study as a lab would get it from a pipeline: one bigWig per sample
(50-bp bins as deepTools ``bamCoverage`` writes them, UCSC chromosome names ``chr1``), an Ensembl
GTF (chromosome names ``1``; gzip) and a sample sheet with a ``path`` column. Each promoter's
signal has an H3K9ac-like shape (a dip at the TSS between the -1 and +1 nucleosomes) scaled so
that its mean over the promoter equals the simulated value; flanks carry background signal with
gaps (bases without data).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import TRACKS_KEY, record_provenance
from ..errors import DesignError, InputFormatError
from ._assays import _phase_effects, _truth_table
from ._design import HISTONE_MARKERS, PROTEIN_MARKERS, make_design

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["write_tracks"]

#: The mark simulated and its (use, withdrawal) log2 effect at the marker genes' promoters.
TRACK_MARK = "H3K9ac"
#: Rat chromosomes the genes are placed on (Ensembl names; the bigWigs say chr1, ...).
_CHROMS = tuple([str(i) for i in range(1, 21)] + ["X"])
_MITO_LENGTH = 16_313  # rat chrM


def check_track_parameters(n_features: int, spacing: int, upstream: int, downstream: int) -> None:
    """Refuse track simulation parameters that cannot lay out the genes (before any simulation)."""
    if n_features < 2:
        raise DesignError(f"n_features={n_features}; expected at least 2 genes.")
    if spacing < 10_000:
        raise DesignError(f"spacing={spacing}; expected at least 10000 bases between genes.")
    if upstream + downstream > 6000 or upstream < 0 or downstream < 0 or upstream + downstream < 1:
        raise DesignError(
            f"upstream={upstream}, downstream={downstream}; the simulated promoter window must "
            "be 1 to 6000 bases long."
        )


def tracks_from_protein(protein: AnnData, params: dict[str, Any]) -> AnnData:
    """The tracks of :func:`kratom_omics.datasets.simulate_tracks`, planted at the genes of
    ``protein`` (a ``simulate("protein")`` result) with the parameters of that call."""
    import anndata as ad

    from ..io._bigwig import track_record
    from ..io._regions import _promoters

    (
        seed, n_per_phase, phases, timepoints, repeated, n_batches, batch_sd, subject_sd,
        effect_size, prior_df, prior_sd, scale_sd, global_log2fc, spacing, upstream, downstream,
    ) = (
        params[k]
        for k in (
            "seed", "n_per_phase", "phases", "timepoints", "repeated", "n_batches", "batch_sd",
            "subject_sd", "effect_size", "prior_df", "prior_sd", "scale_sd", "global_log2fc",
            "spacing", "upstream", "downstream",
        )
    )  # fmt: skip
    pvar = protein.var
    rng = np.random.default_rng([seed, 20])
    design = make_design(
        phases=phases,
        n_per_phase=n_per_phase,
        timepoints=timepoints,
        repeated=repeated,
        n_batches=n_batches,
    )
    obs = design.obs.copy()
    n = len(pvar)
    genes = _layout(rng, pvar["gene"].astype(str).tolist(), spacing)
    protein_w = pvar["true_log2fc_withdrawal_vs_control"].to_numpy(dtype=np.float64)
    effects = np.zeros((n, 2))
    changed = protein_w != 0
    effects[changed, 1] = -effect_size * rng.uniform(0.7, 1.3, int(changed.sum()))
    for name in PROTEIN_MARKERS:
        effects[genes["gene"].to_numpy() == name] = HISTONE_MARKERS[TRACK_MARK]
    total = effects.copy()
    total[:, 1] += global_log2fc

    mu = rng.normal(3.0, 1.0, n)
    s0 = prior_sd * 2.0 ** (-(mu - 3.0) / 4.0)
    sigma2 = s0**2 * prior_df / rng.chisquare(prior_df, n)
    n_s = obs.shape[0]
    batch = rng.normal(0.0, batch_sd, (n_batches, n))
    batch[0] = 0.0
    subj = rng.normal(0.0, subject_sd if repeated else 0.0, (len(obs["subject"].cat.categories), n))
    scale = rng.normal(0.0, scale_sd, n_s)
    y = (
        mu
        + _phase_effects(design, total)
        + batch[obs["batch"].cat.codes.to_numpy()]
        + subj[obs["subject"].cat.codes.to_numpy()]
        + rng.normal(size=(n_s, n)) * np.sqrt(sigma2)
        + scale[:, None]
    )
    raw = 2.0**y
    obs["true_scale"] = 2.0**scale
    obs["spikein_reads"] = np.round(2e5 * 2.0 ** (scale + rng.normal(0.0, 0.03, n_s)))

    var = _promoters(genes, upstream, downstream)
    var["gene_start"] = genes["start"].to_numpy()
    var["gene_end"] = genes["end"].to_numpy()
    var["protein_log2fc_withdrawal_vs_control"] = protein_w
    var["true_mean"] = mu
    var["true_sigma"] = np.sqrt(sigma2)
    truth, contrasts = _truth_table(design, total, var.index)
    specific, _ = _truth_table(design, effects, var.index)
    truth["true_pattern"] = specific["true_pattern"]
    truth["is_changed"] = specific["is_changed"]
    var = pd.concat([var, truth], axis=1)
    last_end = genes.groupby("chrom")["end"].max()
    chrom_sizes = {c: int(last_end.get(c, 0)) + 50_000 for c in _CHROMS}
    adata = ad.AnnData(X=np.log2(raw), obs=obs, var=var)
    adata.layers["raw"] = raw
    clean = {
        k: (list(v) if isinstance(v, (list, tuple)) else v)
        for k, v in params.items()
        if v is not None
    }
    adata.uns["simulation"] = {
        "modality": "tracks",
        "mark": TRACK_MARK,
        "phases": list(design.phases),
        "contrasts": contrasts,
        "timepoints": list(design.timepoints),
        "markers": [f"{g}_promoter" for g in PROTEIN_MARKERS],
        "scale": "log2",
        "chrom_sizes": chrom_sizes,
        **clean,
    }
    adata.uns[TRACKS_KEY] = track_record(
        TRACK_MARK,
        "mean",
        "simulated gene annotation",
        "promoter",
        upstream=upstream,
        downstream=downstream,
        max_distance=None,
    )
    record_provenance(adata, "kratom_omics.datasets.simulate", {"modality": "tracks", **clean})
    adata.uns["kratom_omics"]["x_transform"] = "log2"
    return adata


def _layout(rng: np.random.Generator, symbols: list[str], spacing: int) -> pd.DataFrame:
    """Genes on rat chromosomes, in annotation order: none overlaps another, at least 10 kb lie
    between neighbours (so TSSs are at least 10 kb apart), random strands and lengths."""
    n = len(symbols)
    chrom = np.sort(rng.integers(0, len(_CHROMS), n))
    gaps = 10_000 + rng.exponential(spacing - 10_000 + 1, n).astype(np.int64)
    length = rng.integers(2_000, 40_000, n)
    start = np.empty(n, dtype=np.int64)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        step = gaps[rows] + np.r_[0, length[rows][:-1]]
        start[rows] = 50_000 + np.cumsum(step)
    strand = np.where(rng.random(n) < 0.5, "+", "-")
    end = start + length
    ids = [f"ENSRNOG{600_000_000 + i:011d}" for i in range(n)]
    return pd.DataFrame(
        {
            "chrom": np.array(_CHROMS)[chrom],
            "start": start,
            "end": end,
            "strand": strand,
            "gene": symbols,
            "gene_id": ids,
            "tss": np.where(strand == "+", start, end - 1),
        },
        index=pd.Index(ids),
    )


def _profile(n_bins: int, bin_size: int, upstream: int) -> np.ndarray:
    """H3K9ac-like shape over a promoter's bins on the + strand (dip at the TSS, +1 nucleosome
    highest)."""
    x = np.arange(n_bins) * bin_size + bin_size / 2 - upstream
    return 0.3 + np.exp(-(((x + 350) / 250) ** 2)) + 1.4 * np.exp(-(((x - 450) / 350) ** 2))


def write_tracks(
    adata: AnnData,
    directory: str | os.PathLike,
    *,
    bin_size: int = 50,
    flank: int = 3000,
    seed: int | None = None,
) -> dict[str, Any]:
    """Write a :func:`simulate_tracks` study as bigWig files, a GTF and a sample sheet.

    Parameters
    ----------
    adata
        Result of ``simulate("tracks")`` / :func:`simulate_tracks`.
    directory
        Folder to write into (created): ``samples.tsv``, ``genes.gtf.gz`` and
        ``tracks/<sample>.bw``.
    bin_size
        Width of the bigWig entries (bases), as deepTools ``bamCoverage --binSize``.
    flank
        Background signal is written from TSS - ``flank`` to TSS + ``flank`` around each
        promoter, with about a third of its bins left without data; the rest of the genome has no
        data (as tracks written with ``--skipNonCoveredRegions``).
    seed
        Seed of the within-promoter noise and the background (default: the simulation's seed).

    Returns
    -------
    ``{"samples": path, "annotation": path, "tracks": [paths]}``. The sample sheet has
    ``sample``, ``phase``, ``subject``, ``batch`` (and ``timepoint``), ``spikein_reads``,
    ``mark`` (``H3K9ac``) and ``path`` (relative to the sheet); reading it back with
    ``kom.io.read_bigwig(paths["samples"], paths["annotation"])`` gives ``layers["raw"]`` of
    ``adata`` (to float32 precision of the bigWig values).
    """
    import pyBigWig

    sim = adata.uns.get("simulation", {})
    if sim.get("modality") != "tracks":
        raise InputFormatError(
            "write_tracks: adata is not a track simulation (uns['simulation']['modality'] is "
            f"{sim.get('modality')!r}); make one with kom.datasets.simulate('tracks')."
        )
    if bin_size < 1 or flank < 0:
        raise InputFormatError(f"bin_size={bin_size}, flank={flank}; expected >= 1 and >= 0.")
    up, down = int(sim["upstream"]), int(sim["downstream"])
    if flank and not max(up, down) <= flank <= 5000:
        raise InputFormatError(
            f"flank={flank}; expected 0 or between the promoter window ({max(up, down)}) and "
            "5000 bases (genes are at least 10 kb apart)."
        )
    rng = np.random.default_rng([int(sim["seed"] if seed is None else seed), 21])
    out = Path(directory)
    (out / "tracks").mkdir(parents=True, exist_ok=True)
    var = adata.var
    raw = np.asarray(adata.layers["raw"], dtype=np.float64)
    chrom_sizes = {str(k): int(v) for k, v in sim["chrom_sizes"].items()}
    annotation = out / "genes.gtf.gz"
    _write_gtf(var, annotation)

    order = np.lexsort((var["start"].to_numpy(), pd.factorize(var["chrom"])[0]))
    header = [(f"chr{c}", chrom_sizes[c]) for c in chrom_sizes] + [("chrM", _MITO_LENGTH)]
    # bins of each promoter window (strand-aware shape) and of its flanks
    w_start = var["start"].to_numpy()[order]
    w_end = var["end"].to_numpy()[order]
    tss = var["tss"].to_numpy()[order]
    minus = (var["strand"].to_numpy()[order]) == "-"
    n_bins = -(-(w_end - w_start) // bin_size)
    width = int(n_bins.max())
    k = np.arange(width)
    b_start = w_start[:, None] + k * bin_size
    b_end = np.minimum(b_start + bin_size, w_end[:, None])
    inside = k[None, :] < n_bins[:, None]
    shape = np.broadcast_to(_profile(width, bin_size, up), b_start.shape).copy()
    rev = np.array([_profile(int(m), bin_size, up)[::-1] for m in n_bins[minus]])
    if minus.any():
        shape[minus, : rev.shape[1]] = rev
    f_start = [tss - flank, w_end]
    f_end = [w_start, tss + flank]
    chroms = np.array([f"chr{c}" for c in var["chrom"].to_numpy()[order]])
    tracks: list[Path] = []
    lens = np.where(inside, b_end - b_start, 0)
    for j, sample in enumerate(adata.obs_names):
        noise = shape * 2.0 ** rng.normal(0.0, 0.25, shape.shape)
        mean_shape = (noise * lens).sum(axis=1) / lens.sum(axis=1)
        prom = noise / mean_shape[:, None] * raw[j, order][:, None]
        entries = [(b_start[inside], b_end[inside], prom[inside], np.repeat(chroms, n_bins))]
        bg_level = float(adata.obs["true_scale"].iloc[j]) * 0.5
        for fs, fe in zip(f_start, f_end, strict=True):
            if not flank:
                continue
            m = -(-(fe - fs) // bin_size)
            kk = np.arange(int(m.max()))
            s = fs[:, None] + kk * bin_size
            e = np.minimum(s + bin_size, fe[:, None])
            keep = (kk[None, :] < m[:, None]) & (rng.random(s.shape) < 0.65) & (s >= 0)
            vals = bg_level * 2.0 ** rng.normal(0.0, 0.6, s.shape)
            entries.append((s[keep], e[keep], vals[keep], np.repeat(chroms, keep.sum(axis=1))))
        starts = np.concatenate([x[0] for x in entries])
        ends = np.concatenate([x[1] for x in entries])
        values = np.concatenate([x[2] for x in entries])
        names = np.concatenate([x[3] for x in entries])
        path = out / "tracks" / f"{sample}.bw"
        bw = pyBigWig.open(str(path), "w")
        try:
            bw.addHeader(header, maxZooms=6)
            for c, _ in header:
                sel = np.flatnonzero(names == c)
                if c == "chrM":
                    s = np.arange(0, _MITO_LENGTH, bin_size)
                    bw.addEntries(
                        [c] * s.size,
                        s.tolist(),
                        ends=np.minimum(s + bin_size, _MITO_LENGTH).tolist(),
                        values=(bg_level * 8 * 2.0 ** rng.normal(0, 0.3, s.size)).tolist(),
                    )
                    continue
                if sel.size == 0:
                    continue
                o = sel[np.argsort(starts[sel], kind="stable")]
                bw.addEntries(
                    [c] * o.size,
                    starts[o].tolist(),
                    ends=ends[o].tolist(),
                    values=values[o].astype(np.float64).tolist(),
                )
        finally:
            bw.close()
        tracks.append(path)
    sheet = adata.obs[[c for c in ("phase", "subject", "batch", "timepoint") if c in adata.obs]]
    sheet = sheet.copy()
    sheet.insert(0, "sample", adata.obs_names)
    sheet["spikein_reads"] = adata.obs["spikein_reads"].astype(np.int64).to_numpy()
    sheet["mark"] = str(sim.get("mark", TRACK_MARK))
    sheet["path"] = [f"tracks/{s}.bw" for s in adata.obs_names]
    samples = out / "samples.tsv"
    sheet.to_csv(samples, sep="\t", index=False, lineterminator="\n")
    return {"samples": samples, "annotation": annotation, "tracks": tracks}


def _write_gtf(var: pd.DataFrame, path: Path) -> None:
    """An Ensembl-style GTF (gene, transcript, two exons per gene), gzip-compressed."""
    lines = ["#!genome-build mRatBN7.2", "#!genome-version mRatBN7.2", "#!genebuild-last-updated"]
    order = np.lexsort((var["gene_start"].to_numpy(), pd.factorize(var["chrom"])[0]))
    for i in order:
        row = var.iloc[i]
        c, strand = str(row["chrom"]), str(row["strand"])
        s, e = int(row["gene_start"]), int(row["gene_end"])
        gid, name = str(row["gene_id"]), str(row["gene"])
        gene = (
            f'gene_id "{gid}"; gene_version "1"; gene_name "{name}"; gene_source "ensembl"; '
            'gene_biotype "protein_coding";'
        )
        tx = (
            f'{gene} transcript_id "{gid.replace("ENSRNOG", "ENSRNOT")}"; transcript_version '
            f'"1"; transcript_name "{name}-201"; transcript_source "ensembl"; '
            'transcript_biotype "protein_coding";'
        )
        ex_len = min(300, (e - s) // 3)
        first = (s, s + ex_len) if strand == "+" else (e - ex_len, e)
        last = (e - ex_len, e) if strand == "+" else (s, s + ex_len)
        lines.append(f"{c}\tensembl\tgene\t{s + 1}\t{e}\t.\t{strand}\t.\t{gene}")
        lines.append(f"{c}\tensembl\ttranscript\t{s + 1}\t{e}\t.\t{strand}\t.\t{tx}")
        for n, (a, b) in enumerate((first, last), start=1):
            lines.append(
                f'{c}\tensembl\texon\t{a + 1}\t{b}\t.\t{strand}\t.\t{tx} exon_number "{n}";'
            )
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode())
