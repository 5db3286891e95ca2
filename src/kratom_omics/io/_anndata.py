"""Build AnnData objects from loaded tables and join them with a sample sheet.

Every loader ends here, so all formats share one way of naming samples, matching them to the sample
sheet and reporting mismatches.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, record_provenance
from ..errors import InputFormatError, SampleMismatchError
from ._choices import note_choice
from ._names import normalize_run_name
from ._values import finite_matrix

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["attach_samples", "build_anndata", "normalize_run_name"]

logger = logging.getLogger("kratom_omics")


def build_anndata(
    values: pd.DataFrame,
    var: pd.DataFrame | None = None,
    *,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    source: str,
    reader: str,
    parameters: Mapping[str, Any] | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
) -> AnnData:
    """Create a samples x features AnnData from a numeric ``values`` table (index: samples).

    ``.X`` and ``.layers["raw"]`` hold the values as float64 with NaN for missing; ``var`` (index:
    feature ids, made unique) is copied to ``.var``; the sample sheet, when given, becomes ``.obs``.
    """
    import anndata as ad

    samples_index = pd.Index([str(s).strip() for s in values.index])
    _check_sample_names(samples_index, source)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise InputFormatError(
            f"{source}: no data found ({values.shape[0]} samples x {values.shape[1]} features)."
        )
    var = pd.DataFrame(index=values.columns) if var is None else var.copy()
    var.index = pd.Index(_make_unique([str(v) for v in var.index], source))
    x = finite_matrix(  # `values` is the reader's own table: no copy needed
        np.ascontiguousarray(values.to_numpy(dtype=np.float64)),
        source=source,
        columns=list(samples_index),
        axis=1,
    )
    obs = pd.DataFrame(index=pd.Index(samples_index, name=None))
    adata = ad.AnnData(X=x, obs=obs, var=h5ad_safe(var))
    adata.layers["raw"] = x.copy()
    if samples is not None:
        adata = attach_samples(adata, samples, phases=phases, join=join, source=source)
    record_provenance(adata, f"kratom_omics.io.{reader}", {"source": source, **(parameters or {})})
    return adata


def h5ad_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns with missing or non-text cells become pandas' nullable ``string`` dtype.

    h5ad stores an object column only when every cell is a ``str``; an annotation column of a tool
    export that is empty in some rows (or in all, e.g. DIA-NN's description) would make
    ``write_h5ad`` fail. Missing cells stay missing (``<NA>``), everything else becomes text. NUL
    characters (which text inputs refuse, but a workbook or parquet file may hold) are removed.
    """
    out = table.copy()
    for col in out.columns:
        s = out[col]
        textual = s.dtype == object or isinstance(s.dtype, pd.StringDtype)
        if textual and "\x00" in "".join(v for v in s.tolist() if isinstance(v, str)):
            # from a workbook or parquet file (text inputs refuse NUL): h5ad cannot store it
            nul = s.map(lambda v: isinstance(v, str) and "\x00" in v).to_numpy(dtype=bool)
            s = out[col] = s.mask(nul, s[nul].map(lambda v: v.replace("\x00", "")))
            note_choice(
                "nul_characters",
                str(col),
                source="annotation",
                why=f"NUL characters removed from {int(nul.sum())} cell(s) of {col!r}",
                level=logging.WARNING,
            )
        if s.dtype == object and pd.api.types.infer_dtype(s, skipna=False) != "string":
            out[col] = s.astype("string")
    return out


def _check_sample_names(names: pd.Index, source: str) -> None:
    """Sample names are unique, not empty and free of NUL characters (h5ad cannot store them)."""
    empty = [i + 1 for i, s in enumerate(names) if not s]
    if empty:
        raise InputFormatError(
            f"{source}: sample {empty[0]} (of {len(names)}) has an empty name; name every sample "
            "column in the header."
        )
    bad = [s for s in names if "\x00" in s]
    if bad:
        raise InputFormatError(f"{source}: sample name {bad[0]!r} holds a NUL character.")
    if names.duplicated().any():
        dups = sorted(set(names[names.duplicated()]))
        raise InputFormatError(
            f"{source}: sample(s) {[d[:80] for d in dups[:10]]} appear in more than one column; "
            "each sample needs one column."
        )


def _make_unique(names: list[str], source: str) -> list[str]:
    """Feature ids made unique: the second ``A`` becomes ``A-1``, the third ``A-2``, skipping
    suffixes that are ids of their own. Empty ids become ``feature_<row>``."""
    names = [n.replace("\x00", "") for n in names]
    taken = set(names)
    seen: set[str] = set()
    out = []
    n_dup = n_empty = 0
    for i, name in enumerate(names):
        if not name.strip():
            n_empty += 1
            name = f"feature_{i + 1}"
        if name in seen:
            n_dup += 1
            k = 1
            while f"{name}-{k}" in taken or f"{name}-{k}" in seen:
                k += 1
            name = f"{name}-{k}"
        seen.add(name)
        out.append(name)
    if n_dup:
        note_choice(
            "duplicated_features",
            n_dup,
            source=source,
            why="repeated feature ids made unique with suffixes -1, -2, ...",
        )
    if n_empty:
        note_choice(
            "empty_feature_ids",
            n_empty,
            source=source,
            why="features without an id named feature_<row>",
            level=logging.WARNING,
        )
    return out


def attach_samples(
    adata: AnnData,
    samples: str | os.PathLike | pd.DataFrame,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
    source: str = "data",
) -> AnnData:
    """Join a sample sheet onto ``adata.obs`` by sample name and order the samples as in the sheet.

    Names are matched as given; when that fails, both sides are reduced with
    :func:`normalize_run_name` (paths and raw-file extensions removed) and matched again, then in
    the form R's ``make.names`` gives them (``CTRL.1`` in a table saved by R for ``CTRL-1``).
    Isobaric data (TMT, iTRAQ: ``.obs`` with ``plex`` and ``channel`` or ``label``) whose names
    do not match an SDRF sheet's ``<data file stem>_<label>`` are paired with it by data file and
    reporter channel (see :mod:`kratom_omics.io._isobaric`: the plex's data files come from
    ``.obs["data_file"]``, from an experiment named after its one raw file, or, with a single plex,
    from the whole sheet); the data's original names are kept in ``.obs["run"]``.

    Parameters
    ----------
    join
        ``"exact"``: every sample of the data must be in the sheet and vice versa.
        ``"inner"``: keep the samples present in both and log the others.

    Returns
    -------
    A new AnnData whose ``.obs`` holds the sample sheet's columns and whose index is the sheet's names.

    Raises
    ------
    SampleMismatchError
        Listing the samples present in one and absent from the other.
    """
    from ._samples import read_samples

    sheet = read_samples(samples, phases=phases)

    data_names = [str(s) for s in adata.obs_names]
    excluded = _match(data_names, list(sheet.attrs.get("excluded", [])))
    if excluded:  # rows marked in the sheet's exclude column: drop their data too
        logger.info("%s: %d excluded sample(s) dropped from the data", source, len(excluded))
        data_names = [d for d in data_names if d not in excluded]
        adata = adata[data_names]
    mapping = _match(data_names, list(sheet.index))
    if len(mapping) < len(data_names):  # isobaric data and an SDRF: by data file and channel
        from ._isobaric import match_isobaric

        paired = match_isobaric(adata.obs.loc[data_names], sheet, source)
        if paired is not None and len(paired) > len(mapping):
            mapping = paired
            note_choice(
                "sample_matching",
                "data file and reporter channel",
                source=source,
                why=f"{len(paired)} isobaric samples paired with the sheet's labelled samples",
            )
    missing_in_sheet = [d for d in data_names if d not in mapping]
    missing_in_data = sorted(set(sheet.index) - set(mapping.values()))
    if (missing_in_sheet or missing_in_data) and join == "exact":
        parts = []
        if missing_in_sheet:
            parts.append(f"in the data but not the sample sheet: {missing_in_sheet}")
        if missing_in_data:
            parts.append(f"in the sample sheet but not the data: {missing_in_data}")
        raise SampleMismatchError(
            f"{source}: samples do not match the sample sheet; "
            + "; ".join(parts)
            + ". Fix the names in the sample sheet (or keep the common samples: join='inner', CLI "
            "--join inner, workflow 'join: inner')."
            + (
                " SDRF samples are named after their data file without extension "
                "('<stem>_<label>' for isobaric labels)."
                if sheet.attrs.get("format") == "sdrf"
                else ""
            )
        )
    if not mapping:
        raise SampleMismatchError(
            f"{source}: no sample of the data {data_names[:10]} is in the sample sheet {list(sheet.index)[:10]}."
        )
    if missing_in_sheet or missing_in_data:
        logger.warning(
            "%s: keeping %d common samples; dropped from data: %s; not in data: %s",
            source,
            len(mapping),
            missing_in_sheet,
            missing_in_data,
        )
    inverse = {v: k for k, v in mapping.items()}
    order = [inverse[s] for s in sheet.index if s in inverse]
    out = adata[order].copy()
    out.obs_names = pd.Index([mapping[d] for d in order])
    obs = sheet.loc[list(out.obs_names)]
    for col in obs.columns:
        if isinstance(obs[col].dtype, pd.CategoricalDtype) and col not in ("phase", "timepoint"):
            obs[col] = obs[col].cat.remove_unused_categories()
    extra = out.obs.drop(columns=[c for c in out.obs.columns if c in obs.columns])
    out.obs = h5ad_safe(pd.concat([obs, extra], axis=1))
    renamed = {d: mapping[d] for d in order if d != mapping[d]}
    if renamed:
        out.obs["run"] = list(order)
    return out


def _match(data_names: list[str], sheet_names: list[str]) -> dict[str, str]:
    sheet_set = set(sheet_names)
    mapping = {d: d for d in data_names if d in sheet_set}
    if len(mapping) == len(data_names) == len(sheet_set):
        return mapping
    norm_sheet: dict[str, str] = {}
    for s in sheet_names:
        norm_sheet.setdefault(normalize_run_name(s), s)
    taken = set(mapping.values())
    for d in data_names:
        if d in mapping:
            continue
        match = norm_sheet.get(normalize_run_name(d))
        if match is not None and match not in taken:
            mapping[d] = match
            taken.add(match)
    if len(mapping) < len(data_names):  # names saved by R: 'CTRL.1' for 'CTRL-1'
        r_sheet: dict[str, list[str]] = {}
        for s in sheet_names:
            r_sheet.setdefault(r_name(s), []).append(s)
        for d in data_names:
            found = r_sheet.get(r_name(d), [])
            if d not in mapping and len(found) == 1 and found[0] not in taken:
                mapping[d] = found[0]
                taken.add(found[0])
    return mapping


def r_name(name: str) -> str:
    """The column-name form R's ``make.names`` gives a sample name (without the leading ``X``)."""
    return re.sub(r"[^0-9A-Za-z._]", ".", str(name))
