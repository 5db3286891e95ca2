"""The format registry: one :class:`~kratom_omics.io._format.Format` record per input format.

:data:`REGISTRY` lists the records in detection order (the first detector that recognises a file
wins); :data:`FORMATS` maps the readable formats' names to their records. ``kom.io.read``,
``kom.io.read_proteomics``, detection, the folder search, the CLI's ``--format`` help and the
workflow schema's format enum all come from (or are tested against) this list. Adding a format is
writing its reader and ``FORMAT`` record and listing the record here.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from . import (
    _alphapept,
    _bigwig_format,
    _counts,
    _densitometry,
    _diann,
    _epiprofile,
    _fragpipe,
    _maxquant,
    _mztab,
    _spectronaut,
    _table,
)
from ._choices import note_choice, set_mismatch_hint
from ._format import Detection, Format, probe
from ._other_files import OTHER_FILES
from ._text import check_path

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["FORMATS", "REGISTRY", "detect", "dispatch", "find_table", "get_format"]

logger = logging.getLogger("kratom_omics")

#: Every format, in detection order; records without a reader are recognised only to be refused.
REGISTRY: tuple[Format, ...] = (
    _maxquant.FORMAT,
    _diann.FORMAT,
    _fragpipe.FORMAT,
    _spectronaut.FORMAT,
    _alphapept.ALPHAPEPT,
    _alphapept.ALPHADIA,
    _mztab.FORMAT,
    _counts.FORMAT,
    _epiprofile.FORMAT,
    _densitometry.FORMAT,
    _bigwig_format.FORMAT,
    *OTHER_FILES,
    _table.FORMAT,
)

#: The formats ``kom.io.read(format=...)`` accepts, by name.
FORMATS: Mapping[str, Format] = MappingProxyType(
    {f.name: f for f in REGISTRY if f.reader is not None}
)

Modality = Literal["protein", "histone", "any"]


def _formats(modality: Modality) -> list[Format]:
    return [f for f in REGISTRY if modality == "any" or f.modality == modality]


def get_format(name: str, *, modality: Modality = "any") -> Format:
    """The record of a readable format by name (case-insensitive); a typo gets a suggestion."""
    readable = {f.name: f for f in _formats(modality) if f.reader is not None}
    fmt = readable.get(str(name).lower())
    if fmt is None:
        raise UnknownFormatError(did_you_mean(str(name), ["auto", *readable], what="format"))
    return fmt


class UnknownFormatError(InputFormatError, KeyNotFoundError):
    """``format=`` names no format (both a bad value and an unknown key)."""


def detect(path: str | os.PathLike, *, modality: Modality = "any") -> tuple[Format, Detection]:
    """Recognise the format of a file from its name and first lines.

    Every record's detector is asked in :data:`REGISTRY` order and the first that recognises the
    file wins; when none does, a record whose ``file_names`` match the file name is taken (its
    reader then names the missing columns). Recognised non-data files (a sample sheet, an SDRF,
    a peak file, ...) are refused with what to do instead.

    Returns
    -------
    ``(record, detection)``.

    Raises
    ------
    InputFormatError
        Nothing recognises the file; the message lists what was looked for.
    """
    p = Path(path)
    folder = _folder_format(p, modality)
    if folder is not None:
        return folder, Detection(folder.name, kind="folder", evidence="a folder of its files")
    check_path(p, "input file")
    pr = probe(p)
    if pr.problem is None and pr.parquet_columns is None and not pr.content:
        raise InputFormatError(
            f"input file {str(p)!r} is empty (only blank or comment lines); export the table "
            "from the tool again."
        )
    candidates = _formats(modality) + (list(OTHER_FILES) if modality != "any" else [])
    found = [(f, d) for f in candidates if (d := f.detection(pr)) is not None]
    if found:
        fmt, det = found[0]
        if len(found) > 1:
            logger.debug("%s: also matches %s", p, [f.name for f, _ in found[1:]])
        if fmt.refuse is not None:
            raise InputFormatError(f"{str(p)!r}: {fmt.refuse}")
        return fmt, det
    for fmt in candidates:
        if fmt.reader is not None and fmt.named_by(p.name):
            logger.warning("%s: header not recognised; the file name suggests %s", p, fmt.label)
            return fmt, Detection(fmt.name, evidence="file name")
    if pr.problem:
        raise InputFormatError(pr.problem)
    cols = [c[:40] for c in pr.columns[:10]]
    looked = "; ".join(f.looks_for for f in _formats(modality) if f.detect and f.reader)
    what = "the proteomics tool" if modality == "protein" else "the format"
    names = [f.name for f in _formats(modality) if f.reader is not None]
    raise InputFormatError(
        f"{str(p)!r}: could not recognise {what} from the header {cols}"
        f"{' ...' if len(pr.columns) > 10 else ''}. Looked for: {looked}. Pass format= one of "
        f"{names}, or use kom.io.read_table for a generic table."
    )


def find_table(path: str | os.PathLike, *, modality: Modality = "any") -> Path:
    """``path``; for a tool's output folder, the table in it (also in ``txt``, ``combined/txt``),
    looked for by the records' ``folder_files``."""
    p = Path(path)
    if not p.is_dir() or _folder_format(p, modality) is not None:
        return p
    formats = [f for f in _formats(modality) if f.reader is not None]
    exact = [n for f in formats for n in f.folder_files if "*" not in n]
    globs = [n for f in formats for n in f.folder_files if "*" in n]
    for folder in (p, p / "txt", p / "combined" / "txt"):
        for name in exact:
            if (folder / name).is_file():
                note_choice("file", str(folder / name), source=str(p), why="found in the folder")
                return folder / name
        for pattern in globs:
            hits = sorted(folder.glob(pattern))
            if len(hits) == 1:
                note_choice("file", str(hits[0]), source=str(p), why="found in the folder")
                return hits[0]
    what = "protein table" if modality == "protein" else "table"
    raise InputFormatError(
        f"{str(p)!r} is a folder without a known {what} (looked for {exact + globs}, also in "
        "'txt' and 'combined/txt'); pass the file."
    )


def _folder_format(path: Path, modality: Modality) -> Format | None:
    """The format that reads ``path`` as a whole folder (a folder of bigWig tracks), if any."""
    if not path.is_dir():
        return None
    return next((f for f in _formats(modality) if f.folder is not None and f.folder(path)), None)


def dispatch(
    path: str | os.PathLike,
    samples: Any,
    *,
    format: str,
    modality: Modality,
    options: Mapping[str, Any],
    phases: Sequence[str] | None,
    join: str,
) -> AnnData:
    """Resolve the format (detected or given), check the options against the reader's keywords
    and call it; shared by :func:`kratom_omics.io.read` and :func:`kratom_omics.io.read_proteomics`."""
    p = find_table(path, modality=modality)
    if _folder_format(p, modality) is None:
        check_path(p, "input file")
    given = str(format).lower() != "auto"
    if given:
        fmt, det = get_format(format, modality=modality), None
        note_choice("format", fmt.name, source=str(p), why="given", level=logging.DEBUG)
    else:
        fmt, det = detect(p, modality=modality)
        note_choice(
            "format",
            fmt.name if det.kind is None else f"{fmt.name} ({det.kind})",
            source=str(p),
            why=f"detected: {det.evidence}" if det.evidence else "detected",
        )
    reader = _reader(fmt)
    kwargs = _options(fmt, dict(options), str(p))
    adata = reader(p, samples, phases=phases, join=join, **kwargs)
    store = adata.uns.setdefault("kratom_omics", {})
    store["format"] = fmt.name
    if det is not None and det.kind is not None:
        store["format_kind"] = det.kind
    return adata


def _options(fmt: Format, options: dict[str, Any], source: str) -> dict[str, Any]:
    """Keep the options the reader takes; ``quantity`` and ``encoding`` are dropped (and logged)
    for readers without them, any other unknown option is an error."""
    accepted = set(inspect.signature(_reader(fmt)).parameters) - {"path", "samples"}
    for key in ("quantity", "encoding"):
        if key in options and key not in accepted:
            value = options.pop(key)
            if value is not None:
                logger.info(
                    "%s: a %s file has no %s choice; %r ignored", source, fmt.label, key, value
                )
    unknown = sorted(set(options) - accepted)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise KeyNotFoundError(
            f"{source}: option(s) {unknown} are not options of the {fmt.label} reader; it takes "
            f"{sorted(accepted - {'phases', 'join'})}.",
            cli=f"{source}: {flags} does not apply to a {fmt.label} file; leave it out.",
        )
    return {k: v for k, v in options.items() if v is not None or k not in ("quantity", "encoding")}


def _reader(fmt: Format) -> Callable[..., AnnData]:
    if fmt.reader is None:  # detect() refuses these before a reader is looked for
        raise InputFormatError(f"{fmt.label} files cannot be read as data: {fmt.refuse}")
    return fmt.reader


def _looks_like(path: Any, tool: str) -> str:
    """What a file a reader refused looks like: `` The header looks like a X table: use ...``."""
    try:
        other, _ = detect(find_table(path))
    except (InputFormatError, TypeError):
        return ""
    if tool.startswith(other.label):
        return ""
    return f" The header looks like a {other.label} table: use format={other.name!r} (or format='auto')."


set_mismatch_hint(_looks_like)
