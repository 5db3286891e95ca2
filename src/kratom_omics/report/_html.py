"""One self-contained HTML report of a study: summary, QC, results, candidates, methods.

Everything the page needs is inside the file: figures are base64 PNG, CSS and JavaScript are inline,
and a Content-Security-Policy forbids any network request. Every text taken from the data (sample
and feature names, annotations) goes through jinja2's autoescaping. The page is assembled from one
builder per section (:mod:`kratom_omics.report._sections`), each working on a modality resolved once;
the template decides their order. The report and its TSV tables are written to temporary paths
first and renamed into place, so a failure never leaves a half-written report.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._files import atomic_dir, atomic_path
from .._version import __version__
from ..errors import InputFormatError, did_you_mean
from ._figures import read_figures
from ._render import asset
from ._sections import (
    _kind,
    biomarkers_section,
    cross_pairs,
    cross_section,
    histone_section,
    methods_section,
    pairs_section,
    qc_section,
    resolve,
    results_section,
    samples_section,
    summary_section,
    trajectories_section,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from mudata import MuData

__all__ = ["html"]

logger = logging.getLogger("kratom_omics")

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


def _as_mapping(data: AnnData | Mapping[str, AnnData] | MuData) -> dict[str, AnnData]:
    from anndata import AnnData

    if isinstance(data, AnnData):
        return {_kind(data): data}
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


def _drawn(
    files: Mapping[str, str | os.PathLike[str]] | None,
    mapping: Mapping[str, AnnData],
    *,
    key: str,
    dpi: int,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The figures drawn beforehand of each modality (:func:`kratom_omics.report.figures`)."""
    if not files:
        return {}
    if not isinstance(files, Mapping):
        raise InputFormatError(
            f"figures_from is a {type(files).__name__}; expected a dict of modality name -> "
            "figures file, e.g. {'protein': 'protein_figures.json'}."
        )
    out = {}
    for name, path in files.items():
        if name not in mapping:
            raise InputFormatError(
                "figures_from: " + did_you_mean(str(name), list(mapping), what="modality"),
                cli="--figures-from: " + did_you_mean(str(name), list(mapping), what="modality"),
            )
        out[name] = read_figures(path, name=name, adata=mapping[name], key=key, dpi=dpi)
    return out


def _write(text: str, tables: Mapping[str, pd.DataFrame], out: Path, tables_dir: Path) -> None:
    """The page and its tables, each replaced whole (tables first, then the page)."""
    with atomic_path(out) as tmp_html:
        with atomic_dir(tables_dir) as tmp_dir:
            for fname, df in tables.items():
                df.to_csv(tmp_dir / fname, sep="\t", index=False, na_rep="NA")
        tmp_html.write_text(text, encoding="utf-8")


def html(
    data: AnnData | Mapping[str, AnnData] | MuData,
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
    figures_from: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Path:
    """Write one self-contained HTML report of a study, with its tables as TSV beside it.

    The report opens with the findings: every candidate marker across modalities (observed and
    expected direction, effect, adjusted p-value, concordance, ROC AUC in the expected direction)
    and the phase trajectories of the top markers. Then a study summary (samples per phase,
    modalities, the sample sheets collapsed), QC figures
    (detection, missingness, distributions, correlation, PCA, CV), per contrast a volcano, MA and
    p-value plot with a searchable, sortable table of features, the F-test table, phase
    trajectories, histone views (peptidoform composition, mark heatmap) or western-blot views, the
    candidate-biomarker table (when ``kom.tl.flag_biomarkers`` was run), a cross-modality view when
    several modalities are given, and a methods section listing every recorded step, parameter and
    package version. With signal tracks (:func:`kratom_omics.io.read_bigwig`) and proteins, a
    "protein vs promoter mark" section follows the findings: each protein beside the mark at its
    gene's promoter per contrast (the pairs of :func:`kratom_omics.tl.cross_modality`, as stored
    by it or computed with the candidate thresholds), with a scatter of the two effects, and the
    findings name the mark at each candidate gene's promoter. The file makes no network request (figures are base64 PNG, CSS and JavaScript
    are inline). Results written with ``out=`` (parquet) are read from their files; dask-backed
    data are summarised without loading the matrix (figures over the whole matrix are skipped).

    Parameters
    ----------
    data
        An AnnData, a dict of modality name -> AnnData (``{"protein": a, "histone": h}``) or a
        MuData. The AnnData objects are not changed (plots run on copies).
    out
        Path of the HTML file.
    title
        Title of the report.
    key
        Key of the differential results in ``adata.uns``.
    tables_dir
        Directory of the TSV tables (default ``<out stem>_tables`` beside ``out``); replaced as
        a whole. It holds ``<modality>_differential.tsv`` and ``<modality>_differential_F.tsv``
        (as :func:`kratom_omics.get.differential` and ``differential_f`` return them),
        ``<modality>_biomarkers.tsv`` (the candidates), ``<modality>_samples.tsv``,
        ``<modality>_provenance.tsv``, ``summary_candidates.tsv`` and, with several modalities,
        ``cross_modality_counts.tsv`` and ``cross_modality_candidates.tsv`` (with signal tracks
        and proteins also ``cross_modality_pairs.tsv``). Effects and means of
        values on the logit or CLR scale are named after their scale (``log2_odds_ratio`` and
        ``mean_logit``; ``clr_diff`` and ``mean_clr``) instead of ``log2fc`` and ``mean_log2``.
    fdr
        FDR threshold of the figures and counts (default: stored with the results, else 0.05).
    lfc
        Absolute log2 fold-change threshold of the figures and counts (default: the TREAT threshold
        stored with the results, else 0).
    features
        Features (ids, gene symbols or histone marks) shown as phase trajectories; default: the
        candidate markers found, else the markers of the modality in the shipped candidate list
        (e.g. Rab35, Hdac2; H3K9ac, H4K12ac), else the top F-test hits.
    max_rows
        Most rows embedded per result table (smallest p-values first); the TSV files hold every row.
    dpi
        Resolution of the embedded figures.
    figures
        Draw the figures (default); ``False`` writes the tables, summary and methods only, which is
        much faster for very large studies.
    figures_from
        Files of figures drawn beforehand, per modality name (``{"protein": "protein.json"}``),
        by :func:`kratom_omics.report.figures`: the page takes those figures from there instead
        of drawing them (figures a file does not hold are drawn). Drawing each modality's
        figures in its own process, at the same time, is faster than drawing them all here; the
        page is the same. A file drawn from other data, under another name or at another
        ``dpi`` is refused.

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
    drawn = _drawn(figures_from, mapping, key=key, dpi=dpi) if figures else {}

    tables: dict[str, pd.DataFrame] = {}
    modalities = [
        resolve(
            i,
            name,
            adata,
            key=key,
            fdr=fdr,
            lfc=lfc,
            dpi=dpi,
            draw=figures,
            tables=tables,
            tables_rel=tables_rel,
            drawn=drawn.get(name),
        )
        for i, (name, adata) in enumerate(mapping.items())
    ]
    sections = []
    phases: list[str] = []
    colors: dict[str, str] = {}
    for m in modalities:
        logger.info("report: %s (%d samples x %d features)", m.name, m.adata.n_obs, m.adata.n_vars)
        if m.groupby is not None:
            for p, c in group_colors(m.adata, m.groupby).items():
                if p not in colors:
                    phases.append(p)
                    colors[p] = c
        section = samples_section(m)
        section["qc"] = qc_section(m)
        section["results"] = results_section(m, max_rows)
        section["trajectories"] = trajectories_section(m, features)
        section["histone"] = histone_section(m)
        section["biomarkers"] = biomarkers_section(m)
        section.update(methods_section(m))
        sections.append(section)
    cross = cross_section(modalities, dpi=dpi, draw=figures, tables_rel=tables_rel)
    found = cross_pairs(modalities)
    pairs = pairs_section(
        found, dpi=dpi, draw=figures, tables=tables, tables_rel=tables_rel, max_rows=max_rows
    )
    summary = summary_section(
        modalities,
        dpi=dpi,
        draw=figures,
        tables=tables,
        tables_rel=tables_rel,
        pairs=found.table if found is not None else None,
    )
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
    template = env.from_string(asset("report.html.j2"))
    text = template.render(
        title=title,
        version=__version__,
        built=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=asset("report.css"),
        js=asset("report.js"),
        modalities=sections,
        phases=phases,
        phase_colors=colors,
        cross=cross,
        pairs=pairs,
        summary=summary,
        packages=_package_versions(),
        tables_dir=tables_rel,
    )
    _write(text, tables, out, tdir)
    logger.info("report: wrote %s and %d tables in %s", out, len(tables), tdir)
    return out
