"""One reading path for every text input: compression, encoding, delimiter, header and row shape.

Every text loader of :mod:`kratom_omics.io` opens its file with :func:`open_table` (delimited
tables, parsed by pandas' C parser) or :func:`open_text` (line-oriented formats: mzTab, EpiProfile,
BED). Both look at the bytes once before parsing (a fast pass that also finds the rows whose shape
differs from the header) and apply the same rules:

Compression
    ``.gz``, ``.bz2``, ``.xz`` and ``.zip`` are read transparently, also when the extension does not
    say so (gzip, bzip2 and xz are recognised by their first bytes). A ``.zip`` must hold one file
    (``__MACOSX/`` entries and hidden files are ignored); with several, the error names them. An
    Excel workbook given as text is refused with a message saying so.
Encoding
    ``encoding=None`` (the default): a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise
    UTF-8 when the whole file is valid UTF-8, else Windows-1252 (what Excel and other Windows tools
    write: ``µ``, ``é``), else Latin-1, which decodes any byte. UTF-16 without byte-order mark is
    recognised by its zero bytes. ``encoding="..."`` forces a codec; a byte it cannot decode is an
    error naming the line. The encoding used is logged and recorded in provenance.
NUL bytes
    A text table holds none (pandas would cut the cell at it, and h5ad cannot store it in a name):
    a NUL byte is an error naming the line.
Delimiter
    Sniffed from the header and the first rows, whatever the extension says (a comma-separated
    ``.tsv`` exists): tab, comma or semicolon, the first that splits the header and the rows alike;
    ``sep=`` forces one. Comma- and semicolon-separated files, and tab-separated files whose header
    is quoted (R's ``write.table``), honour ``"`` quotes; other tab-separated files are read without
    quoting, as the tools write them.
Rows
    A row shorter than the header (trailing empty fields stripped by R, Excel or an editor) is read
    with missing values in the absent fields. A file whose last row is short and that does not end
    with a line break is reported as truncated. A row longer than the header is an error naming the
    line, unless its extra fields are empty (trailing delimiters): those are ignored. Blank lines are
    skipped. Line ends may be LF, CRLF or CR.
Header
    Cells are stripped of spaces and of a byte-order mark. An empty header cell is kept as ``""``:
    :func:`kratom_omics.io._columns.read_columns` drops such a column when it is empty and refuses it
    when it holds values, so no sample is ever named ``""``. Duplicated names are the readers'
    business: a column a reader needs must be unique (the error names it), others are ignored.
Cells
    Cells of any length are read (pandas' parser has no field-size limit; the line-oriented readers
    lift the ``csv`` module's 131,072-character limit while they parse).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import logging
import lzma
import os
import re
import sys
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import InputFormatError
from ._choices import note_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["TextFile", "check_path", "field_limit", "open_table", "open_text", "split_line"]

_CHUNK = 1 << 22
_HEAD = 1 << 16
_MAX_HEAD = 1 << 26
_DELIMITERS = ("\t", ",", ";")
_SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", " ": "space", "|": "pipe"}
_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# bytes Windows-1252 leaves undefined: a file holding them is decoded as Latin-1
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ERRORS_OF_DAMAGED_ARCHIVES = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def check_path(path: Path, what: str) -> None:
    """Raise a one-line error when ``path`` is missing, a folder or empty."""
    if not path.exists():
        raise InputFormatError(f"{what} {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise InputFormatError(f"{what} {str(path)!r} is a directory; pass the file inside it.")
    if path.stat().st_size == 0:
        raise InputFormatError(
            f"{what} {str(path)!r} is empty; export the table from the tool again."
        )


@contextlib.contextmanager
def field_limit() -> Iterator[None]:
    """Lift the ``csv`` module's 131,072-character field limit while the block runs."""
    old = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def split_line(line: str, sep: str, *, quoting: bool = True) -> list[str]:
    """The fields of one line (quotes honoured when ``quoting``), stripped of spaces."""
    line = line.rstrip("\r\n")
    if not quoting:
        return [f.strip() for f in line.split(sep)]
    with field_limit():
        fields = next(csv.reader([line], delimiter=sep), [])
    return [f.strip() for f in fields]


# archives ----------------------------------------------------------------------------------------
def _compression(path: Path, what: str) -> tuple[str | None, str | None]:
    """``(compression, zip member)`` of a file, from its extension or its first bytes."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise InputFormatError(
            f"{what} {str(path)!r} cannot be read ({exc.strerror or exc}); check its permissions."
        ) from None
    method = _SUFFIXES.get(path.suffix.lower())
    if method is None:
        method = next((m for sig, m in _MAGIC if magic.startswith(sig)), None)
    if magic.startswith(b"PK\x03\x04") or method == "zip":
        return "zip", _zip_member(path, what)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputFormatError(
            f"{what} {str(path)!r} is a binary Excel 97-2003 workbook, not a text table; save it "
            "from the spreadsheet as tab-separated text (or .xlsx where the reader accepts it)."
        )
    if magic.startswith(b"PAR1"):
        raise InputFormatError(
            f"{what} {str(path)!r} is a parquet file, not a text table; pass the tool's text "
            "export, or a parquet file to a reader that accepts one (DIA-NN's report.parquet)."
        )
    return method, None


def _zip_member(path: Path, what: str) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except zipfile.BadZipFile as exc:
        raise InputFormatError(
            f"{what} {str(path)!r} is not a readable zip archive: {exc}"
        ) from None
    if "[Content_Types].xml" in names:
        raise InputFormatError(
            f"{what} {str(path)!r} is an Excel workbook (.xlsx), not a text table; save it from the "
            "spreadsheet as tab-separated text (or pass the .xlsx to a reader that accepts one)."
        )
    data = [
        n
        for n in names
        if not n.startswith("__MACOSX/") and not Path(n).name.startswith(".") and Path(n).name
    ]
    if len(data) != 1:
        listed = data[:20] if data else names[:20]
        raise InputFormatError(
            f"{what} {str(path)!r} is a zip archive holding {len(data)} files {listed}; a zip must "
            "hold exactly one table. Unzip it and pass the file to read."
        )
    return data[0]


def _open_binary(path: Path, compression: str | None, member: str | None) -> IO[bytes]:
    if compression == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if compression == "bz2":
        return cast(IO[bytes], bz2.open(path, "rb"))
    if compression == "xz":
        return cast(IO[bytes], lzma.open(path, "rb"))
    if compression == "zip":
        zf = zipfile.ZipFile(path)
        inner = zf.open(member or "")
        inner.close = _closing(inner.close, zf.close)  # type: ignore[method-assign]
        return inner
    return open(path, "rb")


def _closing(*closers: Any) -> Any:
    def close() -> None:
        for c in closers:
            c()

    return close


# encodings ---------------------------------------------------------------------------------------
def _bom(head: bytes) -> tuple[str | None, int]:
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc, len(bom)
    return None, 0


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without byte-order mark: ASCII characters leave a zero in every other byte."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _check_codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputFormatError(
            f"encoding={encoding!r} is not a known text encoding; use e.g. 'utf-8', 'cp1252', "
            "'latin-1' or 'utf-16', or leave encoding=None to detect it."
        ) from None


def _write_or_drop(copy: IO[bytes], chunk: bytes) -> IO[bytes] | None:
    """Append to the decompressed copy; when the disk is full, drop the copy (the archive is then
    decompressed again by the parser)."""
    try:
        copy.write(chunk)
        return copy
    except OSError:
        copy.close()
        _remove(copy.name)
        return None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _split_lines(text: str) -> list[str]:
    """Lines as the parsers see them: broken at LF, CRLF and CR only (not at NEL, FF, ...)."""
    return _LINE_BREAK.split(text)


# the table -----------------------------------------------------------------------------------------
@dataclass
class TextFile:
    """A text file inspected by :func:`open_table` or :func:`open_text`, ready to be parsed.

    Attributes
    ----------
    path, source
        The file and how messages name it.
    compression, member
        ``"gzip"``, ``"bz2"``, ``"xz"``, ``"zip"`` or ``None``; the file read inside a zip.
    encoding
        The codec the text is decoded with (``"utf-8"``, ``"cp1252"``, ``"latin-1"``, ...).
    sep, quoting
        Delimiter and whether ``"`` quotes are honoured (tables only).
    header
        The header's cells, stripped (``""`` for an empty cell); ``header_line`` is its 1-based
        line number and ``skip`` the number of lines before it.
    short_lines
        Lines (1-based) with fewer fields than the header, read with missing values.
    blank_lines
        Blank lines after the header (skipped by the parser).
    """

    path: Path
    source: str
    what: str
    compression: str | None = None
    member: str | None = None
    encoding: str = "utf-8"
    sep: str = "\t"
    quoting: bool = False
    header: list[str] = field(default_factory=list)
    header_line: int = 0
    skip: int = 0
    short_lines: list[int] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    ends_with_newline: bool = True
    _buffer: bytes | None = None  # transcoded UTF-8 text of a UTF-16/32 file
    _plain: Path | None = None  # the decompressed copy of an archive, written while scanning
    _names: tuple[tuple[str, ...], list[str]] | None = None

    # -- text -------------------------------------------------------------------------------
    def binary(self) -> IO[bytes]:
        """The (decompressed) bytes; UTF-16/32 files are given as UTF-8."""
        if self._buffer is not None:
            return io.BytesIO(self._buffer)
        if self._plain is not None:
            return open(self._plain, "rb")
        return _open_binary(self.path, self.compression, self.member)

    def lines(self) -> Iterator[str]:
        """Decoded lines, without line ends and without a byte-order mark."""
        enc = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        with self.binary() as raw, self._damaged_archive():
            text = io.TextIOWrapper(raw, encoding=enc, newline=None)
            for line in text:
                yield line.rstrip("\n")

    def text(self) -> str:
        """The whole decoded text (line ends normalised to ``\\n``)."""
        return "\n".join(self.lines())

    @contextlib.contextmanager
    def _damaged_archive(self) -> Iterator[None]:
        try:
            yield
        except _ERRORS_OF_DAMAGED_ARCHIVES as exc:
            if self.compression is None and not isinstance(exc, EOFError):
                raise
            raise InputFormatError(
                f"{self.source}: the {self.compression} file is damaged or truncated ({exc}); "
                "download or copy it again."
            ) from None

    # -- table ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Unique column names for the parser: header cells, with empty and repeated cells
        replaced by ``\\x00<position>`` (a name no file can hold: NUL bytes are refused)."""
        key = tuple(self.header)
        if self._names is None or self._names[0] != key:
            out: list[str] = []
            seen: set[str] = set()
            for i, name in enumerate(self.header):
                out.append(name if name and name not in seen else f"\x00{i}")
                seen.add(name)
            self._names = (key, out)
        return list(self._names[1])

    def line_of(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """1-based line numbers of data rows (0-based positions in the parsed table)."""
        rows = np.asarray(rows, dtype=np.int64)
        first = self.header_line + 1
        if rows.size == 0:
            return rows
        if not self.blank_lines:
            return rows + first
        blank = np.asarray(self.blank_lines, dtype=np.int64)
        span = np.arange(first, first + int(rows.max()) + 1 + blank.size, dtype=np.int64)
        data = span[~np.isin(span, blank)]
        return data[rows]

    def _csv_options(self, columns: Sequence[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        options: dict[str, Any] = {
            "sep": self.sep,
            "header": 0,
            "names": names,
            "usecols": list(columns) if columns is not None else names,
            "skiprows": self.skip,
            "index_col": False,
            "keep_default_na": False,
            "low_memory": False,
            "engine": "c",
            "quoting": csv.QUOTE_MINIMAL if self.quoting else csv.QUOTE_NONE,
            "encoding": "utf-8" if self._buffer is not None else self.encoding,
            **kwargs,
        }
        if self._buffer is None and self._plain is None and self.compression != "zip":
            options["compression"] = self.compression
        return options

    def _csv_source(self) -> Any:
        """What pandas reads: the path (fastest: pandas decodes UTF-8 in C), else a stream."""
        if self._plain is not None:
            return self._plain
        if self._buffer is not None or self.compression == "zip":
            return self.binary()
        return self.path

    @contextlib.contextmanager
    def _parser_errors(self) -> Iterator[None]:
        import pandas as pd

        try:
            with self._damaged_archive():
                yield
        except pd.errors.EmptyDataError:
            raise InputFormatError(f"{self.source}: the file holds no table.") from None
        except pd.errors.ParserError as exc:
            raise InputFormatError(
                f"{self.source}: could not be parsed as a {_SEP_NAMES.get(self.sep, self.sep)}-"
                f"separated table: {' '.join(str(exc).split())}"
            ) from None

    def read_csv(self, *, columns: Sequence[str] | None = None, **kwargs: Any) -> pd.DataFrame:
        """Parse the table with pandas' C parser; ``columns`` (names from :attr:`names`) selects.

        Extra keywords (``dtype``, ``na_values``, ``decimal``, ``nrows``, ...) go to
        :func:`pandas.read_csv`. Parser errors become :class:`InputFormatError` naming the file.
        """
        import pandas as pd

        source = self._csv_source()
        with self._parser_errors():
            try:
                return pd.read_csv(source, **self._csv_options(columns, kwargs))
            finally:
                if not isinstance(source, Path):
                    source.close()

    def read_chunks(
        self, chunksize: int, *, columns: Sequence[str] | None = None, **kwargs: Any
    ) -> Iterator[pd.DataFrame]:
        """:meth:`read_csv` in blocks of ``chunksize`` rows (for tables larger than memory)."""
        import pandas as pd

        source = self._csv_source()
        try:
            with self._parser_errors():
                options = self._csv_options(columns, {**kwargs, "chunksize": int(chunksize)})
                with pd.read_csv(source, **options) as reader:
                    yield from reader
        finally:
            if not isinstance(source, Path):
                source.close()

    def record(self) -> None:
        """Log and record (provenance) how the file is read."""
        if self.compression:
            inner = f" ({self.member})" if self.member else ""
            note_choice("compression", f"{self.compression}{inner}", source=self.source)


def _header_and_skip(
    head_lines: list[str], comment: str | None, source: str, what: str
) -> tuple[int, str]:
    """0-based index of the header line among ``head_lines`` and the header line itself."""
    for i, line in enumerate(head_lines):
        if not line.strip():
            continue
        if comment is not None and line.startswith(comment):
            continue
        return i, line
    raise InputFormatError(
        f"{what} {source!r} holds no header line (only blank or comment lines in its first "
        f"{len(head_lines)} lines); expected a header and data rows."
    )


def sniff_sep(lines: Sequence[str]) -> str:
    """Delimiter of a table from its header and first rows (see the module's rules)."""
    header, rows = lines[0], [ln for ln in lines[1:21] if ln.strip()]
    best: tuple[int, str] | None = None
    for sep in _DELIMITERS:
        n = len(split_line(header, sep)) - 1
        if n == 0:
            continue
        if rows:
            same = sum(len(split_line(r, sep)) - 1 == n for r in rows)
            if same >= 0.8 * len(rows):
                return sep
        if best is None or n > best[0]:
            best = (n, sep)
    return best[1] if best is not None else "\t"


def _head(path: Path, compression: str | None, member: str | None, source: str) -> bytes:
    """The first 64 KB of the (decompressed) text, more when its first lines are longer."""
    try:
        with _open_binary(path, compression, member) as fh:
            head = fh.read(_HEAD)
            while len(head) < _MAX_HEAD and head.count(b"\n") + head.count(b"\r") < 3:
                more = fh.read(len(head))
                if not more:
                    break
                head += more
            return head
    except _ERRORS_OF_DAMAGED_ARCHIVES as exc:
        raise InputFormatError(
            f"{source}: the {compression or ''} file is damaged or truncated ({exc}); download or "
            "copy it again."
        ) from None


def _prepare(path: Path, what: str, encoding: str | None) -> tuple[TextFile, bytes, str | None]:
    """Archive, byte-order mark and first bytes of a file: ``(text file, head, bom encoding)``."""
    check_path(path, what)
    compression, member = _compression(path, what)
    source = f"{path}!{member}" if member else str(path)
    head = _head(path, compression, member, source)
    if not head:
        raise InputFormatError(f"{what} {source!r} is empty; export the table from the tool again.")
    tf = TextFile(path=path, source=source, what=what, compression=compression, member=member)
    bom_enc, _ = _bom(head)
    wide = bom_enc if bom_enc and bom_enc != "utf-8" else None
    if encoding is None and wide is None and b"\x00" in head:
        wide = _utf16_without_bom(head)
    if encoding is not None:
        wide = None
        name = _check_codec(encoding)
        if name.startswith(("utf-16", "utf-32")):
            wide = encoding
    if wide is not None:
        with _open_binary(path, compression, member) as fh:
            raw = fh.read()
        try:
            text = raw.decode(wide)
        except UnicodeDecodeError as exc:
            raise InputFormatError(
                f"{source}: not valid {wide} text ({exc.reason} at byte {exc.start}); pass the "
                "file's encoding as encoding=..."
            ) from None
        tf._buffer = text.lstrip("\ufeff").encode("utf-8")
        head = tf._buffer[:_HEAD]
        note_choice("encoding", wide, source=source, why="UTF-16/32 text (transcoded to UTF-8)")
        tf.encoding = "utf-8"
        return tf, head, "utf-8-transcoded"
    return tf, head, bom_enc


def _decode_head(head: bytes, encoding: str | None) -> list[str]:
    text = head.decode(encoding or "utf-8", errors="replace").lstrip("\ufeff")
    lines = _split_lines(text)
    if len(head) >= _HEAD and len(lines) > 1:
        lines.pop()  # cut in the middle
    elif lines and lines[-1] == "":
        lines.pop()  # after the last line break
    return lines


@dataclass
class _Rows:
    """Rows whose field count differs from the header's, found by :class:`_Scanner`."""

    long: list[tuple[int, int]] = field(default_factory=list)  # (line, fields), extra not empty
    long_empty: list[int] = field(default_factory=list)  # extra fields all empty
    short: list[int] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)
    first_short: str = ""
    last_short: bool = False
    last_fields: int = 0


class _Scanner:
    """One pass over the bytes: NUL bytes, encoding, and the rows whose shape is not the header's.

    Field counts are found with numpy (delimiters and line breaks per 4 MB block), quotes ignored;
    a quoted file with odd rows is counted again with the ``csv`` module (:func:`_count_quoted`).
    """

    def __init__(self, tf: TextFile, encoding: str | None, n_fields: int | None) -> None:
        self.tf = tf
        self.given = encoding
        self.n_fields = n_fields
        self.newline = b"\n"
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8_error: tuple[int, int] | None = None  # (line, byte value)
        self.cp1252 = True
        self.decoder = codecs.getincrementaldecoder(encoding)() if encoding else None
        self.lines_before = 0
        self.has_quote = False
        self.ends_with_newline = True
        self.rows = _Rows()

    def run(self) -> None:
        carry = b""
        copy = self._plain_copy()
        with self.tf.binary() as fh, self.tf._damaged_archive():
            for i, chunk in enumerate(iter(lambda: fh.read(_CHUNK), b"")):
                if copy is not None:
                    copy = _write_or_drop(copy, chunk)
                if i == 0 and b"\n" not in chunk and b"\r" in chunk:
                    self.newline = b"\r"
                self._bytes(chunk)
                buf = carry + chunk
                cut = buf.rfind(self.newline) + 1
                self._lines(buf[:cut], final=False)
                carry = buf[cut:]
                self.ends_with_newline = chunk.endswith((b"\n", b"\r"))
        if carry:
            self._lines(carry, final=True)
        if copy is not None:
            copy.close()
            self.tf._plain = Path(copy.name)
        if self.given is None and self.utf8_error is None:
            try:
                self.utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8_error = (self.lines_before, -1)

    def _plain_copy(self) -> IO[bytes] | None:
        """For an archive: a temporary file receiving the decompressed bytes as they are scanned,
        which pandas then parses at full speed (one decompression, not two). Removed with the
        :class:`TextFile`; without room for it the archive is decompressed again instead."""
        tf = self.tf
        if tf.compression is None or tf._buffer is not None:
            return None
        try:  # kept open across the scan and read by pandas afterwards: no context manager
            copy = tempfile.NamedTemporaryFile(  # noqa: SIM115
                prefix="kratom-omics-", suffix=".txt", delete=False
            )
        except OSError:
            return None
        weakref.finalize(tf, _remove, copy.name)
        return copy

    def _line(self, chunk: bytes, pos: int) -> int:
        return self.lines_before + chunk.count(self.newline, 0, pos) + 1

    def _bytes(self, chunk: bytes) -> None:
        """Checks that need no lines: NUL bytes, the encoding, quotes."""
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise InputFormatError(
                f"{self.tf.source}: line {self._line(chunk, nul)} holds a NUL byte (\\x00); a text "
                "table has none, so the file is damaged or is not text (UTF-16 without a "
                "byte-order mark: pass encoding='utf-16'). Export or copy the file again."
            )
        if not self.has_quote and b'"' in chunk:
            self.has_quote = True
        if self.decoder is not None:
            try:
                self.decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise InputFormatError(
                    f"{self.tf.source}: line {self._line(chunk, max(exc.start, 0))} cannot be "
                    f"decoded as {self.given} ({exc.reason}); pass the file's encoding as "
                    "encoding=... or leave encoding=None to detect it."
                ) from None
            return
        if self.cp1252 and any(b in chunk for b in _CP1252_UNDEFINED):
            self.cp1252 = False
        if self.utf8_error is None and not (chunk.isascii() and not self.utf8.getstate()[0]):
            try:
                self.utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                pos = min(max(exc.start, 0), len(chunk) - 1)
                self.utf8_error = (self._line(chunk, pos), chunk[pos])

    def _lines(self, buf: bytes, *, final: bool) -> None:
        """Count the fields of the lines of ``buf`` (complete lines; the file's last if ``final``)."""
        if not buf:
            return
        n_breaks = buf.count(self.newline)
        if self.n_fields is not None:
            self._fields(buf, final)
        self.lines_before += n_breaks

    def _fields(self, buf: bytes, final: bool) -> None:
        tf, rows = self.tf, self.rows
        arr = np.frombuffer(buf, dtype=np.uint8)
        ends = np.flatnonzero(arr == self.newline[0])
        if final:
            ends = np.append(ends, arr.size)
        starts = np.r_[0, ends[:-1] + 1]
        counts = np.diff(np.searchsorted(np.flatnonzero(arr == ord(tf.sep)), ends), prepend=0)
        first = self.lines_before + 1
        expected = (self.n_fields or 1) - 1
        skip = max(0, tf.header_line - first + 1)  # the header and the lines before it
        odd = skip + np.flatnonzero(counts[skip:] != expected)
        for k in odd.tolist():
            number = first + k
            line = buf[starts[k] : ends[k]].rstrip(b"\r\n")
            if counts[k] > expected:
                extra = line.split(tf.sep.encode())[expected + 1 :]
                if any(f.strip() for f in extra):
                    rows.long.append((number, int(counts[k]) + 1))
                else:
                    rows.long_empty.append(number)
            elif not line.strip():
                rows.blank.append(number)
            else:
                if not rows.short:
                    rows.first_short = line.decode(self.given or "utf-8", errors="replace")
                rows.short.append(number)
                if final and k == len(ends) - 1:
                    rows.last_short = True
                    rows.last_fields = int(counts[k]) + 1

    def encoding(self) -> str:
        """The codec chosen, noted with its reason."""
        source = self.tf.source
        if self.given is not None:
            note_choice("encoding", self.given, source=source, why="given")
            return self.given
        if self.utf8_error is None:
            note_choice("encoding", "utf-8", source=source, level=logging.DEBUG)
            return "utf-8"
        line, byte = self.utf8_error
        what = f"byte 0x{byte:02x}" if byte >= 0 else "an incomplete character at the end"
        enc, name = ("cp1252", "Windows-1252") if self.cp1252 else ("latin-1", "Latin-1")
        note_choice(
            "encoding",
            enc,
            source=source,
            why=f"not UTF-8: {what} on line {line}; read as {name}",
            level=logging.WARNING,
        )
        return enc


def _inspect(
    path: str | os.PathLike,
    *,
    what: str,
    encoding: str | None,
    sep: str | None,
    comment: str | None,
    table: bool,
    check_header: Callable[[TextFile], None] | None = None,
) -> TextFile:
    tf, head, bom = _prepare(Path(path), what, encoding)
    transcoded = bom == "utf-8-transcoded"
    if table:
        if sep is not None and len(sep) != 1:
            raise InputFormatError(f"sep={sep!r}; expected one character such as '\\t' or ','.")
        head_lines = _decode_head(head, encoding if encoding and not transcoded else None)
        tf.skip, header_text = _header_and_skip(head_lines, comment, tf.source, what)
        tf.header_line = tf.skip + 1
        tf.sep = sep if sep is not None else sniff_sep(head_lines[tf.skip :])
        tf.quoting = tf.sep != "\t" or header_text.lstrip("\ufeff").startswith('"')
        tf.header = _cells(header_text, tf)
        if check_header is not None:
            check_header(tf)
    scanner = _Scanner(tf, None if transcoded else encoding, len(tf.header) if table else None)
    scanner.run()
    tf.ends_with_newline = scanner.ends_with_newline
    if not transcoded:
        tf.encoding = scanner.encoding()
    if table:
        if tf.encoding not in ("utf-8", encoding):  # the header again, in the encoding found
            tf.header = _cells(_decode_head(head, tf.encoding)[tf.skip], tf)
        if sep is None:
            _note_sep(tf)
        _judge_rows(tf, scanner)
    tf.record()
    return tf


def _cells(header_text: str, tf: TextFile) -> list[str]:
    return [c.lstrip("\ufeff").strip() for c in split_line(header_text, tf.sep, quoting=tf.quoting)]


def _note_sep(tf: TextFile) -> None:
    name = tf.path.name.lower()
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    ext = Path(name).suffix
    expected = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(ext)
    label = _SEP_NAMES.get(tf.sep, tf.sep)
    if expected is not None and expected != tf.sep:
        note_choice(
            "delimiter",
            label,
            source=tf.source,
            why=f"the file is {label}-separated although named {ext}",
            level=logging.WARNING,
        )
    else:
        note_choice("delimiter", label, source=tf.source, level=logging.DEBUG)


def _judge_rows(tf: TextFile, scanner: _Scanner) -> None:
    """Apply the row rules (see the module docstring) to what the scanner found."""
    rows = scanner.rows
    if (rows.long or rows.long_empty or rows.short) and tf.quoting and scanner.has_quote:
        rows = _count_quoted(tf, rows.last_short)
    n = len(tf.header)
    sep = _SEP_NAMES.get(tf.sep, tf.sep)
    if rows.long:
        line, k = rows.long[0]
        raise InputFormatError(
            f"{tf.source}: line {line} has {k} fields but the header has {n}; a cell holds an "
            f"unquoted {sep} or a value was added ({len(rows.long)} such line(s)). Fix the line "
            "or re-export the table."
        )
    if rows.long_empty:
        note_choice(
            "trailing_delimiters",
            len(rows.long_empty),
            source=tf.source,
            why=f"empty fields after the last column ignored (line {rows.long_empty[0]}, ...)",
        )
    if rows.last_short and not scanner.ends_with_newline:
        raise InputFormatError(
            f"{tf.source}: the file looks truncated: its last line ({rows.short[-1]}) has "
            f"{rows.last_fields} of the {n} fields of the header and no line end. Copy or export "
            "the file again."
        )
    if rows.short:
        for other in _DELIMITERS:
            if other != tf.sep and n > 1 and len(split_line(rows.first_short, other)) >= n:
                raise InputFormatError(
                    f"{tf.source}: line {rows.short[0]} is {_SEP_NAMES[other]}-separated but the "
                    f"header is {sep}-separated; save the whole table with one delimiter."
                )
        note_choice(
            "short_rows",
            len(rows.short),
            source=tf.source,
            why=f"rows with fewer fields than the header read as missing values (line {rows.short[0]}, ...)",
        )
    tf.short_lines = rows.short
    tf.blank_lines = rows.blank


def _count_quoted(tf: TextFile, last_short: bool) -> _Rows:
    """Field counts honouring quotes (the slow path: only quoted files with odd rows)."""
    rows = _Rows(last_short=last_short)
    n = len(tf.header)
    enc = "utf-8-sig" if tf.encoding == "utf-8" else tf.encoding
    with tf.binary() as raw, field_limit():
        reader = csv.reader(io.TextIOWrapper(raw, encoding=enc, newline=""), delimiter=tf.sep)
        last = 0
        for record in reader:
            line = reader.line_num
            if line <= tf.header_line:
                continue
            last = len(record)
            if not record:
                rows.blank.append(line)
            elif len(record) > n:
                if any(f.strip() for f in record[n:]):
                    rows.long.append((line, len(record)))
                else:
                    rows.long_empty.append(line)
            elif len(record) < n:
                if not rows.short:
                    rows.first_short = tf.sep.join(record)
                rows.short.append(line)
        rows.last_short = last_short and 0 < last < n
        rows.last_fields = last
    return rows


def open_table(
    path: str | os.PathLike,
    *,
    what: str = "table",
    encoding: str | None = None,
    sep: str | None = None,
    comment: str | None = None,
    check_header: Callable[[TextFile], None] | None = None,
) -> TextFile:
    """Inspect a delimited text table: archive, encoding, delimiter, header and row shapes.

    Parameters
    ----------
    path
        The file (plain, ``.gz``, ``.bz2``, ``.xz`` or a one-file ``.zip``).
    what
        How messages name the file (``"MaxQuant table"``).
    encoding
        ``None`` detects it (see the module docstring); a codec name forces it.
    sep
        The delimiter; ``None`` sniffs it.
    comment
        Lines starting with this before the header are skipped (featureCounts' ``#`` line).
    check_header
        Called with the file once its header is known, before the rows are looked at: a reader
        refuses a file that is not its format here, before row-shape errors could be raised.

    Returns
    -------
    A :class:`TextFile`; :meth:`TextFile.read_csv` parses it.

    Raises
    ------
    InputFormatError
        Missing, empty or binary file, a zip with several files, NUL bytes, undecodable bytes for
        a given encoding, a row longer than the header, or a truncated last row.
    """
    return _inspect(
        path,
        what=what,
        encoding=encoding,
        sep=sep,
        comment=comment,
        table=True,
        check_header=check_header,
    )


def open_text(
    path: str | os.PathLike, *, what: str = "file", encoding: str | None = None
) -> TextFile:
    """Inspect a line-oriented text file (archive, encoding, NUL bytes); read it with
    :meth:`TextFile.lines` or :meth:`TextFile.text`.

    Parameters
    ----------
    path, what, encoding
        As for :func:`open_table`.

    Returns
    -------
    A :class:`TextFile`.
    """
    return _inspect(path, what=what, encoding=encoding, sep=None, comment=None, table=False)


def peek(path: str | os.PathLike, *, n_lines: int = 50) -> tuple[list[str], str | None]:
    """The first lines of a file (archives opened, decoded leniently) for format detection.

    Returns
    -------
    ``(lines, problem)``: up to ``n_lines`` lines, and ``None`` or a reason the file cannot be
    peeked as text (binary, several files in a zip, ...).
    """
    p = Path(path)
    try:
        compression, member = _compression(p, "file")
        head = _head(p, compression, member, str(p))
    except InputFormatError as exc:
        return [], str(exc)
    enc, _ = _bom(head)
    if enc is None and b"\x00" in head:
        enc = _utf16_without_bom(head)
    if enc is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            enc = "utf-8" if exc.start > len(head) - 4 else "cp1252"
    return _decode_head(head, enc)[:n_lines], None
