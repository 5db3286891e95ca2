"""The bigWig file itself: recognised by its magic number, opened with pyBigWig, its header read.

Kept apart from :mod:`._bigwig` (reading signal over regions) so that region helpers, which take
chromosome sizes from a bigWig header, do not import the reader.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InputFormatError, MissingDependencyError

__all__ = ["is_bigwig", "track_chroms"]

_BIGWIG_MAGIC = (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26")
_BIGBED_MAGIC = (b"\xeb\xf2\x89\x87", b"\x87\x89\xf2\xeb")


def _pybigwig() -> Any:
    try:
        import pyBigWig
    except ImportError as err:  # pragma: no cover - a dependency
        raise MissingDependencyError(
            f"reading bigWig files needs pyBigWig, which is not installed ({err}); "
            "install it: pip install pyBigWig."
        ) from err
    return pyBigWig


def is_bigwig(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a bigWig file (by its magic number, not its name).

    Parameters
    ----------
    path
        A file.

    Returns
    -------
    True for a bigWig file; False for anything else (bigBed, bedGraph, text, missing file).
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _BIGWIG_MAGIC
    except OSError:
        return False


def _open_track(path: Path) -> Any:
    """A pyBigWig handle on ``path``; anything that is not a readable bigWig is an error."""
    source = str(path)
    if not path.exists():
        raise InputFormatError(f"bigWig file {source!r} does not exist; fix the path.")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputFormatError(f"bigWig file {source!r} cannot be read: {exc}") from None
    if magic in _BIGBED_MAGIC:
        raise InputFormatError(
            f"{source!r} is a bigBed file, not bigWig; signal tracks are bigWig (.bw). Give peak "
            "files as regions instead."
        )
    if magic not in _BIGWIG_MAGIC:
        hint = (
            " It looks like text (bedGraph/wig?): convert it with UCSC bedGraphToBigWig or "
            "wigToBigWig."
            if magic[:1].isascii() and magic.isascii() and magic.strip()
            else ""
        )
        raise InputFormatError(
            f"{source!r} is not a bigWig file (it starts with {magic!r}, a bigWig with "
            f"0x888FFC26).{hint}"
        )
    pbw = _pybigwig()
    try:
        bw = pbw.open(source)
    except RuntimeError as exc:
        raise InputFormatError(
            f"bigWig file {source!r} cannot be opened ({exc}); it may be truncated: download or "
            "write it again."
        ) from None
    if not bw.isBigWig():  # pragma: no cover - the magic number says bigWig
        bw.close()
        raise InputFormatError(f"{source!r} is not a bigWig file.")
    return bw


def track_chroms(path: str | os.PathLike) -> dict[str, int]:
    """Chromosome names and lengths in a bigWig file's header.

    Parameters
    ----------
    path
        bigWig file.

    Returns
    -------
    ``{chrom: length}`` in the file's order.
    """
    bw = _open_track(Path(path))
    try:
        return {str(k): int(v) for k, v in bw.chroms().items()}
    finally:
        bw.close()
