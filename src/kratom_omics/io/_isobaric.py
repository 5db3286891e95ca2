"""Match the samples of an isobaric table (TMT, iTRAQ) to an SDRF sample sheet.

An SDRF sheet names an isobaric sample ``<data file stem>_<label>`` and gives its ``data_file``
(``;``-joined for fractions), ``label`` (``TMT127N``) and ``channel`` (1-based reporter channel).
A loader names its samples after what the table says (MaxQuant: ``<experiment>_<channel>``;
mzTab: ``<run>_<label>``) and records in ``.obs`` the ``plex`` (MaxQuant experiment, mzTab run),
the ``channel`` and/or ``label`` and, where known, the plex's ``data_file``. This module pairs the
two by plex and channel:

1. the data files of each plex: the ``data_file`` the loader recorded (MaxQuant ``experiments=``,
   mzTab run locations); else the SDRF data file whose stem is the experiment's name (one raw
   file per experiment, MaxQuant's default name); else, for a table with a single plex, every
   labelled sample of the sheet;
2. within a plex, the sheet sample with the data sample's channel (or label).

A plex whose data files cannot be found stops with the option that fixes it (``experiments=``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SampleMismatchError
from ._names import normalize_run_name

__all__ = ["match_isobaric", "normalize_label"]

_LABEL_FREE = "label free sample"


def normalize_label(label: Any) -> str | None:
    """``TMT 127N``, ``tmt127n``, ``TMT-127N`` -> ``TMT127N``; ``iTRAQ 114`` -> ``ITRAQ114``."""
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return None
    text = re.sub(r"[\s_\-]+", "", str(label)).upper()
    return text or None


def _files(value: Any) -> frozenset[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return frozenset()
    return frozenset(normalize_run_name(f).casefold() for f in str(value).split(";") if f.strip())


def _channel(value: Any) -> int | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if np.isfinite(number) and number == int(number) else None


def _sheet_entries(sheet: pd.DataFrame) -> list[dict[str, Any]] | None:
    if "data_file" not in sheet.columns or "label" not in sheet.columns:
        return None
    out = []
    for name, row in sheet.iterrows():
        label = row["label"]
        if label is None or pd.isna(label) or str(label).strip().lower() == _LABEL_FREE:
            continue
        out.append(
            {
                "sample": str(name),
                "files": _files(row["data_file"]),
                "channel": _channel(row["channel"]) if "channel" in sheet.columns else None,
                "label": normalize_label(label),
            }
        )
    return out or None


def match_isobaric(obs: pd.DataFrame, sheet: pd.DataFrame, source: str) -> dict[str, str] | None:
    """Pair the data's isobaric samples with the sheet's labelled samples.

    Parameters
    ----------
    obs
        The data's ``.obs`` (index: data sample names) with ``plex`` and ``channel`` and/or
        ``label``, optionally ``experiment`` and ``data_file``.
    sheet
        A validated sample sheet with ``data_file``, ``label`` and ``channel`` (an SDRF file).
    source
        The data file, as messages name it.

    Returns
    -------
    ``{data sample: sheet sample}``, or ``None`` when the data or the sheet is not isobaric.

    Raises
    ------
    SampleMismatchError
        The data files of a plex cannot be told (the fix: ``experiments=``), a sheet sample spans
        two plexes, or a single plex meets several sheet samples of one channel.
    """
    if "plex" not in obs.columns or not ({"channel", "label"} & set(obs.columns)):
        return None
    entries = _sheet_entries(sheet)
    if entries is None:
        return None
    plexes = list(pd.unique(obs["plex"].astype(str)))
    has_exp = "experiment" in obs.columns
    assigned: dict[str, list[dict[str, Any]]] = {}
    unresolved: list[str] = []
    for plex in plexes:
        rows = obs[obs["plex"].astype(str) == plex]
        files: frozenset[str] = frozenset()
        if "data_file" in rows.columns:
            for value in rows["data_file"]:
                files |= _files(value)
        if files:
            members = [e for e in entries if e["files"] & files]
            spanning = [e for e in members if not e["files"] <= files]
            if spanning:
                e = spanning[0]
                raise SampleMismatchError(
                    f"{source}: sample sheet sample {e['sample']!r} lists data files "
                    f"{sorted(e['files'])}, not all of which belong to plex {plex!r} "
                    f"({sorted(files)}); the fractions of one sample come from one plex."
                )
        elif has_exp and pd.notna(rows["experiment"].iloc[0]):
            stem = normalize_run_name(str(rows["experiment"].iloc[0])).casefold()
            members = [e for e in entries if e["files"] == {stem}]
        elif len(plexes) == 1:
            members = list(entries)
            _check_single_plex(members, source)
        else:
            members = []
        if not members:
            unresolved.append(plex)
        assigned[plex] = members
    if unresolved and has_exp:
        files_shown = sorted({f for e in entries for f in e["files"]})
        raise SampleMismatchError(
            f"{source}: cannot tell which data files of the sample sheet belong to MaxQuant "
            f"experiment(s) {unresolved[:10]} (isobaric samples are matched by data file and "
            f"reporter channel; the sheet's data files are {files_shown[:10]}"
            f"{' ...' if len(files_shown) > 10 else ''}). Pass experiments= with the raw file(s) of "
            "each experiment: a mapping {'<experiment>': '<raw file>'} or MaxQuant's summary.txt "
            "(CLI --experiments txt/summary.txt)."
        )
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for plex, members in assigned.items():
        by_channel = {e["channel"]: e for e in members if e["channel"] is not None}
        by_label = {e["label"]: e for e in members if e["label"] is not None}
        rows = obs[obs["plex"].astype(str) == plex]
        for name, row in rows.iterrows():
            hit = None
            if "label" in rows.columns and normalize_label(row["label"]) in by_label:
                hit = by_label[normalize_label(row["label"])]
            elif "channel" in rows.columns and _channel(row["channel"]) in by_channel:
                hit = by_channel[_channel(row["channel"])]
            if hit is not None and hit["sample"] not in taken:
                mapping[str(name)] = hit["sample"]
                taken.add(hit["sample"])
    return mapping


def _check_single_plex(members: list[dict[str, Any]], source: str) -> None:
    seen: dict[int | str | None, dict[str, Any]] = {}
    for e in members:
        key = e["channel"] if e["channel"] is not None else e["label"]
        if key in seen:
            other = seen[key]
            raise SampleMismatchError(
                f"{source}: the table has one set of reporter columns (one plex) but the sample "
                f"sheet gives channel {key} to {other['sample']!r} (data file(s) "
                f"{sorted(other['files'])}) and to {e['sample']!r} ({sorted(e['files'])}). If "
                "those files are fractions of one plex, give the SDRF rows a "
                "comment[fraction identifier] so that they merge; else keep only this plex's rows "
                "in the sheet."
            )
        seen[key] = e
