"""The report's sections: one builder per section, each taking a resolved modality.

:func:`resolve` reads once what the sections need from a modality's AnnData: its kind (from the data:
histone feature columns, densitometry records, the simulation's label), the grouping of its samples
(the ``groupby`` of its differential result, else ``phase``), its differential result (through
the one accessor, in ``uns`` or on disk), its biomarker result (found by the differential key it
was computed from) and the thresholds. Each builder then returns the context of one section; the
template lays them out, so the order of the page is the template's.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._core import UNS_KEY, track_info, track_mark
from .._results import Result, biomarker_keys, get_result, is_result
from ..errors import KratomOmicsError
from ._render import Figures, figure, safe_name, table

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.figure import Figure

__all__ = [
    "Modality",
    "biomarkers_section",
    "cross_pairs",
    "cross_section",
    "histone_section",
    "methods_section",
    "pairs_section",
    "qc_section",
    "resolve",
    "results_section",
    "samples_section",
    "summary_section",
    "trajectories_section",
]

logger = logging.getLogger("kratom_omics")

_MAX_PANELS = 8
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
    "auc_direction",
    "status",
    "note",
)


# ------------------------------------------------------------------------------- resolved inputs
@dataclass
class Modality:
    """What the sections need of one modality, resolved once."""

    index: int
    name: str
    adata: AnnData
    kind: str  # "protein", "histone" or "tracks" (from the data)
    groupby: str | None  # the column grouping the samples (phases), None when absent
    key: str
    result: Result | None
    candidates: pd.DataFrame | None
    bio_params: Mapping[str, Any]
    fdr: float
    lfc: float
    lazy: bool  # X is a dask array: nothing matrix-wide is loaded
    scale: str  # what X holds: "log2", "logit", "clr" or "" (not recorded)
    figs: Figures
    tables: dict[str, pd.DataFrame]
    tables_rel: str
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"m{self.index}"

    @property
    def fname(self) -> str:
        return safe_name(self.name)

    def tsv(self, what: str, df: pd.DataFrame) -> str:
        """Keep ``df`` as the TSV ``<modality>_<what>.tsv``; return its path for the page."""
        name = f"{self.fname}_{what}.tsv"
        self.tables[name] = df
        return f"{self.tables_rel}/{name}"


def _kind(adata: AnnData) -> str:
    if track_info(adata) is not None:  # signal tracks (kom.io.read_bigwig)
        return "tracks"
    sim = adata.uns.get("simulation")
    if isinstance(sim, Mapping) and sim.get("modality"):
        return str(sim["modality"])
    if {"peptide_family", "histone", "marks", "mark"} & set(adata.var.columns):
        return "histone"
    return "protein"


#: Column names of an effect and of a mean on each scale of ``.X`` (``kom.get.differential`` keeps
#: ``log2fc`` and ``mean_log2`` whatever the scale; the report names them after what they are).
SCALE_COLUMNS: dict[str, tuple[str, str]] = {
    "log2": ("log2fc", "mean_log2"),
    "logit": ("log2_odds_ratio", "mean_logit"),
    "clr": ("clr_diff", "mean_clr"),
    "": ("effect", "mean"),
}
SCALE_TEXT: dict[str, str] = {
    "log2": "log2 values: effects are log2 fold changes",
    "logit": "logit values (log2 odds of each peptidoform's ratio): effects are log2 odds ratios",
    "clr": "centred log-ratios within each peptide family: effects are differences of CLR values",
    "": "values of an unrecorded scale: effects are differences of means",
}


def _scale(adata: AnnData) -> str:
    """What ``.X`` holds, as recorded by the loaders and ``pp`` (``""`` when not recorded)."""
    from ..pp._common import x_transform

    value = x_transform(adata)
    return value if value in SCALE_COLUMNS else ""


def scaled(df: pd.DataFrame, scale: str) -> pd.DataFrame:
    """``df`` with ``log2fc``/``mean_log2`` named after the scale of the values."""
    effect, mean = SCALE_COLUMNS.get(scale, SCALE_COLUMNS[""])
    return df.rename(columns={"log2fc": effect, "mean_log2": mean})


def _is_lazy(adata: AnnData) -> bool:
    m = adata.X
    return type(m).__module__.split(".")[0] == "dask" and hasattr(m, "chunks")


def resolve(
    index: int,
    name: str,
    adata: AnnData,
    *,
    key: str,
    fdr: float | None,
    lfc: float | None,
    dpi: int,
    draw: bool,
    tables: dict[str, pd.DataFrame],
    tables_rel: str,
    drawn: Mapping[str, Mapping[str, Any]] | None = None,
    keep: Callable[[Figure, str], None] | None = None,
) -> Modality:
    """Read once what every section of ``adata`` needs (see the module docs); ``drawn`` and
    ``keep`` are those of :class:`~kratom_omics.report._render.Figures`."""
    from ..pl._style import fdr_of, lfc_of

    notes: list[str] = []
    result = get_result(adata, key) if is_result(adata.uns.get(key)) else None
    stored = result.param("groupby") if result is not None else None
    groupby = next((g for g in (stored, "phase") if g is not None and g in adata.obs.columns), None)
    bio_keys = biomarker_keys(adata, key)
    bio = adata.uns[bio_keys[0]] if bio_keys else None
    candidates = bio.get("candidates") if isinstance(bio, Mapping) else None
    params = bio.get("params", {}) if isinstance(bio, Mapping) else {}
    return Modality(
        index=index,
        name=name,
        adata=adata,
        kind=_kind(adata),
        groupby=groupby,
        key=key,
        result=result,
        candidates=candidates if isinstance(candidates, pd.DataFrame) else None,
        bio_params=params if isinstance(params, Mapping) else {},
        fdr=fdr_of(adata, key, fdr) if result is not None else (fdr if fdr is not None else 0.05),
        lfc=lfc_of(adata, key, lfc),
        lazy=_is_lazy(adata),
        scale=_scale(adata),
        figs=Figures(f"m{index}", dpi, notes, draw=draw, drawn=drawn, keep=keep),
        tables=tables,
        tables_rel=tables_rel,
        notes=notes,
    )


# ------------------------------------------------------------------------------- section builders
def _detected_per_sample(m: Modality) -> tuple[np.ndarray, float]:
    """Detected features per sample and the fraction of missing values (dask: reduced lazily)."""
    x = m.adata.X
    if m.lazy:
        import dask.array as da

        fin = da.isfinite(x)
        per_sample, total = da.compute(fin.sum(axis=1), fin.sum())
        n = m.adata.n_obs * m.adata.n_vars
        return np.asarray(per_sample), 1 - float(total) / n if n else 0.0
    fin = np.isfinite(np.asarray(x, dtype=float))
    return fin.sum(axis=1), 1 - float(fin.mean()) if fin.size else 0.0


def samples_section(m: Modality) -> dict[str, Any]:
    """Summary of the modality and its sample sheet (samples in group order)."""
    from ..pl._style import sample_order

    adata = m.adata
    order = sample_order(adata, m.groupby) if m.groupby else np.arange(adata.n_obs)
    detected, missing = _detected_per_sample(m)
    samples = adata.obs.iloc[order].copy()
    samples.insert(0, "sample", samples.index.astype(str))
    samples["features_detected"] = detected[order]
    counts = adata.obs[m.groupby].astype(str).value_counts().to_dict() if m.groupby else {}
    if m.groupby is None:
        m.notes.append("adata.obs has no 'phase' column: phase-coloured plots are skipped.")
    return {
        "id": m.id,
        "name": m.name,
        "n_samples": adata.n_obs,
        "n_features": adata.n_vars,
        "phase_counts": counts,
        "missing_pct": f"{100 * missing:.1f}%",
        "notes": m.notes,
        "samples": table(
            samples, f"{m.id}-samples", f"samples of {m.name}", tsv=m.tsv("samples", samples)
        ),
    }


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


def qc_section(m: Modality) -> list[dict[str, Any]]:
    """QC figures: detection, missingness, distributions, correlation, PCA, CV."""
    from .. import pl

    adata, g = m.adata, m.groupby
    qc: list[dict[str, Any]] = []
    if m.lazy:
        m.notes.append(
            "The values are read from disk (dask): figures over the whole matrix are skipped."
        )
        return qc
    if g is not None:
        qc_detected = "Features detected per sample, coloured by phase."
        m.figs.add(qc, qc_detected, lambda: pl.detected(adata, g))
    if not np.isfinite(np.asarray(adata.X, dtype=float)).all():
        m.figs.add(
            qc,
            "Missingness: fraction of samples missing per feature against its mean observed value.",
            lambda: pl.missingness(adata),
        )
    if g is None:
        return qc
    before = "raw" if _comparable_raw(adata) else None
    m.figs.add(
        qc,
        "Distribution of values per sample"
        + (" (hatched: log2 of the values as loaded; solid: analysed values)." if before else "."),
        lambda: pl.intensity_distributions(adata, g, before=before),
    )
    m.figs.add(
        qc,
        "Sample-sample Pearson correlation, samples ordered by phase.",
        lambda: pl.correlation(adata, g),
    )
    colors = [c for c in (g, "batch") if c in adata.obs.columns]
    m.figs.add(
        qc,
        "PCA of the samples coloured by " + " and ".join(colors) + ".",
        lambda: pl.pca(adata, colors),
    )
    m.figs.add(
        qc,
        "Coefficient of variation of each feature within each phase.",
        lambda: pl.cv(adata, g, log2=_is_log2(adata)),
    )
    return qc


def _significance_counts(table: pd.DataFrame, fdr: float, lfc: float) -> tuple[int, int, int]:
    p = pd.to_numeric(table["padj"], errors="coerce").to_numpy(dtype=float)
    fc = pd.to_numeric(table["log2fc"], errors="coerce").to_numpy(dtype=float)
    sig = (p < fdr) & (np.abs(fc) >= lfc)
    return int(np.isfinite(p).sum()), int((sig & (fc > 0)).sum()), int((sig & (fc < 0)).sum())


def _contrast_figure(adata: AnnData, contrast: str, *, key: str, fdr: float, lfc: float) -> Figure:
    """Volcano, MA and p-value histogram of one contrast side by side (one figure is faster)."""
    from .. import pl
    from ..pl._style import new_figure

    fig, axes = new_figure(3, ncols=3, panel_size=(4.4, 3.8))
    pl.volcano(adata, contrast, key=key, fdr=fdr, lfc=lfc, ax=axes[0])
    pl.ma(adata, contrast, key=key, fdr=fdr, lfc=lfc, ax=axes[1])
    pl.pvalue_histogram(adata, contrast, key=key, ax=axes[2])
    return fig


def results_section(m: Modality, max_rows: int) -> dict[str, Any] | None:
    """Per contrast a volcano/MA/p-value figure and the ranked table; the overview heatmap and the
    F-test table (read from ``uns`` or from the parquet files written with ``out=``)."""
    from .. import get, pl

    res = m.result
    if res is None:
        m.notes.append(
            f"No differential results in adata.uns[{m.key!r}]: run kom.tl.differential (CLI: "
            "kratom-omics differential) first to add volcano plots and result tables."
        )
        return None
    adata, thr, lfc_t = m.adata, m.fdr, m.lfc
    full = res.table().copy()
    full["feature"] = full["feature"].astype(str)
    tsv = m.tsv("differential", scaled(get.differential(adata, key=m.key), m.scale))
    contrasts = []
    for j, c in enumerate(res.contrasts):
        t = full.loc[full["contrast"].astype(str) == c]
        n_tested, n_up, n_down = _significance_counts(t, thr, lfc_t)
        cid = f"{m.id}-c{j}"
        cfigs: list[dict[str, Any]] = []
        m.figs.add(
            cfigs,
            f"{c}: volcano plot and MA plot, coloured when adjusted p < {thr:g}"
            + (f" and |log2FC| >= {lfc_t:g}" if lfc_t > 0 else "")
            + " (candidate markers and top features labelled), and the p-value histogram "
            "(dashed: the level expected if nothing changed).",
            functools.partial(_contrast_figure, adata, c, key=m.key, fdr=thr, lfc=lfc_t),
            tag=f"contrast:{c}",
        )
        cols = [col for col in _RESULT_COLUMNS if col in t.columns]
        ranked = t.sort_values(["pvalue", "feature"], kind="stable", na_position="last")[cols]
        ranked = scaled(ranked, m.scale)
        contrasts.append(
            {
                "id": cid,
                "name": c,
                "n_tested": n_tested,
                "n_up": n_up,
                "n_down": n_down,
                "figures": cfigs,
                "table": table(
                    ranked,
                    f"{cid}-table",
                    f"features of {c}",
                    tsv=tsv,
                    max_rows=max_rows,
                    order="p-value",
                ),
            }
        )
    overview: list[dict[str, Any]] = []
    if not m.lazy:
        m.figs.add(
            overview,
            "Top features (smallest F-test p-value over all contrasts), z-scored per feature; "
            "samples ordered by phase (bar on top).",
            lambda: pl.top_heatmap(adata, key=m.key, groupby=m.groupby),
        )
    f_tab = None
    f_table = res.table("f_table") if res.has("f_table") else None
    if f_table is not None and len(f_table):
        f_tab = table(
            f_table.sort_values("pvalue", kind="stable"),
            f"{m.id}-f",
            f"F-test of {m.name}",
            tsv=m.tsv("differential_F", get.differential_f(adata, key=m.key)),
            max_rows=max_rows,
            order="p-value",
        )
    return {
        "fdr": f"{thr:g}",
        "description": (
            f"{len(contrasts)} contrast(s) on {SCALE_TEXT[m.scale]}; a feature counts as up or "
            f"down when its adjusted p-value is below {thr:g}"
            + (f" and |effect| >= {lfc_t:g}." if lfc_t > 0 else ".")
        ),
        "contrasts": contrasts,
        "overview": overview,
        "f_table": f_tab,
    }


def _candidate_queries(kind: str) -> list[str]:
    """Candidates of this modality from the shipped candidate list (names and aliases)."""
    from ..io._candidates import read_candidates

    try:
        cands = read_candidates()
    except KratomOmicsError:  # pragma: no cover - the shipped list is tested
        return []
    rows = cands.loc[cands["modality"].astype(str) == kind]
    return [str(c) for c in rows["candidate"]]


def _in_memory(adata: AnnData, features: Sequence[str]) -> AnnData:
    """The given features of a dask-backed AnnData, read into memory (nothing else is read)."""
    import anndata as ad

    sub = adata[:, list(features)]
    x = sub.X.compute() if hasattr(sub.X, "compute") else sub.X
    out = ad.AnnData(X=np.asarray(x, dtype=float), obs=sub.obs.copy(), var=sub.var.copy())
    out.uns.update({k: v for k, v in adata.uns.items() if str(k).endswith("_colors")})
    return out


def trajectories_section(m: Modality, features: Sequence[str] | None) -> list[dict[str, Any]]:
    """Phase trajectories of the candidate markers found (else of the candidate list's markers
    of this modality, else of the top F-test features)."""
    from .. import pl
    from ..pl._style import biomarker_features, match_features

    if m.groupby is None:
        return []
    adata = m.adata

    def matches(queries: Sequence[str]) -> list[str]:
        out: list[str] = []
        for q in queries:
            try:
                out += [f for f in match_features(adata, q) if f not in out]
            except KratomOmicsError:
                continue
        return out

    if features is not None:
        feats = matches(features)
    elif m.kind == "tracks":  # the mark's best regions, then the candidate genes' promoters
        feats = biomarker_features(adata, key=m.key)
        feats += [f for f in matches(_candidate_queries("protein")) if f not in feats]
    else:
        feats = biomarker_features(adata, key=m.key) or matches(_candidate_queries(m.kind))
        if not feats and m.result is not None and m.result.has("f_table"):
            f_table = m.result.table("f_table")
            feats = f_table.sort_values("pvalue")["feature"].astype(str).head(4).tolist()
    feats = feats[:_MAX_PANELS]
    out: list[dict[str, Any]] = []
    if feats:
        data = _in_memory(adata, feats) if m.lazy else adata
        g = m.groupby
        what = (
            f"{track_mark(adata) or 'Signal'} at each region (titled by its gene): "
            if m.kind == "tracks"
            else ""
        )
        m.figs.add(
            out,
            f"{what}Mean and 95% confidence interval per phase (black), animals as points, "
            "repeated measures of one animal joined by grey lines.",
            lambda: pl.trajectories(data, feats, groupby=g),
        )
    return out


def histone_section(m: Modality) -> list[dict[str, Any]]:
    """Histone views: the mark heatmap of the contrasts, peptidoform composition, western blots."""
    from .. import pl

    adata, g = m.adata, m.groupby
    out: list[dict[str, Any]] = []
    if m.lazy:
        return out
    if m.result is not None and m.kind == "histone":
        m.figs.add(
            out,
            "log2 fold change of every modified histone feature across contrasts "
            f"(* adjusted p < {m.fdr:g}).",
            lambda: pl.mark_heatmap(adata, key=m.key, fdr=m.fdr),
        )
    if g is None:
        return out
    if "peptide_family" in adata.var.columns:
        m.figs.add(
            out,
            "Fraction of each peptidoform within its peptide family, per phase.",
            lambda: pl.histone_composition(adata, g),
        )
    if "densitometry" in adata.uns:  # western-blot densitometry (kom.io.read_densitometry)
        m.figs.add(
            out,
            "Normalised western-blot signal per phase relative to control (mean +- SEM), "
            "with tests against control.",
            lambda: pl.western(adata, key=m.key, groupby=g),
        )
    return out


def biomarkers_section(m: Modality) -> dict[str, Any] | None:
    """The candidate-marker table of ``kom.tl.flag_biomarkers`` (when it was run)."""
    cand = m.candidates
    if cand is None:
        return None
    cols = [c for c in _CANDIDATE_COLUMNS if c in cand.columns]
    return table(
        scaled(cand[cols], m.scale),
        f"{m.id}-bio",
        f"candidate markers of {m.name}",
        tsv=m.tsv("biomarkers", scaled(cand, m.scale)),
    )


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


def _method_phrase(p: Mapping[str, Any]) -> str:
    """How the stored result moderated its variances (``params["method"]``)."""
    method = str(p.get("method") or "limma")
    counts = p.get("n_peptides") or "n_peptides"
    if method == "count_trend":
        return f"limma method, prior variance trended on log peptide counts (var {counts})"
    if method == "deqms":
        return f"DEqMS prior on log2 peptide counts (var {counts}), no B statistic"
    if method == "dpc":
        curve = ""
        if "dpc_beta0" in p and "dpc_beta1" in p:
            curve = (
                f" logit P(detected) = {float(p['dpc_beta0']):.3g} + {float(p['dpc_beta1']):.3g} y,"
            )
        return (
            f"limma method with group means estimated from a detection probability curve"
            f"{curve} {p.get('dpc_n_filled', 0)} missing values used as evidence"
        )
    return "limma method"


def _methods_text(m: Modality) -> str:
    parts = []
    if m.result is not None:
        p = m.result.params
        design = p.get("design_formula") or p.get("formula") or f"~ 0 + {p.get('groupby', 'phase')}"
        contrasts = ", ".join(m.result.contrasts)
        samples = (
            "with its missing values as evidence of low abundance"
            if p.get("method") == "dpc"
            else "on its observed samples"
        )
        parts.append(
            f"Differential abundance: one linear model per feature {samples} "
            f"(design {design}), contrasts {contrasts}, empirical-Bayes moderated t and F tests "
            f"({_method_phrase(p)}; trend={p.get('trend', False)}, "
            f"robust={p.get('robust', False)}"
            + (
                f", matching limma {p['limma_version_matched']}"
                if p.get("limma_version_matched")
                else ""
            )
            + f"); p-values adjusted with {str(p.get('fdr', 'bh')).upper()}. "
            f"Reported as significant: adjusted p < {m.fdr:g}"
            + (f" and |log2 fold change| >= {m.lfc:g}." if m.lfc > 0 else ".")
        )
    if m.candidates is not None and m.bio_params:
        bp = m.bio_params
        parts.append(
            "Candidate markers: flagged when adjusted p < "
            f"{bp.get('alpha', '?')} and |log2 fold change| >= {bp.get('min_abs_log2fc', '?')}; "
            "concordant when significant and changing in the expected direction; ROC AUC in the "
            "expected direction (1 = perfect separation)."
        )
    return " ".join(parts)


def methods_section(m: Modality) -> dict[str, Any]:
    """The methods text (from the stored parameters) and every recorded processing step."""
    prov = _provenance(m.adata)
    if prov:
        m.tsv("provenance", pd.DataFrame(prov))
    return {"methods_text": _methods_text(m), "provenance": prov}


def cross_section(
    modalities: Sequence[Modality], *, dpi: int, draw: bool, tables_rel: str
) -> dict[str, Any] | None:
    """Significant features per modality and contrast, and the candidate markers side by side."""
    from matplotlib.figure import Figure

    from .. import get
    from ..pl._style import biomarker_features, heatmap

    if len(modalities) < 2:
        return None
    tables = modalities[0].tables
    counts = []
    rows = []
    for m in modalities:
        if m.result is None:
            continue
        full = m.result.table().copy()
        full["feature"] = full["feature"].astype(str)
        for c in m.result.contrasts:
            t = full.loc[full["contrast"].astype(str) == c]
            n, up, down = _significance_counts(t, m.fdr, m.lfc)
            counts.append({"modality": m.name, "contrast": c, "tested": n, "up": up, "down": down})
        feats = biomarker_features(m.adata, key=m.key)
        if not feats and m.result.has("f_table"):
            f_table = m.result.table("f_table")
            feats = f_table.sort_values("pvalue")["feature"].astype(str).head(5).tolist()
        sub = full.loc[full["feature"].isin(feats)].copy()
        if "gene" in sub.columns and m.kind != "tracks":  # a track's regions by their own name
            label = sub["gene"].astype(str).where(sub["gene"].notna(), sub["feature"])
        else:
            label = sub["feature"]
        sub["row"] = m.name + ": " + label.astype(str)
        sub["star"] = np.where(pd.to_numeric(sub["padj"], errors="coerce") < m.fdr, "*", "")
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
        table(
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
                figure(
                    fig,
                    "cross-f1",
                    "log2 fold change of candidate markers (or top features) of each "
                    "modality across contrasts; * adjusted p below the FDR threshold.",
                    dpi,
                )
            )
    if all(m.candidates is not None for m in modalities):
        bio_key = biomarker_keys(modalities[0].adata, modalities[0].key)[0]
        try:
            cross = get.biomarkers({m.name: m.adata for m in modalities}, bio_key, table="cross")
        except KratomOmicsError as exc:
            logger.warning("report: cross-modality candidate table skipped: %s", exc)
        else:
            tables["cross_modality_candidates.tsv"] = cross
            cols = [c for c in cross.columns if c != "evidence"]
            out["tables"].append(
                table(
                    cross[cols],
                    "cross-cand",
                    "candidate markers across modalities",
                    tsv=f"{tables_rel}/cross_modality_candidates.tsv",
                )
            )
    return out


_SUMMARY_COLUMNS = (
    "candidate",
    "modality",
    "contrast",
    "expected",
    "observed",
    "effect",
    "scale",
    "padj",
    "concordant",
    "auc",
    "auc_direction",
    "status",
    "feature",
)


def _mark_rows(modalities: Sequence[Modality], pairs: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The mark at each candidate gene's promoter, per track modality, in the candidate's
    contrast (the region with the smallest adjusted p when the gene has several)."""
    if pairs is None or pairs.empty:
        return []
    by_name = {m.name: m for m in modalities}
    contrast_of: dict[str, str] = {}
    for m in modalities:
        cand = m.candidates
        if cand is None:
            continue
        for rec in cand.loc[cand["modality"].astype(str) == "protein"].to_dict("records"):
            contrast_of.setdefault(str(rec["candidate"]), str(rec.get("contrast", "")))
    sub = pairs.loc[pairs["candidate"].astype(str) != ""].copy()
    wanted = sub["candidate"].astype(str).map(contrast_of)
    sub = sub.loc[(wanted == sub["contrast"].astype(str)).to_numpy()]
    sub = sub.sort_values("mark_padj", kind="stable", na_position="last")
    sub = sub.drop_duplicates(["candidate", "mark_dataset"])
    listed = {c: i for i, c in enumerate(pd.unique(pairs["candidate"].astype(str)))}
    sub = sub.sort_values("candidate", key=lambda c: c.map(listed), kind="stable")
    rows = []
    for rec in sub.to_dict("records"):
        track = by_name.get(str(rec["mark_dataset"]))
        if track is None:
            continue
        lfc, sig = float(rec["mark_log2fc"]), bool(rec["mark_significant"])
        observed = "up" if lfc > 0 else ("down" if lfc < 0 else "")
        what = f"{rec['mark'] or 'mark'} at {rec['region']}"
        rows.append(
            {
                "candidate": str(rec["candidate"]),
                "modality": track.name,
                "contrast": rec["contrast"],
                "expected": "",
                "observed": observed,
                "effect": lfc,
                "scale": track.scale or "unrecorded",
                "padj": rec["mark_padj"],
                "concordant": pd.NA,
                "auc": np.nan,
                "auc_direction": "",
                "status": observed
                if sig
                else ("not tested" if np.isnan(lfc) else "not significant"),
                "feature": what,
                "_m": track.index,
                "_region": str(rec["region"]),
            }
        )
    return rows


def _summary_rows(
    modalities: Sequence[Modality], pairs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each candidate in each modality that measured it (and, with signal tracks, the mark at
    each candidate gene's promoter); candidates measured nowhere once."""
    rows: list[dict[str, Any]] = []
    order: dict[str, int] = {}
    for m in modalities:
        cand = m.candidates
        if cand is None:
            continue
        for rec in cand.to_dict("records"):
            name = str(rec.get("candidate", ""))
            order.setdefault(name, len(order))
            if rec.get("status") == "not measured":
                continue
            label, feat = rec.get("label"), rec.get("best_feature")
            rows.append(
                {
                    "candidate": name,
                    "modality": m.name,
                    "contrast": rec.get("contrast", ""),
                    "expected": rec.get("expected", ""),
                    "observed": rec.get("observed", ""),
                    "effect": rec.get("log2fc", np.nan),
                    "scale": m.scale or "unrecorded",
                    "padj": rec.get("padj", np.nan),
                    "concordant": rec.get("concordant", pd.NA),
                    "auc": rec.get("auc", np.nan),
                    "auc_direction": rec.get("auc_direction", ""),
                    "status": rec.get("status", ""),
                    "feature": str(feat)
                    if label in (None, "") or label == feat
                    else f"{label} ({feat})",
                    "_m": m.index,
                }
            )
    rows += [{k: v for k, v in r.items() if k != "_region"} for r in _mark_rows(modalities, pairs)]
    measured = {r["candidate"] for r in rows}
    for name in order:
        if name not in measured:
            rows.append({"candidate": name, "status": "not measured", "_m": len(modalities)})
    if not rows:
        return pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    out = pd.DataFrame(rows)
    out["_c"] = out["candidate"].map(order)
    out = out.sort_values(["_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
    out = out.reindex(columns=list(_SUMMARY_COLUMNS)).reset_index(drop=True)
    out["concordant"] = out["concordant"].astype("boolean")
    return out


def _headline_features(
    modalities: Sequence[Modality], pairs: pd.DataFrame | None = None
) -> list[tuple[Modality, str, str]]:
    """The top markers: concordant candidates first, then significant ones, then any found; the
    reported feature of each in each modality, and the promoter of each candidate gene in each
    track modality beside its protein (at most :data:`_MAX_PANELS`)."""
    picks: list[tuple[int, int, int, Modality, str, str]] = []
    order: dict[str, int] = {}
    for m in modalities:
        cand = m.candidates
        if cand is None or m.groupby is None or "best_feature" not in cand.columns:
            continue
        for rec in cand.to_dict("records"):
            feat = rec.get("best_feature")
            if rec.get("status") in ("not measured", "not tested") or not feat:
                continue
            if str(feat) not in m.adata.var_names:
                continue
            conc = rec.get("concordant") is True or rec.get("concordant") is np.True_
            sig = rec.get("significant") is True or rec.get("significant") is np.True_
            rank = 0 if conc else (1 if sig else 2)
            name = str(rec.get("candidate", feat))
            order.setdefault(name, len(order))
            picks.append((rank, order[name], m.index, m, str(feat), name))
    by_name = {m.name: m for m in modalities}
    for mark_row in _mark_rows(modalities, pairs):
        track = by_name[str(mark_row["modality"])]
        name, region = str(mark_row["candidate"]), str(mark_row["_region"])
        if track.groupby is None or name not in order or region not in track.adata.var_names:
            continue
        rank = 1 if mark_row["status"] in ("up", "down") else 2
        picks.append((rank, order[name], track.index, track, region, name))
    # concordant first; a candidate's modalities side by side, in the candidate list's order
    best = {name: min(p[0] for p in picks if p[5] == name) for name in order}
    picks.sort(key=lambda t: (best[t[5]], t[1], t[0], t[2]))
    shown: set[tuple[int, str]] = set()
    out = []
    for _, _, _, m, f, c in picks:  # a feature once (a mark's best region may be a candidate's)
        if (m.index, f) not in shown:
            shown.add((m.index, f))
            out.append((m, f, c))
    return out[:_MAX_PANELS]


def _headline_figure(picks: Sequence[tuple[Modality, str, str]], dpi: int) -> dict[str, Any]:
    from .. import pl
    from ..pl._style import new_figure

    fig, axes = new_figure(len(picks), ncols=4, panel_size=(3.2, 3.0))
    for ax, (m, feat, cand) in zip(axes, picks, strict=True):
        data = _in_memory(m.adata, [feat]) if m.lazy else m.adata
        pl.trajectories(data, [feat], groupby=m.groupby, ax=ax)
        if m.kind == "tracks" and feat != cand:
            what = track_mark(m.adata) or "signal"
            gene = m.adata.var["gene"].get(feat, feat) if "gene" in m.adata.var else feat
            title = f"{what} at {gene} ({m.name})"
        else:
            title = f"{cand} ({m.name})"
        ax.set_title(title, fontsize="medium")
    return figure(
        fig,
        "summary-f1",
        "The top candidate markers (concordant first) per phase: mean and 95% confidence "
        "interval (black), animals as points; the panel title names the modality.",
        dpi,
    )


def summary_section(
    modalities: Sequence[Modality],
    *,
    dpi: int,
    draw: bool,
    tables: dict[str, pd.DataFrame],
    tables_rel: str,
    pairs: pd.DataFrame | None = None,
) -> dict[str, Any] | None:
    """The findings first: every candidate across modalities (direction, effect, adjusted p,
    concordance, AUC in the expected direction; with signal tracks, the mark at each candidate
    gene's promoter) and the top markers' phase trajectories."""
    summary = _summary_rows(modalities, pairs)
    if summary.empty:
        return None
    tables["summary_candidates.tsv"] = summary
    conc = summary["concordant"].fillna(False).astype(bool)
    names = list(dict.fromkeys(summary.loc[conc, "candidate"].astype(str)))
    where = {
        n: ", ".join(summary.loc[conc & (summary["candidate"] == n), "modality"].astype(str))
        for n in names
    }
    n_cand = summary["candidate"].nunique()
    n_measured = summary.loc[summary["status"] != "not measured", "candidate"].nunique()
    headline = (
        f"{len(names)} of {n_cand} candidate markers concordant (significant in the expected "
        f"direction) in at least one modality"
        + (": " + "; ".join(f"{n} ({where[n]})" for n in names) if names else "")
        + f". {n_measured} of {n_cand} were measured."
        + _mark_headline(modalities, pairs)
    )
    out: dict[str, Any] = {"headline": headline, "figures": [], "table": None}
    out["table"] = table(
        summary,
        "summary-cand",
        "candidate markers",
        tsv=f"{tables_rel}/summary_candidates.tsv",
    )
    picks = _headline_features(modalities, pairs)
    if picks and draw:
        try:
            out["figures"].append(_headline_figure(picks, dpi))
        except KratomOmicsError as exc:
            logger.warning("report: headline figure skipped: %s", exc)
    return out


def _mark_headline(modalities: Sequence[Modality], pairs: pd.DataFrame | None) -> str:
    """`` H3K9ac at the candidate genes' promoters (tracks): Rab35 down, Hdac2 not significant.``"""
    rows = _mark_rows(modalities, pairs)
    groups: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        mark = str(r["feature"]).split(" at ")[0]
        groups.setdefault((mark, str(r["modality"])), []).append(f"{r['candidate']} {r['status']}")
    return "".join(
        f" {mark} at the candidate genes' promoters ({name}): {', '.join(parts)}."
        for (mark, name), parts in groups.items()
    )


# ------------------------------------------------------------------------ protein vs promoter mark
#: Columns of the pair table shown on the page (the TSV holds every column).
_PAIR_SHOWN = (
    "contrast",
    "gene",
    "candidate",
    "protein_dataset",
    "protein_feature",
    "protein_log2fc",
    "protein_padj",
    "mark_dataset",
    "mark",
    "region",
    "tss_distance",
    "mark_log2fc",
    "mark_padj",
    "same_direction",
    "both_significant",
)
_REGION_WORDS = {"promoter": "promoter", "gene_body": "gene body", "peak": "peaks"}


@dataclass
class Pairs:
    """The gene pairs of a study and the thresholds that made a side significant."""

    table: pd.DataFrame
    alpha: float
    min_abs_log2fc: float


def cross_pairs(modalities: Sequence[Modality]) -> Pairs | None:
    """The proteins paired with the marks at their genes (:func:`kratom_omics.tl.cross_modality`):
    as stored by it, else computed with the candidate thresholds; None without signal tracks."""
    from .._defaults import BIOMARKERS
    from ..tl._cross import gene_pairs, pair_sides

    usable = {m.name: m for m in modalities if m.result is not None}
    proteins, tracks = pair_sides({n: m.adata for n, m in usable.items()})
    if not (proteins and tracks):
        return None
    stored = [usable[n].adata.uns.get("cross_modality") for n in proteins]
    if all(isinstance(v, Mapping) and isinstance(v.get("pairs"), pd.DataFrame) for v in stored):
        params = stored[0]["params"]
        return Pairs(
            pd.concat([v["pairs"] for v in stored], ignore_index=True),
            float(params.get("alpha", BIOMARKERS.alpha)),
            float(params.get("min_abs_log2fc", BIOMARKERS.min_abs_log2fc)),
        )
    first = usable[proteins[0]]
    alpha = float(first.bio_params.get("alpha", BIOMARKERS.alpha))
    lfc = float(first.bio_params.get("min_abs_log2fc", BIOMARKERS.min_abs_log2fc))
    try:
        pairs = gene_pairs(
            {n: usable[n].adata for n in (*proteins, *tracks)},
            _candidate_source(first),
            key=first.key,
            alpha=alpha,
            min_abs_log2fc=lfc,
        )
    except KratomOmicsError as exc:
        logger.warning("report: protein vs promoter mark skipped: %s", exc)
        return None
    return Pairs(pairs, alpha, lfc)


def _candidate_source(m: Modality) -> str | pd.DataFrame | None:
    """The candidate list the biomarkers of ``m`` were flagged with (None: the shipped one)."""
    from pathlib import Path

    source = m.bio_params.get("candidates")
    if source in (None, "", "default"):
        return None
    if Path(str(source)).is_file():
        return str(source)
    cand = m.candidates
    if cand is None or not {"candidate", "modality", "contrast", "expected"} <= set(cand.columns):
        return None
    return pd.DataFrame(
        {
            "candidate": cand["candidate"].astype(str),
            "modality": cand["modality"].astype(str),
            "contrast": cand["contrast"].astype(str),
            "direction": cand["expected"].astype(str),
            "evidence": cand.get("evidence", pd.Series("", index=cand.index)).astype(str),
        }
    ).drop_duplicates(["candidate", "modality", "contrast"])


def pairs_section(
    found: Pairs | None,
    *,
    dpi: int,
    draw: bool,
    tables: dict[str, pd.DataFrame],
    tables_rel: str,
    max_rows: int,
) -> dict[str, Any] | None:
    """Each protein beside the mark at its gene's promoter, per contrast: the pair table
    (candidates first) and a scatter of the two effects per contrast."""
    from .. import pl
    from ..pl._style import new_figure

    if found is None:
        return None
    pairs = found.table
    tsv = f"{tables_rel}/cross_modality_pairs.tsv"
    tables["cross_modality_pairs.tsv"] = pairs
    marks = [m for m in pd.unique(pairs["mark"].astype(str)) if m] or ["the mark"]
    kinds = list(pd.unique(pairs["region_type"].astype(str)))
    where = _REGION_WORDS.get(kinds[0], "regions") if len(kinds) == 1 else "regions"
    title = "Protein vs promoter mark" if where == "promoter" else f"Protein vs mark ({where})"
    out: dict[str, Any] = {"title": title, "figures": [], "table": None, "description": ""}
    if pairs.empty:
        out["description"] = (
            "No protein's gene is a gene of the signal tracks' regions: compare the gene "
            "symbols of the protein data with the annotation the tracks were read with."
        )
        return out
    n_genes = pairs["gene"].str.casefold().nunique()
    per = pairs.drop_duplicates(["protein_feature", "region", "contrast"])
    both = per.loc[per["both_significant"].astype(bool)]
    cand = both.loc[both["candidate"].astype(str) != ""]
    out["description"] = (
        f"Each protein beside {', '.join(marks)} at its gene's {where} ({n_genes} genes measured "
        f"in both), per contrast; a side counts as significant when its adjusted p < "
        f"{found.alpha:g} and |log2 fold change| >= {found.min_abs_log2fc:g}. "
        f"{len(both)} protein-region pairs over all contrasts are significant on both sides"
        + (
            f", among them the candidates {', '.join(dict.fromkeys(cand['gene'].astype(str)))}."
            if len(cand)
            else "."
        )
    )
    contrasts = list(pd.unique(pairs["contrast"].astype(str)))[:6]
    if draw:
        fig, axes = new_figure(len(contrasts), ncols=3, panel_size=(4.6, 4.3))
        try:
            for ax, c in zip(axes, contrasts, strict=True):
                pl.protein_vs_mark(pairs, c, ax=ax)
        except KratomOmicsError as exc:
            logger.warning("report: protein vs mark figure skipped: %s", exc)
        else:
            out["figures"].append(
                figure(
                    fig,
                    "pairs-f1",
                    f"Protein log2 fold change against {', '.join(marks)} at the gene's {where}, "
                    "per contrast: coloured by the side(s) significant, candidate proteins and "
                    "the top pairs significant on both sides labelled.",
                    dpi,
                )
            )
    shown = pairs[[c for c in _PAIR_SHOWN if c in pairs.columns]]
    for col in ("protein_dataset", "mark_dataset"):
        if shown[col].nunique() <= 1:
            shown = shown.drop(columns=[col])
    out["table"] = table(
        shown,
        "pairs-table",
        "protein and mark pairs",
        tsv=tsv,
        max_rows=max_rows,
        order="candidates first, then significant on both sides, then protein p-value",
    )
    return out
