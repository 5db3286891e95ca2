"""A study (several modalities of the same samples) as one MuData."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._core import DEFAULT_PHASES
from ..errors import InputFormatError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = ["mudata_options", "read_h5mu", "read_study", "write_h5mu"]

#: Options of a bigWig modality in the workflow's configuration, passed to its reader.
_TRACK_OPTIONS = (
    "regions",
    "feature",
    "upstream",
    "downstream",
    "annotation",
    "max_distance",
    "mark",
)

logger = logging.getLogger("kratom_omics")

#: Where the workflow downloads ``source: PXD.../<file>`` inputs (``<dir>/<accession>/<file>``).
DOWNLOAD_DIR = Path("resources") / "public"


@contextlib.contextmanager
def mudata_options() -> Iterator[None]:
    """MuData without pulling modality columns into the global ``.obs`` (mudata 0.4's default).

    mudata's option context logs on the root logger, which would configure logging for the whole
    program when nothing else has; a temporary null handler keeps that from happening.
    """
    try:
        import mudata
    except ImportError:  # pragma: no cover - a dependency
        raise MissingDependencyError("studies need mudata: pip install 'mudata>=0.3'") from None
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    try:
        with mudata.set_options(pull_on_update=False):
            yield
    finally:
        if guard is not None:
            root.removeHandler(guard)


def read_h5mu(path: str | os.PathLike) -> MuData:
    """Read a ``.h5mu`` file (as written by :func:`read_study` or the workflow).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    The MuData, its global ``.obs`` holding the shared sample sheet.
    """
    import mudata

    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{str(p)!r} does not exist.")
    with mudata_options():
        try:
            return mudata.read_h5mu(p)
        except (OSError, KeyError, ValueError) as exc:
            raise InputFormatError(f"{str(p)!r} is not a readable .h5mu file: {exc}") from None


def write_h5mu(mdata: MuData, path: str | os.PathLike) -> Path:
    """Write a MuData atomically (temporary file in the same folder, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        with mudata_options():
            mdata.write(tmp)
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _load_config(config: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(config, Mapping):
        return dict(config), "study"
    import yaml

    p = Path(config)
    if not p.exists():
        raise InputFormatError(f"study configuration {str(p)!r} does not exist.")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise InputFormatError(
            f"study configuration {str(p)!r}{line} is not valid YAML: "
            f"{getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(loaded, Mapping) or "modalities" not in loaded:
        raise InputFormatError(
            f"study configuration {str(p)!r} has no 'modalities:' section; expected the workflow's "
            "config.yaml (samples:, phases:, modalities: {name: {input: ...}})."
        )
    return dict(loaded), f"study configuration {str(p)!r}"


def _samples_entry(value: Any, where: str) -> tuple[Any, str | None]:
    """``samples:`` as a path, or ``{path: ..., phase_column: ...}``; returns (path, phase_column)."""
    if value is None or isinstance(value, str | os.PathLike | pd.DataFrame):
        return value, None
    if isinstance(value, Mapping):
        unknown = set(value) - {"path", "source", "phase_column"}
        if unknown:
            raise InputFormatError(
                f"{where}: samples has unknown key(s) {sorted(unknown)}; expected path (or source) "
                "and phase_column."
            )
        if "source" in value:
            return _downloaded(str(value["source"]), f"{where} samples"), value.get("phase_column")
        if "path" not in value:
            raise InputFormatError(f"{where}: samples needs a path (or a source: PXD.../<file>).")
        return value["path"], value.get("phase_column")
    raise InputFormatError(
        f"{where}: samples is a {type(value).__name__}; expected a path or "
        "{path: ..., phase_column: ...}."
    )


def _downloaded(source: str, where: str) -> Path:
    accession, sep, name = source.strip().partition("/")
    if not sep or not name:
        raise InputFormatError(
            f"{where}: source {source!r} is not '<accession>/<file>' (e.g. 'PXD012345/proteinGroups.txt')."
        )
    path = DOWNLOAD_DIR / accession / name
    if not path.exists():
        raise InputFormatError(
            f"{where}: {source!r} is not downloaded ({path} does not exist); run "
            f"`kratom-omics fetch {accession} --files '{name}' --dest {DOWNLOAD_DIR}` or the workflow first."
        )
    return path


def read_study(
    config: str | os.PathLike | Mapping[str, Any],
    samples: str | os.PathLike | pd.DataFrame | None = None,
    *,
    phases: Sequence[str] | None = DEFAULT_PHASES,
    phase_column: str | None = None,
    join: Literal["exact", "inner"] = "exact",
) -> MuData:
    """Read every modality of a study into one MuData with the shared sample sheet.

    Parameters
    ----------
    config
        The workflow's ``config.yaml`` (its ``samples``, ``phases``, ``join`` and ``modalities``
        with ``input``/``source``, ``format``, ``quantity`` and, for bigWig tracks, ``regions``,
        ``feature``, ``upstream``, ``downstream``, ``annotation``, ``max_distance`` and ``mark``
        are used; relative paths are taken
        from the current directory, as the workflow does), or a mapping of modality name -> input:
        a path (read with :func:`read`; ``.h5ad`` files are read as they are), a mapping
        ``{"input": path, "format": ..., "quantity": ...}`` or an AnnData. A mapping with a
        ``modalities`` key is read as the workflow's configuration.
    samples
        The sample sheet (path or DataFrame, see :func:`read_samples`); overrides the
        configuration's ``samples``.
    phases, phase_column
        As in :func:`read_samples`; a configuration's ``phases`` and ``samples.phase_column`` are used
        when these are left at their defaults.
    join
        ``"exact"`` (every sample of each data set in the sheet and the reverse) or ``"inner"``
        (the common samples of each data set and the sheet); a configuration's ``join`` is used when
        this is left at its default.

    Returns
    -------
    MuData with one AnnData per modality (each as :func:`read` returns it, ``.obs`` from the
    sheet) and the sample sheet as the global ``.obs`` (one row per sample present in any
    modality); ``.uns["kratom_omics"]["modalities"]`` maps each modality to its input.
    """
    import anndata as ad
    import mudata

    from ._anndata import h5ad_safe
    from ._read import read
    from ._samples import read_samples

    cfg, where = _load_config(config)
    if "modalities" in cfg:
        mods_cfg = cfg["modalities"]
        if samples is None:
            samples, sheet_phase_column = _samples_entry(cfg.get("samples"), where)
            phase_column = phase_column if phase_column is not None else sheet_phase_column
        if phases is DEFAULT_PHASES and "phases" in cfg:
            phases = cfg["phases"]
        if join == "exact" and cfg.get("join") == "inner":
            join = "inner"
    else:
        mods_cfg = cfg
    if not isinstance(mods_cfg, Mapping) or not mods_cfg:
        raise InputFormatError(f"{where}: no modality given; expected {{name: input, ...}}.")

    sheet = (
        read_samples(samples, phases=phases, phase_column=phase_column)
        if samples is not None
        else None
    )
    mods: dict[str, AnnData] = {}
    inputs: dict[str, str] = {}
    for name, entry in mods_cfg.items():
        name = str(name)
        if isinstance(entry, ad.AnnData):
            mods[name], inputs[name] = entry, "AnnData"
            continue
        options: dict[str, Any] = {}
        if isinstance(entry, Mapping):
            if "source" in entry and "input" not in entry:
                path: Path = _downloaded(str(entry["source"]), f"{where} modality {name!r}")
            elif "input" in entry:
                path = Path(entry["input"])
            else:
                raise InputFormatError(
                    f"{where}: modality {name!r} has neither input nor source; give the tool output "
                    "(input: path) or a download (source: PXD.../<file>)."
                )
            options["format"] = entry.get("format", "auto") or "auto"
            if entry.get("quantity"):
                options["quantity"] = entry["quantity"]
            for opt in _TRACK_OPTIONS:  # bigWig tracks: regions, mark, ...
                if entry.get(opt) not in (None, ""):
                    options[opt] = entry[opt]
        elif isinstance(entry, str | os.PathLike):
            path = Path(entry)
        else:
            raise InputFormatError(
                f"{where}: modality {name!r} is a {type(entry).__name__}; expected a path, "
                "{input: path, format: ...} or an AnnData."
            )
        inputs[name] = str(path)
        if path.suffix.lower() == ".h5ad":
            if not path.exists():
                raise InputFormatError(f"{where}: modality {name!r}: {str(path)!r} does not exist.")
            mods[name] = ad.read_h5ad(path)
        else:
            mods[name] = read(path, sheet, phases=phases, join=join, **options)
        logger.info("study: %s = %s (%d samples x %d features)", name, path, *mods[name].shape)

    with mudata_options():
        mdata = mudata.MuData(mods)
    if sheet is not None:
        shared = sheet.reindex(mdata.obs_names)
    else:  # the sample annotations every modality has
        common = set.intersection(*(set(a.obs.columns) for a in mods.values()))
        shared = pd.DataFrame(index=mdata.obs_names)
        for col in [c for c in next(iter(mods.values())).obs.columns if c in common]:
            values = pd.concat([a.obs[col] for a in mods.values()])
            values = values[~values.index.duplicated()]
            shared[col] = values.reindex(mdata.obs_names)
    shared = h5ad_safe(shared)
    for col in shared.columns:
        mdata.obs[col] = shared[col]
    mdata.uns["kratom_omics"] = {"modalities": inputs}
    return mdata
