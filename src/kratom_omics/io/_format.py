"""The record each input format registers, and what its detector is shown.

A format is described once, by a :class:`Format` record next to its reader (``FORMAT = Format(...)``
at the end of the reader's module); :mod:`kratom_omics.io._registry` lists the records in detection
order and everything else (``kom.io.read(format=...)``, ``read_proteomics``, detection, the folder
search, the CLI's ``--format`` help and the workflow schema's enum, checked by a test) derives from
that list.

A detector receives a :class:`Probe` (the file name and the first lines, decoded leniently; the
column names of a parquet file) and returns ``None`` when the file is not its format, or a
:class:`Detection` (``True`` or a text saying what matched are accepted as shorthands). A detection
may name a ``kind`` within the format (DIA-NN ``"pg_matrix"``, ``"pr_matrix"`` or ``"report"``);
the dispatcher logs it and records it in provenance, and the reader can ask the same detector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._text import peek, sniff_sep, split_line

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["Detection", "Format", "Probe", "probe"]

_COMPRESSED = (".gz", ".gzip", ".bz2", ".xz", ".zip")


@dataclass(frozen=True)
class Detection:
    """A detector's answer: the format, optionally a kind within it, and what matched."""

    format: str
    kind: str | None = None
    evidence: str = ""


@dataclass
class Probe:
    """What detectors look at: the file name and the head of the file.

    Attributes
    ----------
    path
        The file.
    name
        Its name in lower case without a compression suffix (``report.pg_matrix.tsv``).
    lines
        The first (up to 50) lines, decoded leniently; empty for binary files.
    problem
        Why the file could not be read as text (binary, a zip of several files), else ``None``.
    """

    path: Path
    name: str
    lines: list[str]
    problem: str | None = None
    parquet_columns: list[str] | None = None

    @cached_property
    def content(self) -> list[str]:
        """The lines that are neither blank nor ``#`` comments."""
        return [ln for ln in self.lines if ln.strip() and not ln.startswith("#")]

    @cached_property
    def sep(self) -> str:
        """The delimiter sniffed from the first lines."""
        return sniff_sep(self.content) if self.content else "\t"

    @cached_property
    def columns(self) -> list[str]:
        """Header cells of a table (the first content line), or a parquet file's columns."""
        if self.parquet_columns is not None:
            return self.parquet_columns
        if not self.content:
            return []
        return [
            c.strip().strip('"').lstrip("\ufeff") for c in split_line(self.content[0], self.sep)
        ]

    @cached_property
    def colset(self) -> frozenset[str]:
        return frozenset(self.columns)

    def row(self, i: int) -> list[str]:
        """Cells of content line ``i`` (0: the header)."""
        if i >= len(self.content):
            return []
        return split_line(self.content[i], self.sep)


def probe(path: str | Path) -> Probe:
    """Look at a file for detection: name, first lines (archives opened), parquet schema."""
    p = Path(path)
    name = p.name.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    if name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq

            return Probe(p, name, [], parquet_columns=list(pq.read_schema(p).names))
        except Exception as exc:  # pyarrow raises several error types for broken files
            return Probe(p, name, [], problem=f"{str(p)!r} is not a readable parquet file: {exc}")
    lines, problem = peek(p)
    return Probe(p, name, lines, problem=problem)


Detector = Callable[[Probe], "Detection | bool | str | None"]


@dataclass(frozen=True)
class Format:
    """One input format: how to recognise it, how to read it, what it offers.

    Attributes
    ----------
    name
        The ``format=`` value (``"maxquant"``).
    label
        The tool's name in messages (``"MaxQuant"``).
    reader
        The public reader, called as ``reader(path, samples, phases=..., join=..., **options)``.
        ``None`` for files that are recognised only to be refused (``refuse`` says why and what
        to do).
    detect
        The detector (see the module docstring); its docstring says what it looks for (listed
        when no format is recognised). ``None``: never auto-detected (``"table"``).
    modality
        ``"protein"``, ``"histone"`` or ``"any"``.
    file_names
        Regular expressions on the file name: the format when no detector matched (the reader
        then says which columns are missing).
    folder_files
        File names looked for, in order, when a tool's output folder is given.
    quantities
        The ``quantity=`` values the reader accepts, each mapped to the quantity it selects (other
        tools' names included: ``{"lfq": "lfq", "maxlfq": "lfq", ...}``); the first is the default
        (see :attr:`quantity_choices`).
    options
        Other keyword options the reader takes (``q_value``, ``label``, ``sheet``, ...).
    kinds
        Kinds of file within the format a detector may name, with a description.
    folder
        For a format read from a whole folder (bigWig tracks): tells whether a folder is one;
        such a folder is passed to the reader as it is instead of a file found in it.
    """

    name: str
    label: str
    reader: Callable[..., AnnData] | None
    detect: Detector | None
    modality: Literal["protein", "histone", "any"] = "any"
    file_names: tuple[str, ...] = ()
    folder_files: tuple[str, ...] = ()
    quantities: Mapping[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    kinds: Mapping[str, str] = field(default_factory=dict)
    refuse: str | None = None
    folder: Callable[[Path], bool] | None = None

    @property
    def quantity_choices(self) -> list[str]:
        """The quantities the format offers, the default first."""
        return list(dict.fromkeys(self.quantities.values()))

    @property
    def looks_for(self) -> str:
        """What the detector looks for (its docstring), listed when no format is recognised."""
        doc = getattr(self.detect, "__doc__", None) or ""
        return " ".join(doc.split())

    def detection(self, pr: Probe) -> Detection | None:
        """Run the detector on a probe; its shorthand answers become a :class:`Detection`."""
        if self.detect is None:
            return None
        found: Any = self.detect(pr)
        if found is None or found is False:
            return None
        if isinstance(found, Detection):
            return found
        return Detection(self.name, evidence=found if isinstance(found, str) else "")

    def named_by(self, file_name: str) -> bool:
        """Whether the file name matches one of :attr:`file_names`."""
        return any(re.search(p, file_name, flags=re.IGNORECASE) for p in self.file_names)
