"""SDRF-Proteomics files (the sample metadata of PRIDE projects) as sample sheets.

An SDRF file has one row per data file and label: ``source name`` (the biological sample),
``characteristics[...]`` (organism, disease, ...), ``comment[data file]`` (the raw file),
``comment[label]`` (``label free sample``, ``TMT126``, ...), ``comment[fraction identifier]``,
``comment[technical replicate]`` and ``factor value[...]`` (the studied factors). This module turns
it into one row per sample of the data (see :func:`kratom_omics.io.read_samples` for the naming
rules). The rules of the format itself (required columns, ontology terms, label vocabulary) are
``sdrf-pipelines``'s: its validator reports what is wrong with a file, and its channel map gives
each isobaric label its reporter channel.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputFormatError, SampleSheetError, did_you_mean

__all__ = ["clean_name", "is_sdrf_header", "read_sdrf_table", "sdrf_samples", "validate_sdrf"]

logger = logging.getLogger("kratom_omics")

_BRACKETED = re.compile(r"^\s*(characteristics|factor\s*value|comment)\s*\[(.*)\]\s*$", re.I)
_LABEL_FREE = "label free sample"
# SDRF columns that describe the run or the search, not the sample: not kept in the sheet.
_DROPPED_PLAIN = {"technology type"}
_KEPT_COMMENTS = {"data file", "label", "fraction identifier", "technical replicate"}


def clean_name(text: str) -> str:
    """A column name as a plain identifier: ``organism part`` -> ``organism_part``,
    ``BioReplicate`` -> ``bio_replicate``, ``Raw.file`` -> ``raw_file``.

    Returns
    -------
    The lower-case name with words joined by ``_``.
    """
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(text).strip())
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    return s or "column"


def is_sdrf_header(columns: Sequence[Any]) -> bool:
    """True for an SDRF header: ``source name`` and at least one ``characteristics[...]``,
    ``comment[...]`` or ``factor value[...]`` column.

    Returns
    -------
    Whether the header is an SDRF header.
    """
    low = [str(c).strip().lower() for c in columns]
    return "source name" in low and any(_BRACKETED.match(c) for c in low)


def read_sdrf_table(path: Path) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Read an SDRF file as text: header (repeated names kept), cells, file line of each row.

    The file is read through the shared text path (:func:`kratom_omics.io._text.open_table`:
    archives, encodings, short rows read with missing values, longer rows an error naming the
    line). Lines starting with ``#`` (SDRF 1.1 metadata) and blank lines are skipped; empty
    columns without a name at the end of the header are dropped.
    """
    from ._text import open_table

    tf = open_table(path, what="SDRF file", sep="\t", comment="#")
    source = f"SDRF file {tf.source!r}"
    header = list(tf.header)
    df = tf.read_csv(dtype=str).fillna("")
    lines = tf.line_of(np.arange(len(df)))
    comment = df.iloc[:, 0].str.startswith("#").to_numpy() if len(df) else np.zeros(0, bool)
    df, lines = df.loc[~comment], lines[~comment]
    while header and not header[-1]:
        col = df.iloc[:, len(header) - 1]
        filled = (col.str.strip() != "").to_numpy()
        if filled.any():
            raise InputFormatError(
                f"{source} line {lines[int(np.flatnonzero(filled)[0])]}: a value in column "
                f"{len(header)}, which has no name in the header; remove the extra tabs or add "
                "the missing column names."
            )
        header.pop()
    width = len(header)
    if df.empty:
        raise SampleSheetError(f"{source} has no rows; expected one row per data file.")
    table = df.iloc[:, :width].apply(lambda c: c.str.strip())
    table.columns = pd.RangeIndex(width)
    table = table.reset_index(drop=True).astype(object)
    table = table.mask(table.isin(["", "nan", "NA"]))
    return header, table, np.asarray(lines)


def _label_name(value: str) -> str:
    """``AC=MS:1002038;NT=label free sample`` -> ``label free sample``; ``TMT126`` -> ``TMT126``."""
    for part in value.split(";"):
        key, sep, rest = part.strip().partition("=")
        if sep and key.strip().upper() == "NT":
            return rest.strip()
    return value.strip()


def _channels(labels: pd.Series, files: pd.Series, lines: np.ndarray, source: str) -> pd.Series:
    """1-based reporter channel of each labelled row, from sdrf-pipelines' channel map.

    The plex of a data file is the smallest one holding all of its labels (as sdrf-pipelines'
    OpenMS converter infers it).
    """
    from sdrf_pipelines.converters.channel_map import CHANNEL_MAP, normalize_label

    families = {"tmt": "TMT", "itraq": "iTRAQ", "silac": "SILAC"}
    out = pd.Series(np.nan, index=labels.index, dtype=object)
    for data_file, rows in labels.groupby(files, sort=False):
        canon = {int(i): normalize_label(str(v)) for i, v in rows.items()}  # type: ignore[call-overload]
        unknown = [
            i
            for i, lab in canon.items()
            if not any(lab.casefold() in {k.casefold() for k in ch} for ch in CHANNEL_MAP.values())
        ]
        if unknown:
            i = unknown[0]
            raise SampleSheetError(
                f"{source} line {lines[i]}: label {labels.loc[i]!r} (data file {data_file!r}) is not a "
                "reporter channel of any TMT, iTRAQ or SILAC plex, so no reporter column can hold it; "
                "write comment[label] as the reagent's channel (e.g. 'TMT126', 'TMT127N', 'ITRAQ114') "
                f"or 'label free sample'. Known TMT channels: {sorted(CHANNEL_MAP['tmt18plex'])}."
            )
        prefix = next(
            (f for f in families if all(lab.casefold().startswith(f) for lab in canon.values())),
            None,
        )
        label_set = {lab.casefold() for lab in canon.values()}
        plexes = sorted(
            (
                (plex, {k.casefold(): v for k, v in ch.items()})
                for plex, ch in CHANNEL_MAP.items()
                if prefix and plex.startswith(prefix)
            ),
            key=lambda item: len(item[1]),
        )
        plex = next(((p, ch) for p, ch in plexes if label_set <= set(ch)), None)
        if plex is None:
            raise SampleSheetError(
                f"{source} lines {', '.join(str(lines[i]) for i in rows.index[:10])}: the labels of "
                f"data file {data_file!r} {sorted(set(map(str, rows)))} fit no single TMT, iTRAQ or "
                "SILAC plex; one data file holds the channels of one plex. Fix comment[label]."
            )
        for i, lab in canon.items():
            out.loc[i] = plex[1][lab.casefold()]
    return out


def _column_roles(header: list[str]) -> dict[str, Any]:
    roles: dict[str, Any] = {"characteristics": [], "factors": [], "plain": []}
    for j, name in enumerate(header):
        low = name.lower()
        m = _BRACKETED.match(name)
        if low == "source name":
            roles.setdefault("source", j)
        elif low == "assay name":
            roles.setdefault("assay", j)
        elif m is None:
            if low not in _DROPPED_PLAIN:
                roles["plain"].append((j, clean_name(name)))
        else:
            kind, inner = m.group(1).lower().replace(" ", ""), m.group(2).strip()
            if kind == "characteristics":
                roles["characteristics"].append((j, clean_name(inner), name))
            elif kind == "factorvalue":
                roles["factors"].append((j, clean_name(inner), name))
            elif inner.lower() in _KEPT_COMMENTS:
                roles.setdefault(inner.lower(), j)
    return roles


def sdrf_samples(
    header: list[str],
    table: pd.DataFrame,
    lines: np.ndarray,
    *,
    source: str,
    phase_column: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """Turn SDRF rows into one row per sample; return the sheet and the column that gives the phase.

    See :func:`kratom_omics.io.read_samples` for the rules.
    """
    from ._names import normalize_run_name

    roles = _column_roles(header)
    if "data file" not in roles:
        raise SampleSheetError(
            f"{source} is an SDRF file without a 'comment[data file]' column; add it with the raw "
            "file of each row (e.g. 'sample1.raw'), which names the samples."
        )
    if "source" not in roles:  # pragma: no cover - is_sdrf_header requires it
        raise SampleSheetError(f"{source}: an SDRF file needs a 'source name' column.")
    files = table[roles["data file"]]
    if files.isna().any():
        bad = ", ".join(str(n) for n in lines[files.isna().to_numpy()][:20])
        raise SampleSheetError(
            f"{source}: empty comment[data file] on line(s) {bad}; every row names its raw file."
        )
    src = table[roles["source"]]
    if src.isna().any():
        bad = ", ".join(str(n) for n in lines[src.isna().to_numpy()][:20])
        raise SampleSheetError(
            f"{source}: empty 'source name' on line(s) {bad}; every row names its sample."
        )
    labels = (
        table[roles["label"]].map(lambda v: _label_name(v) if isinstance(v, str) else v)
        if "label" in roles
        else pd.Series(_LABEL_FREE, index=table.index, dtype=object)
    )
    labels = labels.fillna(_LABEL_FREE)
    labelled = labels.str.lower() != _LABEL_FREE
    fraction = table[roles["fraction identifier"]] if "fraction identifier" in roles else None
    techrep = table[roles["technical replicate"]] if "technical replicate" in roles else None
    channel = (
        _channels(labels[labelled], files[labelled], lines, source)
        if labelled.any()
        else pd.Series(dtype=object)
    )

    twice = pd.DataFrame({"f": files, "l": labels}).duplicated(keep=False)
    if twice.any():
        shown = ", ".join(str(n) for n in lines[twice.to_numpy()][:20])
        first = int(np.flatnonzero(twice.to_numpy())[0])
        raise SampleSheetError(
            f"{source}: data file {files.iloc[first]!r} with label {labels.iloc[first]!r} appears on "
            f"lines {shown}; each data file holds one sample per label. Fix comment[data file] or "
            "comment[label]."
        )

    # rows of one sample: same source name, label and technical replicate, distinct fractions
    key = pd.DataFrame({"s": src, "l": labels, "t": techrep if techrep is not None else ""}).astype(
        str
    )
    group_id = key.groupby(["s", "l", "t"], sort=False).ngroup()
    merged = pd.Series(False, index=table.index)
    if fraction is not None:
        for _, idx in group_id.groupby(group_id).groups.items():
            fr = fraction[idx]
            if len(idx) > 1 and fr.notna().all() and not fr.duplicated().any():
                merged[idx] = True
    unit = group_id.where(merged, -1 - pd.Series(np.arange(len(table)), index=table.index))
    n_techreps = key.groupby("s")["t"].nunique()

    # sample-level columns
    columns: list[tuple[str, pd.Series]] = [("source_name", src)]
    assay = table[roles["assay"]] if "assay" in roles else None
    # names the sheet itself sets: an SDRF column of the same clean name gets "_sdrf" appended
    reserved = {"sample", "data_file", "label", "channel", "fraction", "source_name", "assay_name"}
    reserved |= {"technical_replicate"}
    used: dict[str, int] = dict.fromkeys(reserved, 1)
    chars: dict[str, pd.Series] = {}
    for j, name, _ in roles["characteristics"]:
        name = f"{name}_sdrf" if name in reserved else name
        used[name] = used.get(name, 0) + 1
        out = name if used[name] == 1 else f"{name}_{used[name]}"
        chars[out] = table[j]
        columns.append((out, table[j]))
    factor_names: dict[str, str] = {}  # raw header (lower) -> clean column
    for j, name, raw in roles["factors"]:
        name = f"{name}_sdrf" if name in reserved else name
        same = chars.get(name)
        if same is not None and same.fillna("").equals(table[j].fillna("")):
            factor_names[raw.lower()] = name
            continue
        out = f"{name}_factor" if name in chars or name in used else name
        used[out] = 1
        factor_names[raw.lower()] = out
        columns.append((out, table[j]))
    for j, name in roles["plain"]:
        if name in used:
            name = f"{name}_sdrf"
        used[name] = 1
        columns.append((name, table[j]))
    if techrep is not None:
        columns.append(("technical_replicate", techrep))

    records = []
    first_lines: list[int] = []
    for u in pd.unique(unit):
        rows = list(unit.index[unit == u])
        first = rows[0]
        rec: dict[str, Any] = {}
        if len(rows) > 1:  # fractions of one sample
            name = str(src[first])
            if labelled[first]:
                name += f"_{labels[first]}"
            if techrep is not None and n_techreps.get(str(src[first]), 1) > 1:
                name += f"_{techrep[first]}"
        else:
            name = normalize_run_name(str(files[first]))
            if labelled[first]:
                name += f"_{labels[first]}"
        rec["sample"] = name
        first_lines.append(int(lines[first]))
        rec["data_file"] = ";".join(str(files[i]) for i in rows)
        if assay is not None:
            rec["assay_name"] = ";".join(str(assay[i]) for i in rows if pd.notna(assay[i]))
        rec["label"] = labels[first]
        if labelled[first]:
            rec["channel"] = str(channel[first])
        if fraction is not None:
            rec["fraction"] = ";".join(str(fraction[i]) for i in rows if pd.notna(fraction[i]))
        for col, values in columns:
            vals = values[rows]
            distinct = vals.dropna().unique()
            if len(distinct) > 1:
                raise SampleSheetError(
                    f"{source}: the fractions of sample {name!r} (lines "
                    f"{', '.join(str(lines[i]) for i in rows[:10])}) differ in {col!r} "
                    f"({sorted(map(str, distinct))}); the rows of one sample must describe it alike."
                )
            rec[col] = distinct[0] if len(distinct) else np.nan
        records.append(rec)
    sheet = pd.DataFrame.from_records(records)
    sheet.attrs["lines"] = first_lines
    if not labelled.any():
        sheet = sheet.drop(columns=["channel"], errors="ignore")
    n_merged = int(merged.sum())
    if n_merged:
        logger.info(
            "%s: %d fraction rows merged into %d samples",
            source,
            n_merged,
            int(unit[merged].nunique()),
        )

    phase = _phase_column(phase_column, header, factor_names, list(sheet.columns), source)
    return sheet, phase


def _phase_column(
    phase_column: str | None,
    header: list[str],
    factor_names: dict[str, str],
    columns: list[str],
    source: str,
) -> str:
    if phase_column is not None:
        wanted = phase_column.strip()
        low = wanted.lower()
        if low in factor_names:
            return factor_names[low]
        raw = {h.lower(): h for h in header}
        if low in raw:
            m = _BRACKETED.match(raw[low])
            name = clean_name(m.group(2) if m else raw[low])
            if name in columns:
                return name
        if low in columns or clean_name(wanted) in columns:
            return low if low in columns else clean_name(wanted)
        raise SampleSheetError(
            did_you_mean(wanted, columns, what="phase_column").replace(
                "is not available.", f"is not a column of {source}."
            )
        )
    factors = list(dict.fromkeys(factor_names.values()))
    if len(factors) == 1:
        return factors[0]
    if not factors:
        raise SampleSheetError(
            f"{source} has no 'factor value[...]' column, so the groups to compare are not marked; "
            "pass phase_column= naming the column of the groups (e.g. phase_column='disease'; "
            f"CLI --phase-column). Columns: {columns}"
        )
    raise SampleSheetError(
        f"{source} has {len(factors)} factor value columns {factors}; pass phase_column= naming "
        "the one that gives the groups to compare (CLI --phase-column)."
    )


class _DropSdrfPipelines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "sdrf_pipelines" not in record.pathname or record.levelno >= logging.WARNING


@contextlib.contextmanager
def _quiet_sdrf_pipelines() -> Iterator[None]:
    """sdrf-pipelines logs its template loading at INFO on the root logger (and a first root
    ``logging.info`` call would configure logging for the whole program): keep that out."""
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    flt = _DropSdrfPipelines()
    root.addFilter(flt)
    own = logging.getLogger("sdrf_pipelines")
    level = own.level
    own.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # its pandas deprecations are not the user's business
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        own.setLevel(level)
        root.removeFilter(flt)
        if guard is not None:
            root.removeHandler(guard)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    """sdrf-pipelines' validator; building its template registry takes about a second, so once."""
    from sdrf_pipelines.sdrf.schemas import SchemaRegistry, SchemaValidator

    with _quiet_sdrf_pipelines():
        return SchemaValidator(SchemaRegistry())


def validate_sdrf(path: str | Path, *, template: str = "ms-proteomics") -> pd.DataFrame:
    """Check an SDRF-Proteomics file against the specification with ``sdrf-pipelines``.

    Ontology terms are not looked up (that needs the internet); everything else the
    ``sdrf-pipelines`` validator checks is (required columns, value formats, ``not available``
    spellings, ...). :func:`read_samples` runs this on every SDRF file it reads and logs the errors
    as warnings: a file that breaks a rule of the specification may still be readable.

    Parameters
    ----------
    path
        The SDRF file (tab-separated).
    template
        The ``sdrf-pipelines`` template to check against (``ms-proteomics``, ``human``,
        ``vertebrates``, ``cell-lines``, ...).

    Returns
    -------
    One row per finding with columns ``level`` (``error``/``warning``), ``row`` (line in the file,
    the header being line 1; empty for the whole file), ``column``, ``value``, ``message`` and
    ``suggestion``. Empty when the file follows the specification.
    """
    try:
        from sdrf_pipelines.sdrf.sdrf import read_sdrf
    except ImportError:  # pragma: no cover - a dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            "validating SDRF files needs sdrf-pipelines: pip install 'sdrf-pipelines>=0.1.6'"
        ) from None
    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"SDRF file {str(p)!r} does not exist.")
    with _quiet_sdrf_pipelines():
        try:
            sdrf = read_sdrf(p)
            findings = _validator().validate(sdrf, template, skip_ontology=True)
        except ValueError as exc:
            raise InputFormatError(f"SDRF file {str(p)!r} could not be validated: {exc}") from None
    try:
        lines = read_sdrf_table(p)[2]
    except InputFormatError:
        lines = None
    rows = []
    for f in findings:
        row = getattr(f, "row", -1)
        if isinstance(row, int | np.integer) and row >= 0:
            line = int(lines[row]) if lines is not None and row < len(lines) else int(row) + 2
        else:
            line = None
        level = getattr(f, "error_type", logging.ERROR)
        rows.append(
            {
                "level": "error" if level is None or level >= logging.ERROR else "warning",
                "row": line,
                "column": getattr(f, "column", None),
                "value": getattr(f, "value", None),
                "message": str(getattr(f, "message", f)),
                "suggestion": getattr(f, "suggestion", None),
            }
        )
    columns = ["level", "row", "column", "value", "message", "suggestion"]
    return pd.DataFrame(rows, columns=columns).astype({"row": "Int64"})


def log_validation(path: Path, source: str) -> None:
    """Log the SDRF specification's findings on ``path`` (never fails the read)."""
    try:
        found = validate_sdrf(path)
    except Exception as exc:
        logger.warning("%s: SDRF validation with sdrf-pipelines did not run: %s", source, exc)
        return
    errors = found[found["level"] == "error"]
    if len(errors):
        shown = "; ".join(errors["message"].head(3))
        logger.warning(
            "%s: %d SDRF specification error(s) (sdrf-pipelines; kom.io.validate_sdrf lists them): %s",
            source,
            len(errors),
            shown,
        )
    else:
        logger.debug("%s: SDRF follows the specification (sdrf-pipelines)", source)
