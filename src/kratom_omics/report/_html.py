"""One self-contained HTML report of a study: summary, QC, results, candidates, methods.

Everything the page needs is inside the file: figures are base64 PNG, CSS and JavaScript are inline,
and a
Content-Security-Policy forbids any network request. Every text taken from the data (sample and
feature
names, annotations) goes through jinja2's autoescaping. The report and its TSV tables are written to
temporary paths first and renamed into place, so a failure never leaves a half-written report.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import UNS_KEY
from .._results import Result, get_result
from .._version import __version__
from ..errors import InputFormatError, KratomOmicsError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.figure import Figure

__all__ = ["html"]

logger = logging.getLogger("kratom_omics")

_P_COLUMNS = frozenset({"pvalue", "padj", "p", "qvalue"})
_PACKAGES = (
    "kratom-omics",
    "numpy",
    "scipy",
    "pandas",
    "anndata",
    "scanpy",
    "statsmodels",
    "matplotlib",
    "seaborn",
    "formulaic",
    "jinja2",
    "mudata",
)
_DEFAULT_TRAJECTORIES = {"protein": ("Rab35", "Hdac2"), "histone": ("H3K9ac", "H4K12ac")}
_MAX_PANELS = 8


# ------------------------------------------------------------------------------------------- input
def _modality_of(adata: AnnData) -> str:
    sim = adata.uns.get("simulation")
    if isinstance(sim, Mapping) and sim.get("modality"):
        return str(sim["modality"])
    if {"peptide_family", "histone", "marks", "mark"} & set(adata.var.columns):
        return "histone"
    return "protein"


def _as_mapping(data: Any) -> dict[str, AnnData]:
    from anndata import AnnData

    if isinstance(data, AnnData):
        return {_modality_of(data): data}
    if hasattr(data, "mod") and isinstance(data.mod, Mapping):  # MuData
        mapping = dict(data.mod)
    elif isinstance(data, Mapping):
        mapping = dict(data)
    else:
        raise InputFormatError(
            f"data is a {type(data).__name__}; expected an AnnData, a dict of modality name -> "
            "AnnData (e.g. {'protein': adata_p, 'histone': adata_h}) or a MuData."
        )
    if not mapping:
        raise InputFormatError("data holds no modality; pass at least one AnnData.")
    for name, value in mapping.items():
        if not isinstance(value, AnnData):
            raise InputFormatError(
                f"data[{name!r}] is a {type(value).__name__}; every value must be an AnnData."
            )
    return {str(k): v for k, v in mapping.items()}


# ----------------------------------------------------------------------------------------- figures
def _figure(fig: Figure, fid: str, caption: str, dpi: int) -> dict[str, Any]:
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


class _Figures:
    """Collects figures; a plot the data cannot support is skipped with a note."""

    def __init__(self, prefix: str, dpi: int, notes: list[str], *, draw: bool = True) -> None:
        self.prefix, self.dpi, self.notes, self.n, self.draw = prefix, dpi, notes, 0, draw

    def add(self, out: list[dict[str, Any]], caption: str, make: Any) -> None:
        self.n += 1
        if not self.draw:
            return
        try:
            result = make()
        except KratomOmicsError as exc:
            logger.warning("report: figure %r skipped: %s", caption, exc)
            self.notes.append(f"Figure skipped ({caption.split(':')[0]}): {exc}")
            return
        fig = result if hasattr(result, "savefig") else result.figure
        out.append(_figure(fig, f"{self.prefix}-f{self.n}", caption, self.dpi))


# ------------------------------------------------------------------------------------------ tables
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
        text = f"{v:.3g}" if column in _P_COLUMNS else f"{v:.4g}"
        return text, repr(v), "num"
    return str(value), None, ""


def _table(
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


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "data"


# -------------------------------------------------------------------------------------- provenance
def _provenance(adata: AnnData) -> list[dict[str, str]]:
    store = adata.uns.get(UNS_KEY, {})
    steps = store.get("provenance", {}) if isinstance(store, Mapping) else {}
    items = (
        sorted(steps.items())
        if isinstance(steps, Mapping)
        else [(f"step_{i:03d}", s) for i, s in enumerate(steps)]
    )
    out = []
    for name, step in items:
        if not isinstance(step, Mapping):
            continue
        params = step.get("parameters", "")
        try:
            parsed = json.loads(params) if isinstance(params, str) else dict(params)
            text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in parsed.items())
        except (ValueError, TypeError):
            text = str(params)
        out.append(
            {
                "step": str(name).removeprefix("step_"),
                "function": str(step.get("function", "")),
                "parameters": text,
                "version": str(step.get("version", "")),
                "time": str(step.get("time", "")),
            }
        )
    return out


def _package_versions() -> list[tuple[str, str]]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = [("python", platform.python_version())]
    for name in _PACKAGES:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def _methods_text(adata: AnnData, key: str, fdr: float, lfc: float) -> str:
    res = adata.uns.get(key)
    parts = []
    if isinstance(res, Mapping) and isinstance(res.get("params"), Mapping):
        p = res["params"]
        design = p.get("design_formula") or p.get("formula") or f"~ 0 + {p.get('groupby', 'phase')}"
        contrasts = ", ".join(str(c) for c in np.atleast_1d(p.get("contrasts", [])))
        parts.append(
            f"Differential abundance: one linear model per feature on its observed samples "
            f"(design {design}), contrasts {contrasts}, empirical-Bayes moderated t and F tests "
            f"(limma method; trend={p.get('trend', False)}, robust={p.get('robust', False)}"
            + (
                f", matching limma {p['limma_version_matched']}"
                if p.get("limma_version_matched")
                else ""
            )
            + f"); p-values adjusted with {str(p.get('fdr', 'bh')).upper()}. "
            f"Reported as significant: adjusted p < {fdr:g}"
            + (f" and |log2 fold change| >= {lfc:g}." if lfc > 0 else ".")
        )
    bio = adata.uns.get("biomarkers")
    if isinstance(bio, Mapping) and isinstance(bio.get("params"), Mapping):
        bp = bio["params"]
        parts.append(
            "Candidate markers: flagged when adjusted p < "
            f"{bp.get('alpha', '?')} and |log2 fold change| >= {bp.get('min_abs_log2fc', '?')}; "
            "concordant when the observed direction matches the expected one."
        )
    return " ".join(parts)


# ---------------------------------------------------------------------------------------- sections
def _is_log2(adata: AnnData) -> bool:
    x = np.asarray(adata.X, dtype=float)
    finite = x[np.isfinite(x)]
    return bool(finite.size) and float(np.max(np.abs(finite))) < 64


def _comparable_raw(adata: AnnData) -> bool:
    """Whether log2 of ``layers["raw"]`` is on the scale of ``.X`` (before/after normalisation).

    Densitometry stores band signals as raw but log2 folds of control in ``.X``; drawing both on
    one axis would only show the change of scale.
    """
    if "raw" not in adata.layers:
        return False
    raw = np.asarray(adata.layers["raw"], dtype=float)
    x = np.asarray(adata.X, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log2(raw[np.isfinite(raw) & (raw > 0)])
    xs = x[np.isfinite(x)]
    return bool(lr.size and xs.size) and abs(float(np.median(lr)) - float(np.median(xs))) < 3


def _trajectory_features(
    adata: AnnData, kind: str, features: Sequence[str] | None, key: str
) -> list[str]:
    from ..pl._style import biomarker_features, match_features

    def _matches(queries: Sequence[str]) -> list[str]:
        out: list[str] = []
        for q in queries:
            try:
                out += [f for f in match_features(adata, q) if f not in out]
            except KratomOmicsError:
                continue
        return out

    if features is not None:
        return _matches(features)[:_MAX_PANELS]
    found = biomarker_features(adata)
    if found:
        return found[:_MAX_PANELS]
    chosen = _matches(_DEFAULT_TRAJECTORIES.get(kind, ()))
    if not chosen:
        res = adata.uns.get(key)
        f_table = res.get("f_table") if isinstance(res, Mapping) else None
        if isinstance(f_table, pd.DataFrame) and len(f_table):
            chosen = f_table.sort_values("pvalue")["feature"].astype(str).head(4).tolist()
    return chosen[:_MAX_PANELS]


def _contrast_figure(adata: AnnData, contrast: str, *, key: str, fdr: float, lfc: float) -> Figure:
    """Volcano, MA and p-value histogram of one contrast side by side (one figure is faster)."""
    from .. import pl
    from ..pl._style import new_figure

    fig, axes = new_figure(3, ncols=3, panel_size=(4.4, 3.8))
    pl.volcano(adata, contrast, key=key, fdr=fdr, lfc=lfc, ax=axes[0])
    pl.ma(adata, contrast, key=key, fdr=fdr, lfc=lfc, ax=axes[1])
    pl.pvalue_histogram(adata, contrast, key=key, ax=axes[2])
    return fig


def _significance_counts(table: pd.DataFrame, fdr: float, lfc: float) -> tuple[int, int, int]:
    p = pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float)
    fc = pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float)
    sig = (p < fdr) & (np.abs(fc) >= lfc)
    return int(np.isfinite(p).sum()), int((sig & (fc > 0)).sum()), int((sig & (fc < 0)).sum())


_RESULT_COLUMNS = (
    "feature",
    "gene",
    "log2fc",
    "ci_low",
    "ci_high",
    "mean_log2",
    "t",
    "pvalue",
    "padj",
    "B",
    "n_obs",
)
_CANDIDATE_COLUMNS = (
    "candidate",
    "modality",
    "contrast",
    "expected",
    "observed",
    "found",
    "label",
    "best_feature",
    "n_features",
    "log2fc",
    "padj",
    "significant",
    "concordant",
    "auc",
    "status",
    "note",
)


def _modality(
    index: int,
    name: str,
    adata: AnnData,
    *,
    key: str,
    fdr: float | None,
    lfc: float | None,
    max_rows: int,
    features: Sequence[str] | None,
    dpi: int,
    tables: dict[str, pd.DataFrame],
    tables_rel: str,
    draw: bool = True,
) -> dict[str, Any]:
    from .. import pl
    from ..pl._style import contrasts_of, differential_result, fdr_of, lfc_of, sample_order

    mid = f"m{index}"
    fname = _safe_name(name)
    kind = _modality_of(adata)
    notes: list[str] = []
    figs = _Figures(mid, dpi, notes, draw=draw)
    has_phase = "phase" in adata.obs.columns
    x = np.asarray(adata.X, dtype=float)

    # summary and samples
    order = sample_order(adata, "phase") if has_phase else np.arange(adata.n_obs)
    samples = adata.obs.iloc[order].copy()
    samples.insert(0, "sample", samples.index.astype(str))
    samples["features_detected"] = np.isfinite(x).sum(axis=1)[order]
    tables[f"{fname}_samples.tsv"] = samples
    phase_counts = adata.obs["phase"].astype(str).value_counts().to_dict() if has_phase else {}
    section: dict[str, Any] = {
        "id": mid,
        "name": name,
        "n_samples": adata.n_obs,
        "n_features": adata.n_vars,
        "phase_counts": phase_counts,
        "missing_pct": f"{100 * (1 - np.isfinite(x).mean()):.1f}%",
        "notes": notes,
        "samples": _table(
            samples, f"{mid}-samples", f"samples of {name}", tsv=f"{tables_rel}/{fname}_samples.tsv"
        ),
        "qc": [],
        "results": None,
        "trajectories": [],
        "histone": [],
        "biomarkers": None,
    }
    if not has_phase:
        notes.append("adata.obs has no 'phase' column: phase-coloured plots are skipped.")

    # QC
    qc: list[dict[str, Any]] = section["qc"]
    if has_phase:
        figs.add(qc, "Features detected per sample, coloured by phase.", lambda: pl.detected(adata))
    if not np.isfinite(x).all():
        figs.add(
            qc,
            "Missingness: fraction of samples missing per feature against its mean observed value.",
            lambda: pl.missingness(adata),
        )
    if has_phase:
        before = "raw" if _comparable_raw(adata) else None
        figs.add(
            qc,
            "Distribution of values per sample"
            + (
                " (hatched: log2 of the values as loaded; solid: analysed values)."
                if before
                else "."
            ),
            lambda: pl.intensity_distributions(adata, before=before),
        )
        figs.add(
            qc,
            "Sample-sample Pearson correlation, samples ordered by phase.",
            lambda: pl.correlation(adata),
        )
        colors = [c for c in ("phase", "batch") if c in adata.obs.columns]
        figs.add(
            qc,
            "PCA of the samples coloured by " + " and ".join(colors) + ".",
            lambda: pl.pca(adata, colors),
        )
        figs.add(
            qc,
            "Coefficient of variation of each feature within each phase.",
            lambda: pl.cv(adata, log2=_is_log2(adata)),
        )

    # differential results
    res = adata.uns.get(key)
    if isinstance(res, Mapping) and ("table" in res or "table_path" in res):
        differential_result(adata, key)
        thr = fdr_of(adata, key, fdr)
        lfc_t = lfc_of(adata, key, lfc)
        full = get_result(adata, key).table().copy()
        full["feature"] = full["feature"].astype(str)
        tables[f"{fname}_differential.tsv"] = full
        contrasts = []
        for j, c in enumerate(contrasts_of(adata, key)):
            t = full.loc[full["contrast"].astype(str) == c]
            n_tested, n_up, n_down = _significance_counts(t, thr, lfc_t)
            cid = f"{mid}-c{j}"
            cfigs: list[dict[str, Any]] = []
            figs.add(
                cfigs,
                f"{c}: volcano plot and MA plot, coloured when adjusted p < {thr:g}"
                + (f" and |log2FC| >= {lfc_t:g}" if lfc_t > 0 else "")
                + " (candidate markers and top features labelled), and the p-value histogram "
                "(dashed: the level expected if nothing changed).",
                lambda c=c, thr=thr: _contrast_figure(adata, c, key=key, fdr=thr, lfc=lfc_t),
            )
            cols = [col for col in _RESULT_COLUMNS if col in t.columns]
            ranked = t.sort_values(["pvalue", "feature"], kind="stable", na_position="last")[cols]
            contrasts.append(
                {
                    "id": cid,
                    "name": c,
                    "n_tested": n_tested,
                    "n_up": n_up,
                    "n_down": n_down,
                    "figures": cfigs,
                    "table": _table(
                        ranked,
                        f"{cid}-table",
                        f"features of {c}",
                        tsv=f"{tables_rel}/{fname}_differential.tsv",
                        max_rows=max_rows,
                        order="p-value",
                    ),
                }
            )
        overview: list[dict[str, Any]] = []
        figs.add(
            overview,
            "Top features (smallest F-test p-value over all contrasts), z-scored per feature; "
            "samples ordered by phase (bar on top).",
            lambda: pl.top_heatmap(adata, key=key),
        )
        f_table = res.get("f_table")
        f_tab = None
        if isinstance(f_table, pd.DataFrame) and len(f_table):
            tables[f"{fname}_f_test.tsv"] = f_table
            f_tab = _table(
                f_table.sort_values("pvalue", kind="stable"),
                f"{mid}-f",
                f"F-test of {name}",
                tsv=f"{tables_rel}/{fname}_f_test.tsv",
                max_rows=max_rows,
                order="p-value",
            )
        section["results"] = {
            "fdr": f"{thr:g}",
            "description": (
                f"{len(contrasts)} contrast(s) from adata.uns[{key!r}]; a feature counts as up or "
                f"down when its adjusted p-value is below {thr:g}"
                + (f" and |log2 fold change| >= {lfc_t:g}." if lfc_t > 0 else ".")
            ),
            "contrasts": contrasts,
            "overview": overview,
            "f_table": f_tab,
        }
        if kind == "histone":
            figs.add(
                section["histone"],
                "log2 fold change of every modified histone feature across contrasts "
                f"(* adjusted p < {thr:g}).",
                lambda: pl.mark_heatmap(adata, key=key, fdr=thr),
            )
        section["methods_text"] = _methods_text(adata, key, thr, lfc_t)
    else:
        notes.append(
            f"No differential results in adata.uns[{key!r}]: run kom.tl.differential first to add "
            "volcano plots and result tables."
        )
        section["methods_text"] = ""

    # trajectories, histone and western views
    if has_phase:
        feats = _trajectory_features(adata, kind, features, key)
        if feats:
            figs.add(
                section["trajectories"],
                "Mean and 95% confidence interval per phase (black), animals as points, repeated "
                "measures of one animal joined by grey lines.",
                lambda: pl.trajectories(adata, feats),
            )
        if "peptide_family" in adata.var.columns:
            figs.add(
                section["histone"],
                "Fraction of each peptidoform within its peptide family, per phase.",
                lambda: pl.histone_composition(adata),
            )
        if "western" in name.lower() or "densitometry" in adata.uns:
            figs.add(
                section["histone"],
                "Normalised western-blot signal per phase relative to control (mean +- SEM), "
                "with tests against control.",
                lambda: pl.western(adata, key=key),
            )

    # candidate biomarkers
    bio = adata.uns.get("biomarkers")
    cand = bio.get("candidates") if isinstance(bio, Mapping) else None
    if isinstance(cand, pd.DataFrame):
        tables[f"{fname}_biomarker_candidates.tsv"] = cand
        cols = [c for c in _CANDIDATE_COLUMNS if c in cand.columns]
        section["biomarkers"] = _table(
            cand[cols],
            f"{mid}-bio",
            f"candidate markers of {name}",
            tsv=f"{tables_rel}/{fname}_biomarker_candidates.tsv",
        )
    prov = _provenance(adata)
    if prov:
        tables[f"{fname}_provenance.tsv"] = pd.DataFrame(prov)
    section["provenance"] = prov
    return section


def _cross(
    mapping: Mapping[str, AnnData],
    *,
    key: str,
    fdr: float | None,
    lfc: float | None,
    dpi: int,
    tables: dict[str, pd.DataFrame],
    tables_rel: str,
    draw: bool = True,
) -> dict[str, Any] | None:
    from matplotlib.figure import Figure

    from ..pl._style import biomarker_features, contrasts_of, fdr_of, heatmap, lfc_of

    counts = []
    rows = []
    for name, adata in mapping.items():
        res = adata.uns.get(key)
        if not (isinstance(res, Mapping) and ("table" in res or "table_path" in res)):
            continue
        thr = fdr_of(adata, key, fdr)
        lfc_t = lfc_of(adata, key, lfc)
        table = Result(key, res).table().copy()
        table["feature"] = table["feature"].astype(str)
        for c in contrasts_of(adata, key):
            t = table.loc[table["contrast"].astype(str) == c]
            n, up, down = _significance_counts(t, thr, lfc_t)
            counts.append({"modality": name, "contrast": c, "tested": n, "up": up, "down": down})
        feats = biomarker_features(adata)
        if not feats:
            f_table = res.get("f_table")
            if isinstance(f_table, pd.DataFrame) and len(f_table):
                feats = f_table.sort_values("pvalue")["feature"].astype(str).head(5).tolist()
        sub = table.loc[table["feature"].isin(feats)].copy()
        if "gene" in sub.columns:
            label = sub["gene"].astype(str).where(sub["gene"].notna(), sub["feature"])
        else:
            label = sub["feature"]
        sub["row"] = name + ": " + label.astype(str)
        sub["star"] = np.where(pd.to_numeric(sub["padj"], errors="coerce") < thr, "*", "")
        rows.append(sub[["row", "contrast", "log2fc", "padj", "star"]])
    if not counts:
        return None
    out: dict[str, Any] = {
        "description": (
            "Significant features per modality and contrast, and the log2 fold changes of each "
            "modality's candidate markers (or top features) side by side."
        ),
        "figures": [],
        "tables": [],
    }
    counts_df = pd.DataFrame(counts)
    tables["cross_modality_counts.tsv"] = counts_df
    out["tables"].append(
        _table(
            counts_df,
            "cross-counts",
            "significant features per modality",
            tsv=f"{tables_rel}/cross_modality_counts.tsv",
        )
    )
    if rows:
        long = pd.concat(rows, ignore_index=True)
        long["log2fc"] = pd.to_numeric(long["log2fc"], errors="coerce")
        wide = long.pivot_table(
            index="row", columns="contrast", values="log2fc", aggfunc="first", sort=False
        )
        stars = long.pivot_table(
            index="row", columns="contrast", values="star", aggfunc="first", sort=False
        )
        stars = stars.reindex(index=wide.index, columns=wide.columns).fillna("")
        if wide.size and draw:
            vals = wide.to_numpy(dtype=float)
            finite = vals[np.isfinite(vals)]
            lim = float(np.max(np.abs(finite))) if finite.size else 1.0
            fig = Figure(
                figsize=(1.3 * wide.shape[1] + 3.5, 0.28 * wide.shape[0] + 1.8),
                layout="constrained",
            )
            ax = fig.add_subplot()
            heatmap(
                ax,
                np.clip(vals, -lim, lim),
                list(wide.index),
                list(wide.columns),
                cmap="RdBu_r",
                vmin=-lim,
                vmax=lim,
                annot=stars.to_numpy(),
                label="log2 fold change",
                xrotation=30,
            )
            ax.set_title("candidate markers across modalities (* significant)", fontsize="medium")
            out["figures"].append(
                _figure(
                    fig,
                    "cross-f1",
                    "log2 fold change of candidate markers (or top features) of each "
                    "modality across contrasts; * adjusted p below the FDR threshold.",
                    dpi,
                )
            )
    if all(isinstance(a.uns.get("biomarkers"), Mapping) for a in mapping.values()):
        try:
            from ..tl._biomarkers import cross_table

            cross = cross_table(mapping)
        except KratomOmicsError as exc:
            logger.warning("report: cross-modality candidate table skipped: %s", exc)
        else:
            tables["cross_modality_candidates.tsv"] = cross
            cols = [c for c in cross.columns if c != "evidence"]
            out["tables"].append(
                _table(
                    cross[cols],
                    "cross-cand",
                    "candidate markers across modalities",
                    tsv=f"{tables_rel}/cross_modality_candidates.tsv",
                )
            )
    return out


# ----------------------------------------------------------------------------------------- writing
def _write_atomically(
    text: str, tables: Mapping[str, pd.DataFrame], out: Path, tables_dir: Path
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tables_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{tables_dir.name}.", dir=tables_dir.parent))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp_html = Path(tmp_name)
    old: Path | None = None
    umask = os.umask(0)
    os.umask(umask)
    try:
        # temporary files are private (0600/0700); the results get the usual permissions
        os.chmod(tmp_dir, 0o777 & ~umask)
        os.chmod(tmp_html, 0o666 & ~umask)
        for fname, df in tables.items():
            df.to_csv(tmp_dir / fname, sep="\t", index=False, na_rep="NA")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if tables_dir.exists():
            old = tables_dir.with_name(f".{tables_dir.name}.old-{os.getpid()}")
            tables_dir.rename(old)
        tmp_dir.rename(tables_dir)
        os.replace(tmp_html, out)
    except BaseException:
        if old is not None and not tables_dir.exists():
            old.rename(tables_dir)
            old = None
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_html.unlink(missing_ok=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _asset(name: str) -> str:
    return (
        resources.files("kratom_omics.report")
        .joinpath("templates", name)
        .read_text(encoding="utf-8")
    )


def html(
    data: Any,
    out: str | os.PathLike[str],
    *,
    title: str = "kratom-omics report",
    key: str = "differential",
    tables_dir: str | os.PathLike[str] | None = None,
    fdr: float | None = None,
    lfc: float | None = None,
    features: Sequence[str] | None = None,
    max_rows: int = 1000,
    dpi: int = 80,
    figures: bool = True,
) -> Path:
    """Write one self-contained HTML report of a study, with its tables as TSV beside it.

    The report holds a study summary (samples per phase, modalities, sample sheet), QC figures
    (detection, missingness, distributions, correlation, PCA, CV), per contrast a volcano, MA and
    p-value
    plot with a searchable, sortable table of features, the F-test table, phase trajectories,
    histone
    views (peptidoform composition, mark heatmap) or western-blot views, the candidate-biomarker
    table
    (when ``kom.tl.flag_biomarkers`` was run), a cross-modality view when several modalities are
    given,
    and a methods section listing every recorded step, parameter and package version. The file makes
    no
    network request (figures are base64 PNG, CSS and JavaScript are inline).

    Parameters
    ----------
    data
        An AnnData, a dict of modality name -> AnnData (``{"protein": a, "histone": h}``) or a
        MuData.
        The AnnData objects are not changed (plots run on copies).
    out
        Path of the HTML file.
    title
        Title of the report.
    key
        Key of the differential results in ``adata.uns``.
    tables_dir
        Directory of the TSV tables (default ``<out stem>_tables`` beside ``out``); replaced as a
        whole.
    fdr
        FDR threshold of the figures and counts (default: stored with the results, else 0.05).
    lfc
        Absolute log2 fold-change threshold of the figures and counts (default: the TREAT threshold
        stored with the results, else 0).
    features
        Features (ids, gene symbols or histone marks) shown as phase trajectories; default: the
        candidate
        markers found, else Rab35/Hdac2 (protein) or H3K9ac/H4K12ac (histone), else the top F-test
        hits.
    max_rows
        Most rows embedded per result table (smallest p-values first); the TSV files hold every row.
    dpi
        Resolution of the embedded figures.
    figures
        Draw the figures (default); ``False`` writes the tables, summary and methods only, which is
        much faster for very large studies.

    Returns
    -------
    Path of the written HTML file. Writes ``out`` and the TSV files in ``tables_dir``; nothing is
    written to the AnnData objects.
    """
    from jinja2 import Environment, StrictUndefined

    from ..pl._style import group_colors

    if max_rows < 1:
        raise InputFormatError(f"max_rows={max_rows!r} must be a positive integer, e.g. 1000.")
    if dpi < 20:
        raise InputFormatError(f"dpi={dpi!r} is too small for a readable figure; use e.g. 80.")
    if features is not None and isinstance(features, str):
        features = [features]
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputFormatError(f"out={str(out)!r}: expected a file name ending in .html.")
    tdir = Path(tables_dir) if tables_dir is not None else out.with_name(f"{out.stem}_tables")
    try:
        tables_rel = os.path.relpath(tdir, out.parent).replace(os.sep, "/")
    except ValueError:  # another drive on Windows
        tables_rel = str(tdir)
    mapping = {name: a.copy() for name, a in _as_mapping(data).items()}

    tables: dict[str, pd.DataFrame] = {}
    sections = []
    phases: list[str] = []
    colors: dict[str, str] = {}
    for i, (name, adata) in enumerate(mapping.items()):
        logger.info("report: %s (%d samples x %d features)", name, adata.n_obs, adata.n_vars)
        if "phase" in adata.obs.columns:
            for p, c in group_colors(adata, "phase").items():
                if p not in colors:
                    phases.append(p)
                    colors[p] = c
        sections.append(
            _modality(
                i,
                name,
                adata,
                key=key,
                fdr=fdr,
                lfc=lfc,
                max_rows=max_rows,
                features=features,
                dpi=dpi,
                tables=tables,
                tables_rel=tables_rel,
                draw=figures,
            )
        )
    cross = (
        _cross(
            mapping,
            key=key,
            fdr=fdr,
            lfc=lfc,
            dpi=dpi,
            tables=tables,
            tables_rel=tables_rel,
            draw=figures,
        )
        if len(mapping) > 1
        else None
    )
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
    template = env.from_string(_asset("report.html.j2"))
    text = template.render(
        title=title,
        version=__version__,
        built=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=_asset("report.css"),
        js=_asset("report.js"),
        modalities=sections,
        phases=phases,
        phase_colors=colors,
        cross=cross,
        packages=_package_versions(),
        tables_dir=tables_rel,
    )
    _write_atomically(text, tables, out, tdir)
    logger.info("report: wrote %s and %d tables in %s", out, len(tables), tdir)
    return out
