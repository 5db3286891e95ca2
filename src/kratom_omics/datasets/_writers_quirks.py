"""Re-save a tool's table the way real files reach users: through Excel, R, an editor or an archive.

:func:`resave` rewrites a tab-separated table written by the other writers (or by a tool) with the
quirks the loaders must survive: another delimiter (a comma-separated ``.tsv``), Windows line ends,
a Windows code page or UTF-16, a byte-order mark, trailing empty fields stripped (R, Excel and
editors do it), a delimiter at the end of every row, and compression (``.gz``, ``.bz2``, ``.xz``,
one-file ``.zip``). The loaders must read the result as they read the original.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import InputFormatError

__all__ = ["resave"]

_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def _cells_to_line(cells: list[str], sep: str) -> str:
    if sep == "\t":
        return "\t".join(cells)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="").writerow(cells)
    return buf.getvalue()


def resave(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    sep: str = "\t",
    newline: str = "\n",
    encoding: str = "utf-8",
    bom: bool = False,
    strip_trailing_empty: bool = False,
    trailing_delimiter: bool = False,
    member: str | None = None,
) -> Path:
    """Re-save a tab-separated text table with the quirks of the tools files pass through.

    Parameters
    ----------
    path
        A tab-separated table (UTF-8); lines starting with ``#`` before the header are kept as
        they are.
    out
        Output file; ``.gz``, ``.bz2`` or ``.xz`` compress it, ``.zip`` puts it in a zip archive
        as ``member``.
    sep
        Delimiter of the copy (``","`` as a spreadsheet's CSV export; cells holding it are quoted).
    newline
        ``"\\r\\n"`` as Windows tools write, ``"\\r"`` as old Mac tools did.
    encoding
        ``"cp1252"`` as Excel on Windows saves text, ``"utf-16"`` as its "Unicode text", ...
    bom
        Start with a UTF-8 byte-order mark (Excel's "CSV UTF-8").
    strip_trailing_empty
        Drop the empty cells at the end of each data row (R's and editors' habit).
    trailing_delimiter
        End every data row with a delimiter (some exporters do).
    member
        Name of the file inside a ``.zip`` (default: ``out``'s name without ``.zip``).

    Returns
    -------
    The path written.
    """
    src = Path(path)
    dst = Path(out)
    lines = src.read_text(encoding="utf-8").splitlines()
    header_at = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), 0)
    written = []
    for i, line in enumerate(lines):
        if i < header_at:
            written.append(line)
            continue
        cells = line.split("\t")
        if i > header_at and strip_trailing_empty:
            while len(cells) > 1 and cells[-1] == "":
                cells.pop()
        text = _cells_to_line(cells, sep)
        if i > header_at and trailing_delimiter:
            text += sep
        written.append(text)
    body = newline.join(written) + newline
    codec = "utf-8-sig" if bom and encoding == "utf-8" else encoding
    try:
        data = body.encode(codec)
    except UnicodeEncodeError as exc:
        raise InputFormatError(
            f"resave: {body[exc.start]!r} (line {body.count(newline, 0, exc.start) + 1} of "
            f"{str(src)!r}) cannot be written in {encoding}; choose another encoding."
        ) from None
    suffix = dst.suffix.lower()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".zip":
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(member or dst.name.removesuffix(dst.suffix), data)
        return dst
    if suffix in _COMPRESSORS:
        data = _COMPRESSORS[suffix](data)
    dst.write_bytes(data)
    return dst
