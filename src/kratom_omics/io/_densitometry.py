"""Western-blot and ELISA densitometry: band signals normalised on each blot, as fold of control.

The input is a long table, one row per band: sample, target, signal and blot (gel or membrane)::

    sample   target   signal   blot
    Ctl_1    H3K9ac   15230    blot1
    Ctl_1    H3       40110    blot1
    Ctl_1    Hdac2    8120     blot1
    Ctl_1    Gapdh    30500    blot1

Each histone mark (``H3K9ac``) is divided by the total of its histone (``H3``, ``total H3``) and
every other target (``Hdac2``, ``Rab35``, total histones) by the loading control (``Gapdh``,
``Actb``, ...) of the same sample on the same blot. The ratios are then expressed as fold of the
mean ratio of the control samples on that blot, which removes exposure and transfer differences
between blots, and log2-transformed for testing. A table may instead give the normaliser on each
row (columns ``normalizer`` and ``normalizer_signal``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._core import DEFAULT_PHASES, UNS_KEY
from ..errors import InputFormatError, KeyNotFoundError
from ._anndata import build_anndata
from ._format import Format, Probe
from ._loader import loader
from ._table import read_delimited
from ._values import finite_matrix, to_numeric_frame

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["normalize_densitometry", "read_densitometry"]

logger = logging.getLogger("kratom_omics")

#: Loading controls recognised on a blot, in order of preference (case-insensitive).
LOADING_CONTROLS: tuple[str, ...] = (
    "Gapdh", "Actb", "beta-actin", "b-actin", "actin", "Tubb", "Tuba1a", "alpha-tubulin",
    "beta-tubulin", "tubulin", "Vcl", "vinculin", "Hprt1", "Lmnb1", "lamin B1", "Pcna", "Tbp",
    "total protein", "Ponceau", "stain-free",
)  # fmt: skip

_ALIASES: dict[str, tuple[str, ...]] = {
    "sample": ("sample", "sampleid", "samplename", "animal", "animalid", "rat", "id"),
    "target": ("target", "protein", "antibody", "antigen", "mark", "band"),
    "signal": (
        "signal", "intensity", "volume", "adjvolume", "adjustedvolume", "density", "bandintensity",
        "bandvolume", "intden", "integrateddensity", "rawintden", "od", "absorbance",
    ),
    "blot": ("blot", "blotid", "gel", "gelid", "membrane", "membraneid", "image", "plate"),
    "normalizer": ("normalizer", "normaliser", "loadingcontrol", "reference", "normalizername"),
    "normalizer_signal": (
        "normalizersignal", "normalisersignal", "loadingcontrolsignal", "totalsignal",
        "totalhistonesignal", "referencesignal", "normalizerintensity",
    ),
    "phase": ("phase", "group", "condition"),
}  # fmt: skip

_MARK_RE = re.compile(
    r"^(H2A|H2B|H3|H4|H1)(\.\d)?([KRSTY]\d+(?:me[123]|ac|ph|ub|cr|bu|pr|su|hib))+$", re.IGNORECASE
)


def _mark_match(target: str) -> re.Match[str] | None:
    """Match a histone mark written ``H3K9ac``, ``H3K9Ac``, ``H3-K9ac`` or ``H3 K9ac``."""
    return _MARK_RE.match(re.sub(r"[\s_-]", "", str(target)))


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _total_histone(target: str) -> str | None:
    """``"total H3"``, ``"H3 total"``, ``"Histone H3"``, ``"tH3"`` -> ``"h3"``; None for others."""
    k = _key(target).replace("histone", "")
    k = re.sub(r"^total|total$", "", k)
    if k.startswith("t") and re.fullmatch(r"th(2a|2b|3|4|1)", k):
        k = k[1:]
    return k if re.fullmatch(r"h(2a|2b|3|4|1)(3|31|32)?", k) else None


def _rename_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    found: dict[str, str] = {}
    for col in df.columns:
        k = _key(col)
        for std, aliases in _ALIASES.items():
            if k in aliases and std not in found.values():
                found[col] = std
                break
    out = df.rename(columns=found)
    missing = [c for c in ("sample", "target", "signal", "blot") if c not in out.columns]
    if missing:
        hints = {c: list(_ALIASES[c][:4]) for c in missing}
        raise InputFormatError(
            f"{source}: no column for {missing} among {list(df.columns)}; expected a long table "
            "with "
            f"one row per band (accepted names include {hints})."
        )
    return out


@loader
def read_densitometry(
    path: str | os.PathLike | pd.DataFrame,
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    normalizers: Mapping[str, str] | None = None,
    loading_controls: Sequence[str] = LOADING_CONTROLS,
    reference: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    join: Literal["exact", "inner"] = "exact",
) -> AnnData:
    """Read western-blot (or ELISA) densitometry and normalise it blot by blot.

    Parameters
    ----------
    path
        Long table (``.csv``, ``.tsv``, ``.txt`` or ``.xlsx``), or a DataFrame, with one row per
        band: ``sample``, ``target``, ``signal``, ``blot`` (variants such as ``Sample ID``,
        ``Protein``, ``Adj. Volume``, ``Gel`` are recognised), optionally ``phase``, or
        ``normalizer`` and ``normalizer_signal`` giving each band's normaliser on its row.
    samples
        Sample sheet joined onto ``.obs``; its ``phase`` defines the control samples.
    normalizers
        ``{target: normaliser target}`` overriding the automatic choice (histone marks -> total
        histone, everything else -> the loading control found on the blot).
    loading_controls
        Targets recognised as loading controls, in order of preference.
    reference
        Phase whose mean is the reference of the folds on each blot (default: the first phase, e.g.
        ``control``). Without any phase information the mean of all samples on the blot is used.
    sep
        Delimiter of a text table (sniffed by default).
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).
    phases, join
        Passed to :func:`kratom_omics.io.attach_samples`.

    Returns
    -------
    AnnData (samples x targets; loading controls are not features) with ``.X`` = log2 fold of the
    control mean on the same blot (averaged over blots when a sample was run on several),
    ``layers["raw"]`` = band signal, ``layers["normalizer"]`` = signal of the normaliser band,
    ``layers["ratio"]`` = signal / normaliser (means over blots), ``.var`` with ``target``,
    ``kind`` (``histone_mark``, ``total_histone`` or ``protein``), ``normalizer``, ``histone`` and
    ``mark`` (marks) or ``gene`` (proteins) and ``n_blots``; ``.obs["blot"]`` (blots of each
    sample, ``;``-joined), ``.uns["densitometry"]``: the long table with ``normalizer``,
    ``normalizer_signal``, ``ratio``, ``fold`` and ``log2_fold`` per band, and
    ``uns["kratom_omics"]["x_transform"] = "log2"``.

    Raises
    ------
    InputFormatError
        Missing columns, non-numeric signals, duplicated bands (same sample, target and blot), a
        blot without the loading control or total histone a target needs, a sample missing its
        normaliser band, or a blot without control samples.
    """
    if isinstance(path, pd.DataFrame):
        source, raw = "densitometry table", path.copy()
        raw = raw.astype(dict.fromkeys(raw.columns, str))
    else:
        p = Path(path)
        source = str(p)
        raw = read_delimited(p, sep=sep, what="densitometry table", encoding=encoding)
    sheet = None
    if samples is not None:
        from ._samples import read_samples

        sheet = read_samples(samples, phases=phases)
    long = normalize_densitometry(
        raw,
        sheet,
        normalizers=normalizers,
        loading_controls=loading_controls,
        reference=reference,
        source=source,
    )
    order_s = list(pd.unique(long["sample"]))
    order_t = list(pd.unique(long["target"]))

    def wide(col: str) -> pd.DataFrame:
        return long.pivot_table(
            index="sample", columns="target", values=col, aggfunc="mean"
        ).reindex(index=order_s, columns=order_t)

    x = wide("log2_fold")
    meta = long.groupby("target", sort=False).agg(
        kind=("kind", "first"), normalizer=("normalizer", "first"), n_blots=("blot", "nunique")
    )
    var = meta.reindex(order_t)
    var.insert(0, "target", order_t)
    var["histone"] = [
        (m.group(1) + (m.group(2) or "")).upper() if (m := _mark_match(t)) else "" for t in order_t
    ]
    var["mark"] = np.where(var["kind"] == "histone_mark", var["target"], "")
    var["gene"] = np.where(var["kind"] == "protein", var["target"], "")
    adata = build_anndata(
        x,
        var,
        samples=None,
        source=source,
        reader="read_densitometry",
        parameters={
            "normalizers": dict(normalizers or {}),
            "loading_controls": list(loading_controls),
            "reference": reference,
        },
    )
    adata.layers["raw"] = wide("signal").to_numpy(dtype=np.float64)
    adata.layers["normalizer"] = wide("normalizer_signal").to_numpy(dtype=np.float64)
    adata.layers["ratio"] = wide("ratio").to_numpy(dtype=np.float64)
    blots = long.groupby("sample", sort=False)["blot"].agg(lambda b: ";".join(pd.unique(b)))
    adata.obs["blot"] = blots.reindex(order_s).to_numpy()
    table = long.copy()
    for c in table.columns:
        if table[c].dtype == object:
            table[c] = table[c].astype(str)
    adata.uns["densitometry"] = table.reset_index(drop=True)
    adata.uns.setdefault(UNS_KEY, {})["x_transform"] = "log2"  # .X is already log2 (fold)
    if samples is not None:
        from ._anndata import attach_samples

        adata = attach_samples(adata, samples, phases=phases, join=join, source=source)
    return adata


def normalize_densitometry(
    table: pd.DataFrame,
    sheet: pd.DataFrame | None = None,
    *,
    normalizers: Mapping[str, str] | None = None,
    loading_controls: Sequence[str] = LOADING_CONTROLS,
    reference: str | None = None,
    source: str = "densitometry table",
) -> pd.DataFrame:
    """Normalise a long densitometry table (see :func:`read_densitometry`); returns one row per
    band of a target with ``kind``, ``normalizer``, ``normalizer_signal``, ``ratio``, ``fold``,
    ``log2_fold`` and ``phase`` added."""
    df = _rename_columns(table, source)
    df = df.copy()
    for c in ("sample", "target", "blot"):
        df[c] = df[c].astype(str).str.strip()
    df = df[
        ~(df[["sample", "target", "signal"]].astype(str).apply(lambda c: c.str.strip()) == "").all(
            axis=1
        )
    ]
    if df.empty:
        raise InputFormatError(
            f"{source}: the header is there but there are no rows (bands); expected one row per "
            "sample, target and blot."
        )
    lines = df.index.to_numpy() if df.index.name == "line" else df.index.to_numpy() + 2
    df["signal"] = _numbers(df["signal"], "signal", source, lines)
    empty = (df["sample"] == "") | (df["target"] == "") | df["sample"].isin(["nan", "None"])
    if empty.any():
        raise InputFormatError(
            f"{source}: empty sample or target on line(s) {_ints(lines[empty.to_numpy()][:10])}."
        )
    dup = df.duplicated(["sample", "target", "blot"], keep=False)
    if dup.any():
        first = df.loc[dup, ["sample", "target", "blot"]].iloc[0].to_dict()
        raise InputFormatError(
            f"{source}: {int(dup.sum())} duplicated band rows (same sample, target and blot), e.g. "
            f"{first} on lines {_ints(lines[dup.to_numpy()][:6])}; keep one row per band or give "
            "repeated runs different blot ids."
        )
    # phases: from the sample sheet, else from a phase column
    if sheet is not None:
        from ._anndata import _match

        mapping = _match(list(pd.unique(df["sample"])), list(sheet.index))
        df["phase"] = df["sample"].map(
            lambda s: sheet.loc[mapping[s], "phase"] if s in mapping else np.nan
        )
        levels = [str(c) for c in sheet["phase"].cat.categories]
    elif "phase" in df.columns:
        df["phase"] = df["phase"].astype(str).str.strip().replace({"": np.nan, "nan": np.nan})
        levels = list(pd.unique(df["phase"].dropna()))
    else:
        df["phase"] = np.nan
        levels = []
    lc_keys = [_key(c) for c in loading_controls]
    is_lc = df["target"].map(lambda t: _key(t) in lc_keys)
    normalizers = {str(k): str(v) for k, v in (normalizers or {}).items()}

    if "normalizer_signal" in df.columns:
        df["normalizer_signal"] = _numbers(
            df["normalizer_signal"], "normalizer_signal", source, lines
        )
        if "normalizer" not in df.columns:
            df["normalizer"] = "normalizer_signal"
        bands = df[~is_lc].copy()
        bands["normalizer"] = bands["normalizer"].astype(str)
    else:
        bands = _pair_normalizers(df, is_lc, normalizers, lc_keys, source)
    bands["kind"] = np.where(
        bands["target"].map(lambda t: _mark_match(t) is not None).to_numpy(dtype=bool),
        "histone_mark",
        np.where(
            bands["target"].map(lambda t: _total_histone(t) is not None), "total_histone", "protein"
        ),
    )
    if (bands["normalizer_signal"] <= 0).any() or bands["normalizer_signal"].isna().any():
        row = bands[~(bands["normalizer_signal"] > 0)].iloc[0]
        raise InputFormatError(
            f"{source}: normaliser {row['normalizer']!r} of sample {row['sample']!r} on blot "
            f"{row['blot']!r} has signal {row['normalizer_signal']!r}; a normaliser must be "
            "positive."
        )
    sig = bands["signal"].where(bands["signal"] > 0)
    if sig.isna().any():
        logger.warning(
            "%s: %d band(s) with signal <= 0 or missing are treated as missing",
            source,
            int(sig.isna().sum()),
        )
    bands["ratio"] = sig / bands["normalizer_signal"]
    ref = reference if reference is not None else (levels[0] if levels else None)
    if ref is not None and levels and ref not in levels:
        raise KeyNotFoundError(f"reference={ref!r} is not a phase; phases: {levels}.")
    if ref is None or bands["phase"].isna().all():
        logger.info("%s: no phases given; folds are relative to the mean of each blot", source)
        in_ref = pd.Series(True, index=bands.index)
    else:
        in_ref = bands["phase"] == ref
    ref_mean = (
        bands["ratio"].where(in_ref).groupby([bands["blot"], bands["target"]]).transform("mean")
    )
    no_ref = ref_mean.isna() & bands["ratio"].notna()
    if no_ref.any():
        row = bands[no_ref].iloc[0]
        raise InputFormatError(
            f"{source}: blot {row['blot']!r} has no {ref!r} sample with a {row['target']!r} band; "
            f"folds are taken relative to the {ref!r} mean on each blot, so every blot needs "
            f"{ref!r} samples (or pass reference=...)."
        )
    bands["fold"] = bands["ratio"] / ref_mean
    bands["log2_fold"] = np.log2(bands["fold"])
    cols = ["sample", "target", "blot", "phase", "kind", "signal", "normalizer",
    "normalizer_signal",
            "ratio", "fold", "log2_fold"]  # fmt: skip
    return bands[cols]


def _ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values]


def _numbers(col: pd.Series, name: str, source: str, lines: np.ndarray) -> pd.Series:
    text = col.astype(str).str.strip().str.replace(",", "", regex=False)
    text = text.mask(text.isin(["", "NA", "NaN", "nan", "n.d.", "nd"]))
    try:
        num = to_numeric_frame(
            text.to_frame(name), source=source, row_label=pd.Index(lines), lines=list(lines)
        )
    except InputFormatError:
        i = int(
            np.flatnonzero((pd.to_numeric(text, errors="coerce").isna() & text.notna()).to_numpy())[
                0
            ]
        )
        raise InputFormatError(
            f"{source}: line {lines[i]}: {name} is {str(col.iloc[i])[:80]!r}; expected a number."
        ) from None
    values = finite_matrix(num.to_numpy(), source=source, columns=[name])
    return pd.Series(values[:, 0], index=col.index, name=name)


def _pair_normalizers(
    df: pd.DataFrame,
    is_lc: pd.Series,
    normalizers: dict[str, str],
    lc_keys: list[str],
    source: str,
) -> pd.DataFrame:
    """Attach to each band the signal of its normaliser band (same sample, same blot)."""
    bands = df[~is_lc].copy()
    if bands.empty:
        raise InputFormatError(
            f"{source}: only loading-control bands found; no target to normalise."
        )
    key_of = df["target"].map(_key)
    targets_on_blot = key_of.groupby(df["blot"]).agg(set)
    by_key: dict[str, str] = dict(zip(key_of, df["target"], strict=False))
    totals = {t: _total_histone(t) for t in pd.unique(df["target"])}
    choice: dict[tuple[str, str], str] = {}
    pairs = bands[["blot", "target"]].drop_duplicates()
    for blot, target in zip(pairs["blot"].astype(str), pairs["target"].astype(str), strict=True):
        present = targets_on_blot[blot]
        if target in normalizers:
            want = _key(normalizers[target])
            if want not in present:
                raise InputFormatError(
                    f"{source}: blot {blot!r} has no {normalizers[target]!r} band, the normaliser "
                    "given "
                    f"for {target!r}; targets on that blot: {sorted(by_key[k] for k in present)}."
                )
            choice[(blot, target)] = by_key[want]
            continue
        m = _mark_match(target)
        if m is not None:
            histone = _key(m.group(1) + (m.group(2) or ""))
            total = [t for t, h in totals.items() if h == histone and _key(t) in present]
            if not total:
                raise InputFormatError(
                    f"{source}: {target!r} on blot {blot!r} has no normaliser: no total "
                    f"{m.group(1)} band (e.g. 'H3' or 'total H3') on that blot. Probe total "
                    f"{m.group(1)} on the same membrane or pass normalizers={{{target!r}: ...}}."
                )
            choice[(blot, target)] = total[0]
            continue
        lc = next((k for k in lc_keys if k in present), None)
        if lc is None and totals.get(target) is not None:
            logger.info(
                "%s: total %s on blot %s has no loading control; not reported", source, target, blot
            )
            continue
        if lc is None:
            raise InputFormatError(
                f"{source}: blot {blot!r} has no loading control for {target!r}; expected one of "
                f"{list(LOADING_CONTROLS[:6])}... on the same blot (targets on it: "
                f"{sorted(by_key[k] for k in present)}); add the loading-control bands or pass "
                "normalizers={target: control}."
            )
        choice[(blot, target)] = by_key[lc]
    keep = [(b, t) in choice for b, t in zip(bands["blot"], bands["target"], strict=True)]
    bands = bands[keep].copy()
    bands["normalizer"] = [
        choice[(b, t)] for b, t in zip(bands["blot"], bands["target"], strict=True)
    ]
    signal_of = df.set_index(["sample", "blot", "target"])["signal"]
    idx = pd.MultiIndex.from_arrays([bands["sample"], bands["blot"], bands["normalizer"]])
    bands["normalizer_signal"] = signal_of.reindex(idx).to_numpy()
    missing = bands["normalizer_signal"].isna() & ~idx.isin(signal_of.index)
    if missing.any():
        row = bands[missing].iloc[0]
        raise InputFormatError(
            f"{source}: sample {row['sample']!r} on blot {row['blot']!r} has a {row['target']!r} "
            "band "
            f"but no {row['normalizer']!r} band to normalise it; add the band (or remove the "
            "sample "
            "from that blot)."
        )
    return bands


def _detect(pr: Probe) -> str | None:
    """densitometry: 'target' (or 'protein', 'antibody') and 'signal' (or 'volume', 'density')
    columns"""
    header = {c.strip().lower() for c in pr.columns}
    if header & {"target", "protein", "antibody"} and header & {
        "signal",
        "volume",
        "adj. volume",
        "density",
    }:
        return "'target' and 'signal' columns"
    return None


FORMAT = Format(
    name="densitometry",
    label="densitometry",
    reader=read_densitometry,
    detect=_detect,
    modality="histone",
    options=("normalizers", "loading_controls", "reference", "sep"),
)
