"""ChIP-seq / CUT&Tag read counts: featureCounts tables and MACS2 peak files.

featureCounts writes a comment line (``# Program:featureCounts v2.0.3; Command:...``), then a header
``Geneid Chr Start End Strand Length <bam 1> <bam 2> ...`` (tab-separated) and one row per feature
(gene, promoter, peak or bin). Coordinates are 1-based and inclusive; features made of several
parts (exons) list their chromosomes, starts, ends and strands joined by ``;``. The sample columns
are named by the BAM paths given on the command line.

MACS2/MACS3 ``narrowPeak`` (BED6+4: ``signalValue pValue qValue peak``) and ``broadPeak`` (BED6+3)
files are BED: 0-based, half-open.
"""

from __future__ import annotations

import io as _io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError
from ._anndata import build_anndata, normalize_run_name

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_featurecounts", "read_peaks"]

logger = logging.getLogger("kratom_omics")

FEATURECOUNTS_COLUMNS = ("Geneid", "Chr", "Start", "End", "Strand", "Length")
#: Suffixes alignment pipelines add to BAM names, removed (repeatedly) to get the sample name.
_BAM_SUFFIXES = re.compile(
    r"([._-](sorted|sort|srt|dedup|dedupped|deduplicated|markdup|mkdup|rmdup|nodup|filtered|filt|"
    r"bowtie2|bt2|bwa|aligned|mapped|uniq|unique|final|clean|q\d+|mapq\d+))+$",
    re.IGNORECASE,
)
NARROWPEAK_COLUMNS = (
    "chrom", "start", "end", "name", "score", "strand",
    "signal_value", "p_value", "q_value", "peak",
)  # fmt: skip


def bam_sample_name(path: str) -> str:
    """Sample name of a BAM path: ``/data/bam/S1.sorted.dedup.bam`` -> ``S1``."""
    name = normalize_run_name(path)
    return _BAM_SUFFIXES.sub("", name) or name


def featurecounts_header(p: Path, source: str) -> tuple[int, list[str]]:
    """Number of comment lines and the BAM columns of a featureCounts table."""
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        n_comment = 0
        header = ""
        for line in fh:
            if line.startswith("#"):
                n_comment += 1
                continue
            header = line.rstrip("\r\n")
            break
    cols = header.split("\t")
    if tuple(c.strip() for c in cols[:6]) != FEATURECOUNTS_COLUMNS:
        raise InputFormatError(
            f"{source}: the header is {cols[:6]}; expected featureCounts' "
            f"{list(FEATURECOUNTS_COLUMNS)} followed by one column per BAM file (tab-separated)."
        )
    if len(cols) < 7:
        raise InputFormatError(
            f"{source}: no sample (BAM) columns after {list(FEATURECOUNTS_COLUMNS)}."
        )
    return n_comment, [c.strip() for c in cols[6:]]


def read_featurecounts(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    rename: Mapping[str, str] | None = None,
    peaks: str | os.PathLike | pd.DataFrame | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
) -> AnnData:
    """Read a featureCounts table of read counts into a samples x features AnnData.

    Parameters
    ----------
    path
        featureCounts output (``counts.txt``; the ``.summary`` file is not needed).
    samples
        Sample sheet joined onto ``.obs``; sample names are the BAM file names without directory,
        ``.bam`` and pipeline suffixes (``.sorted``, ``.dedup``, ``_filtered``, ...).
    rename
        Explicit ``{bam column or reduced name: sample}`` mapping, applied after the reduction.
    peaks
        A narrowPeak/broadPeak file (or :func:`read_peaks` table) to annotate the features with.
    phases, join
        Passed to :func:`kratom_omics.io.attach_samples`.

    Returns
    -------
    AnnData with ``.X`` and ``layers["raw"]`` = counts (float64, zeros kept), ``.var`` indexed by
    ``Geneid`` with ``chrom``, ``start`` (0-based), ``end`` (half-open, i.e. featureCounts' End),
    ``strand``, ``length`` and, with ``peaks``, ``in_peak`` and ``peak`` (name of an overlapping
    peak); ``.obs["bam"]`` holds the BAM path of each sample.

    Raises
    ------
    InputFormatError
        No featureCounts header, a count that is not a non-negative integer (the message names the
        feature and sample), or two BAM files reduced to the same sample name.
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise InputFormatError(f"featureCounts table {source!r} does not exist.")
    n_comment, bams = featurecounts_header(p, source)
    try:
        df = pd.read_csv(
            p,
            sep="\t",
            header=None,
            skiprows=n_comment + 1,
            dtype=str,
            keep_default_na=False,
            names=[*FEATURECOUNTS_COLUMNS, *(f"sample_{i}" for i in range(len(bams)))],
        )
    except pd.errors.ParserError as exc:
        raise InputFormatError(f"{source} could not be parsed: {exc}") from None
    names = [bam_sample_name(b) for b in bams]
    if rename:
        names = [rename.get(b, rename.get(n, n)) for b, n in zip(bams, names, strict=True)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: BAM columns {bams} give the sample name(s) {dup} more than once; pass "
            "rename={bam: sample} to name them."
        )
    ids = df["Geneid"].astype(str)
    text = df.iloc[:, 6:].apply(lambda c: c.str.strip())
    num = text.apply(lambda c: pd.to_numeric(c, errors="coerce")).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num) | (num < 0) | (num != np.round(num))
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise InputFormatError(
            f"{source}: count {text.iat[i, j]!r} for feature {ids.iat[i]!r} in {bams[j]!r} is not "
            "a "
            f"non-negative integer ({int(bad.sum())} such cell(s)); featureCounts writes whole "
            "read "
            "counts (fractional counts from -M --fraction are not supported: round or recount)."
        )
    var = pd.DataFrame(
        {
            "chrom": df["Chr"].str.split(";").str[0].to_numpy(),
            "start": _coordinate(df["Start"], "min", source) - 1,
            "end": _coordinate(df["End"], "max", source),
            "strand": df["Strand"].str.split(";").str[0].to_numpy(),
            "length": pd.to_numeric(df["Length"]).to_numpy(),
        },
        index=pd.Index(ids.to_numpy()),
    )
    if peaks is not None:
        table = peaks if isinstance(peaks, pd.DataFrame) else read_peaks(peaks)
        in_peak, name = overlapping_peaks(var, table)
        var["in_peak"] = in_peak
        var["peak"] = name
    values = pd.DataFrame(num.T, index=pd.Index(names), columns=var.index)
    adata = build_anndata(
        values,
        var,
        samples=None,
        source=source,
        reader="read_featurecounts",
        parameters={"rename": dict(rename or {}), "peaks": None if peaks is None else str(peaks)},
    )
    adata.obs["bam"] = bams
    if samples is not None:
        from ._anndata import attach_samples

        adata = attach_samples(adata, samples, phases=phases, join=join, source=source)
    logger.info("%s: %d samples x %d features", source, adata.n_obs, adata.n_vars)
    return adata


def _coordinate(col: pd.Series, how: str, source: str) -> np.ndarray:
    """featureCounts Start/End: one integer, or several joined by ``;`` for multi-part features."""
    parts = col.astype(str).str.split(";", expand=True).to_numpy(dtype=object)
    flat = pd.to_numeric(pd.Series(parts.ravel()), errors="coerce").to_numpy(dtype=np.float64)
    nums = flat.reshape(parts.shape)
    given = pd.notna(parts) & (parts != "")
    if (np.isnan(nums) & given).any() or not given[:, 0].all():
        raise InputFormatError(
            f"{source}: column {col.name!r} holds a value that is not a coordinate; expected "
            "integers (joined by ';' for multi-part features)."
        )
    reduced = np.nanmin(nums, axis=1) if how == "min" else np.nanmax(nums, axis=1)
    return reduced.astype(np.int64)


def read_peaks(
    path: str | os.PathLike, *, kind: Literal["auto", "narrowPeak", "broadPeak", "bed"] = "auto"
) -> pd.DataFrame:
    """Read a MACS2/MACS3 narrowPeak or broadPeak file (or a plain BED of regions).

    Parameters
    ----------
    path
        ``*_peaks.narrowPeak``, ``*_peaks.broadPeak`` or BED (``track``/``browser``/``#`` lines are
        skipped; gzip allowed).
    kind
        Format; ``"auto"`` decides by the number of columns (10 narrowPeak, 9 broadPeak, 3-6 BED).

    Returns
    -------
    DataFrame indexed by peak name (``chrom:start-end`` when unnamed) with ``chrom``, ``start``
    (0-based), ``end`` (exclusive) and, as present, ``name``, ``score``, ``strand``,
    ``signal_value`` (fold enrichment), ``p_value`` and ``q_value`` (-log10) and ``peak`` (summit
    offset from ``start``, narrowPeak).
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise InputFormatError(f"peak file {source!r} does not exist.")
    import gzip

    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        lines = [
            ln
            for ln in fh.read().splitlines()
            if ln.strip() and not ln.startswith(("#", "track", "browser"))
        ]
    if not lines:
        raise InputFormatError(f"peak file {source!r} is empty.")
    try:
        df = pd.read_csv(
            _io.StringIO("\n".join(lines)), sep="\t", header=None, dtype=str, keep_default_na=False
        )
    except pd.errors.ParserError as exc:
        raise InputFormatError(f"peak file {source!r} could not be parsed: {exc}") from None
    n = df.shape[1]
    expected = {"narrowPeak": 10, "broadPeak": 9}
    if kind == "auto":
        kind = "narrowPeak" if n == 10 else "broadPeak" if n == 9 else "bed"
    if kind in expected and n != expected[kind]:
        raise InputFormatError(
            f"{source}: {n} columns; a {kind} file has {expected[kind]} (chrom, start, end, name, "
            "score, strand, signalValue, pValue, qValue"
            + (", peak)." if kind == "narrowPeak" else ").")
        )
    if n < 3:
        raise InputFormatError(f"{source}: {n} column(s); expected at least chrom, start, end.")
    names = list(NARROWPEAK_COLUMNS[: min(n, 10)]) + [f"extra_{i}" for i in range(10, n)]
    df.columns = names
    for col in ("start", "end", "score", "peak"):
        if col in df.columns:
            num = pd.to_numeric(df[col], errors="coerce")
            if num.isna().any() or (num != np.round(num)).any():
                i = int(np.flatnonzero((num.isna() | (num != np.round(num))).to_numpy())[0])
                raise InputFormatError(
                    f"{source}: line {i + 1}: {col} is {df[col].iat[i]!r}; expected an integer."
                )
            df[col] = num.astype(np.int64)
    for col in ("signal_value", "p_value", "q_value"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if (df["end"] <= df["start"]).any() or (df["start"] < 0).any():
        i = int(np.flatnonzero(((df["end"] <= df["start"]) | (df["start"] < 0)).to_numpy())[0])
        raise InputFormatError(
            f"{source}: line {i + 1} has start {df['start'].iat[i]} and end {df['end'].iat[i]}; "
            "BED regions are 0-based with start >= 0 and end > start."
        )
    label = df["chrom"] + ":" + df["start"].astype(str) + "-" + df["end"].astype(str)
    idx = df["name"].where(df["name"].str.strip() != "", label) if "name" in df.columns else label
    df.index = pd.Index(idx.astype(str).to_numpy())
    df.attrs["kind"] = kind
    return df


def overlapping_peaks(var: pd.DataFrame, peaks: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each region of ``var`` (chrom/start/end, 0-based half-open): does it overlap a peak, and
    the name of an overlapping peak (the one reaching furthest; '' if none)."""
    in_peak = np.zeros(len(var), dtype=bool)
    name = np.full(len(var), "", dtype=object)
    chrom = var["chrom"].astype(str).to_numpy()
    for c, grp in peaks.groupby(peaks["chrom"].astype(str), sort=False):
        rows = np.flatnonzero(chrom == c)
        if rows.size == 0:
            continue
        grp = grp.sort_values("start", kind="stable")
        starts = grp["start"].to_numpy()
        ends = grp["end"].to_numpy()
        run_max = np.maximum.accumulate(ends)
        pos = np.arange(ends.size)
        furthest = np.maximum.accumulate(np.where(ends >= run_max, pos, 0))  # peak reaching run_max
        s = var["start"].to_numpy()[rows]
        e = var["end"].to_numpy()[rows]
        k = np.searchsorted(starts, e, side="left") - 1  # last peak starting before the region ends
        ok = k >= 0
        hit = np.zeros(rows.size, dtype=bool)
        hit[ok] = run_max[k[ok]] > s[ok]
        in_peak[rows] = hit
        name[rows[hit]] = grp.index.to_numpy()[furthest[k[hit]]]
    return in_peak, name
