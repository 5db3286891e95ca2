"""Sample sheets: read, validate and attach them to data.

A sample sheet has one row per sample with a required ``sample`` and ``phase`` column and optional
``subject``, ``batch``, ``timepoint``, ``region``, ``sex`` and free columns. Column names are matched
case-insensitively. Phases become an ordered categorical (default ``control < use < withdrawal``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, SampleSheetError, did_you_mean

__all__ = ["read_samples", "validate_samples"]

logger = logging.getLogger("kratom_omics")

STANDARD_COLUMNS = ("sample", "phase", "subject", "batch", "timepoint", "region", "sex")
_CATEGORICAL = ("subject", "batch", "region", "sex")


def _read_any_table(path: Path, *, what: str) -> pd.DataFrame:
    """A sheet as text cells with ``.attrs["lines"]`` (the file line of each row): a workbook
    (``.xlsx``, ``.xls``, ``.ods``, recognised by its bytes) or delimited text through the shared
    reading path (archives, encodings, sniffed delimiter, short rows; see
    :mod:`kratom_omics.io._text`)."""
    from ._columns import read_all_text
    from ._text import check_path, open_table
    from ._workbook import sheet_frame, workbook_kind

    check_path(path, what)
    if workbook_kind(path) is not None:
        return sheet_frame(path, what=what)
    tf = open_table(path, what=what, comment="#")
    df = read_all_text(tf)
    lines = [int(v) for v in df.index]
    df = df.reset_index(drop=True)
    df.attrs["lines"] = lines
    return df


def _natural_key(text: str) -> tuple:
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple(
        (0, float(p)) if re.fullmatch(r"\d+(?:\.\d+)?", p) else (1, p.lower()) for p in parts
    )


def _first_line(path: Path) -> str:
    """The first line that is not blank and not a ``#`` comment ('' for a workbook or binary
    file), archives opened."""
    from ._text import check_path, peek

    check_path(path, "sample sheet")
    lines, _ = peek(path, n_lines=200)
    return next((ln for ln in lines if ln.strip() and not ln.startswith("#")), "")


def _is_msstats(columns: Sequence[object]) -> bool:
    low = {str(c).strip().lower() for c in columns}
    return bool(low & {"run", "raw.file"}) and {"condition", "bioreplicate"} <= low


def _msstats_samples(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """An MSstats annotation (``Run`` or ``Raw.file``, ``Condition``, ``BioReplicate``, ...) as a
    sample sheet: one sample per run (per run and channel for MSstatsTMT's ``Channel``)."""
    from ._names import normalize_run_name
    from ._sdrf import clean_name

    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    run = lower.get("run", lower.get("raw.file"))
    renamed = {c: clean_name(c) for c in df.columns if c != run}
    out = df.rename(columns=renamed)
    runs = out[run].astype("string").str.strip()
    if runs.isna().any() or (runs == "").any():
        bad = (runs.isna() | (runs == "")).to_numpy()
        raise SampleSheetError(
            f"{source}: empty {run} on line(s) {_lines(bad)}; every row names its run."
        )
    out = out.drop(columns=[run])
    out.insert(0, "data_file", runs.astype(object))
    stems = runs.astype(object).map(normalize_run_name)
    if "channel" in out.columns:  # MSstatsTMT: one sample per run and channel
        out.insert(0, "sample", stems + "_" + out["channel"].astype(str).str.strip())
        out["label"] = out["channel"]
    else:
        out.insert(0, "sample", stems)
    return out


def read_samples(
    path: str | os.PathLike | pd.DataFrame,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    timepoints: Sequence[str] | None = None,
    phase_column: str | None = None,
) -> pd.DataFrame:
    """Read and validate a sample sheet: a plain sheet, an SDRF-Proteomics file or an MSstats
    annotation (recognised by their header).

    **Plain sheets** have one row per sample, a ``sample`` column (the names used in the data;
    raw-file paths and extensions are ignored when matching) and a column of the groups to compare,
    which becomes ``phase``: a ``phase`` column, the column named by ``phase_column``, or else a
    ``condition`` or ``group`` column. Optional: ``subject``, ``batch``, ``timepoint``, ``region``,
    ``sex``, ``exclude`` and any other column. Column names are matched case-insensitively.

    **SDRF-Proteomics** (``source name``, ``characteristics[...]``, ``comment[data file]``,
    ``factor value[...]``; the sample metadata of PRIDE projects) has one row per data file and
    label. Each row becomes a sample named after its data file without directory and extension
    (``210329_HC_M195.raw`` -> ``210329_HC_M195``). Rows of an isobaric label
    (``comment[label]`` other than ``label free sample``: ``TMT126``, ``TMT127N``, ``ITRAQ114``,
    ``SILAC heavy``) are named ``<data file stem>_<label>`` (``plex1_TMT127N``), so that one
    data file gives one sample per reporter channel. Rows that are fractions of one sample (the
    same ``source name``, label and ``comment[technical replicate]`` with distinct
    ``comment[fraction identifier]``) merge into one sample named after the ``source name``
    (``<source name>_<label>`` for a label, ``_<technical replicate>`` added when the source has
    several). Columns of the result: ``data_file`` (the file name as written in the SDRF;
    ``;``-joined for merged fractions), ``label`` (``label free sample``, ``TMT126``, ...),
    ``channel`` (isobaric rows only: the 1-based reporter channel of the label in the smallest
    TMT/iTRAQ/SILAC plex holding all labels of its data file, from sdrf-pipelines' channel map,
    e.g. ``TMT127N`` -> 2 - the ``N`` of MaxQuant's ``Reporter intensity corrected N``),
    ``fraction`` (where the SDRF has fractions), ``technical_replicate``, ``source_name``,
    ``assay_name``, every ``characteristics[x]`` and ``factor value[x]`` as a column named ``x`` in
    snake case (``characteristics[organism part]`` -> ``organism_part``; a repeated name gets
    ``_2``; a factor equal to the characteristic of the same name is not repeated, one that
    differs is ``x_factor``) and other plain columns (``material_type``). Other ``comment[...]``
    columns (instrument, modifications, tolerances) describe the search and are left out. The
    single ``factor value[...]`` column gives the phase unless ``phase_column`` names another
    column (by its SDRF header or its clean name). The file is also checked against the
    specification with ``sdrf-pipelines`` (:func:`validate_sdrf`); its errors are logged as warnings.

    **MSstats annotations** (``Run`` or MaxQuant's ``Raw.file``, ``Condition``, ``BioReplicate``,
    optionally ``Fraction``, ``TechRepMixture``, ``Channel``, ``Mixture``, ``Experiment``): one sample
    per run named by ``Run`` without directory and extension (``<Run>_<Channel>`` with MSstatsTMT's
    ``Channel``; the run as written is kept in ``data_file``), ``Condition`` gives
    the phase, the other columns are kept in snake case (``bio_replicate``: use it as ``block=`` for
    technical replicates or repeated measures).

    Parameters
    ----------
    path
        A ``.tsv``/``.txt`` (tab-separated), ``.csv`` or ``.xlsx`` file, an SDRF file
        (``.sdrf.tsv``), or a DataFrame.
    phases
        Phase levels in their order; values are matched case-insensitively and a value that is not
        listed is an error. ``None`` accepts any levels, ordered as they first appear in the file.
        When the phase comes from another column (``phase_column``, ``condition``, ``group``, an
        SDRF factor, an MSstats ``Condition``) and ``phases`` is left at its default, the levels are
        the default phases if every value is one of them, else any levels in file order.
    timepoints
        Order of string time points (e.g. ``["W1", "W3", "W7"]``). By default numeric time points stay
        numeric and text time points are ordered naturally (``2d < 10d``).
    phase_column
        The column of the groups to compare (e.g. ``"condition"``, ``"disease"``,
        ``"characteristics[disease]"``); it is copied to ``phase`` and also kept under its own name.

    Returns
    -------
    DataFrame indexed by sample id (str) with ``phase`` as an ordered categorical, ``subject``,
    ``batch``, ``region`` and ``sex`` as categoricals when present, ``timepoint`` numeric or ordered
    categorical, and every other column as read. Rows whose ``exclude`` column is ``true``, ``yes``
    or ``1`` (case-insensitive) are dropped and logged; their names are in ``.attrs["excluded"]``
    (and the data's samples of those names are dropped when the sheet is joined to data).

    Raises
    ------
    SampleSheetError
        Missing sample or group column, duplicated or empty sample ids, empty or unknown phases,
        a subject measured twice in the same phase (and time point), an SDRF without
        ``comment[data file]``, a label that is no reporter channel, or a data file listed twice
        with one label. The message names the file and the offending lines.
    """
    sdrf_lines = None
    if isinstance(path, pd.DataFrame):
        source, df = "sample sheet", path.copy()
        if "sample" not in {str(c).strip().lower() for c in df.columns}:
            df = df.rename_axis("sample").reset_index()  # already indexed by sample
        phase_col = next((c for c in df.columns if str(c).strip().lower() == "phase"), None)
        if phase_col is not None and phases is DEFAULT_PHASES and phase_column is None:
            dtype = df[phase_col].dtype
            if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
                phases = [str(c) for c in dtype.categories]
        attrs = dict(path.attrs)
        df = df.astype(
            {c: "string" for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])}
        )
        df = df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})
        df.attrs.update(attrs)
    else:
        from ._sdrf import is_sdrf_header, log_validation, read_sdrf_table, sdrf_samples

        p = Path(path)
        if not p.exists():
            raise InputFormatError(f"sample sheet {str(p)!r} does not exist.")
        first = _first_line(p)
        if is_sdrf_header(first.split("\t")):
            source = f"SDRF file {str(p)!r}"
            header, table, sdrf_lines = read_sdrf_table(p)
            log_validation(p, source)
            df, phase_column = sdrf_samples(
                header, table, sdrf_lines, source=source, phase_column=phase_column
            )
            df.attrs["format"] = "sdrf"
        else:
            source = f"sample sheet {str(p)!r}"
            df = _read_any_table(p, what="sample sheet")
            if is_sdrf_header(list(df.columns)):
                raise InputFormatError(
                    f"{source} looks like an SDRF file but is not tab-separated text; save it as "
                    "tab-separated text (.sdrf.tsv)."
                )
            if _is_msstats(list(df.columns)):
                df = _msstats_samples(df, source)
                df.attrs["format"] = "msstats"
                if phase_column is None:
                    phase_column = "condition"
    sheet = validate_samples(
        df, phases=phases, timepoints=timepoints, source=source, phase_column=phase_column
    )
    return sheet


def _lines(mask: pd.Series | np.ndarray, lines: Sequence[int] | None = None) -> str:
    """Line numbers of the rows where ``mask`` is true (header = line 1).

    A Series mask gives rows by index label (the row's position in the file as read, kept while
    rows are dropped); ``lines`` maps that position to a file line where rows were rearranged
    (SDRF rows merged into samples).
    """
    if isinstance(mask, pd.Series):
        idx = [int(i) for i in mask.index[mask.to_numpy(dtype=bool)]]
    else:
        idx = [int(i) for i in np.flatnonzero(np.asarray(mask))]
    nums = [lines[i] if lines is not None else i + 2 for i in idx]
    shown = ", ".join(str(n) for n in nums[:20])
    return shown + (f" and {len(nums) - 20} more" if len(nums) > 20 else "")


_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def _drop_excluded(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows whose ``exclude`` column is true/yes/1; remember their names in ``attrs``."""
    excluded = list(df.attrs.get("excluded", []))
    if "exclude" not in df.columns:
        df.attrs["excluded"] = excluded
        return df
    text = df["exclude"].map(lambda v: v if v is None or pd.isna(v) else str(v).strip().lower())
    text = text.replace({"1.0": "1", "0.0": "0"})
    bad = text.notna() & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise SampleSheetError(
            f"{source}: exclude value(s) {sorted(set(df.loc[bad, 'exclude'].astype(str)))} on line(s) "
            f"{_lines(bad, df.attrs.get('lines'))}; expected true/yes/1 to drop the sample, false/no/0 or empty to keep it."
        )
    drop = text.isin(_TRUE).to_numpy()
    names = [str(s) for s in df.loc[drop, "sample"]] if "sample" in df.columns else []
    out = df.loc[~drop].drop(columns=["exclude"])
    out.attrs = dict(df.attrs)
    out.attrs["excluded"] = excluded + [n for n in names if n not in excluded]
    if names:
        logger.warning("%s: %d sample(s) excluded (exclude column): %s", source, len(names), names)
    return out


def _phase_source(df: pd.DataFrame, phase_column: str | None, source: str) -> str | None:
    """The column that gives ``phase``: ``phase_column``, else ``phase``, else ``condition``/``group``.

    Returns ``None`` when ``phase`` is that column, the column's name when it is another one.
    """
    lower = {c.lower(): c for c in df.columns}
    if phase_column is not None:
        col = lower.get(phase_column.strip().lower())
        if col is None:
            from ._sdrf import clean_name

            col = lower.get(clean_name(phase_column))
        if col is None:
            raise SampleSheetError(
                did_you_mean(phase_column, df.columns, what="phase_column").replace(
                    "is not available.", f"is not a column of {source}."
                )
            )
        if col == "phase":
            return None
        if "phase" in df.columns:
            raise SampleSheetError(
                f"{source} has a 'phase' column and phase_column={phase_column!r}; rename or drop one "
                "of them so that the groups come from one column."
            )
        return col
    if "phase" in df.columns:
        return None
    found = [lower[c] for c in ("condition", "group") if c in lower]
    if len(found) == 1:
        logger.info("%s: column %r gives the phases", source, found[0])
        return found[0]
    hint = (
        "Add a 'phase' column or pass phase_column= naming the column of the groups (CLI "
        "--phase-column; workflow samples: {path: ..., phase_column: ...})."
    )
    if found:
        raise SampleSheetError(
            f"{source} has no 'phase' column but both {found}; pass phase_column= one of them."
        )
    msg = did_you_mean("phase", df.columns, what="column").replace(
        "column='phase' is not available.", f"{source} has no 'phase' column."
    )
    raise SampleSheetError(f"{msg} {hint}")


def validate_samples(
    df: pd.DataFrame,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    timepoints: Sequence[str] | None = None,
    source: str = "sample sheet",
    phase_column: str | None = None,
) -> pd.DataFrame:
    """Validate a sample-sheet DataFrame (one row per sample); see :func:`read_samples`.

    Line numbers in messages count the header as line 1, as a spreadsheet or text editor shows them.

    Parameters
    ----------
    df
        One row per sample, a ``sample`` column and a column of the groups.
    phases, timepoints, phase_column
        As in :func:`read_samples`.
    source
        How messages name the sheet.

    Returns
    -------
    The validated sheet, as :func:`read_samples` returns it.
    """
    attrs = dict(df.attrs)
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    rename = {lower[c]: c for c in (*STANDARD_COLUMNS, "exclude") if c in lower and lower[c] != c}
    df = df.rename(columns=rename)
    for col in df.columns:
        if df[col].dtype == object:
            text = df[col].str.strip()
            df[col] = text.mask(text.isin(["", "nan", "NA"]))
    df = df.dropna(how="all")
    df.attrs = attrs
    line_of = attrs.get("lines")
    if df.empty:
        raise SampleSheetError(f"{source} has no rows; expected one row per sample.")
    if "sample" not in df.columns:
        msg = did_you_mean("sample", df.columns, what="column").replace(
            "column='sample' is not available.", f"{source} has no 'sample' column."
        )
        raise SampleSheetError(msg + " Add a 'sample' column with the sample names of the data.")

    df = _drop_excluded(df, source)
    attrs = dict(df.attrs)
    if df.empty:
        raise SampleSheetError(f"{source}: every sample is excluded; keep at least one.")

    derived = _phase_source(df, phase_column, source)
    if derived is not None:
        df["phase"] = df[derived]
        if phases is DEFAULT_PHASES:
            values = {str(v).lower() for v in df["phase"].dropna()}
            if not values <= {p.lower() for p in DEFAULT_PHASES}:
                phases = None

    sample = df["sample"]
    if sample.isna().any():
        raise SampleSheetError(
            f"{source}: empty sample id on line(s) {_lines(sample.isna(), line_of)}."
        )
    df["sample"] = sample.astype(str)
    dup = df["sample"].duplicated(keep=False)
    if dup.any():
        names = sorted(set(df.loc[dup, "sample"]))
        raise SampleSheetError(
            f"{source}: duplicated sample id(s) {names} on lines {_lines(dup, line_of)}; each sample must appear once."
        )

    phase = df["phase"]
    what = "phase" if derived is None else f"phase (column {derived!r})"
    if phase.isna().any():
        raise SampleSheetError(
            f"{source}: empty {what} on line(s) {_lines(phase.isna(), line_of)} "
            f"(samples {list(df.loc[phase.isna(), 'sample'])[:10]}); give every sample a phase."
        )
    phase = phase.astype(str)
    if phases is None:
        order = list(pd.unique(phase))
    else:
        order = [str(p) for p in phases]
        if len(set(order)) != len(order):
            raise SampleSheetError(f"phases={order} lists a phase twice.")
        by_lower = {p.lower(): p for p in order}
        mapped = phase.str.lower().map(by_lower)
        unknown = mapped.isna()
        if unknown.any():
            bad = sorted(set(phase[unknown]))
            where = f"{source}: unknown {what}(s) {bad} on line(s) {_lines(unknown, line_of)}"
            raise SampleSheetError(
                f"{where}; expected one of {order}. Fix the values or pass the study's phases in "
                f"order, e.g. phases={[*order, *bad]!r} (phases=None accepts any).",
                cli=f"{where}; expected one of {order}. Fix the values or give the study's phases "
                f"in order, e.g. --phases {','.join([*order, *bad])!r} (--phases '' accepts any; "
                "workflow: phases: in the config).",
            )
        phase = mapped
    df["phase"] = pd.Categorical(phase, categories=order, ordered=True)
    if derived is not None and len(order) == 1:
        logger.warning(
            "%s: column %r has one value (%r) for all samples, so there is nothing to compare; "
            "pass phase_column= naming the column of the groups",
            source,
            derived,
            order[0],
        )

    if "timepoint" in df.columns:
        df["timepoint"] = _parse_timepoints(df["timepoint"], timepoints, source, line_of)

    for col in _CATEGORICAL:
        if col in df.columns:
            df[col] = df[col].astype("string").astype("category")

    if "subject" in df.columns:
        keys = ["subject", "phase"] + (["timepoint"] if "timepoint" in df.columns else [])
        sub = df.dropna(subset=["subject"])
        twice = sub.duplicated(subset=keys, keep=False)
        if twice.any():
            rows = sub.index[twice]
            first = sub.loc[rows[0], keys].astype(str).to_dict()
            raise SampleSheetError(
                f"{source}: a subject is measured twice in the same "
                f"{'phase and time point' if len(keys) == 3 else 'phase'} on lines "
                f"{_lines(twice, line_of)} (e.g. {first}). Give repeated measures distinct "
                "time points or fix the subject ids."
            )

    df = df.set_index("sample")
    df.index.name = None
    df.index = df.index.astype(str)
    attrs.pop("lines", None)
    df.attrs = attrs
    return df


def _parse_timepoints(
    col: pd.Series, order: Sequence[str] | None, source: str, lines: Sequence[int] | None = None
) -> pd.Series:
    numeric = pd.to_numeric(col, errors="coerce")
    if order is None and numeric.notna().sum() == col.notna().sum():
        return numeric.astype(float)
    text = col.astype("string")
    if order is None:
        levels = sorted(set(text.dropna()), key=_natural_key)
    else:
        levels = [str(t) for t in order]
        unknown = text.notna() & ~text.isin(levels)
        if unknown.any():
            raise SampleSheetError(
                f"{source}: unknown time point(s) {sorted(set(text[unknown]))} on line(s) "
                f"{_lines(unknown, lines)}; expected one of {levels}."
            )
    return pd.Series(pd.Categorical(text, categories=levels, ordered=True), index=col.index)
