"""bigWig signal tracks (ChIP-seq, CUT&Tag, ATAC coverage) summarised over regions.

A bigWig file holds a value for some bases of each chromosome (bases without an entry have *no
data*); tools write it from coverage (deepTools ``bamCoverage``, MACS ``bdgcmp`` +
``bedGraphToBigWig``, ENCODE pipelines). :func:`read_bigwig` reads one file per sample over a set
of regions (promoters, gene bodies, peaks, bins) with ``pyBigWig`` and returns samples x regions.

Statistics over a region ``[start, end)``, base by base:

``mean``
    Mean value over the bases *with data* (bases without data are left out), as ``pyBigWig``'s
    ``stats(type="mean", exact=True)`` and the ``mean`` of UCSC's ``bigWigAverageOverBed``.
``mean0``
    Sum over the region's length: bases without data count as 0 (``bigWigAverageOverBed``'s
    ``mean0``), right for coverage tracks that leave out zero-coverage bins.
``sum``
    Sum of the values of all bases with data (value x bases), as ``pyBigWig``'s ``sum``.
``max``, ``min``
    Largest / smallest value of a base with data.
``coverage``
    Fraction of the region's bases that have data (0 to 1), as ``pyBigWig``'s ``coverage``.

A region with no data on a chromosome the track has gets ``mean``/``max``/``min`` NaN (undefined;
``pyBigWig`` returns None) and ``sum``/``mean0``/``coverage`` 0. Regions on a chromosome the
track lacks, or starting past the chromosome's end, are NaN for every statistic (with a warning
naming them); a region running past the end is cut at the end.

Reading: the regions of each chromosome are sorted and grouped into windows; each window is read
once with ``pyBigWig``'s ``intervals`` (the entries as stored, not one number per base) and every
region's statistic is computed from the entries with numpy, one term per (region, entry) overlap.
Regions share a read when few entries lie between them (the gap allowed adapts to the entry
density seen so far), so neighbouring promoters or genome-wide bins cost one index search and one
decompression of each data block instead of one per region. Regions are processed ``chunk_size``
at a time; :func:`bigwig_to_zarr` appends each block to a zarr store for data larger than memory.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, TRACKS_KEY, record_provenance
from ..errors import InputFormatError, KratomOmicsWarning
from ._bigwig_file import _open_track, is_bigwig, track_chroms
from ._regions import read_regions, resolve_region_chroms

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["bigwig_to_zarr", "is_bigwig", "read_bigwig", "track_chroms", "track_files"]

logger = logging.getLogger("kratom_omics")

Stat = Literal["mean", "mean0", "sum", "max", "min", "coverage"]
STATS: tuple[str, ...] = ("mean", "mean0", "sum", "max", "min", "coverage")
_TRACK_SUFFIXES = (".bw", ".bigwig")
_SHEET_SUFFIXES = (".tsv", ".txt", ".csv", ".xlsx", ".xlsm", ".xls")
_PATH_COLUMNS = ("path", "file", "bigwig", "track")
#: One read (``intervals``: an index search and at least one block decompressed, ~150 us) costs
#: about as much as turning this many entries into numbers (~0.3 us each): regions are read
#: together when the entries between them are fewer.
CALL_COST = 500
#: Entries aimed at per read (bounds the memory of one read to some tens of MB).
WINDOW_ENTRIES = 200_000
#: Shortest merged gap, shortest and longest window (bases), whatever the density.
MIN_GAP = 4_096
MIN_WINDOW = 1 << 16
MAX_WINDOW = 1 << 22


def _track_name(path: Path) -> str:
    name = path.name
    for suffix in (".bigWig", ".bigwig", ".bw", ".BW", ".BigWig"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _path_column(sheet: pd.DataFrame, source: str) -> str:
    lower = {str(c).strip().lower(): c for c in sheet.columns}
    col = next((lower[c] for c in _PATH_COLUMNS if c in lower), None)
    if col is None:
        raise InputFormatError(
            f"{source} has no column naming the bigWig files; add a 'path' (or 'file') column "
            f"with one file per sample (columns found: {list(sheet.columns)[:12]})."
        )
    return str(col)


def _resolve_tracks(
    tracks: Any, samples: Any, phases: Sequence[str] | None
) -> tuple[list[str], list[Path], pd.DataFrame | None]:
    """Sample names, bigWig paths and (when the tracks came from one) the sample sheet."""
    from ._samples import read_samples

    sheet: pd.DataFrame | None = None
    base = Path.cwd()
    if isinstance(tracks, (str, os.PathLike)):
        p = Path(tracks)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.name.lower().endswith(_TRACK_SUFFIXES))
            if not files:
                raise InputFormatError(
                    f"folder {str(p)!r} holds no bigWig file (*.bw, *.bigWig); pass the files or "
                    "a sample sheet with a 'path' column."
                )
            tracks = files
        elif p.suffix.lower() in _SHEET_SUFFIXES and not is_bigwig(p):
            sheet = read_samples(p, phases=phases)
            sheet.attrs["source"] = f"sample sheet {str(p)!r}"
            base = p.resolve().parent
        else:
            tracks = [p]
    elif isinstance(tracks, pd.DataFrame):
        sheet = read_samples(tracks, phases=phases)
        sheet.attrs["source"] = "sample sheet"
    if sheet is not None:
        if samples is not None:
            raise InputFormatError(
                "read_bigwig: the tracks are given by a sample sheet and samples= is given too; "
                "pass the sheet once (as the first argument)."
            )
        source = str(sheet.attrs["source"])
        col = _path_column(sheet, source)
        given = sheet[col]
        if given.isna().any():
            bad = list(sheet.index[given.isna().to_numpy()])
            raise InputFormatError(
                f"{source}: no bigWig file in column {col!r} for sample(s) {bad[:10]}; give every "
                "sample a file."
            )
        paths = [Path(str(v)) for v in given]
        paths = [q if q.is_absolute() else base / q for q in paths]
        return [str(s) for s in sheet.index], paths, sheet
    if isinstance(tracks, Mapping):
        names = [str(k) for k in tracks]
        paths = [Path(v) for v in tracks.values()]
    else:
        if isinstance(tracks, (str, os.PathLike)) or not isinstance(tracks, Sequence):
            raise InputFormatError(
                f"tracks={tracks!r}; expected bigWig paths, a {{sample: path}} mapping, a folder "
                "of bigWig files or a sample sheet with a 'path' column."
            )
        paths = [Path(v) for v in tracks]
        names = [_track_name(q) for q in paths]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputFormatError(
                f"bigWig files {[str(q) for q in paths]} give the sample name(s) {dup} more than "
                "once (names are the file names without .bw); pass {sample: path} to name them."
            )
    if not paths:
        raise InputFormatError("read_bigwig: no bigWig file given.")
    return names, paths, None


def track_files(
    tracks: str | os.PathLike | Sequence[str | os.PathLike] | Mapping[str, Any] | pd.DataFrame,
) -> dict[str, Path]:
    """The samples and bigWig files :func:`read_bigwig` would read, without reading them.

    Parameters
    ----------
    tracks
        As in :func:`read_bigwig`: a sample sheet with a ``path`` (or ``file``) column, a list of
        paths, a ``{sample: path}`` mapping or a folder of ``*.bw`` files.

    Returns
    -------
    ``{sample: path}`` in the order of the tracks (paths of a sheet taken from its folder); the
    files are neither opened nor checked (the workflow lists them as inputs of its load job).
    """
    names, paths, _ = _resolve_tracks(tracks, None, None)
    return dict(zip(names, paths, strict=True))


class _Progress:
    """A progress bar on a terminal (tqdm), log lines at every tenth otherwise."""

    def __init__(self, total: int, what: str, enabled: bool | None) -> None:
        self.total, self.done, self.what = max(total, 1), 0, what
        self.bar = None
        self.next_log = self.total // 10
        tty = enabled if enabled is not None else sys.stderr.isatty()
        if tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=what, unit="region", unit_scale=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.done >= self.next_log or self.done >= self.total:
            logger.info(
                "%s: %d of %d regions x tracks (%d%%)",
                self.what,
                self.done,
                self.total,
                100 * self.done // self.total,
            )
            self.next_log = self.done + max(self.total // 10, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _windows(starts: np.ndarray, ends: np.ndarray, gap: int, max_len: int) -> np.ndarray:
    """Window number of each region (sorted by start): a gap > ``gap`` bases or a span beyond
    ``max_len`` bases from the window's first start begins a new window."""
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    reach = np.maximum.accumulate(ends)
    new = np.empty(starts.size, dtype=bool)
    new[0] = True
    new[1:] = starts[1:] - reach[:-1] > gap
    cluster = np.cumsum(new) - 1
    first = starts[np.flatnonzero(new)][cluster]
    sub = (starts - first) // max_len
    change = np.empty(starts.size, dtype=bool)
    change[0] = True
    change[1:] = (cluster[1:] != cluster[:-1]) | (sub[1:] != sub[:-1])
    return np.cumsum(change) - 1


class _Density:
    """Entries per base read so far from one track: sets how far apart regions may be and still
    share a read (a read costs about as much as ``CALL_COST`` entries) and how long a read may be
    (about ``WINDOW_ENTRIES`` entries)."""

    def __init__(self) -> None:
        self.entries, self.bases = 0, 0

    def add(self, entries: int, bases: int) -> None:
        self.entries += entries
        self.bases += bases

    def limits(self) -> tuple[int, int]:
        # until something is read, assume a track with an entry every 50 bases
        d = self.entries / self.bases if self.bases > 100_000 else 0.02
        d = max(d, 1e-7)
        max_len = int(min(MAX_WINDOW, max(MIN_WINDOW, WINDOW_ENTRIES / d)))
        gap = int(min(max_len, max(MIN_GAP, CALL_COST / d)))
        return gap, max_len


def _entries(bw: Any, chrom: str, ws: int, we: int) -> np.ndarray:
    """The bigWig entries (start, end, value) overlapping ``[ws, we)``, clipped to it."""
    found = bw.intervals(chrom, ws, we)
    if not found:
        return np.zeros((0, 3))
    m = np.fromiter(
        itertools.chain.from_iterable(found), dtype=np.float64, count=3 * len(found)
    ).reshape(-1, 3)
    np.clip(m[:, 0], ws, we, out=m[:, 0])
    np.clip(m[:, 1], ws, we, out=m[:, 1])
    return m


def _summarise_entries(
    m: np.ndarray, a: np.ndarray, b: np.ndarray, stat: str
) -> tuple[np.ndarray, np.ndarray]:
    """Statistic and bases with data of regions ``[a, b)`` from sorted, disjoint entries ``m``.

    Every (region, entry) overlap is one term, so sums are plain sums of value x overlapping bases
    (no differences of running totals) and the work grows with the entries, not the bases.
    """
    n = a.size
    s, e, v = m[:, 0], m[:, 1], m[:, 2]
    k0 = np.searchsorted(e, a, side="right")  # first entry ending after the region starts
    k1 = np.searchsorted(s, b, side="left")  # entries starting before the region ends
    count = np.maximum(k1 - k0, 0)
    region = np.repeat(np.arange(n), count)
    offset = np.cumsum(count) - count
    entry = np.arange(region.size) - np.repeat(offset, count) + np.repeat(k0, count)
    overlap = np.minimum(e[entry], b[region]) - np.maximum(s[entry], a[region])
    covered = np.bincount(region, weights=overlap, minlength=n).round().astype(np.int64)
    length = (b - a).astype(np.float64)
    if stat == "coverage":
        return covered / length, covered
    if stat in ("max", "min"):
        out = np.full(n, np.nan)
        has = count > 0
        if has.any():
            red = np.fmax if stat == "max" else np.fmin
            out[has] = red.reduceat(v[entry], offset[has])
        return out, covered
    total = np.bincount(region, weights=v[entry] * overlap, minlength=n)
    if stat == "sum":
        return total, covered
    if stat == "mean0":
        return total / length, covered
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(covered > 0, total / covered, np.nan), covered


def _summarise_chrom(
    bw: Any, chrom: str, starts: np.ndarray, ends: np.ndarray, stat: str, density: _Density
) -> tuple[np.ndarray, np.ndarray]:
    """Statistic and number of bases with data of regions on one chromosome (inside its length)."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    gap, max_len = density.limits()
    win = _windows(s, e, gap, max_len)
    value = np.empty(s.size)
    covered = np.empty(s.size, dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, win[1:] != win[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        ws, we = int(s[lo]), int(e[lo:hi].max())
        m = _entries(bw, chrom, ws, we)
        density.add(m.shape[0], we - ws)
        value[lo:hi], covered[lo:hi] = _summarise_entries(m, s[lo:hi], e[lo:hi], stat)
    out_v = np.empty_like(value)
    out_n = np.empty_like(covered)
    out_v[order], out_n[order] = value, covered
    return out_v, out_n


class _TrackSet:
    """Open tracks, the chromosome mapping of each, and what did not map (for one warning)."""

    def __init__(
        self,
        names: list[str],
        paths: list[Path],
        region_chroms: Sequence[str],
        aliases: Mapping[str, str] | None,
    ) -> None:
        self.names, self.paths = names, paths
        self.handles: list[Any] = []
        self.maps: list[dict[str, str]] = []
        self.lengths: list[dict[str, int]] = []
        self.headers: list[dict[str, Any]] = []
        self.density = [_Density() for _ in paths]
        try:
            for p in paths:
                bw = _open_track(p)
                self.handles.append(bw)
                chroms = {str(k): int(v) for k, v in bw.chroms().items()}
                self.lengths.append(chroms)
                self.maps.append(resolve_region_chroms(chroms, region_chroms, aliases))
                self.headers.append(dict(bw.header()))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for bw in self.handles:
            bw.close()
        self.handles = []


def _missing_warnings(
    tracks: _TrackSet,
    chrom_codes: np.ndarray,
    chrom_names: list[str],
    starts: np.ndarray,
    source: str,
) -> None:
    """One warning per set of chromosomes missing from tracks; one for regions past the ends."""
    counts = np.bincount(chrom_codes, minlength=len(chrom_names))
    last_start = np.full(len(chrom_names), -1, dtype=np.int64)
    np.maximum.at(last_start, chrom_codes, starts)
    groups: dict[tuple[str, ...], list[str]] = {}
    past: dict[str, int] = {}
    for name, mp, lengths in zip(tracks.names, tracks.maps, tracks.lengths, strict=True):
        missing = tuple(c for c in chrom_names if c not in mp)
        if missing:
            groups.setdefault(missing, []).append(name)
        for k, c in enumerate(chrom_names):
            if c in mp and last_start[k] >= lengths[mp[c]]:  # counted only when it happens
                n_past = int(((chrom_codes == k) & (starts >= lengths[mp[c]])).sum())
                past[f"{c} (length {lengths[mp[c]]})"] = n_past
    for missing, who in groups.items():
        n = int(sum(counts[chrom_names.index(c)] for c in missing))
        shown = list(missing[:10]) + (
            [f"... {len(missing) - 10} more"] if len(missing) > 10 else []
        )
        warnings.warn(
            f"{source}: {n} region(s) lie on chromosome(s) {shown} that track(s) {who[:10]} do "
            "not have; their values are NaN. If the names differ (e.g. 'NC_005100.4' vs 'chr1'), "
            "pass chrom_aliases={region name: track name}.",
            KratomOmicsWarning,
            stacklevel=4,
        )
    if past:
        warnings.warn(
            f"{source}: regions start past the end of their chromosome in some tracks "
            f"({past}); their values are NaN. Are the regions of the tracks' genome build?",
            KratomOmicsWarning,
            stacklevel=4,
        )


def _blocks(
    tracks: _TrackSet,
    regions: pd.DataFrame,
    stat: str,
    chunk_size: int,
    progress: _Progress,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first column, samples x chunk values, samples x chunk bases with data) per chunk."""
    chrom_codes, chrom_names = pd.factorize(regions["chrom"].astype(str), sort=False)
    names = [str(c) for c in chrom_names]
    starts = regions["start"].to_numpy(dtype=np.int64)
    ends = regions["end"].to_numpy(dtype=np.int64)
    for first in range(0, len(regions), chunk_size):
        last = min(first + chunk_size, len(regions))
        codes, s, e = chrom_codes[first:last], starts[first:last], ends[first:last]
        by_chrom = np.argsort(codes, kind="stable")
        cuts = np.flatnonzero(np.diff(codes[by_chrom])) + 1
        groups = [(int(codes[g[0]]), g) for g in np.split(by_chrom, cuts) if g.size]
        values = np.full((len(tracks.names), last - first), np.nan)
        covered = np.zeros((len(tracks.names), last - first), dtype=np.int64)
        for t, bw in enumerate(tracks.handles):
            mp, lengths = tracks.maps[t], tracks.lengths[t]
            for k, group in groups:
                chrom = mp.get(names[k])
                if chrom is None:
                    continue
                length = lengths[chrom]
                rows = group[s[group] < length]
                if rows.size == 0:
                    continue
                v, n = _summarise_chrom(
                    bw, chrom, s[rows], np.minimum(e[rows], length), stat, tracks.density[t]
                )
                values[t, rows], covered[t, rows] = v, n
            progress.update(last - first)
        yield first, values, covered


def _check_args(stat: str, chunk_size: int) -> None:
    if stat not in STATS:
        from ..errors import did_you_mean

        raise InputFormatError(did_you_mean(stat, STATS, what="stat"))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise InputFormatError(f"chunk_size={chunk_size!r}; expected a positive integer.")
    if chunk_size < 1:
        raise InputFormatError(f"chunk_size={chunk_size}; expected >= 1.")


@dataclass(frozen=True)
class _RegionOptions:
    """How regions are made from an annotation, as :func:`read_bigwig` takes them."""

    feature: Literal["promoter", "gene_body"]
    upstream: int
    downstream: int
    annotation: str | os.PathLike | pd.DataFrame | None
    max_distance: int

    def parameters(self) -> dict[str, Any]:
        """The options as provenance parameters (the annotation by its path)."""
        return {
            "feature": self.feature,
            "upstream": self.upstream,
            "downstream": self.downstream,
            "annotation": None if self.annotation is None else str(self.annotation),
            "max_distance": self.max_distance,
        }

    def record(self, mark: str | None, stat: str, source: str, region_type: str) -> dict[str, Any]:
        """``adata.uns["tracks"]`` (:func:`track_record`) with the options that shaped the regions."""
        promoter = region_type == "promoter"
        nearest = self.annotation is not None or region_type == "peak"
        return track_record(
            mark,
            stat,
            source,
            region_type,
            upstream=self.upstream if promoter else None,
            downstream=self.downstream if promoter else None,
            max_distance=self.max_distance if nearest else None,
        )


def _prepare(
    tracks: Any,
    regions: Any,
    samples: Any,
    phases: Sequence[str] | None,
    options: _RegionOptions,
) -> tuple[list[str], list[Path], pd.DataFrame | None, pd.DataFrame, str]:
    names, paths, sheet = _resolve_tracks(tracks, samples, phases)
    for p in paths:  # every file checked before any is read
        _open_track(p).close()
    table = read_regions(
        regions,
        feature=options.feature,
        upstream=options.upstream,
        downstream=options.downstream,
        annotation=options.annotation,
        max_distance=options.max_distance,
    )
    if table.empty:
        raise InputFormatError("read_bigwig: the region set is empty.")
    src = table.attrs.get("source") or ("regions" if isinstance(regions, pd.DataFrame) else "")
    return names, paths, sheet, table, str(src or regions)


def _open_tracks(
    names: list[str],
    paths: list[Path],
    table: pd.DataFrame,
    aliases: Mapping[str, str] | None,
    source: str,
) -> _TrackSet:
    """Open the tracks over the regions' chromosomes; raise when none is shared, warn for the
    regions a track cannot give (:func:`_missing_warnings`)."""
    ts = _TrackSet(names, paths, list(pd.unique(table["chrom"].astype(str))), aliases)
    try:
        if not any(ts.maps):
            raise _no_overlap(source, ts, table)
        codes, chroms = pd.factorize(table["chrom"].astype(str), sort=False)
        _missing_warnings(ts, codes, [str(c) for c in chroms], table["start"].to_numpy(), source)
    except BaseException:
        ts.close()
        raise
    return ts


def _data_blocks(
    tracks: _TrackSet,
    regions: pd.DataFrame,
    stat: str,
    chunk_size: int,
    progress: _Progress,
    source: str,
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`_blocks` without the coverage; raises after the last block when no region overlaps
    any data in the tracks."""
    any_data = False
    for first, values, covered in _blocks(tracks, regions, stat, chunk_size, progress):
        any_data = any_data or bool(covered.any())
        yield first, values
    if not any_data:
        raise _no_overlap(source, tracks, regions)


def _no_overlap(source: str, tracks: _TrackSet, regions: pd.DataFrame) -> InputFormatError:
    region_chroms = sorted(set(regions["chrom"].astype(str)))[:8]
    track_chroms = list(tracks.lengths[0])[:8]
    if not any(tracks.maps):
        what = (
            f"none of the regions' chromosomes ({region_chroms}) is in the tracks (e.g. "
            f"{str(tracks.paths[0])!r} has {track_chroms})"
        )
        fix = "pass chrom_aliases={region name: track name} or regions of the tracks' genome"
    else:
        what = f"none of the {len(regions)} regions overlaps any data in the tracks"
        fix = "use regions of the same genome build as the tracks (check the coordinates)"
    return InputFormatError(
        f"{source} and bigWig tracks {[str(p) for p in tracks.paths[:4]]}: {what}; {fix}."
    )


def _obs_of(names: list[str], paths: list[Path], tracks: _TrackSet) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bigwig": [str(p) for p in paths],
            "track_sum": [float(h.get("sumData", np.nan)) for h in tracks.headers],
            "track_bases": [float(h.get("nBasesCovered", np.nan)) for h in tracks.headers],
        },
        index=pd.Index(names),
    )


def check_mark(mark: object) -> str | None:
    """``mark`` as given (stripped), or None; anything but a short text is refused."""
    if mark is None:
        return None
    if not isinstance(mark, str) or not mark.strip() or len(mark.strip()) > 64:
        raise InputFormatError(
            f"mark={mark!r}; expected the name of the mark the tracks hold, e.g. 'H3K9ac'."
        )
    return mark.strip()


def sheet_mark(sheet: pd.DataFrame | None, mark: str | None, source: str) -> str | None:
    """The mark of a track dataset: ``mark=`` or the sample sheet's ``mark`` column (one value).

    A sheet naming several marks, or one other than ``mark=``, is refused: one dataset holds one
    mark, and each mark is analysed as its own modality.
    """
    if sheet is None or "mark" not in sheet.columns:
        return mark
    col = sheet["mark"]
    values = sorted({str(v).strip() for v in col[col.notna()]} - {""})
    if len(values) > 1:
        raise InputFormatError(
            f"{source}: the 'mark' column names several marks {values[:8]}; one track dataset "
            "holds one mark. Read the tracks of each mark as their own modality (one sheet, or "
            "one set of rows, per mark)."
        )
    if mark is not None and values and values[0] != mark:
        raise InputFormatError(
            f"{source}: mark={mark!r} but the 'mark' column says {values[0]!r}; give one of them."
        )
    return mark if mark is not None else (values[0] if values else None)


def track_record(
    mark: str | None, stat: str, source: str, region_type: str, **options: Any
) -> dict[str, Any]:
    """``adata.uns["tracks"]``: the mark, the statistic and where it was taken (h5ad-safe)."""
    return {
        "mark": mark or "",
        "stat": stat,
        "regions": source,
        "region_type": region_type,
        **{k: ("" if v is None else v) for k, v in options.items()},
    }


def read_bigwig(
    tracks: str | os.PathLike | Sequence[str | os.PathLike] | Mapping[str, Any] | pd.DataFrame,
    regions: str | os.PathLike | pd.DataFrame,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    stat: Stat = "mean",
    feature: Literal["promoter", "gene_body"] = "promoter",
    upstream: int = 1000,
    downstream: int = 1000,
    annotation: str | os.PathLike | pd.DataFrame | None = None,
    max_distance: int = 5000,
    chrom_aliases: Mapping[str, str] | None = None,
    chunk_size: int = 200_000,
    progress: bool | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
    mark: str | None = None,
) -> AnnData:
    """Read bigWig tracks (one per sample) over regions into a samples x regions AnnData.

    Parameters
    ----------
    tracks
        The bigWig files: a sample sheet (``.tsv``/``.csv``/``.xlsx`` path or DataFrame) with a
        ``path`` (or ``file``) column, relative paths taken from the sheet's folder; a list of
        paths (samples named by the file name without ``.bw``/``.bigWig``); a ``{sample: path}``
        mapping; or a folder of ``*.bw`` files.
    regions
        BED, narrowPeak or broadPeak file, a GTF/GFF3 annotation (promoters or gene bodies, see
        ``feature``), or a DataFrame with ``chrom``, ``start`` (0-based), ``end`` (e.g. from
        :func:`kratom_omics.io.read_regions` or :func:`kratom_omics.io.genome_bins`).
    samples
        Sample sheet joined onto ``.obs`` when ``tracks`` is not one (as
        :func:`kratom_omics.io.attach_samples`).
    stat
        ``"mean"`` (over bases with data), ``"mean0"`` (bases without data count as 0),
        ``"sum"``, ``"max"``, ``"min"`` or ``"coverage"`` (fraction of bases with data); see the
        module documentation for the exact definitions.
    feature, upstream, downstream
        From an annotation: ``"promoter"`` (TSS - ``upstream`` .. TSS + ``downstream``,
        strand-aware) or ``"gene_body"``.
    annotation
        GTF/GFF3 naming the ``gene`` of BED regions by the nearest TSS within ``max_distance``
        bases.
    max_distance
        See ``annotation``.
    chrom_aliases
        ``{region chromosome: track chromosome}`` for names the automatic matching (``chr1`` /
        ``1``, ``chrM`` / ``MT``) does not pair.
    chunk_size
        Regions summarised at a time (bounds the memory of one block).
    progress
        Progress bar (True), log lines (False) or, by default, a bar when stderr is a terminal.
    phases, join
        Passed to :func:`kratom_omics.io.attach_samples`.
    mark
        The mark the tracks hold (e.g. ``"H3K9ac"``); default: the sample sheet's ``mark``
        column when it has one (one value). :func:`kratom_omics.tl.flag_biomarkers` matches the
        histone-mark candidates to the regions by it, and the report names it.

    Returns
    -------
    AnnData with ``.X`` and ``layers["raw"]`` = the statistic (float64, NaN where undefined or
    the chromosome is missing), ``.var`` = the regions (``chrom``, ``start``, ``end`` and, as
    known, ``strand``, ``gene``, ``gene_id``, ``tss``, ``tss_distance``, peak columns),
    ``.obs`` = the sample sheet plus ``bigwig`` (path), ``track_sum`` (sum of value x bases of the
    whole track, from its header; pyBigWig gives its integer part) and ``track_bases`` (bases with
    data), ``.uns["tracks"]`` = ``{"mark", "stat", "regions", "region_type", ...}``
    (``region_type``: ``"promoter"``, ``"gene_body"``, ``"peak"``, ``"bin"`` or ``"region"``)
    and the provenance step.

    Raises
    ------
    InputFormatError
        A file that is not bigWig, a bad region file, no chromosome or no data shared by tracks
        and regions, duplicated sample names; each message names the file and the fix.
    SampleMismatchError
        Samples of the tracks and of the sample sheet differ (``join="exact"``).
    """
    from ._anndata import attach_samples, build_anndata

    _check_args(stat, chunk_size)
    mark = check_mark(mark)
    options = _RegionOptions(feature, upstream, downstream, annotation, max_distance)
    names, paths, sheet, table, source = _prepare(tracks, regions, samples, phases, options)
    region_type = str(table.attrs.get("region_type", "region"))
    ts = _open_tracks(names, paths, table, chrom_aliases, source)
    progress_bar = _Progress(len(table) * len(names), "read_bigwig", progress)
    try:
        x = np.empty((len(names), len(table)))
        for first, values in _data_blocks(ts, table, stat, chunk_size, progress_bar, source):
            x[:, first : first + values.shape[1]] = values
        obs = _obs_of(names, paths, ts)
    finally:
        progress_bar.close()
        ts.close()
    values_df = pd.DataFrame(x, index=pd.Index(names), columns=pd.RangeIndex(len(table)))
    adata = build_anndata(
        values_df,
        table,
        samples=None,
        source=", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else ""),
        reader="read_bigwig",
        parameters={
            "tracks": [str(p) for p in paths],
            "regions": source,
            "stat": stat,
            **options.parameters(),
            "chrom_aliases": dict(chrom_aliases or {}),
            "mark": mark,
        },
    )
    for col in obs.columns:
        adata.obs[col] = obs[col].to_numpy()
    sheet_or_samples = sheet if sheet is not None else samples
    if sheet_or_samples is not None:
        adata = attach_samples(
            adata,
            sheet_or_samples,
            phases=phases,
            join=join,
            source=f"bigWig tracks ({source})",
        )
    mark = sheet_mark(adata.obs, mark, f"sample sheet of the bigWig tracks ({source})")
    adata.uns[TRACKS_KEY] = options.record(mark, stat, source, region_type)
    if mark is None:
        logger.info(
            "read_bigwig: no mark given (mark= or a 'mark' column in the sample sheet); the "
            "histone-mark candidates are not matched to these tracks"
        )
    logger.info(
        "read_bigwig: %d tracks x %d regions (%s, stat=%s%s)",
        adata.n_obs,
        adata.n_vars,
        source,
        stat,
        f", mark={mark}" if mark else "",
    )
    return adata


def bigwig_to_zarr(
    tracks: str | os.PathLike | Sequence[str | os.PathLike] | Mapping[str, Any] | pd.DataFrame,
    regions: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike,
    *,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    stat: Stat = "mean",
    feature: Literal["promoter", "gene_body"] = "promoter",
    upstream: int = 1000,
    downstream: int = 1000,
    annotation: str | os.PathLike | pd.DataFrame | None = None,
    max_distance: int = 5000,
    chrom_aliases: Mapping[str, str] | None = None,
    chunk_size: int = 200_000,
    progress: bool | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    overwrite: bool = False,
    mark: str | None = None,
) -> Path:
    """Summarise bigWig tracks over regions block by block into an AnnData zarr store.

    The out-of-core form of :func:`read_bigwig` (same parameters and statistics) for region sets
    too large for memory (genome-wide bins): ``chunk_size`` regions are summarised at a time and
    appended to ``X`` on disk, as :func:`kratom_omics.io.featurecounts_to_zarr` does for counts.
    The store is written under a temporary name and renamed when complete, so an interrupted or
    failed run leaves no partial store.

    Parameters
    ----------
    tracks, regions
        As in :func:`read_bigwig`.
    out
        Directory of the zarr store to write (``.zarr`` by convention).
    samples
        Sample sheet stored as ``.obs`` (when ``tracks`` is not one); it can also be joined when
        reading, with ``read_zarr_lazy(out, samples)``.
    stat, feature, upstream, downstream, annotation, max_distance, chrom_aliases, chunk_size
        As in :func:`read_bigwig`; ``chunk_size`` is also the zarr chunk along regions.
    progress, phases
        As in :func:`read_bigwig`.
    overwrite
        Replace an existing store at ``out``.
    mark
        As in :func:`read_bigwig` (stored in ``.uns["tracks"]``).

    Returns
    -------
    The path of the store: an AnnData with ``X`` = the statistic (float64, all samples x
    ``chunk_size`` regions per chunk), ``.var`` = the regions, ``.obs`` as :func:`read_bigwig`
    gives it and the provenance step. Open it with :func:`kratom_omics.io.read_zarr_lazy`.
    """
    from ._anndata import _make_unique, attach_samples, h5ad_safe
    from ._zarr import _require_zarr, finish_store, new_store, store_atomically

    _require_zarr("bigwig_to_zarr")
    import anndata as ad

    _check_args(stat, chunk_size)
    mark = check_mark(mark)
    out_p = Path(out)
    if out_p.exists() and not overwrite:
        raise InputFormatError(
            f"{str(out_p)!r} already exists; choose another out path or pass overwrite=True."
        )
    options = _RegionOptions(feature, upstream, downstream, annotation, max_distance)
    names, paths, sheet, table, source = _prepare(tracks, regions, samples, phases, options)
    region_type = str(table.attrs.get("region_type", "region"))
    sheet_or_samples = sheet if sheet is not None else samples
    sheet_obs: pd.DataFrame | None = None
    if sheet_or_samples is not None:  # rows of X in the sheet's order, as read_zarr_lazy joins
        joined = attach_samples(
            ad.AnnData(obs=pd.DataFrame(index=pd.Index(names))),
            sheet_or_samples,
            phases=phases,
            join="exact",
            source=f"bigWig tracks ({source})",
        )
        runs = [str(r) for r in joined.obs.get("run", joined.obs_names)]
        where = {n: i for i, n in enumerate(names)}
        paths = [paths[where[r]] for r in runs]
        names = [str(n) for n in joined.obs_names]
        sheet_obs = joined.obs
    mark = sheet_mark(sheet_obs, mark, f"sample sheet of the bigWig tracks ({source})")
    ts = _open_tracks(names, paths, table, chrom_aliases, source)
    progress_bar = _Progress(len(table) * len(names), "bigwig_to_zarr", progress)
    with store_atomically(out_p, overwrite=overwrite) as tmp:
        try:
            root, x = new_store(tmp, len(names), chunk_size)
            for _, values in _data_blocks(ts, table, stat, chunk_size, progress_bar, source):
                x.append(values, axis=1)
            obs = _obs_of(names, paths, ts)
            if sheet_obs is not None:
                obs = pd.concat(
                    [sheet_obs.drop(columns=[c for c in obs.columns if c in sheet_obs]), obs],
                    axis=1,
                )
            var = h5ad_safe(table)
            var.index = pd.Index(_make_unique([str(v) for v in table.index], source))
            skeleton = ad.AnnData(obs=h5ad_safe(obs), var=var)
            skeleton.uns[TRACKS_KEY] = options.record(mark, stat, source, region_type)
            record_provenance(
                skeleton,
                "kratom_omics.io.bigwig_to_zarr",
                {
                    "tracks": [str(p) for p in paths],
                    "regions": source,
                    "stat": stat,
                    **options.parameters(),
                    "chrom_aliases": dict(chrom_aliases or {}),
                    "chunk_size": int(chunk_size),
                    "mark": mark,
                },
            )
            finish_store(root, x, skeleton)
        finally:
            progress_bar.close()
            ts.close()
    logger.info(
        "bigwig_to_zarr: %d tracks x %d regions written to %s", len(names), len(table), out_p
    )
    return out_p
