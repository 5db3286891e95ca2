"""The building blocks of the report page: figures as embedded PNG, tables as escaped cells.

Every value is handed to the template as text and escaped there by jinja2's autoescaping; a table
cell carries its display text, a sort key and a CSS class.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import KratomOmicsError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Figures", "asset", "figure", "safe_name", "table"]

logger = logging.getLogger("kratom_omics")

_P_COLUMNS = frozenset({"pvalue", "padj", "p", "qvalue"})


def figure(fig: Figure, fid: str, caption: str, dpi: int) -> dict[str, Any]:
    from PIL import Image

    buf = io.BytesIO()
    if len([a for a in fig.axes if a.get_label() != "<colorbar>"]) <= 1:
        # one panel: a tight bounding box is enough and much faster than the constrained layout
        fig.set_layout_engine("none")
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white", bbox_inches="tight")
    else:
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    w, h = Image.open(io.BytesIO(buf.getvalue())).size
    return {
        "id": fid,
        "png": base64.b64encode(buf.getvalue()).decode("ascii"),
        "caption": caption,
        "width": w,
        "height": h,
    }


class Figures:
    """Collects figures; a plot the data cannot support is skipped with a note.

    Figures drawn beforehand (by :func:`kratom_omics.report.figures`, in a process of their own)
    are given as ``drawn`` (caption -> figure, or caption -> ``{"skipped": note}``) and taken
    from there instead of drawing them again; every figure added is also kept in ``recorded``
    (the same form), which is what :func:`kratom_omics.report.figures` writes. ``keep`` is called
    with each figure drawn and the ``tag`` it was added with, after it was rendered for the page.
    """

    def __init__(
        self,
        prefix: str,
        dpi: int,
        notes: list[str],
        *,
        draw: bool = True,
        drawn: Mapping[str, Mapping[str, Any]] | None = None,
        keep: Callable[[Figure, str], None] | None = None,
    ) -> None:
        self.prefix, self.dpi, self.notes, self.n, self.draw = prefix, dpi, notes, 0, draw
        self.drawn = drawn if drawn is not None else {}
        self.keep = keep
        self.recorded: dict[str, dict[str, Any]] = {}

    def add(
        self,
        out: list[dict[str, Any]],
        caption: str,
        make: Callable[[], Figure | Axes],
        *,
        tag: str = "",
    ) -> None:
        self.n += 1
        fid = f"{self.prefix}-f{self.n}"
        if caption in self.drawn and self.draw:
            entry = dict(self.drawn[caption])
            self.recorded[caption] = entry
            if "skipped" in entry:
                self.notes.append(str(entry["skipped"]))
            else:
                out.append({**entry, "id": fid, "caption": caption})
            return
        if not self.draw:
            return
        try:
            result = make()
        except KratomOmicsError as exc:
            logger.warning("report: figure %r skipped: %s", caption, exc)
            note = f"Figure skipped ({caption.split(':')[0]}): {exc}"
            self.notes.append(note)
            self.recorded[caption] = {"skipped": note}
            return
        from matplotlib.figure import Figure

        fig: object = result
        while not isinstance(fig, Figure) and fig is not None:  # Axes -> (Sub)Figure -> Figure
            fig = getattr(fig, "figure", None)
        if not isinstance(fig, Figure):  # pragma: no cover - every plot draws on a Figure
            raise KratomOmicsError(f"figure {caption!r}: the plot returned no figure.")
        item = figure(fig, fid, caption, self.dpi)
        self.recorded[caption] = {k: v for k, v in item.items() if k != "id"}
        out.append(item)
        if self.keep is not None:
            self.keep(fig, tag)


def _cell(value: Any, column: str) -> tuple[str, str | None, str]:
    if value is None or value is pd.NA or value is pd.NaT:
        return "", None, ""
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), None, ""
    if isinstance(value, (int, np.integer)):
        return str(int(value)), str(int(value)), "num"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "", None, "num"
        if math.isinf(v):
            return ("inf" if v > 0 else "-inf"), ("Infinity" if v > 0 else "-Infinity"), "num"
        is_p = column in _P_COLUMNS or column.endswith(("_padj", "_pvalue"))
        text = f"{v:.3g}" if is_p else f"{v:.4g}"
        return text, repr(v), "num"
    return str(value), None, ""


def table(
    df: pd.DataFrame,
    tid: str,
    label: str,
    *,
    tsv: str | None = None,
    max_rows: int | None = None,
    order: str = "",
) -> dict[str, Any]:
    n_total = len(df)
    shown = df if max_rows is None else df.head(max_rows)
    columns = [str(c) for c in shown.columns]
    rows = [
        [_cell(v, c) for v, c in zip(rec, columns, strict=True)]
        for rec in shown.itertuples(index=False, name=None)
    ]
    return {
        "id": tid,
        "label": label,
        "columns": columns,
        "rows": rows,
        "n_total": n_total,
        "truncated": len(shown) < n_total,
        "order": order,
        "tsv": tsv,
    }


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "data"


def asset(name: str) -> str:
    return (
        resources.files("kratom_omics.report")
        .joinpath("templates", name)
        .read_text(encoding="utf-8")
    )
