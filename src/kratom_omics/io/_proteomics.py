"""Protein quantification tables from the common proteomics tools, and format auto-detection.

:func:`read_proteomics` recognises the tool from the file name and header and calls one of the
explicit readers (:func:`read_maxquant`, :func:`read_diann`, :func:`read_fragpipe`,
:func:`read_spectronaut`, :func:`read_alphapept`, :func:`read_mztab`). The helpers below are shared
by those readers: header reading, a fast numeric read of the selected columns, protein/gene
annotation, contaminant and decoy flags, and the final AnnData assembly (zeros to missing, sample
sheet join).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, KeyNotFoundError, did_you_mean
from ._anndata import _match, attach_samples, build_anndata
from ._table import _NA_VALUES, to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["PROTEOMICS_FORMATS", "detect_proteomics_format", "read_proteomics"]

logger = logging.getLogger("kratom_omics")

SamplesArg = str | os.PathLike | pd.DataFrame | None
JoinArg = Literal["exact", "inner"]

#: Formats understood by :func:`read_proteomics` (``format=``).
PROTEOMICS_FORMATS: tuple[str, ...] = (
    "maxquant",
    "diann",
    "fragpipe",
    "spectronaut",
    "alphapept",
    "alphadia",
    "mztab",
)

TEXT_MISSING = ["", "NA", "N/A", "#N/A", "NaN", "nan", "null", "NULL"]
CONTAMINANT_PREFIXES = ("CON__", "contam_", "Cont_", "CONTAM_")
DECOY_PREFIXES = ("REV__", "rev_", "DECOY_", "decoy_", "XXX_")


# files --------------------------------------------------------------------------------------------
def open_text(path: Path) -> IO[str]:
    """Open a text file (plain or ``.gz``) for reading, without a byte-order mark."""
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def check_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise InputFormatError(f"{what} {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise InputFormatError(f"{what} {str(path)!r} is a directory; pass the file inside it.")


def sniff_sep(line: str) -> str:
    counts = {s: line.count(s) for s in ("\t", ",", ";")}
    return max(counts, key=lambda s: counts[s]) if any(counts.values()) else "\t"


def read_header(path: Path, *, what: str, sep: str | None = None) -> tuple[list[str], str]:
    """Return the column names of a delimited file and its delimiter (sniffed unless given)."""
    check_exists(path, what)
    with open_text(path) as fh:
        line = ""
        for line in fh:
            if line.strip():
                break
    if not line.strip():
        raise InputFormatError(
            f"{what} {str(path)!r} is empty; expected a header line and data rows."
        )
    sep = sniff_sep(line) if sep is None else sep
    fields = next(csv.reader([line.rstrip("\r\n")], delimiter=sep))
    return [f.strip() for f in fields], sep


def check_duplicates(columns: Sequence[str], selected: Sequence[str], source: str) -> None:
    seen: dict[str, int] = {}
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
    dup = sorted({c for c in selected if seen.get(c, 0) > 1})
    if dup:
        raise InputFormatError(
            f"{source}: column(s) {dup} appear more than once in the header; each sample needs "
            "exactly one column. Remove the duplicated columns or re-export the table."
        )


def check_complete(path: Path, sep: str, n_fields: int, source: str) -> None:
    """Raise when the last data line has fewer fields than the header (a cut-off file)."""
    if path.suffix.lower() == ".gz":
        return
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    lines = [ln for ln in tail.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        return
    last = next(csv.reader([lines[-1]], delimiter=sep))
    if len(last) < n_fields:
        with open(path, "rb") as fh:
            n_lines = sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))
        line_no = n_lines + (0 if tail.endswith(b"\n") else 1)
        raise InputFormatError(
            f"{source}: the file looks truncated: its last line ({line_no}) has {len(last)} of the "
            f"{n_fields} fields of the header. Copy or export the file again."
        )


def read_columns(
    path: Path,
    *,
    sep: str,
    header: Sequence[str],
    text: Sequence[str],
    numeric: Sequence[str],
    source: str,
    decimal: str = ".",
    row_label: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``text`` columns as strings (empty -> NaN) and ``numeric`` columns as float64.

    Numbers are parsed by pandas' C parser; when a cell is not a number the columns are read again
    as text and :func:`to_numeric_frame` names the first bad cell.
    """
    check_duplicates(header, [*numeric, *text], source)
    check_complete(path, sep, len(header), source)
    wanted = list(dict.fromkeys([*text, *numeric]))
    safe: list[str] = []
    for i, c in enumerate(header):
        safe.append(c if c not in header[:i] else f"{c}\x00{i}")
    kwargs: dict[str, Any] = {
        "sep": sep,
        "header": 0,
        "names": safe,
        "usecols": wanted,
        "encoding": "utf-8-sig",
        "keep_default_na": False,
        "low_memory": False,
        "index_col": False,
    }
    text_dtypes = dict.fromkeys(text, str)
    attempts = {".": ["."], ",": [","], "auto": [".", ","]}.get(decimal)
    if attempts is None:
        raise InputFormatError(f"decimal={decimal!r}; expected 'auto', '.' or ','.")
    df: pd.DataFrame | None = None
    try:
        for mark in attempts:
            try:
                dtypes: dict[Any, Any] = {**text_dtypes, **dict.fromkeys(numeric, np.float64)}
                df = pd.read_csv(
                    path,
                    dtype=dtypes,
                    na_values=dict.fromkeys(numeric, _NA_VALUES),
                    decimal=mark,
                    **kwargs,
                )
            except ValueError:  # a cell is not a number with this decimal mark
                continue
            if mark != ".":
                logger.info("%s: decimal mark %r", source, mark)
            break
        if df is not None:
            values = df[list(numeric)]
        else:  # read as text to name the first bad cell (or to parse '1.234,5')
            df = pd.read_csv(path, dtype=str, **kwargs)
            labels = pd.Index(df[row_label].astype(str)) if row_label is not None else None
            mark = detect_decimal(df[list(numeric)]) if decimal == "auto" else decimal
            values = to_numeric_frame(
                df[list(numeric)], source=source, decimal=mark, row_label=labels
            )
    except pd.errors.EmptyDataError:
        raise InputFormatError(f"{source}: the file is empty.") from None
    except pd.errors.ParserError as exc:
        raise InputFormatError(f"{source}: could not be parsed: {exc}") from None
    annotations = df[list(text)] if text else pd.DataFrame(index=df.index)
    annotations = annotations.mask(annotations.isin(TEXT_MISSING))
    if df.shape[0] == 0:
        raise InputFormatError(
            f"{source}: the header is there but there are no data rows (no proteins); "
            "check that the export finished."
        )
    return annotations, values


def detect_decimal(text: pd.DataFrame) -> str:
    """``","`` when number cells are written with a decimal comma (``1234,5``), else ``"."``."""
    pattern = r"^\s*[-+]?\d[\d.]*,\d+([eE][-+]?\d+)?\s*$"
    for col in text.columns:
        if text[col].astype("string").str.match(pattern).fillna(False).any():
            return ","
    return "."


def require_columns(
    header: Sequence[str], required: Sequence[str], source: str, tool: str, path: Path | None = None
) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        if path is not None:
            found = detect_from_header(path, list(header))
            if found is not None and found[0] != tool.split()[0].lower():
                hint = (
                    f" The header looks like a {_LABELS[found[0]]} table: use "
                    f"format={found[0]!r} (or format='auto')."
                )
        raise InputFormatError(
            f"{source}: not a {tool} table: missing column(s) {missing} "
            f"(found {list(header)[:12]}{' ...' if len(header) > 12 else ''}).{hint}"
        )


# annotation ---------------------------------------------------------------------------------------
def first_entry(series: pd.Series, sep: str = ";") -> pd.Series:
    return series.astype("string").str.split(sep).str[0].str.strip().astype(object)


def join_symbols(series: pd.Series, seps: str = ";,") -> pd.Series:
    """Normalise a gene-symbol column to ``;``-joined symbols without blanks (NaN when none)."""
    text = series.astype("string").str.strip()
    text = text.str.replace(rf"\s*[{re.escape(seps)}]\s*", ";", regex=True).str.strip(";")
    return text.mask(text == "").astype(object)


def genes_from_headers(series: pd.Series) -> pd.Series:
    """Gene symbols (``;``-joined, each once) from UniProt FASTA headers (``GN=Rab35``)."""
    found = series.astype("string").str.findall(r"\bGN=([^\s;]+)").explode().dropna()
    pairs = found.reset_index().drop_duplicates()
    joined = pairs.groupby(pairs.columns[0], sort=False)[pairs.columns[1]].agg(";".join)
    return joined.reindex(series.index).astype(object)


def fill_genes(genes: pd.Series | None, texts: pd.Series) -> pd.Series:
    """Fill missing gene symbols with the ``GN=`` symbols of FASTA headers or descriptions."""
    if genes is None:
        return genes_from_headers(texts)
    need = genes.isna().to_numpy()
    if not need.any():
        return genes
    out = genes.astype(object).copy()
    out[need] = genes_from_headers(texts[need]).to_numpy()
    return out


def prefix_flag(ids: pd.Series, prefixes: Sequence[str]) -> np.ndarray:
    text = ids.astype("string").fillna("")
    return text.str.startswith(tuple(prefixes)).to_numpy(dtype=bool)


def plus_flag(series: pd.Series | None, n: int) -> np.ndarray:
    """MaxQuant-style ``+`` markers (also ``True``/``TRUE``/``1``) as booleans."""
    if series is None:
        return np.zeros(n, dtype=bool)
    text = series.astype("string").str.strip().str.lower().fillna("")
    return text.isin(["+", "true", "1", "yes"]).to_numpy(dtype=bool)


def protein_var(
    protein_ids: pd.Series,
    *,
    genes: pd.Series | None,
    source: str,
    leading: pd.Series | None = None,
    contaminant: np.ndarray | None = None,
    decoy: np.ndarray | None = None,
    extra: Mapping[str, pd.Series | np.ndarray] | None = None,
) -> pd.DataFrame:
    """Build ``.var`` for protein groups: index = leading protein id (made unique later).

    Columns: ``protein_ids`` (all, ``;``-joined), ``protein_leading``, ``gene`` (all symbols
    ``;``-joined, the leading protein id where the tool reports none), ``gene_leading``,
    ``is_contaminant``, ``is_decoy`` and the ``extra`` columns.
    """
    ids = protein_ids.astype("string").str.strip().str.replace(r"\s*;\s*", ";", regex=True)
    ids = ids.reset_index(drop=True)
    lead = first_entry(ids) if leading is None else first_entry(leading.reset_index(drop=True))
    empty = lead.isna() | (lead.astype(str) == "")
    if empty.any():
        rows = [int(i) + 2 for i in np.flatnonzero(empty.to_numpy())][:10]
        raise InputFormatError(
            f"{source}: empty protein id on line(s) {rows}; "
            "every protein group needs an identifier."
        )
    n = len(ids)
    if genes is None:
        gene = pd.Series([np.nan] * n, dtype=object)
    else:
        gene = join_symbols(genes.reset_index(drop=True))
    missing = gene.isna().to_numpy()
    if missing.any():
        logger.info(
            "%s: %d of %d protein groups have no gene name; using the leading protein id instead",
            source,
            int(missing.sum()),
            n,
        )
        gene = gene.where(~missing, lead)
    var = pd.DataFrame(
        {
            "protein_ids": ids.astype(object).to_numpy(),
            "protein_leading": lead.to_numpy(),
            "gene": gene.to_numpy(),
            "gene_leading": first_entry(gene).to_numpy(),
        }
    )
    is_con = prefix_flag(lead, CONTAMINANT_PREFIXES)
    is_dec = prefix_flag(lead, DECOY_PREFIXES)
    var["is_contaminant"] = is_con | (contaminant if contaminant is not None else False)
    var["is_decoy"] = is_dec | (decoy if decoy is not None else False)
    for key, col in (extra or {}).items():
        var[key] = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
    var.index = pd.Index(lead.astype(str).to_numpy())
    return var


def choose_quantity(
    quantity: str | None,
    available: dict[str, dict[str, str]],
    *,
    tool: str,
    preferred: str,
    aliases: dict[str, str],
    source: str,
    wanted: Callable[[str], str],
    hint: str = "",
) -> tuple[str, dict[str, str]]:
    """Resolve ``quantity`` among a wide table's quantities and return ``(key, sample -> column)``.

    ``None`` takes ``preferred`` when the table has it, else ``"intensity"``; ``aliases`` maps other
    tools' names (``lfq`` / ``maxlfq``). ``wanted(key)`` names the missing columns in the error.
    """
    if quantity is None:
        quantity = preferred if available[preferred] else "intensity"
    key = str(quantity).lower()
    key = aliases.get(key, key)
    if key not in available:
        raise KeyNotFoundError(
            f"quantity={quantity!r} is not a {tool} quantity; expected one of {list(available)}."
        )
    if not available[key]:
        present = [k for k, v in available.items() if v]
        raise InputFormatError(
            f"{source}: no '{wanted(key)}' columns for quantity={key!r}"
            + (f"; the table has {present}" if present else "; the table has no sample intensities")
            + f".{hint}"
        )
    return key, available[key]


def ignore_quantity(quantity: str | None, source: str, tool: str) -> None:
    """Formats with one quantity per run accept ``quantity=`` (e.g. from a config) and ignore it."""
    if quantity is not None:
        logger.warning(
            "%s: a %s table holds one quantity per run; quantity=%r is ignored",
            source,
            tool,
            quantity,
        )


# samples ------------------------------------------------------------------------------------------
def r_name(name: str) -> str:
    """The column-name form R's ``make.names`` gives a sample name (without the leading ``X``)."""
    return re.sub(r"[^0-9A-Za-z._]", ".", str(name))


def finish(
    values: pd.DataFrame,
    var: pd.DataFrame,
    *,
    samples: SamplesArg,
    source: str,
    reader: str,
    parameters: Mapping[str, Any],
    phases: Sequence[str] | None,
    join: JoinArg,
    obs: pd.DataFrame | None = None,
    r_names: bool = False,
) -> AnnData:
    """Assemble the AnnData: ``values`` is features x samples (rows aligned with ``var``).

    Zeros become NaN (the tools write 0 for "not quantified"); ``obs`` (index: data sample names)
    adds columns to ``.obs``; the sample sheet is joined last. With ``r_names`` the data's sample
    names are the ``make.names`` form written by R and are matched to the sheet in that form too.
    """
    mat = values.to_numpy(dtype=np.float64, copy=True)
    zeros = mat == 0
    if zeros.any():
        logger.info("%s: %d zero values set to missing (NaN)", source, int(zeros.sum()))
        mat[zeros] = np.nan
    names = [str(c) for c in values.columns]
    table = pd.DataFrame(mat.T, index=names, columns=var.index)
    adata = build_anndata(
        table,
        var,
        samples=None,
        source=source,
        reader=reader,
        parameters={"samples": samples, **parameters},
        phases=phases,
        join=join,
    )
    if obs is not None:
        for col in obs.columns:
            adata.obs[col] = obs[col].reindex(names).to_numpy()
    if samples is None:
        return adata
    if r_names:
        from ._samples import read_samples

        sheet = read_samples(samples, phases=phases)
        if set(_match(names, list(sheet.index))) != set(names):
            by_r = {r_name(s): s for s in sheet.index}
            renamed = [by_r.get(r_name(n), n) for n in names]
            if len(set(renamed)) == len(renamed):
                adata.obs["run"] = names
                adata.obs_names = pd.Index(renamed)
    return attach_samples(adata, samples, phases=phases, join=join, source=source)


# auto-detection -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Signature:
    fmt: str
    description: str
    test: Callable[[set[str], list[str], str], bool]


def _pivot_pg(cols: list[str]) -> bool:
    return any(re.match(r"^\[\d+\]\s.*\.PG\.\w+$", c) for c in cols)


_SIGNATURES: tuple[_Signature, ...] = (
    _Signature(
        "maxquant",
        "MaxQuant proteinGroups.txt: 'Protein IDs' and 'Majority protein IDs' "
        "(or R's 'Protein.IDs', 'Majority.protein.IDs')",
        lambda s, c, n: (
            {"Protein IDs", "Majority protein IDs"} <= s
            or {"Protein.IDs", "Majority.protein.IDs"} <= s
        ),
    ),
    _Signature(
        "diann",
        "DIA-NN report (long): 'Protein.Group' with 'Run' or 'File.Name' and 'PG.MaxLFQ'; "
        "pg_matrix: 'Protein.Group' with 'Protein.Ids', 'Genes' or 'First.Protein.Description'",
        lambda s, c, n: (
            "Protein.Group" in s
            and bool({"Protein.Ids", "PG.MaxLFQ", "Genes", "First.Protein.Description"} & s)
        ),
    ),
    _Signature(
        "fragpipe",
        "FragPipe combined_protein.tsv: 'Protein', 'Protein ID', 'Entry Name'",
        lambda s, c, n: {"Protein", "Protein ID", "Entry Name"} <= s,
    ),
    _Signature(
        "spectronaut",
        "Spectronaut report: 'PG.ProteinGroups' with 'R.FileName' (long) or "
        "'[n] <run>.PG.Quantity' columns (pivot)",
        lambda s, c, n: (
            ("PG.ProteinGroups" in s or "PG.ProteinAccessions" in s)
            and (bool({"R.FileName", "R.Raw File Name"} & s) or _pivot_pg(c))
        ),
    ),
    _Signature(
        "alphadia",
        "AlphaDIA pg.matrix.tsv / protein.tsv: first column 'pg' or 'pg.name'",
        lambda s, c, n: bool(c) and c[0] in {"pg", "pg.name"},
    ),
    _Signature(
        "alphapept",
        "AlphaPept results_proteins.csv: unnamed first column and '<sample>_LFQ' columns",
        lambda s, c, n: (
            bool(c)
            and c[0] in {"", "Unnamed: 0", "protein_group"}
            and any(x.endswith("_LFQ") for x in c)
        ),
    ),
)

_LABELS = {
    "maxquant": "MaxQuant",
    "diann": "DIA-NN",
    "fragpipe": "FragPipe",
    "spectronaut": "Spectronaut",
    "alphapept": "AlphaPept",
    "alphadia": "AlphaDIA",
    "mztab": "mzTab",
}


# file names the tools write, used when the header matches no signature (the reader then says
# which columns are missing)
_FILE_NAMES: tuple[tuple[str, str], ...] = (
    (r"proteinGroups", "maxquant"),
    (r"pg_matrix", "diann"),
    (r"combined_protein", "fragpipe"),
    (r"results_proteins", "alphapept"),
    (r"^(pg\.matrix|protein)\.tsv", "alphadia"),
)


# protein tables looked for in a folder, best first
_TABLE_NAMES = (
    "proteinGroups.txt",
    "report.pg_matrix.tsv",
    "report.parquet",
    "combined_protein.tsv",
    "results_proteins.csv",
    "pg.matrix.tsv",
    "protein.tsv",
)


def find_protein_table(path: str | os.PathLike) -> Path:
    """Return ``path``; for a folder, the protein table in it, in ``txt`` or in ``combined/txt``."""
    p = Path(path)
    if not p.is_dir():
        return p
    for folder in (p, p / "txt", p / "combined" / "txt"):
        for name in _TABLE_NAMES:
            if (folder / name).is_file():
                logger.info("%s: reading %s", p, folder / name)
                return folder / name
        found = sorted(folder.glob("*.pg_matrix.tsv")) + sorted(folder.glob("*.mzTab"))
        if len(found) == 1:
            return found[0]
    raise InputFormatError(
        f"{str(p)!r} is a folder without a known protein table (looked for {list(_TABLE_NAMES)}, "
        "'*.pg_matrix.tsv' and one '*.mzTab', also in 'txt' and 'combined/txt'); pass the file."
    )


def _parquet_columns(path: Path) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            "Reading parquet files needs pyarrow: pip install pyarrow"
        ) from None
    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises several error types for broken files
        raise InputFormatError(f"{str(path)!r} is not a readable parquet file: {exc}") from None


def detect_from_header(path: Path, columns: list[str]) -> tuple[str, str] | None:
    cols = [c.strip() for c in columns]
    s = set(cols)
    for sig in _SIGNATURES:
        if sig.test(s, cols, path.name):
            return sig.fmt, sig.description
    return None


def detect_proteomics_format(path: str | os.PathLike) -> str:
    """Name the tool that wrote a protein table, from its file name and header.

    Parameters
    ----------
    path
        The protein table (text, ``.gz``, ``.parquet`` or mzTab).

    Returns
    -------
    One of :data:`PROTEOMICS_FORMATS`, e.g. ``"maxquant"``.

    Raises
    ------
    InputFormatError
        When no known header signature matches; the message lists what was looked for.
    """
    p = Path(path)
    check_exists(p, "proteomics file")
    name = p.name.lower()
    if name.endswith((".mztab", ".mztab.gz")):
        return "mztab"
    if name.endswith(".parquet"):
        columns = _parquet_columns(p)
    else:
        with open_text(p) as fh:
            first = ""
            for first in fh:
                if first.strip():
                    break
        if not first.strip():
            raise InputFormatError(f"proteomics file {str(p)!r} is empty.")
        if first.startswith(("MTD\t", "COM\t")):
            return "mztab"
        columns, _ = read_header(p, what="proteomics file")
    found = detect_from_header(p, columns)
    if found is not None:
        logger.info("%s: detected %s format", p, _LABELS[found[0]])
        return found[0]
    for pattern, fmt in _FILE_NAMES:
        if re.search(pattern, p.name, flags=re.IGNORECASE):
            logger.warning("%s: header not recognised; the file name suggests %s", p, _LABELS[fmt])
            return fmt
    looked = "; ".join(sig.description for sig in _SIGNATURES)
    raise InputFormatError(
        f"{str(p)!r}: could not recognise the proteomics tool from the header "
        f"{columns[:10]}{' ...' if len(columns) > 10 else ''}. Looked for: {looked}; mzTab: lines "
        f"starting with 'MTD'. Pass format= one of {list(PROTEOMICS_FORMATS)}, or use "
        "kom.io.read_table for a generic table."
    )


def read_proteomics(
    path: str | os.PathLike,
    samples: SamplesArg = None,
    *,
    format: str = "auto",
    quantity: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: JoinArg = "exact",
    **kwargs: Any,
) -> AnnData:
    """Read a protein quantification table from MaxQuant, DIA-NN, FragPipe, Spectronaut, AlphaPept,
    AlphaDIA or mzTab into a samples x proteins AnnData.

    Parameters
    ----------
    path
        The tool's protein-level output (``proteinGroups.txt``, ``report.pg_matrix.tsv``,
        ``report.tsv``/``report.parquet``, ``combined_protein.tsv``, a Spectronaut report,
        ``results_proteins.csv``, ``pg.matrix.tsv``, ``*.mzTab``), or the tool's output folder
        (e.g. MaxQuant's ``combined/txt``), searched for those file names.
    samples
        Sample sheet (path or DataFrame, see :func:`kratom_omics.io.read_samples`) joined by sample
        name; run names and file paths are reduced with :func:`kratom_omics.io.normalize_run_name`
        first.
    format
        ``"auto"`` (detect from file name and header) or one of :data:`PROTEOMICS_FORMATS`.
    quantity
        Which intensity to load; the choices depend on the tool (see the explicit readers). ``None``
        takes the tool's default (LFQ/MaxLFQ where present).
    phases
        Phase levels in order, see :func:`kratom_omics.io.read_samples`.
    join
        ``"exact"``: data and sample sheet must list the same samples; ``"inner"``: keep the common
        ones.
    **kwargs
        Passed to the explicit reader (e.g. ``q_value=`` for DIA-NN).

    Returns
    -------
    AnnData with ``.X`` and ``.layers["raw"]`` = raw intensities (float64, zeros and missing as
    NaN), ``.var`` with ``protein_ids``, ``protein_leading``, ``gene``, ``gene_leading``,
    ``is_contaminant``, ``is_decoy`` (and tool-specific columns), ``.obs`` with the sample sheet,
    and one provenance step in ``.uns["kratom_omics"]["provenance"]``.
    """
    from ._alphapept import read_alphadia, read_alphapept
    from ._diann import read_diann
    from ._fragpipe import read_fragpipe
    from ._maxquant import read_maxquant
    from ._mztab import read_mztab
    from ._spectronaut import read_spectronaut

    readers: dict[str, Callable[..., AnnData]] = {
        "maxquant": read_maxquant,
        "diann": read_diann,
        "fragpipe": read_fragpipe,
        "spectronaut": read_spectronaut,
        "alphapept": read_alphapept,
        "alphadia": read_alphadia,
        "mztab": read_mztab,
    }
    path = find_protein_table(path)
    fmt = str(format).lower()
    if fmt == "auto":
        fmt = detect_proteomics_format(path)
    elif fmt not in readers:
        raise KeyNotFoundError(did_you_mean(str(format), ["auto", *readers], what="format"))
    if quantity is not None:
        kwargs["quantity"] = quantity
    return readers[fmt](path, samples, phases=phases, join=join, **kwargs)
