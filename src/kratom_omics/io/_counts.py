"""ChIP-seq / CUT&Tag read counts: featureCounts tables and MACS2 peak files.

featureCounts writes a comment line (``# Program:featureCounts v2.0.3; Command:...``), then a header
``Geneid Chr Start End Strand Length <bam 1> <bam 2> ...`` (tab-separated) and one row per feature
(gene, promoter, peak or bin). Coordinates are 1-based and inclusive; features made of several
parts (exons) list their chromosomes, starts, ends and strands joined by ``;``. The sample columns
are named by the BAM paths given on the command line; samples are named by the BAM file name
without directories, extension and the suffixes alignment pipelines add
(:func:`kratom_omics.io.normalize_run_name`). Beside the counts featureCounts writes
``<counts>.summary``: one row per read status (``Assigned``, ``Unassigned_NoFeatures``, ...) and one
column per BAM file.

MACS2/MACS3 peak files are BED (0-based, half-open): ``narrowPeak`` (BED6+4: ``signalValue pValue
qValue peak``), ``broadPeak`` (BED6+3), ``gappedPeak`` (BED12+3: the broad region with its strong
parts as blocks, then ``signalValue pValue qValue``) and ``summits.bed`` (chrom, summit, summit + 1,
name, -log10 q-value). ``peaks.xls`` is MACS2's own text table (not Excel): ``#`` lines with the
command and its parameters, then ``chr start end length abs_summit pileup -log10(pvalue)
fold_enrichment -log10(qvalue) name`` with 1-based starts and summits (broad peaks have no
``abs_summit``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputFormatError
from ._anndata import build_anndata
from ._choices import note_choice
from ._format import Format, Probe
from ._loader import loader
from ._names import normalize_run_name
from ._peaks import read_peaks
from ._text import TextFile, open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_featurecounts", "read_featurecounts_summary", "read_peaks"]

logger = logging.getLogger("kratom_omics")

FEATURECOUNTS_COLUMNS = ("Geneid", "Chr", "Start", "End", "Strand", "Length")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def bam_sample_name(path: str) -> str:
    """Sample name of a BAM path: ``/data/bam/S1.sorted.dedup.bam`` -> ``S1`` (the rule of
    :func:`kratom_omics.io.normalize_run_name`, which the sample-sheet matcher uses too)."""
    return normalize_run_name(path)


def sample_names(bams: Sequence[str], rename: Mapping[str, str] | None, source: str) -> list[str]:
    """Sample names of BAM columns (reduced, then ``rename``); two BAM files giving one name are an
    error."""
    names = [bam_sample_name(b) for b in bams]
    if rename:
        names = [rename.get(b, rename.get(n, n)) for b, n in zip(bams, names, strict=True)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: BAM columns {list(bams)} give the sample name(s) {dup} more than once; "
            "pass rename={bam: sample} to name them."
        )
    changed = [(b, n) for b, n in zip(bams, names, strict=True) if b != n]
    if changed:
        note_choice(
            "sample_names",
            dict(changed[:20]),
            source=source,
            why="BAM paths reduced to sample names (directories, extension and pipeline "
            "suffixes removed)",
        )
    return names


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
) -> tuple[np.ndarray, pd.DataFrame, int]:
    """Counts (rows x samples, float64), ``.var`` and the number of features with ``Start`` 0 of
    a block of featureCounts rows (indexed by line number); a count that is not a whole number
    >= 0 is an error naming feature, sample and line."""
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
    first = _coordinate(df.iloc[:, 2], "min", source, lines)
    zero = int((first == 0).sum())
    var = pd.DataFrame(
        {
            "chrom": df.iloc[:, 1].fillna("").str.split(";").str[0].to_numpy(),
            "start": np.maximum(first - 1, 0),
            "end": _coordinate(df.iloc[:, 3], "max", source, lines),
            "strand": df.iloc[:, 4].fillna("").str.split(";").str[0].to_numpy(),
            "length": as_integer(df.iloc[:, 5]).to_numpy(),
        },
        index=pd.Index(ids.to_numpy()),
    )
    return num, var, zero


def note_zero_starts(n: int, source: str) -> None:
    """Log (and keep in provenance) that ``n`` features start at 0, i.e. the SAF was written with
    0-based starts."""
    if n:
        note_choice(
            "zero_starts",
            n,
            source=source,
            why=f"{n} feature(s) have Start 0, so the SAF annotation was written with 0-based "
            "(BED) starts, as nf-core pipelines write it; featureCounts' starts are 1-based, so "
            "these features start at 0 and the others are read as 1-based",
            level=logging.WARNING,
        )


def summary_path(path: str | os.PathLike) -> Path | None:
    """The ``.summary`` featureCounts wrote beside a counts table (``counts.txt.summary``; for
    ``counts.txt.gz`` also ``counts.txt.summary`` and ``counts.txt.summary.gz``), or None."""
    p = Path(path)
    names = [p.name + ".summary"]
    for suffix in _COMPRESSED:
        if p.name.lower().endswith(suffix):
            plain = p.name[: -len(suffix)]
            names += [plain + ".summary", plain + ".summary" + suffix]
    names += [n + ".gz" for n in names if not n.lower().endswith(_COMPRESSED)]
    return next((p.with_name(n) for n in names if p.with_name(n).is_file()), None)


def _check_summary_header(tf: TextFile) -> None:
    cols = tf.header
    if not cols or cols[0] != "Status":
        raise InputFormatError(
            f"{tf.source}: the header starts with {[c[:40] for c in cols[:3]]}; expected "
            "featureCounts' .summary header 'Status' followed by one column per BAM file."
        )
    if len(cols) < 2:
        raise InputFormatError(f"{tf.source}: no sample (BAM) columns after 'Status'.")


def _summary_table(
    path: str | os.PathLike, encoding: str | None
) -> tuple[pd.DataFrame, list[str], str]:
    """Statuses x BAM columns as numbers, the BAM columns, and the source."""
    tf = open_table(
        path,
        what="featureCounts summary",
        sep="\t",
        encoding=encoding,
        check_header=_check_summary_header,
    )
    source = tf.source
    bams = tf.header[1:]
    empty = [k + 2 for k, b in enumerate(bams) if not b]
    if empty:
        raise InputFormatError(
            f"{source}: column {empty[0]} has an empty header cell; every column after 'Status' "
            "names a BAM file."
        )
    dup = sorted({b for b in bams if bams.count(b) > 1})
    if dup:
        raise InputFormatError(f"{source}: BAM column(s) {dup[:5]} appear more than once.")
    df = tf.read_csv(dtype=str)
    lines = tf.line_of(np.arange(len(df)))
    status = df.iloc[:, 0].fillna("").str.strip()
    if df.empty:
        raise InputFormatError(f"{source}: the header is there but there are no status rows.")
    blank = (status == "").to_numpy()
    if blank.any():
        raise InputFormatError(
            f"{source}: line {lines[int(np.flatnonzero(blank)[0])]} has no status in the first "
            "column; expected 'Assigned', 'Unassigned_...'."
        )
    if status.duplicated().any():
        name = str(status[status.duplicated()].iloc[0])
        raise InputFormatError(f"{source}: status {name!r} appears on more than one line.")
    if "Assigned" not in set(status):
        raise InputFormatError(
            f"{source}: no 'Assigned' row (found {list(status[:5])}); expected featureCounts' "
            ".summary (Assigned, Unassigned_Unmapped, Unassigned_NoFeatures, ...)."
        )
    text = df.iloc[:, 1:].apply(lambda c: c.str.strip())
    num = text.apply(lambda c: pd.to_numeric(c, errors="coerce")).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num) | (num < 0)
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        cell = text.iat[i, j]
        shown = "missing" if pd.isna(cell) else repr(str(cell)[:40])
        raise InputFormatError(
            f"{source}: line {lines[i]}: {status.iat[i]} of {bams[j][:80]!r} is {shown}; expected "
            "a number of reads >= 0."
        )
    table = pd.DataFrame(num.T, index=pd.Index(bams), columns=pd.Index(status.tolist()))
    return table, bams, source


def _as_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as int64 (featureCounts' read counts), otherwise float64."""
    values = table.to_numpy()
    if (values == np.round(values)).all() and (np.abs(values) < 2**62).all():
        return table.astype(np.int64)
    return table


@loader(sheet=False)
def read_featurecounts_summary(
    path: str | os.PathLike,
    *,
    rename: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read featureCounts' ``.summary`` (read assignment statistics per BAM file).

    Parameters
    ----------
    path
        ``counts.txt.summary``: a ``Status`` column (``Assigned``, ``Unassigned_Unmapped``,
        ``Unassigned_NoFeatures``, ...) and one column per BAM file.
    rename
        Explicit ``{bam column or reduced name: sample}`` mapping, as in
        :func:`kratom_omics.io.read_featurecounts`.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    DataFrame indexed by sample (the BAM names reduced as :func:`read_featurecounts` reduces them)
    with one column per status, in the file's order (int64 read counts), and ``bam`` (the BAM
    column as written).

    Raises
    ------
    InputFormatError
        No ``Status`` header or ``Assigned`` row, a repeated status or BAM column, a count that is
        not a number >= 0 (the line and BAM are named), or two BAM files reduced to one name.
    """
    table, bams, source = _summary_table(path, encoding)
    out = _as_counts(table)
    out.index = pd.Index(sample_names(bams, rename, source))
    out.columns.name = None
    out["bam"] = bams
    logger.info("%s: %d statuses x %d samples", source, table.shape[1], table.shape[0])
    return out


def _attach_summary(
    adata: AnnData,
    bams: Sequence[str],
    summary: str | os.PathLike | bool,
    counts_path: str | os.PathLike,
    source: str,
    encoding: str | None,
) -> str | None:
    """Add the ``.summary`` statuses (and ``assigned_fraction``) to ``.obs``; the path read."""
    if summary is False:
        return None
    if summary is True:
        found = summary_path(counts_path)
        if found is None:
            logger.debug("%s: no .summary beside the counts", source)
            return None
        why = "found beside the counts"
    else:
        found, why = Path(summary), "given"
    table, summary_bams, summary_source = _summary_table(found, encoding)
    by_bam = {b: b for b in summary_bams if b in set(bams)}
    if len(by_bam) < len(bams):  # other paths to the same files: match the reduced names
        reduced = {bam_sample_name(b): b for b in summary_bams}
        by_bam = {b: reduced[bam_sample_name(b)] for b in bams if bam_sample_name(b) in reduced}
    missing = [b for b in bams if b not in by_bam]
    extra = sorted(set(summary_bams) - set(by_bam.values()))
    if missing or extra:
        raise InputFormatError(
            f"{summary_source} (the .summary {why}) lists other BAM files than {source}: "
            f"missing {missing[:5]}, not in the counts {extra[:5]}; pass the summary of this "
            "run as summary=..., or summary=False to read the counts without it."
        )
    rows = _as_counts(table.loc[[by_bam[b] for b in bams]])
    note_choice("summary", str(found), source=source, why=why)
    for col in rows.columns:
        adata.obs[str(col)] = rows[col].to_numpy()
    total = table.loc[[by_bam[b] for b in bams]].sum(axis=1).to_numpy()
    assigned = table.loc[[by_bam[b] for b in bams], "Assigned"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        adata.obs["assigned_fraction"] = np.where(total > 0, assigned / total, np.nan)
    return str(found)


@loader
def read_featurecounts(
    path: str | os.PathLike,
    *,
    rename: Mapping[str, str] | None = None,
    peaks: str | os.PathLike | pd.DataFrame | None = None,
    summary: str | os.PathLike | bool = True,
    encoding: str | None = None,
) -> AnnData:
    """Read a featureCounts table of read counts into a samples x features AnnData.

    Parameters
    ----------
    path
        featureCounts output (``counts.txt``).
    rename
        Explicit ``{bam column or reduced name: sample}`` mapping, applied after the reduction.
    peaks
        A narrowPeak/broadPeak file (or :func:`read_peaks` table) to annotate the features with.
    summary
        featureCounts' ``.summary`` of the same run, whose statuses become ``.obs`` columns:
        ``True`` reads ``<path>.summary`` when it is there (the choice is logged), a path reads
        that file, ``False`` skips it. Its BAM columns must be those of the counts.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with ``.X`` and ``layers["raw"]`` = counts (float64, zeros kept), ``.var`` indexed by
    ``Geneid`` with ``chrom``, ``start`` (0-based; a ``Start`` of 0, which a SAF written with
    0-based starts gives, stays 0 and is logged), ``end`` (half-open, i.e. featureCounts' End),
    ``strand``, ``length`` and, with ``peaks``, ``in_peak`` and ``peak`` (name of an overlapping
    peak); ``.obs["bam"]`` holds the BAM path of each sample. Samples are named by the BAM file
    name without directories, ``.bam`` and alignment-pipeline suffixes (``S1.mLb.clN.sorted.bam``,
    ``S1Aligned.sortedByCoord.out.bam`` -> ``S1``; see :func:`kratom_omics.io.normalize_run_name`).
    With the summary, ``.obs`` also holds one column per status (``Assigned``,
    ``Unassigned_NoFeatures``, ... as read counts) and ``assigned_fraction`` (``Assigned`` over
    all reads of the sample: the fraction of reads in the features, FRiP for peaks).

    Raises
    ------
    InputFormatError
        No featureCounts header, a count that is not a non-negative integer (the message names the
        feature and sample), two BAM files reduced to the same sample name, or a summary that
        lists other BAM files.
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
    names = sample_names(bams, rename, source)
    num, var, zero = featurecounts_block(df, bams, source)
    note_zero_starts(zero, source)
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
        parameters={
            "rename": dict(rename or {}),
            "peaks": None if peaks is None else str(peaks),
            "summary": summary if isinstance(summary, bool) else str(summary),
        },
    )
    adata.obs["bam"] = bams
    _attach_summary(adata, bams, summary, path, source, encoding)
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
    options=("rename", "peaks", "summary"),
)
