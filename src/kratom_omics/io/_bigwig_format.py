"""bigWig tracks in the format registry: ``kom.io.read(..., format="bigwig", regions=...)``.

The record lets the one entry point (``kom.io.read``, the CLI's ``load``, the study reader) read
signal tracks like any other format: the input is a bigWig file, a folder of bigWig files or a
sample sheet whose ``path`` (or ``file``, ``bigwig``, ``track``) column names them, and
``regions=`` (a GTF/GFF3 for promoters or gene bodies, or a BED/peak file) says where the signal
is summarised; ``quantity=`` (CLI ``--quantity``) picks the statistic. The reading itself is
:func:`kratom_omics.io.read_bigwig`'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError
from ._bigwig import STATS, read_bigwig
from ._bigwig_file import is_bigwig
from ._choices import note_choice
from ._format import Detection, Format, Probe
from ._loader import loader

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["FORMAT", "is_track_folder", "read_bigwig_tracks"]

logger = logging.getLogger("kratom_omics")

_TRACK_SUFFIXES = (".bw", ".bigwig")
_PATH_COLUMNS = ("path", "file", "bigwig", "track")


def is_track_folder(folder: Path) -> bool:
    """A folder holding bigWig files (``*.bw``, ``*.bigWig``), recognised by their bytes."""
    try:
        files = [f for f in folder.iterdir() if f.name.lower().endswith(_TRACK_SUFFIXES)]
    except OSError:
        return False
    return bool(files) and is_bigwig(sorted(files)[0])


def _sheet_tracks(pr: Probe) -> str | None:
    """The path column of a sample sheet whose first file is a bigWig, else None."""
    if pr.problem or not pr.content or len(pr.content) < 2:
        return None
    lower = [c.strip().lower() for c in pr.columns]
    col = next((c for c in _PATH_COLUMNS if c in lower), None)
    if col is None or not ({"sample", "sample_id", "run"} & set(lower)):
        return None
    cells = pr.row(1)
    j = lower.index(col)
    if j >= len(cells) or not cells[j].strip():
        return None
    track = Path(cells[j].strip().strip('"'))
    track = track if track.is_absolute() else pr.path.resolve().parent / track
    return col if is_bigwig(track) else None


def _detect(pr: Probe) -> Detection | None:
    """bigWig: a .bw file (magic number 0x888FFC26), a folder of them, or a sample sheet whose
    'path' column names them"""
    if is_bigwig(pr.path):
        return Detection("bigwig", kind="track", evidence="bigWig magic number")
    col = _sheet_tracks(pr)
    if col is not None:
        return Detection("bigwig", kind="sheet", evidence=f"sample sheet with bigWig {col!r}")
    return None


def _is_sheet(path: Path) -> bool:
    return path.is_file() and not is_bigwig(path)


@loader
def read_bigwig_tracks(
    path: str | os.PathLike,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    regions: str | os.PathLike | pd.DataFrame | None = None,
    quantity: str | None = None,
    stat: str | None = None,
    feature: Literal["promoter", "gene_body"] = "promoter",
    upstream: int = 1000,
    downstream: int = 1000,
    annotation: str | os.PathLike | pd.DataFrame | None = None,
    max_distance: int = 5000,
    chrom_aliases: Mapping[str, str] | None = None,
    chunk_size: int = 200_000,
    encoding: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
    mark: str | None = None,
) -> AnnData:
    """Read bigWig tracks through the format registry (``kom.io.read(..., format="bigwig")``).

    Parameters
    ----------
    path
        A bigWig file, a folder of bigWig files (samples named by the file names without
        ``.bw``/``.bigWig``), or a sample sheet with a ``path`` (or ``file``, ``bigwig``,
        ``track``) column naming one bigWig per sample, relative to the sheet's folder.
    samples
        Sample sheet joined onto ``.obs`` (see :func:`kratom_omics.io.attach_samples`). With a
        sample sheet as ``path`` it may be left out (the sheet is joined); when given (e.g. the
        same sheet read with ``phase_column=``), only the file names are taken from ``path``.
    regions
        Where to summarise the signal (required): a GTF/GFF3 annotation (promoters or gene
        bodies, see ``feature``), a BED/narrowPeak/broadPeak file, or a regions table (see
        :func:`kratom_omics.io.read_bigwig`).
    quantity, stat
        The statistic per region (the registry's ``quantity``; ``stat`` is the same option by
        :func:`kratom_omics.io.read_bigwig`'s name): ``"mean"`` (default), ``"mean0"``,
        ``"sum"``, ``"max"``, ``"min"`` or ``"coverage"``.
    feature, upstream, downstream, annotation, max_distance, chrom_aliases, chunk_size
        As in :func:`kratom_omics.io.read_bigwig`.
    encoding
        Not used: bigWig files are binary, and the sample sheet's encoding is detected.
    phases
        Phase levels of the sample sheet in order (see :func:`kratom_omics.io.read_samples`).
    join
        ``"exact"``: tracks and sample sheet list the same samples; ``"inner"``: keep the common
        ones.
    mark
        The mark the tracks hold (e.g. ``"H3K9ac"``); default: the ``mark`` column of the sheet
        naming the files, else of ``samples`` (see :func:`kratom_omics.io.read_bigwig`).

    Returns
    -------
    AnnData as :func:`kratom_omics.io.read_bigwig` returns it (samples x regions).

    Raises
    ------
    InputFormatError
        No ``regions``, ``quantity`` and ``stat`` that disagree, or what ``read_bigwig`` raises.
    """
    p = Path(path)
    if regions is None:
        raise InputFormatError(
            f"{str(p)!r}: bigWig tracks need regions to summarise the signal over: pass "
            "regions= a GTF/GFF3 annotation (promoters or gene bodies) or a BED/peak file (CLI "
            "--regions)."
        )
    if quantity is not None and stat is not None and quantity != stat:
        raise InputFormatError(
            f"quantity={quantity!r} and stat={stat!r} disagree; they name the same statistic, "
            "pass one of them."
        )
    chosen = stat or quantity or "mean"
    if chosen not in STATS:
        from ..errors import did_you_mean

        raise InputFormatError(did_you_mean(str(chosen), STATS, what="quantity"))
    note_choice(
        "stat",
        chosen,
        source=str(p),
        why="given" if (stat or quantity) else "the default (mean over bases with data)",
        level=logging.INFO if not (stat or quantity) else logging.DEBUG,
    )
    if encoding is not None:
        logger.info("%s: bigWig files are binary; encoding=%r ignored", p, encoding)
    tracks: Any = p
    if samples is not None and _is_sheet(p):
        from ._bigwig import _resolve_tracks, check_mark, sheet_mark

        names, paths, data_sheet = _resolve_tracks(p, None, None)
        tracks = dict(zip(names, paths, strict=True))
        mark = sheet_mark(data_sheet, check_mark(mark), f"sample sheet {str(p)!r}")
        note_choice(
            "sample_sheet",
            "samples=",
            source=str(p),
            why="file names from the sheet given as data, sample columns from samples=",
            level=logging.DEBUG,
        )
    return read_bigwig(
        tracks,
        regions,
        samples,
        stat=chosen,  # type: ignore[arg-type]
        feature=feature,
        upstream=upstream,
        downstream=downstream,
        annotation=annotation,
        max_distance=max_distance,
        chrom_aliases=chrom_aliases,
        chunk_size=chunk_size,
        phases=phases,
        join=join,
        mark=mark,
    )


FORMAT = Format(
    name="bigwig",
    label="bigWig",
    reader=read_bigwig_tracks,
    detect=_detect,
    modality="histone",
    file_names=(r"\.(bw|bigwig)$",),
    quantities={s: s for s in STATS},
    options=(
        "regions",
        "stat",
        "feature",
        "upstream",
        "downstream",
        "annotation",
        "max_distance",
        "chrom_aliases",
        "chunk_size",
        "mark",
    ),
    kinds={
        "track": "one bigWig file",
        "folder": "a folder of bigWig files",
        "sheet": "a sample sheet whose path column names the bigWig files",
    },
    folder=is_track_folder,
)
