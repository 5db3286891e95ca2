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

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import _make_unique, build_anndata, normalize_run_name
from ._format import Format, Probe
from ._loader import loader
from ._text import TextFile, open_table, open_text
from ._values import as_integer, coordinates

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


def _check_header(tf: TextFile) -> None:
    cols = tf.header
    if tuple(cols[:6]) != FEATURECOUNTS_COLUMNS:
        raise InputFormatError(
            f"{tf.source}: the header is {[c[:40] for c in cols[:6]]}; expected featureCounts' "
            f"{list(FEATURECOUNTS_COLUMNS)} followed by one column per BAM file (tab-separated)."
        )
    if len(cols) < 7:
        raise InputFormatError(
            f"{tf.source}: no sample (BAM) columns after {list(FEATURECOUNTS_COLUMNS)}."
        )


def featurecounts_table(
    path: str | os.PathLike, *, encoding: str | None = None
) -> tuple[TextFile, list[str]]:
    """Open a featureCounts table (``#`` lines skipped, tab-separated): the file and its BAM
    columns."""
    tf = open_table(
        path,
        what="featureCounts table",
        sep="\t",
        comment="#",
        encoding=encoding,
        check_header=_check_header,
    )
    cols = tf.header
    return tf, cols[6:]


def featurecounts_block(
    df: pd.DataFrame, bams: Sequence[str], source: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Counts (rows x samples, float64) and ``.var`` of a block of featureCounts rows (indexed by
    line number); a count that is not a whole number >= 0 is an error naming feature, sample and
    line."""
    ids = df.iloc[:, 0].fillna("").astype(str)
    text = df.iloc[:, 6:].apply(lambda c: c.str.strip())
    num = text.apply(lambda c: pd.to_numeric(c, errors="coerce")).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num) | (num < 0) | (num != np.round(num))
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        cell = text.iat[i, j]
        shown = "missing" if pd.isna(cell) else repr(str(cell)[:40])
        raise InputFormatError(
            f"{source}: line {df.index[i]}: count {shown} for feature {str(ids.iat[i])[:80]!r} in "
            f"{str(bams[j])[:80]!r} is not a non-negative integer ({int(bad.sum())} such cell(s)); "
            "featureCounts writes whole read counts (fractional counts from -M --fraction are not "
            "supported: round or recount)."
        )
    lines = list(df.index)
    var = pd.DataFrame(
        {
            "chrom": df.iloc[:, 1].fillna("").str.split(";").str[0].to_numpy(),
            "start": _coordinate(df.iloc[:, 2], "min", source, lines) - 1,
            "end": _coordinate(df.iloc[:, 3], "max", source, lines),
            "strand": df.iloc[:, 4].fillna("").str.split(";").str[0].to_numpy(),
            "length": as_integer(df.iloc[:, 5]).to_numpy(),
        },
        index=pd.Index(ids.to_numpy()),
    )
    return num, var


@loader
def read_featurecounts(
    path: str | os.PathLike,
    *,
    rename: Mapping[str, str] | None = None,
    peaks: str | os.PathLike | pd.DataFrame | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read a featureCounts table of read counts into a samples x features AnnData.

    Parameters
    ----------
    path
        featureCounts output (``counts.txt``; the ``.summary`` file is not needed).
    rename
        Explicit ``{bam column or reduced name: sample}`` mapping, applied after the reduction.
    peaks
        A narrowPeak/broadPeak file (or :func:`read_peaks` table) to annotate the features with.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

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
    tf, bams = featurecounts_table(path, encoding=encoding)
    source = tf.source
    df = tf.read_csv(dtype=str)
    df.index = pd.Index(tf.line_of(np.arange(len(df))), name="line")
    if df.empty:
        raise InputFormatError(
            f"{source}: the header is there but there are no feature rows; check that "
            "featureCounts finished."
        )
    names = [bam_sample_name(b) for b in bams]
    if rename:
        names = [rename.get(b, rename.get(n, n)) for b, n in zip(bams, names, strict=True)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: BAM columns {bams} give the sample name(s) {dup} more than once; pass "
            "rename={bam: sample} to name them."
        )
    num, var = featurecounts_block(df, bams, source)
    if peaks is not None:
        table = peaks if isinstance(peaks, pd.DataFrame) else read_peaks(peaks)
        in_peak, name = overlapping_peaks(var, table)
        var["in_peak"] = in_peak
        var["peak"] = name
    values = pd.DataFrame(num.T, index=pd.Index(names), columns=var.index)
    adata = build_anndata(
        values,
        var,
        source=source,
        reader="read_featurecounts",
        parameters={"rename": dict(rename or {}), "peaks": None if peaks is None else str(peaks)},
    )
    adata.obs["bam"] = bams
    logger.info("%s: %d samples x %d features", source, adata.n_obs, adata.n_vars)
    return adata


def _coordinate(col: pd.Series, how: str, source: str, lines: Sequence[int]) -> np.ndarray:
    """featureCounts Start/End: one whole number, or several joined by ``;`` (multi-part features);
    anything else (``NA``, ``inf``, ``1.5``, a negative) is an error naming the line."""
    if col.empty:
        return np.zeros(0, dtype=np.int64)
    parts = col.fillna("").astype(str).str.split(";", expand=True).to_numpy(dtype=object)
    flat = pd.to_numeric(pd.Series(parts.ravel()), errors="coerce").to_numpy(dtype=np.float64)
    nums = flat.reshape(parts.shape)
    given = pd.notna(parts) & (parts != "")
    wrong = given & (~np.isfinite(nums) | (nums != np.round(nums)) | (nums < 0))
    wrong |= np.isnan(nums) & given
    rows = np.flatnonzero(wrong.any(axis=1) | ~given[:, 0])
    if rows.size:
        i = int(rows[0])
        raise InputFormatError(
            f"{source}: line {lines[i]}: column {col.name!r} holds a value that is not a coordinate "
            f"({str(col.iloc[i])[:40]!r}); expected whole numbers >= 0 (joined by ';' for "
            "multi-part features)."
        )
    nums = np.where(given, nums, np.nan)
    reduced = np.nanmin(nums, axis=1) if how == "min" else np.nanmax(nums, axis=1)
    return reduced.astype(np.int64)


@loader(sheet=False)
def read_peaks(
    path: str | os.PathLike,
    *,
    kind: Literal["auto", "narrowPeak", "broadPeak", "bed"] = "auto",
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a MACS2/MACS3 narrowPeak or broadPeak file (or a plain BED of regions).

    Parameters
    ----------
    path
        ``*_peaks.narrowPeak``, ``*_peaks.broadPeak`` or BED (``track``/``browser``/``#`` lines are
        skipped; gzip allowed).
    kind
        Format; ``"auto"`` decides by the number of columns (10 narrowPeak, 9 broadPeak, 3-6 BED).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    DataFrame indexed by peak name (``chrom:start-end`` when unnamed; a repeated name gets the
    suffix ``-1``, ``-2``, ... so the index is unique) with ``chrom``, ``start``
    (0-based), ``end`` (exclusive) and, as present, ``name``, ``score``, ``strand``,
    ``signal_value`` (fold enrichment), ``p_value`` and ``q_value`` (-log10) and ``peak`` (summit
    offset from ``start``, narrowPeak).
    """
    tf = open_text(path, what="peak file", encoding=encoding)
    source = tf.source
    numbered = [
        (k, ln)
        for k, ln in enumerate(tf.lines(), start=1)
        if ln.strip() and not ln.startswith(("#", "track", "browser"))
    ]
    if not numbered:
        raise InputFormatError(f"peak file {source!r} holds no regions.")
    lines = [k for k, _ in numbered]
    rows = [ln.rstrip("\r").split("\t") for _, ln in numbered]
    n = len(rows[0])
    odd = next((i for i, r in enumerate(rows) if len(r) != n), None)
    if odd is not None:
        raise InputFormatError(
            f"{source}: line {lines[odd]} has {len(rows[odd])} columns but line {lines[0]} has "
            f"{n}; every region needs the same columns (tab-separated)."
        )
    df = pd.DataFrame(rows, index=pd.Index(lines, name="line"))
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
    df.columns = list(NARROWPEAK_COLUMNS[: min(n, 10)]) + [f"extra_{i}" for i in range(10, n)]
    for col in ("start", "end"):
        df[col] = coordinates(df[col], source=source, column=col, lines=lines)
    for col in ("score", "peak"):
        if col in df.columns:
            whole = as_integer(df[col])
            if whole.dtype != np.int64:
                i = int(
                    np.flatnonzero(
                        ~np.isfinite(whole.to_numpy()) | (whole != np.round(whole)).to_numpy()
                    )[0]
                )
                raise InputFormatError(
                    f"{source}: line {lines[i]}: {col} is {str(df[col].iat[i])[:40]!r}; expected "
                    "an integer."
                )
            df[col] = whole
    for col in ("signal_value", "p_value", "q_value"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    wrong = (df["end"] <= df["start"]).to_numpy()
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise InputFormatError(
            f"{source}: line {lines[i]} has start {df['start'].iat[i]} and end {df['end'].iat[i]}; "
            "BED regions are 0-based with start >= 0 and end > start."
        )
    label = df["chrom"] + ":" + df["start"].astype(str) + "-" + df["end"].astype(str)
    idx = df["name"].where(df["name"].str.strip() != "", label) if "name" in df.columns else label
    df.index = pd.Index(_make_unique(idx.astype(str).tolist(), source))
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


def _detect(pr: Probe) -> str | None:
    """featureCounts ('# Program:featureCounts' line, 'Geneid Chr Start End ...' header)"""
    first = pr.lines[0] if pr.lines else ""
    if first.startswith("# Program:featureCounts"):
        return "'# Program:featureCounts' line"
    if pr.columns[:4] == ["Geneid", "Chr", "Start", "End"]:
        return "'Geneid Chr Start End' header"
    return None


FORMAT = Format(
    name="featurecounts",
    label="featureCounts",
    reader=read_featurecounts,
    detect=_detect,
    modality="histone",
    options=("rename", "peaks"),
)
