"""Genomic regions for signal tracks: gene annotations (GTF/GFF3), promoters, gene bodies, bins.

Coordinates follow BED: 0-based starts, exclusive ends. GTF and GFF3 are 1-based with inclusive
ends, so a GTF gene ``1 ... 101 200`` is ``[100, 200)`` here. A gene's transcription start site
(TSS) is its 5' end: the first base of a ``+`` gene, the last base of a ``-`` gene. The promoter
of a gene is ``upstream`` bases before the TSS and ``downstream`` bases after it (strand-aware),
with the TSS base counted downstream, so a ``+`` gene with its TSS at 1000 and the default
1000/1000 window has the promoter ``[0, 2000)``.

Regions are tables with ``chrom``, ``start``, ``end`` (and ``strand``, ``gene``, ... as known)
indexed by a unique region id; :func:`kratom_omics.io.read_bigwig` reads signal over them.
"""

from __future__ import annotations

import csv
import gzip
import io as _io
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputFormatError

__all__ = [
    "annotate_nearest_gene",
    "genome_bins",
    "read_annotation",
    "read_regions",
    "resolve_region_chroms",
]

logger = logging.getLogger("kratom_omics")

GTF_COLUMNS = ("chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attrs")
#: GFF3 feature types that are genes (Ensembl writes ncRNA_gene and pseudogene besides gene).
_GENE_TYPES = ("gene", "ncRNA_gene", "pseudogene")
_GTF_SYMBOL_KEYS = ("gene_name", "gene", "gene_symbol", "Name")
_GFF_SYMBOL_KEYS = ("Name", "gene_name", "gene")
_ANNOTATION_SUFFIXES = (".gtf", ".gff", ".gff3", ".gtf.gz", ".gff.gz", ".gff3.gz")
#: Chromosome names that mean the same in UCSC (chr...) and Ensembl/NCBI naming.
_MITO = ("chrM", "chrMT", "MT", "M")


def _open_text(p: Path) -> Any:
    """A text handle on a plain or gzip-compressed file (gzip recognised by its magic bytes)."""
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(p, "rt", encoding="utf-8", errors="replace")
    return open(p, encoding="utf-8-sig", errors="replace")


def _is_annotation(p: Path) -> bool:
    """GTF/GFF3 by name, or by the first data line (9 columns, attributes in column 9)."""
    name = p.name.lower()
    if name.endswith(_ANNOTATION_SUFFIXES):
        return True
    try:
        with _open_text(p) as fh:
            for line in fh:
                if line.startswith("##gff-version"):
                    return True
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                cols = line.rstrip("\r\n").split("\t")
                return len(cols) == 9 and bool(re.search(r'(\w+ "[^"]*";?)|(\w+=[^;]*)', cols[8]))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFormatError(f"region file {str(p)!r} cannot be read: {exc}") from None
    return False


def _attribute(attrs: pd.Series, key: str, gff: bool) -> pd.Series:
    """Value of one attribute (GTF ``key "value";`` or GFF3 ``key=value;``) or NA."""
    if gff:
        pattern = rf"(?:^|;)\s*{re.escape(key)}=([^;]*)"
    else:
        pattern = rf'(?:^|;)\s*{re.escape(key)} "?([^";]*)"?'
    return attrs.str.extract(pattern, expand=False)


def read_annotation(path: str | os.PathLike) -> pd.DataFrame:
    """Read the genes of a GTF or GFF3 annotation (Ensembl, GENCODE, RefSeq, UCSC; gzip allowed).

    Genes are the ``gene`` rows (GFF3 also ``ncRNA_gene`` and ``pseudogene``); annotations
    without gene rows (UCSC GTFs) get one gene per ``gene_id`` spanning its transcripts (or
    exons).

    Parameters
    ----------
    path
        ``.gtf``, ``.gff3`` or ``.gff`` file, plain or gzip-compressed.

    Returns
    -------
    DataFrame indexed by gene id (GTF ``gene_id``; GFF3 ``ID`` without its ``gene:`` or
    ``gene-`` prefix) with ``chrom``, ``start`` (0-based), ``end`` (exclusive), ``strand``,
    ``gene`` (the symbol: GTF ``gene_name``, GFF3 ``Name``; the id when there is none),
    ``gene_id``, ``biotype`` (where given) and ``tss`` (0-based position of the 5' end base).

    Raises
    ------
    InputFormatError
        The file does not exist, is not GTF/GFF3 (not 9 tab-separated columns), has a start or
        end that is not a positive integer or an end before its start (the line is named), or
        holds no gene.
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise InputFormatError(f"annotation {source!r} does not exist.")
    with _open_text(p) as fh:
        text = fh.read()
    cut = re.search(r"^##FASTA", text, flags=re.MULTILINE)  # GFF3 may end with sequences
    if cut:
        text = text[: cut.start()]
    try:
        df = pd.read_csv(
            _io.StringIO(text),
            sep="\t",
            header=None,
            names=list(GTF_COLUMNS),
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            on_bad_lines="error",
        )
    except pd.errors.ParserError as exc:
        raise InputFormatError(
            f"annotation {source!r} is not GTF/GFF3 ({exc}); expected 9 tab-separated columns "
            "(seqname, source, feature, start, end, score, strand, frame, attributes)."
        ) from None
    del text
    line_no = df.index.to_numpy() + 1
    data = ~df["chrom"].str.startswith("#") & (df["chrom"].str.strip() != "")
    df = df[data]
    line_no = line_no[data.to_numpy()]
    if df.empty:
        raise InputFormatError(f"annotation {source!r} has no feature lines.")
    short = (df["attrs"] == "").to_numpy()
    if short.any():
        i = int(np.flatnonzero(short)[0])
        raise InputFormatError(
            f"annotation {source!r}: line {line_no[i]} has fewer than 9 tab-separated columns; "
            "expected GTF/GFF3 (seqname, source, feature, start, end, score, strand, frame, "
            "attributes)."
        )
    gff = bool(df["attrs"].str.contains("=", regex=False).mean() > 0.5) and not bool(
        df["attrs"].str.contains('"', regex=False).mean() > 0.5
    )
    feature = df["feature"]
    genes = df[feature.isin(_GENE_TYPES if gff else ("gene",))]
    rows = line_no[feature.isin(_GENE_TYPES if gff else ("gene",)).to_numpy()]
    derived = genes.empty
    if derived:  # UCSC GTFs: genes from their transcripts, else exons
        kind = "transcript" if (feature == "transcript").any() else "exon"
        genes = df[feature == kind]
        rows = line_no[(feature == kind).to_numpy()]
        if genes.empty:
            raise InputFormatError(
                f"annotation {source!r} has no 'gene', 'transcript' or 'exon' rows (features: "
                f"{sorted(set(feature))[:10]}); expected a gene annotation."
            )
    start = pd.to_numeric(genes["start"], errors="coerce").to_numpy(dtype=np.float64)
    end = pd.to_numeric(genes["end"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(start) | ~np.isfinite(end) | (start < 1) | (start != np.round(start))
    bad |= end != np.round(end)
    bad |= end < start
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(
            f"annotation {source!r}: line {rows[i]} has start {genes['start'].iat[i]!r} and end "
            f"{genes['end'].iat[i]!r}; GTF/GFF3 coordinates are 1-based integers with "
            "start >= 1 and end >= start. Fix or remove the line."
        )
    attrs = genes["attrs"]
    keys: tuple[str, ...]
    if gff:
        ident = _attribute(attrs, "ID", True).str.replace(r"^(gene[:-])", "", regex=True)
        if derived:
            ident = _attribute(attrs, "Parent", True).str.replace(r"^(gene[:-])", "", regex=True)
        keys = _GFF_SYMBOL_KEYS
    else:
        ident = _attribute(attrs, "gene_id", False)
        keys = _GTF_SYMBOL_KEYS
    symbol = pd.Series(pd.NA, index=attrs.index, dtype=object)
    for key in keys:
        symbol = symbol.where(symbol.notna(), _attribute(attrs, key, gff))
    missing_id = ident.isna() | (ident.str.strip() == "")
    ident = ident.where(~missing_id, symbol)
    if ident.isna().any():
        i = int(np.flatnonzero(ident.isna().to_numpy())[0])
        raise InputFormatError(
            f"annotation {source!r}: line {rows[i]} has no "
            f"{'ID' if gff else 'gene_id'} and no gene name; every gene needs an id."
        )
    symbol = symbol.where(symbol.notna() & (symbol.str.strip() != ""), ident)
    biotype = pd.Series(pd.NA, index=attrs.index, dtype=object)
    for key in ("gene_biotype", "gene_type", "biotype"):
        biotype = biotype.where(biotype.notna(), _attribute(attrs, key, gff))
    table = pd.DataFrame(
        {
            "chrom": genes["chrom"].str.strip().to_numpy(),
            "start": start.astype(np.int64) - 1,
            "end": end.astype(np.int64),
            "strand": genes["strand"].str.strip().to_numpy(),
            "gene": symbol.astype(str).to_numpy(),
            "gene_id": ident.astype(str).to_numpy(),
            "biotype": biotype.fillna("").astype(str).to_numpy(),
        }
    )
    if derived:
        table = (
            table.groupby("gene_id", sort=False)
            .agg(
                chrom=("chrom", "first"),
                start=("start", "min"),
                end=("end", "max"),
                strand=("strand", "first"),
                gene=("gene", "first"),
                biotype=("biotype", "first"),
            )
            .reset_index()
        )
    if not table["biotype"].astype(bool).any():
        table = table.drop(columns="biotype")
    odd = ~table["strand"].isin(["+", "-"])
    if odd.any():
        logger.info(
            "%s: %d gene(s) without strand (e.g. %s) take their start as TSS",
            source,
            int(odd.sum()),
            table.loc[odd, "gene"].head(3).tolist(),
        )
    table["tss"] = np.where(table["strand"] == "-", table["end"] - 1, table["start"])
    dup = table["gene_id"].duplicated()
    if dup.any():  # the same id on two sequences (PAR genes): keep the first, say so
        logger.info(
            "%s: %d gene id(s) appear twice (e.g. %s); the first is kept",
            source,
            int(dup.sum()),
            table.loc[dup, "gene_id"].head(3).tolist(),
        )
        table = table[~dup]
    table.index = pd.Index(table["gene_id"].to_numpy())
    logger.info("%s: %d genes", source, len(table))
    return table


def _promoters(genes: pd.DataFrame, upstream: int, downstream: int) -> pd.DataFrame:
    minus = (genes["strand"] == "-").to_numpy()
    tss = genes["tss"].to_numpy()
    start = np.where(minus, tss - downstream + 1, tss - upstream)
    end = np.where(minus, tss + upstream + 1, tss + downstream)
    out = genes[["chrom", "strand", "gene", "gene_id"]].copy()
    out.insert(1, "start", np.maximum(start, 0))
    out.insert(2, "end", end)
    out["tss"] = tss
    out["tss_distance"] = 0
    out.index = pd.Index([f"{g}_promoter" for g in genes["gene"]])
    return out


def _bodies(genes: pd.DataFrame) -> pd.DataFrame:
    out = genes[["chrom", "start", "end", "strand", "gene", "gene_id", "tss"]].copy()
    out["tss_distance"] = 0
    out.index = pd.Index([f"{g}_body" for g in genes["gene"]])
    return out


def _check_window(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputFormatError(f"{name}={value!r}; expected a whole number of bases >= 0.")
    return int(value)


def read_regions(
    path: str | os.PathLike | pd.DataFrame,
    *,
    feature: Literal["promoter", "gene_body"] = "promoter",
    upstream: int = 1000,
    downstream: int = 1000,
    annotation: str | os.PathLike | pd.DataFrame | None = None,
    max_distance: int = 5000,
) -> pd.DataFrame:
    """Regions to summarise a signal over: from BED/narrowPeak/broadPeak, or from a gene annotation.

    Parameters
    ----------
    path
        A BED, narrowPeak or broadPeak file (read with :func:`kratom_omics.io.read_peaks`), a
        GTF/GFF3 gene annotation (plain or gzip; see :func:`read_annotation`), or a DataFrame with
        ``chrom``, ``start`` (0-based) and ``end`` (exclusive) columns.
    feature
        For an annotation: ``"promoter"`` (TSS - ``upstream`` to TSS + ``downstream``,
        strand-aware; start clipped at 0) or ``"gene_body"`` (the whole gene).
    upstream, downstream
        Promoter window in bases before and after the TSS.
    annotation
        A GTF/GFF3 (or :func:`read_annotation` table) whose nearest TSS names the ``gene`` of each
        BED region; an annotation given as ``path`` is used for this by default.
    max_distance
        Largest distance (bases) between a region and a TSS for the region to take that gene;
        the distance is 0 when the TSS lies inside the region.

    Returns
    -------
    DataFrame indexed by a unique region id (``<gene>_promoter``, ``<gene>_body``, the BED name
    or ``chrom:start-end``) with ``chrom``, ``start``, ``end`` and, where known, ``strand``,
    ``gene`` (``""`` when no TSS is within ``max_distance``), ``gene_id``, ``tss`` and
    ``tss_distance`` (bases; -1 without a gene), plus the peak columns of a narrowPeak/broadPeak.
    ``attrs["region_type"]`` says what the regions are: ``"promoter"``, ``"gene_body"``,
    ``"peak"`` (a BED/peak file) or ``"region"`` (a DataFrame).

    Raises
    ------
    InputFormatError
        A missing file, bad coordinates (negative, end not after start, not an integer; the line
        is named), or a DataFrame without ``chrom``/``start``/``end``.
    """
    from ._counts import read_peaks

    if feature not in ("promoter", "gene_body"):
        raise InputFormatError(f"feature={feature!r}; expected 'promoter' or 'gene_body'.")
    upstream = _check_window("upstream", upstream)
    downstream = _check_window("downstream", downstream)
    if upstream + downstream == 0 and feature == "promoter":
        raise InputFormatError("upstream + downstream is 0: a promoter needs at least one base.")
    _check_window("max_distance", max_distance)
    genes: pd.DataFrame | None = None
    if isinstance(path, pd.DataFrame):
        regions = check_regions(path, "regions")
    else:
        p = Path(path)
        if not p.exists():
            raise InputFormatError(f"region file {str(p)!r} does not exist.")
        if _is_annotation(p):
            genes = read_annotation(p)
            regions = (
                _promoters(genes, upstream, downstream) if feature == "promoter" else _bodies(genes)
            )
            regions.attrs["source"] = str(p)
            regions.attrs["region_type"] = feature
            return regions
        regions = read_peaks(p)
        regions = regions.drop(columns=[c for c in regions.columns if c.startswith("extra_")])
        regions.attrs["source"] = str(p)
    kind = (
        str(path.attrs.get("region_type", "region")) if isinstance(path, pd.DataFrame) else "peak"
    )
    if annotation is not None:
        genes = annotation if isinstance(annotation, pd.DataFrame) else read_annotation(annotation)
        source = regions.attrs.get("source")
        regions = annotate_nearest_gene(regions, genes, max_distance=max_distance)
        if source:
            regions.attrs["source"] = source
    regions.attrs["region_type"] = kind
    return regions


def check_regions(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """A copy of a regions table with integer coordinates checked (0-based, end > start >= 0)."""
    missing = [c for c in ("chrom", "start", "end") if c not in table.columns]
    if missing:
        raise InputFormatError(
            f"{source}: no column(s) {missing}; regions need 'chrom', 'start' (0-based) and "
            f"'end' (exclusive). Columns found: {list(table.columns)[:12]}."
        )
    out = table.copy()
    for col in ("start", "end"):
        num = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num) | (num != np.round(num))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputFormatError(
                f"{source}: region {out.index[i]!r} (row {i + 1}) has {col} "
                f"{out[col].iat[i]!r}; expected an integer."
            )
        out[col] = num.astype(np.int64)
    bad = (out["start"] < 0) | (out["end"] <= out["start"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFormatError(
            f"{source}: region {out.index[i]!r} (row {i + 1}) has start {out['start'].iat[i]} "
            f"and end {out['end'].iat[i]}; regions are 0-based with start >= 0 and end > start."
        )
    out["chrom"] = out["chrom"].astype(str).str.strip()
    if isinstance(out.index, pd.RangeIndex):  # unnamed regions: chrom:start-end
        label = out["chrom"] + ":" + out["start"].astype(str) + "-" + out["end"].astype(str)
        out.index = pd.Index(label.to_numpy())
    return out


def annotate_nearest_gene(
    regions: pd.DataFrame, genes: pd.DataFrame, *, max_distance: int = 5000
) -> pd.DataFrame:
    """Name each region by the gene whose TSS is nearest, within ``max_distance`` bases.

    Parameters
    ----------
    regions
        Table with ``chrom``, ``start``, ``end`` (0-based, exclusive).
    genes
        :func:`read_annotation` table (``chrom``, ``tss``, ``gene``, ``gene_id``, ``strand``).
        Chromosome names are matched as ``chr1``/``1`` and ``chrM``/``MT`` when they differ.
    max_distance
        Largest distance from the region to the TSS; 0 when the TSS lies inside the region.

    Returns
    -------
    A copy of ``regions`` with ``gene`` (symbol; ``""`` when none is near), ``gene_id``,
    ``tss`` (-1 when none) and ``tss_distance`` (bases from the region to the TSS, -1 when none).
    A region holding several TSSs takes the first (leftmost); of two TSSs equally far on either
    side, the left one.
    """
    out = regions.copy()
    n = len(out)
    gene = np.full(n, "", dtype=object)
    gene_id = np.full(n, "", dtype=object)
    tss_out = np.full(n, -1, dtype=np.int64)
    dist_out = np.full(n, -1, dtype=np.int64)
    found = resolve_region_chroms(genes["chrom"].astype(str).unique(), out["chrom"].unique())
    to_region = {g: r for r, g in found.items()}  # annotation name -> the regions' name
    gchrom = genes["chrom"].astype(str).map(lambda c: to_region.get(c, c)).to_numpy()
    chrom = out["chrom"].astype(str).to_numpy()
    starts = out["start"].to_numpy(dtype=np.int64)
    ends = out["end"].to_numpy(dtype=np.int64)
    order_all = np.arange(len(genes))
    for c in pd.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        sel = np.flatnonzero(gchrom == c)
        if sel.size == 0:
            continue
        tss = genes["tss"].to_numpy(dtype=np.int64)[sel]
        order = np.lexsort((order_all[sel], tss))
        tss, sel = tss[order], sel[order]
        s, e = starts[rows], ends[rows]
        k = np.searchsorted(tss, s, side="left")  # first TSS >= start
        best_d = np.full(rows.size, np.iinfo(np.int64).max)
        best_i = np.full(rows.size, -1)
        for cand in (k - 1, k):
            ok = (cand >= 0) & (cand < tss.size)
            t = np.where(ok, tss[np.clip(cand, 0, tss.size - 1)], 0)
            d = np.where(t < s, s - t, np.where(t >= e, t - e + 1, 0))
            d = np.where(ok, d, np.iinfo(np.int64).max)
            better = d < best_d
            best_d = np.where(better, d, best_d)
            best_i = np.where(better, cand, best_i)
        keep = (best_i >= 0) & (best_d <= max_distance)
        pick = sel[best_i[keep]]
        gene[rows[keep]] = genes["gene"].to_numpy()[pick]
        gene_id[rows[keep]] = genes["gene_id"].to_numpy()[pick]
        tss_out[rows[keep]] = genes["tss"].to_numpy()[pick]
        dist_out[rows[keep]] = best_d[keep]
    out["gene"] = gene
    out["gene_id"] = gene_id
    out["tss"] = tss_out
    out["tss_distance"] = dist_out
    return out


def resolve_region_chroms(
    available: Any, wanted: Any, aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Map chromosome names of ``wanted`` onto those in ``available`` (``chr1``/``1``, ``chrM``/``MT``).

    A name present in ``available`` maps to itself; otherwise ``aliases`` is looked up, then the
    name with ``chr`` added or removed, then the mitochondrial synonyms. Names with no match are
    left out of the result.

    Parameters
    ----------
    available
        Chromosome names of the data (a track's header, an annotation).
    wanted
        Chromosome names to find there (the regions').
    aliases
        Explicit ``{wanted name: available name}`` pairs, tried before the automatic rules.

    Returns
    -------
    ``{wanted name: available name}`` for every name that was found.
    """
    have = {str(c) for c in available}
    out: dict[str, str] = {}
    for raw in wanted:
        name = str(raw)
        cands = [name]
        if aliases and name in aliases:
            cands.insert(0, str(aliases[name]))
        if name.lower().startswith("chr"):
            cands.append(name[3:])
        else:
            cands.append("chr" + name)
        if name in _MITO:
            cands += list(_MITO)
        hit = next((c for c in cands if c in have), None)
        if hit is not None:
            out[name] = hit
    return out


def genome_bins(
    chrom_sizes: str | os.PathLike | Mapping[str, int], width: int, *, step: int | None = None
) -> pd.DataFrame:
    """Tile the genome into bins (e.g. 5 kb) to summarise a signal over.

    Parameters
    ----------
    chrom_sizes
        ``{chrom: length}``, a UCSC ``.chrom.sizes`` file (chrom and length, tab-separated), or a
        bigWig file whose header lists the chromosomes.
    width
        Bin width in bases; the last bin of a chromosome ends at its end.
    step
        Distance between bin starts (default ``width``: adjacent bins).

    Returns
    -------
    DataFrame indexed by ``chrom:start-end`` with ``chrom``, ``start`` and ``end``, chromosomes
    in the order given.
    """
    width = _check_window("width", width)
    step = width if step is None else _check_window("step", step)
    if width < 1 or step < 1:
        raise InputFormatError(f"width={width}, step={step}; both must be >= 1 base.")
    if isinstance(chrom_sizes, Mapping):
        sizes = {str(k): int(v) for k, v in chrom_sizes.items()}
    else:
        p = Path(chrom_sizes)
        if not p.exists():
            raise InputFormatError(f"chrom sizes {str(p)!r} does not exist.")
        from ._bigwig_file import is_bigwig, track_chroms

        if is_bigwig(p):
            sizes = track_chroms(p)
        else:
            table = pd.read_csv(p, sep="\t", header=None, dtype=str, comment="#")
            lengths = pd.to_numeric(table.iloc[:, -1], errors="coerce")
            if table.shape[1] < 2 or lengths.isna().any():
                raise InputFormatError(
                    f"chrom sizes {str(p)!r}: expected two tab-separated columns, chrom and "
                    "length (as UCSC's fetchChromSizes writes them)."
                )
            sizes = dict(zip(table.iloc[:, 0].astype(str), lengths.astype(int), strict=True))
    parts = []
    for chrom, length in sizes.items():
        starts = np.arange(0, length, step, dtype=np.int64)
        parts.append(
            pd.DataFrame(
                {"chrom": chrom, "start": starts, "end": np.minimum(starts + width, length)}
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out.index = pd.Index(
        (out["chrom"] + ":" + out["start"].astype(str) + "-" + out["end"].astype(str)).to_numpy()
    )
    out.attrs["region_type"] = "bin"
    return out
