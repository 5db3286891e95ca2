"""A modality's report figures, drawn apart from the page and read back when it is assembled.

Drawing the figures is most of the time of a report (matplotlib, about 20 figures per modality,
one after the other). :func:`figures` draws those of one modality into a file (JSON: each
figure's caption with its PNG, base64, and its size), so that the modalities of a study can be
drawn at the same time by separate processes (the workflow runs one job per modality beside the
other modalities' analysis jobs); :func:`kratom_omics.report.html` with ``figures_from=`` then
takes each figure from there instead of drawing it. The sections that join modalities (the
findings' trajectories, the cross-modality heatmap, protein vs promoter mark) are drawn when the
page is assembled.

The figures are the page's own (the same section builders draw them, at the page's resolution),
so a page assembled from them is the page drawn in one call. A file is tied to the data it was
drawn from: the modality's name, the resolution and a fingerprint of the samples, features,
values and stored parameters are written with it and checked when it is read; a figure the file
does not hold (other thresholds, other features) is drawn when the page is assembled.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._files import atomic_path, check_output
from ..errors import InputFormatError, KratomOmicsError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["FORMAT", "figures", "read_figures"]

logger = logging.getLogger("kratom_omics")

#: What the ``format`` field of a figures file says (and its version).
FORMAT = "kratom-omics report figures"
VERSION = 1

_VOLCANO_FORMATS = (".png", ".svg", ".pdf")


def fingerprint(adata: AnnData, key: str) -> str:
    """A digest of what the figures of ``adata`` are drawn from: sample and feature names, the
    values (when in memory) and the stored parameters of the results."""
    from .._results import biomarker_keys

    h = hashlib.sha256()
    h.update("\0".join(map(str, adata.obs_names)).encode())
    h.update(b"\1")
    h.update("\0".join(map(str, adata.var_names)).encode())
    h.update(b"\1")
    x = adata.X
    if isinstance(x, np.ndarray):
        h.update(np.ascontiguousarray(x).tobytes())
    else:  # sparse or dask: the shape only (a lazy matrix is not read for this)
        h.update(repr((type(x).__name__, adata.shape)).encode())
    for k in (key, *biomarker_keys(adata, key)):
        store = adata.uns.get(k)
        params = store.get("params") if isinstance(store, Mapping) else None
        h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def _panel(fig: Figure, ax: Axes, fmt: str) -> bytes:
    """One panel of ``fig`` (``ax`` with its labels, title and legend) as a figure file, cut from
    the figure as the page shows it: called after the figure was saved for the page, so its layout
    is done and is kept (not run again), and the other panels are hidden while saving."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    box = ax.get_tightbbox(canvas.get_renderer())
    if box is None:  # pragma: no cover - a drawn volcano has extent
        raise KratomOmicsError("the volcano panel has no extent to save.")
    inches = box.transformed(fig.dpi_scale_trans.inverted()).padded(0.05)
    others = [a for a in fig.axes if a is not ax and a.get_visible()]
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")  # the positions of the page's figure
    for a in others:
        a.set_visible(False)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches=inches)
    finally:
        for a in others:
            a.set_visible(True)
        fig.set_layout_engine(engine)
    return buf.getvalue()


def figures(
    adata: AnnData,
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    key: str = "differential",
    fdr: float | None = None,
    lfc: float | None = None,
    features: Sequence[str] | None = None,
    dpi: int = 80,
    volcano: str | os.PathLike[str] | None = None,
    contrast: str | None = None,
) -> Path:
    """Draw the report figures of one modality into a file, for :func:`html`'s ``figures_from``.

    The figures are those :func:`kratom_omics.report.html` draws for the modality (QC, per
    contrast the volcano, MA and p-value plot, the top-feature heatmap, trajectories, histone or
    western-blot views), with the same options; the page assembled from the file is the page
    drawn in one call. Drawing the modalities of a study in separate processes at the same time
    is what makes this faster (the workflow does so); one call of :func:`html` does the same work
    one figure after the other.

    Parameters
    ----------
    adata
        One modality, with the results of :func:`kratom_omics.tl.differential` (and
        :func:`kratom_omics.tl.flag_biomarkers`). Not changed (plots run on a copy).
    out
        Path of the figures file (``.json``); written whole or not at all.
    name
        Name of the modality in the report (default: its kind, e.g. ``"protein"``); the report
        refuses a file drawn under another name.
    key
        Key of the differential results in ``adata.uns``.
    fdr, lfc, features, dpi
        As for :func:`kratom_omics.report.html` (give the report the same values, else the
        figures they change are drawn again when the page is assembled).
    volcano
        Also write the volcano plot of ``contrast`` as a figure of its own (``.png``, ``.svg``
        or ``.pdf``, at 150 dpi): the volcano panel of the report's figure of that contrast,
        drawn once for both.
    contrast
        Contrast of ``volcano`` (needed when the results hold several contrasts).

    Returns
    -------
    Path of the figures file. Writes ``out`` (and ``volcano``); nothing is written to ``adata``.
    """
    from ._sections import (
        _kind,
        histone_section,
        qc_section,
        resolve,
        results_section,
        trajectories_section,
    )

    out = check_output(out)
    if out.suffix.lower() != ".json":
        raise InputFormatError(f"out={str(out)!r}: expected a file name ending in .json.")
    if dpi < 20:
        raise InputFormatError(f"dpi={dpi!r} is too small for a readable figure; use e.g. 80.")
    if features is not None and isinstance(features, str):
        features = [features]
    name = str(name) if name is not None else _kind(adata)
    if not name:
        raise InputFormatError("name='' is empty; give the modality's name, e.g. 'protein'.")
    shown = ""  # the contrast of the volcano
    if volcano is not None:
        volcano = check_output(volcano)
        if volcano.suffix.lower() not in _VOLCANO_FORMATS:
            raise InputFormatError(
                f"volcano={str(volcano)!r}: expected a .png, .svg or .pdf file name."
            )
        shown = _volcano_contrast(adata, key, contrast)
    panels: dict[str, bytes] = {}

    def keep(fig: Figure, tag: str) -> None:
        if volcano is not None and tag == f"contrast:{shown}":
            panels["volcano"] = _panel(fig, fig.axes[0], volcano.suffix.lower().lstrip("."))

    m = resolve(
        0,
        name,
        adata.copy(),
        key=key,
        fdr=fdr,
        lfc=lfc,
        dpi=dpi,
        draw=True,
        tables={},
        tables_rel="",
        keep=keep,
    )
    qc_section(m)
    results_section(m, 1)
    trajectories_section(m, features)
    histone_section(m)
    if volcano is not None and "volcano" not in panels:  # the plot was skipped: say why
        notes = [v["skipped"] for c, v in m.figs.recorded.items() if c.startswith(f"{shown}: ")]
        raise KratomOmicsError(
            f"the volcano plot of {shown!r} cannot be drawn: " + (notes[0] if notes else "")
        )
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "modality": name,
        "dpi": dpi,
        "samples": int(adata.n_obs),
        "features": int(adata.n_vars),
        "fingerprint": fingerprint(adata, key),
        "figures": m.figs.recorded,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc), encoding="utf-8")
    if volcano is not None:
        with atomic_path(volcano) as tmp:
            tmp.write_bytes(panels["volcano"])
        logger.info("wrote %s", volcano)
    n_drawn = sum("png" in f for f in m.figs.recorded.values())
    logger.info("report figures of %s: %d drawn, written to %s", name, n_drawn, out)
    return out


def _volcano_contrast(adata: AnnData, key: str, contrast: str | None) -> str:
    from .._results import get_result

    present = list(get_result(adata, key).contrasts)
    if contrast is None:
        if len(present) == 1:
            return present[0]
        raise InputFormatError(
            f"the results hold {len(present)} contrasts {present}; choose the volcano's with "
            f"contrast={present[-1]!r}."
        )
    if contrast not in present:
        raise InputFormatError(did_you_mean(contrast, present, what="contrast"))
    return contrast


def read_figures(
    path: str | os.PathLike[str], *, name: str, adata: AnnData, key: str, dpi: int
) -> dict[str, dict[str, Any]]:
    """The figures of a file written by :func:`figures` (caption -> figure), checked against the
    modality they are for."""
    path = Path(path)
    redraw = (
        f"draw it again with kom.report.figures(adata, {str(path)!r}, name={name!r}, dpi={dpi})"
    )
    redraw_cli = (
        f"draw it again with `kratom-omics report-figures {name}=<data.h5ad> --out {path}"
        + (f" --dpi {dpi}`" if dpi != 80 else "`")
    )
    if not path.is_file():
        raise InputFormatError(
            f"figures_from[{name!r}]: {str(path)!r} does not exist; {redraw}.",
            cli=f"--figures-from {name}={path}: {str(path)!r} does not exist; {redraw_cli}.",
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputFormatError(
            f"{str(path)!r} is not a figures file of kratom-omics (written by "
            f"kom.report.figures); {redraw}.",
            cli=f"{str(path)!r} is not a figures file of kratom-omics (written by "
            f"kratom-omics report-figures); {redraw_cli}.",
        )
    if doc.get("version") != VERSION or not isinstance(doc.get("figures"), dict):
        raise InputFormatError(
            f"{str(path)!r}: figures file version {doc.get('version')!r}, expected {VERSION}; "
            f"{redraw}.",
            cli=f"{str(path)!r}: figures file version {doc.get('version')!r}, expected "
            f"{VERSION}; {redraw_cli}.",
        )
    found = {
        "modality": doc.get("modality"),
        "dpi": doc.get("dpi"),
        "data": doc.get("fingerprint"),
    }
    expected = {"modality": name, "dpi": dpi, "data": fingerprint(adata, key)}
    differ = [k for k in expected if found[k] != expected[k]]
    if "modality" in differ:  # another modality's file: its data differ too, by nature
        differ = ["modality"]
    if differ:
        what = {
            "modality": f"modality {found['modality']!r}, not {name!r}",
            "dpi": f"dpi {found['dpi']!r}, not {dpi!r}",
            "data": (
                f"other data than the report's {name!r} ({doc.get('samples')} x "
                f"{doc.get('features')} values; the report's are {adata.n_obs} x {adata.n_vars}) "
                "or other results"
            ),
        }
        text = f"{str(path)!r} holds the figures of " + " and ".join(what[k] for k in differ)
        if differ == ["dpi"] and isinstance(found["dpi"], int):
            redraw += f", or assemble the report with dpi={found['dpi']}"
            redraw_cli += f", or run the report with --dpi {found['dpi']}"
        raise InputFormatError(f"{text}; {redraw}.", cli=f"{text}; {redraw_cli}.")
    out: dict[str, dict[str, Any]] = {}
    for caption, entry in doc["figures"].items():
        ok = isinstance(entry, dict) and (
            isinstance(entry.get("skipped"), str)
            or (
                isinstance(entry.get("png"), str)
                and isinstance(entry.get("width"), int)
                and isinstance(entry.get("height"), int)
            )
        )
        if not ok:
            raise InputFormatError(
                f"{str(path)!r}: the figure {str(caption)[:60]!r} is incomplete; {redraw}.",
                cli=f"{str(path)!r}: the figure {str(caption)[:60]!r} is incomplete; {redraw_cli}.",
            )
        if "png" in entry:
            try:
                base64.b64decode(entry["png"], validate=True)
            except ValueError:
                raise InputFormatError(
                    f"{str(path)!r}: the figure {str(caption)[:60]!r} is not base64 PNG; {redraw}.",
                    cli=f"{str(path)!r}: the figure {str(caption)[:60]!r} is not base64 PNG; "
                    f"{redraw_cli}.",
                ) from None
            out[str(caption)] = {
                "png": entry["png"],
                "width": entry["width"],
                "height": entry["height"],
            }
        else:
            out[str(caption)] = {"skipped": entry["skipped"]}
    return out
