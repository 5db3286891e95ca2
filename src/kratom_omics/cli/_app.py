"""The ``kratom-omics`` command line: one verb per public function, thin wrappers only.

Data go to files (or stdout), logs to stderr. Exit codes: 0 success, 1 for a
:class:`~kratom_omics.errors.KratomOmicsError` (printed as one line ``error: ...``; the traceback only with
``--debug``), 2 for usage errors.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from .._defaults import BIOMARKERS, DIFFERENTIAL, PREPROCESS
from .._files import atomic_path
from .._version import __version__
from ..errors import InputFormatError, KratomOmicsError

app = typer.Typer(
    name="kratom-omics",
    help="Find molecular markers of drug withdrawal in proteomics and histone-mark data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

logger = logging.getLogger("kratom_omics")

# options whose defaults live in kratom_omics._defaults (shared with the recipe and workflow)
_RemoveFlaggedOpt = Annotated[bool, typer.Option(help="Remove contaminants, decoys, only-by-site.")]
_TransformOpt = Annotated[str, typer.Option(help="log2, logit, clr or none.")]
_PseudocountOpt = Annotated[float, typer.Option(help="Pseudo-count before log2.")]
_MinValidOpt = Annotated[
    float, typer.Option(help="Minimum valid values: number (>=1) or fraction.")
]
_ValidModeOpt = Annotated[str, typer.Option(help="total, each_group or any_group.")]
_NormalizeOpt = Annotated[
    str,
    typer.Option(
        help="median, quantile, none, reference_sample, reference_feature or irs (isobaric "
        "plexes: median, then internal reference scaling); the last three need --reference."
    ),
]
_ReferenceOpt = Annotated[
    str | None,
    typer.Option(
        help="--normalize reference_sample: sample name(s); reference_feature: feature name(s); "
        "irs: the reference channel of every plex (e.g. 10 or TMT131) or the reference sample(s). "
        "Comma-separated."
    ),
]
_ImputeOpt = Annotated[str, typer.Option(help="none, downshift, minprob, knn or mixed.")]
_TrackNormOpt = Annotated[
    str,
    typer.Option(
        help="Signal tracks (bigWig): total (over the regions), track (whole-track totals), "
        "spikein (the sheet's spikein_reads) or none."
    ),
]
_GroupbyOpt = Annotated[str, typer.Option(help="Sample-sheet column of the groups.")]
_TrendOpt = Annotated[bool, typer.Option(help="Intensity-dependent prior (limma trend).")]
_RobustOpt = Annotated[bool, typer.Option(help="Robust empirical Bayes (limma robust).")]
_FdrOpt = Annotated[str, typer.Option(help="bh, by, bonferroni, holm, qvalue or none.")]
_KeyAddedOpt = Annotated[str, typer.Option(help="Key of the results in .uns.")]
_LfcOpt = Annotated[
    float, typer.Option(help="TREAT: test |log2 fold change| > lfc instead of != 0.")
]
_MinAbsLog2fcOpt = Annotated[float, typer.Option(help="Minimum absolute log2 fold change.")]
_MethodOpt = Annotated[
    str,
    typer.Option(
        help="limma (R limma's numbers), count_trend (prior variance on log peptide counts), "
        "deqms (DEqMS's count prior) or dpc (missing values as evidence of low abundance)."
    ),
]
_NPeptidesOpt = Annotated[
    str,
    typer.Option(help="Feature column with peptide/precursor counts (count_trend, deqms)."),
]
_state = {"debug": False}

# `load --format`: its help lists the formats of the io registry, filled in when help is shown
# (importing the loaders takes longer than the rest of the command line)
_FORMAT_HELP = "Input format: auto (detected from the file), or one of {formats}."
_FORMAT_OPTION = typer.Option(help=_FORMAT_HELP)


def _complete_help() -> None:
    from ..io import FORMATS

    _FORMAT_OPTION.help = _FORMAT_HELP.format(formats=", ".join(FORMATS))


def _flags(name: str) -> dict[str, str]:
    """Python keyword -> flag of the options of command ``name``."""
    cmd = getattr(typer.main.get_command(app), "commands", {}).get(name)
    if cmd is None:  # pragma: no cover - every command is registered
        return {}
    return {
        str(p.name): sorted(p.opts, key=len)[-1]
        for p in cmd.params
        if getattr(p, "param_type_name", "") == "option" and p.name and p.opts
    }


def _fail(name: str, exc: BaseException) -> typer.Exit:
    """Print ``exc`` as one line ``error: ...`` in command-line words; the exit of code 1."""
    from ._errors import cli_message

    if _state["debug"]:
        traceback.print_exc()
    typer.echo(f"error: {cli_message(exc, _flags(name))}", err=True)
    return typer.Exit(1)


def command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command whose errors a user can cause (a :class:`KratomOmicsError`, a file that
    cannot be read or written) become one line ``error: ...`` and exit 1."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except KratomOmicsError as exc:
                raise _fail(name, exc) from None
            except OSError as exc:  # unreadable input, full disk, permissions
                where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
                raise _fail(name, KratomOmicsError(f"{where}{exc.strerror or exc}")) from None

        return app.command(name)(wrapper)

    return decorate


def _outputs(*paths: Path | str | None, directory: bool = False) -> None:
    """Refuse unusable output paths before any work is done."""
    from .._files import check_output

    for path in paths:
        if path is not None:
            check_output(path, directory=directory)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kratom-omics {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log lines (-vv: debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Find molecular markers of drug withdrawal in proteomics and histone-mark data."""
    _state["debug"] = debug
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("kratom_omics")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def write_h5ad(adata, path: Path) -> None:
    """Write an h5ad file atomically (temporary file, then rename).

    Arrow-backed names (from ``read_zarr_lazy``) are written as plain text, which every anndata
    version reads.
    """
    for axis in ("obs_names", "var_names"):
        names = getattr(adata, axis)
        if names.dtype != object:
            setattr(adata, axis, names.astype(str).astype(object))
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


@command("simulate")
def simulate_cmd(
    out: Annotated[Path, typer.Argument(help="Output .h5ad file.")],
    modality: Annotated[
        str, typer.Option(help="protein, histone or tracks (promoter signal of bigWig tracks).")
    ] = "protein",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    n_features: Annotated[
        int, typer.Option(help="Number of proteins (histone: fixed by families).")
    ] = 500,
    n_per_phase: Annotated[int, typer.Option(help="Samples per phase (per time point).")] = 6,
    phases: Annotated[
        str, typer.Option(help="Phases in order, comma-separated.")
    ] = "control,use,withdrawal",
    timepoints: Annotated[
        str,
        typer.Option(help="Withdrawal time points, comma-separated (e.g. 1,3,7); empty for none."),
    ] = "",
    repeated: Annotated[bool, typer.Option(help="Sample the same animals in every phase.")] = False,
    n_batches: Annotated[int, typer.Option(help="Number of batches.")] = 2,
    format: Annotated[
        str,
        typer.Option(
            help="h5ad (analysis-ready AnnData), or a tool's file to read with `load` or the "
            "workflow: maxquant (protein), epiprofile or densitometry (histone; a western blot)."
        ),
    ] = "h5ad",
    samples: Annotated[
        Path | None,
        typer.Option(
            help="Sample sheet written with a tool's file (default: samples.tsv beside OUT)."
        ),
    ] = None,
) -> None:
    """Simulate a withdrawal study with planted truth and write it as .h5ad, or as a tool's output
    with its sample sheet (for `kratom-omics load` and the workflow)."""
    from .. import datasets

    writers = {"maxquant": "protein", "epiprofile": "histone", "densitometry": "histone"}
    if format != "h5ad" and format not in writers:
        raise typer.BadParameter(
            f"{format!r}; expected h5ad, {', '.join(writers)}.", param_hint="--format"
        )
    if format in writers and modality != writers[format]:
        raise InputFormatError(
            f"--format {format} writes {writers[format]} data; use --modality {writers[format]}."
        )
    _outputs(out)
    sheet = samples if samples is not None else out.with_name("samples.tsv")
    _outputs(sheet if format != "h5ad" else None)
    tps: list[float] | None = None
    if timepoints.strip():
        try:
            tps = [float(t) for t in timepoints.split(",") if t.strip()]
        except ValueError:
            raise typer.BadParameter(
                f"{timepoints!r}; expected numbers separated by commas, e.g. 1,3,7.",
                param_hint="--timepoints",
            ) from None
    adata = datasets.simulate(
        modality,  # type: ignore[arg-type]
        seed=seed,
        n_features=n_features,
        n_per_phase=n_per_phase,
        phases=[p.strip() for p in phases.split(",") if p.strip()],
        timepoints=tps,
        repeated=repeated,
        n_batches=n_batches,
        assay="western" if format == "densitometry" else "ptm",
    )
    if format == "h5ad":
        write_h5ad(adata, out)
        logger.info("wrote %s (%d samples x %d features)", out, adata.n_obs, adata.n_vars)
        return
    getattr(datasets, f"write_{format}")(adata, out)
    datasets.write_samples(adata, sheet)
    logger.info(
        "wrote %s (%s) and %s; read them with: kratom-omics load %s OUT.h5ad --samples %s "
        "(workflow: modalities.<name>.input and samples in the config)",
        out,
        format,
        sheet,
        out,
        sheet,
    )


@command("example-data")
def example_data_cmd(
    out: Annotated[
        str, typer.Argument(help="Directory to write the example files into.")
    ] = "example_data",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write the example data set (MaxQuant, EpiProfile, western blot, sample sheet) from the simulator."""
    from ..datasets import write_example_data

    _outputs(out, directory=True)
    for path in write_example_data(out, seed=seed):
        logger.info("wrote %s", path)


def read_h5ad(path: Path):
    """Read an h5ad file with a one-line error when it is missing or not h5ad."""
    import anndata as ad

    if not path.exists():
        raise InputFormatError(f"{str(path)!r} does not exist.")
    if path.is_dir():
        raise InputFormatError(f"{str(path)!r} is a directory; expected an .h5ad file.")
    try:
        return ad.read_h5ad(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFormatError(
            f"{str(path)!r} is not a readable .h5ad file ({reason[:200]}); write it with "
            "`kratom-omics load` or `simulate`."
        ) from None


def write_table(table, path: Path) -> None:
    """Write a DataFrame as TSV atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _phases(text: str) -> Sequence[str] | None:
    """``--phases``: the levels in order; empty (``--phases ''``) accepts any levels."""
    from .._core import DEFAULT_PHASES

    levels = _split(text)
    if not levels:
        return None
    return DEFAULT_PHASES if levels == list(DEFAULT_PHASES) else levels


@command("load")
def load_cmd(
    data: Annotated[Path, typer.Argument(help="Tool output to read.")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad file.")],
    samples: Annotated[Path | None, typer.Option(help="Sample sheet (TSV/CSV/XLSX).")] = None,
    format: Annotated[str, _FORMAT_OPTION] = "auto",
    quantity: Annotated[
        str | None,
        typer.Option(
            help="Quantity where a tool has several (e.g. lfq); bigWig: the statistic per region "
            "(mean, mean0, sum, max, min, coverage)."
        ),
    ] = None,
    phases: Annotated[
        str, typer.Option(help="Phases in order, comma-separated; '' accepts any levels.")
    ] = "control,use,withdrawal",
    join: Annotated[
        str, typer.Option(help="exact: every sample in both; inner: common samples.")
    ] = "exact",
    phase_column: Annotated[
        str | None,
        typer.Option(help="Sample-sheet column of the groups (e.g. condition); default: phase."),
    ] = None,
    regions: Annotated[
        Path | None,
        typer.Option(
            help="bigWig: regions to summarise the signal over, a GTF/GFF3 (promoters or gene "
            "bodies) or a BED/peak file."
        ),
    ] = None,
    feature: Annotated[
        str | None,
        typer.Option(help="bigWig with a GTF/GFF3: promoter (default) or gene_body."),
    ] = None,
    upstream: Annotated[
        int | None, typer.Option(help="bigWig promoters: bases before the TSS (default 1000).")
    ] = None,
    downstream: Annotated[
        int | None, typer.Option(help="bigWig promoters: bases after the TSS (default 1000).")
    ] = None,
    annotation: Annotated[
        Path | None,
        typer.Option(help="bigWig with BED regions: GTF/GFF3 naming each region's nearest gene."),
    ] = None,
    max_distance: Annotated[
        int | None,
        typer.Option(help="bigWig with --annotation: largest region-TSS distance (default 5000)."),
    ] = None,
    experiments: Annotated[
        Path | None,
        typer.Option(
            help="MaxQuant isobaric (TMT) tables: the raw files of each experiment, to match an "
            "SDRF (MaxQuant's summary.txt or experimental-design file)."
        ),
    ] = None,
    mark: Annotated[
        str | None,
        typer.Option(
            help="bigWig: the mark the tracks hold (e.g. H3K9ac); default: the sheet's mark column."
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="EpiProfile saved as a workbook (.xlsx/.xls): the sheet to read, by name or "
            "0-based position (default: the first)."
        ),
    ] = None,
) -> None:
    """Read a tool output (MaxQuant, DIA-NN, FragPipe, Spectronaut, AlphaPept, mzTab, EpiProfile,
    densitometry, featureCounts, bigWig tracks, generic table) into .h5ad with the sample sheet
    (a sheet, an SDRF file or an MSstats annotation)."""
    from .. import io

    if data.suffix.lower() in (".h5ad", ".h5mu", ".zarr"):
        raise InputFormatError(
            f"{str(data)!r} is already an AnnData file ({data.suffix}); `load` reads tool outputs. "
            "Pass it to `kratom-omics preprocess` (or differential, report) directly."
        )
    if join not in ("exact", "inner"):
        raise InputFormatError(f"--join {join!r}; expected 'exact' or 'inner'.")
    _outputs(out)
    tracks = {
        "regions": regions,
        "feature": feature,
        "upstream": upstream,
        "downstream": downstream,
        "annotation": annotation,
        "max_distance": max_distance,
        "mark": mark,
    }
    options: dict[str, object] = {k: v for k, v in tracks.items() if v is not None}
    if sheet is not None:
        options["sheet"] = int(sheet) if sheet.isdigit() else sheet
    if (
        format.lower() == "bigwig"
        and samples is None
        and phase_column is not None
        and data.is_file()
    ):
        samples = data  # a sheet of bigWig paths: its groups come from --phase-column
    adata = io.read(
        data,
        samples,
        format=format,
        quantity=quantity,
        phases=_phases(phases),
        join="exact" if join == "exact" else "inner",
        phase_column=phase_column,
        **options,
        **({"experiments": experiments} if experiments is not None else {}),
    )
    write_h5ad(adata, out)
    logger.info("loaded %s: %d samples x %d features -> %s", data, adata.n_obs, adata.n_vars, out)


def _references(text: str | None) -> list[str | int] | None:
    """``--reference a,b`` as names; a channel number (digits) as a number."""
    if text is None:
        return None
    return [int(r) if r.strip().isdigit() else r.strip() for r in text.split(",") if r.strip()]


@command("preprocess")
def preprocess_cmd(
    data: Annotated[Path, typer.Argument(help="Input .h5ad (as loaded).")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad.")],
    remove_flagged: _RemoveFlaggedOpt = PREPROCESS.remove_flagged,
    transform: _TransformOpt = PREPROCESS.transform,
    pseudocount: _PseudocountOpt = PREPROCESS.pseudocount,
    min_valid: _MinValidOpt = PREPROCESS.min_valid,
    valid_mode: _ValidModeOpt = PREPROCESS.valid_mode,
    normalize: _NormalizeOpt = PREPROCESS.normalize,
    reference: _ReferenceOpt = None,
    impute: _ImputeOpt = PREPROCESS.impute,
    track_normalization: _TrackNormOpt = PREPROCESS.track_normalization,
    groupby: _GroupbyOpt = PREPROCESS.groupby,
    seed: Annotated[int, typer.Option(help="Seed of the imputation.")] = PREPROCESS.seed,
) -> None:
    """Filter, transform, normalise and (only if asked) impute (kom.pp.recipe); bigWig signal
    tracks are scaled per sample (--track-normalization) and log2-transformed instead."""
    from .. import pp

    _outputs(out)
    adata = read_h5ad(data)
    pp.recipe(
        adata,
        remove_flagged=remove_flagged,
        transform=transform,  # type: ignore[arg-type]
        pseudocount=pseudocount,
        min_valid=min_valid,
        valid_mode=valid_mode,  # type: ignore[arg-type]
        normalize=normalize,  # type: ignore[arg-type]
        reference=_references(reference),
        impute=impute,  # type: ignore[arg-type]
        track_normalization=track_normalization,  # type: ignore[arg-type]
        groupby=groupby,
        seed=seed,
    )
    write_h5ad(adata, out)


@command("differential")
def differential_cmd(
    data: Annotated[Path, typer.Argument(help="Preprocessed .h5ad.")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad with the results stored.")],
    contrast: Annotated[
        list[str] | None,
        typer.Option(help='Contrast in level names, e.g. "withdrawal - control"; repeatable.'),
    ] = None,
    groupby: _GroupbyOpt = DIFFERENTIAL.groupby,
    covariate: Annotated[
        list[str] | None, typer.Option(help="Covariate column (batch, subject); repeatable.")
    ] = None,
    formula: Annotated[
        str | None, typer.Option(help="Design formula instead of groupby + covariates.")
    ] = None,
    trend: _TrendOpt = DIFFERENTIAL.trend,
    robust: _RobustOpt = DIFFERENTIAL.robust,
    fdr: _FdrOpt = DIFFERENTIAL.fdr,
    key_added: _KeyAddedOpt = DIFFERENTIAL.key_added,
    table: Annotated[
        Path | None, typer.Option(help="Also write the long result table (TSV).")
    ] = None,
    f_table: Annotated[
        Path | None, typer.Option(help="Also write the moderated F table (TSV).")
    ] = None,
    scheduler: Annotated[
        str,
        typer.Option(
            help='Fit chunk by chunk with dask: "local:N" (LocalCluster of N workers), '
            '"threads", or a scheduler address (tcp://host:8786); empty: in memory.'
        ),
    ] = "",
    chunk_size: Annotated[
        int | None, typer.Option(help="Features per dask task (default: up to 100,000).")
    ] = None,
    block: Annotated[
        str | None,
        typer.Option(help="Repeated measures: column of subjects (limma duplicateCorrelation)."),
    ] = None,
    lfc: _LfcOpt = DIFFERENTIAL.lfc,
    weights: Annotated[
        str | None, typer.Option(help="Layer of observation weights (e.g. from voom).")
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            help="Directory receiving table.parquet and f_table.parquet, written block by block "
            "instead of kept in the .h5ad (results larger than memory)."
        ),
    ] = None,
    method: _MethodOpt = DIFFERENTIAL.method,
    n_peptides: _NPeptidesOpt = DIFFERENTIAL.n_peptides,
) -> None:
    """Moderated t and F statistics with limma's linear models and empirical Bayes (kom.tl.differential).

    DATA may also be an AnnData .zarr store (e.g. from featurecounts_to_zarr): its matrix is then
    read lazily and fitted chunk by chunk.
    """
    from .. import get, tl

    _outputs(out, table, f_table)
    _outputs(parquet, directory=True)
    if data.suffix == ".zarr" or (data.is_dir() and (data / ".zattrs").exists()):
        from ..io import read_zarr_lazy

        adata = read_zarr_lazy(data)
    else:
        adata = read_h5ad(data)
        _check_log_scale(adata, data)
    tl.differential(
        adata,
        groupby,
        contrasts=tuple(contrast) if contrast else None,
        covariates=tuple(covariate or ()),
        formula=formula,
        trend=trend,
        robust=robust,
        fdr=fdr,
        key_added=key_added,
        scheduler=scheduler or None,
        chunk_size=chunk_size,
        block=block,
        lfc=lfc,
        weights=weights,
        out=parquet,
        method=method,
        n_peptides=n_peptides,
    )
    write_h5ad(adata, out)
    if table is not None:
        write_table(get.differential(adata, key=key_added), table)
    if f_table is not None:
        write_table(get.differential_f(adata, key=key_added), f_table)


def _check_log_scale(adata, path: Path) -> None:
    """Refuse intensities that were never transformed (the provenance says what ``X`` is)."""
    import numpy as np

    from ..pp._common import looks_log2, x_transform

    if x_transform(adata) is not None:
        return
    x = np.asarray(adata.X[: min(adata.n_obs, 200)], dtype=float)
    finite = x[np.isfinite(x)]
    if looks_log2(x) or not finite.size:
        return
    steps = adata.uns.get("kratom_omics", {}).get("provenance", {})
    records = steps.values() if isinstance(steps, dict) else steps
    preprocessed = any(
        str(getattr(r, "get", lambda _k: "")("function")).startswith("kratom_omics.pp.")
        for r in records
    )
    if preprocessed:  # e.g. preprocess --transform none: the user's choice, said once
        logger.warning(
            "%s: the values were preprocessed without a transform (largest %.3g); the linear "
            "model assumes log-scale values",
            path,
            float(finite.max()),
        )
        return
    raise InputFormatError(
        f"{str(path)!r} holds values that are not log-transformed (no transform recorded; "
        f"largest {float(finite.max()):.3g}): run `kratom-omics preprocess {path} OUT.h5ad` "
        "first (log2, filtering, normalisation), or `preprocess --transform none` if they are "
        "on a log scale already."
    )


@command("biomarkers")
def biomarkers_cmd(
    data: Annotated[Path, typer.Argument(help=".h5ad with differential results.")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad with the flags stored.")],
    candidates: Annotated[
        Path | None, typer.Option(help="Candidate list (TSV); default: the shipped list.")
    ] = None,
    modality: Annotated[
        str | None, typer.Option(help="Modality of the data (protein or histone).")
    ] = None,
    key: Annotated[str, typer.Option(help="Key of the differential results.")] = "differential",
    alpha: Annotated[float, typer.Option(help="FDR level.")] = BIOMARKERS.alpha,
    min_abs_log2fc: _MinAbsLog2fcOpt = BIOMARKERS.min_abs_log2fc,
    table: Annotated[
        Path | None, typer.Option(help="Also write the candidate table (TSV).")
    ] = None,
    features_table: Annotated[
        Path | None, typer.Option(help="Also write the per-feature flags (TSV).")
    ] = None,
) -> None:
    """Flag candidate withdrawal markers (kom.tl.flag_biomarkers)."""
    from .. import get, tl

    _outputs(out, table, features_table)
    adata = read_h5ad(data)
    tl.flag_biomarkers(
        adata,
        key=key,
        candidates=candidates,
        alpha=alpha,
        min_abs_log2fc=min_abs_log2fc,
        modality=modality,  # type: ignore[arg-type]
    )
    write_h5ad(adata, out)
    if table is not None:
        write_table(get.biomarkers(adata, table="candidates"), table)
    if features_table is not None:
        write_table(get.biomarkers(adata, table="features"), features_table)


@command("timecourse")
def timecourse_cmd(
    data: Annotated[Path, typer.Argument(help="Preprocessed .h5ad with withdrawal time points.")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad with the results stored.")],
    time: Annotated[
        str, typer.Option(help="Sample-sheet column of the time points.")
    ] = "timepoint",
    groupby: Annotated[str, typer.Option(help="Sample-sheet column of the phases.")] = "phase",
    basis: Annotated[str, typer.Option(help="spline (natural spline) or poly.")] = "spline",
    df: Annotated[int | None, typer.Option(help="Degrees of freedom of the time curve.")] = None,
    covariate: Annotated[
        list[str] | None, typer.Option(help="Covariate column; repeatable.")
    ] = None,
    block: Annotated[
        str | None, typer.Option(help="Column of subjects (repeated measures).")
    ] = None,
    recovery_margin: Annotated[
        float, typer.Option(help="Recovered: last time point within +-margin (log2) of control.")
    ] = 0.5,
    table: Annotated[Path | None, typer.Option(help="Also write the contrast table (TSV).")] = None,
    recovery_table: Annotated[
        Path | None, typer.Option(help="Also write the recovery tests and patterns (TSV).")
    ] = None,
) -> None:
    """Withdrawal time courses: curve over time, change-over-time F, recovery test (kom.tl.timecourse)."""
    from .. import tl

    _outputs(out, table, recovery_table)
    adata = read_h5ad(data)
    tl.timecourse(
        adata,
        time,
        groupby,
        basis=basis,
        df=df,
        covariates=tuple(covariate or ()),
        block=block,
        recovery_margin=recovery_margin,
    )
    write_h5ad(adata, out)
    if table is not None:
        write_table(adata.uns["timecourse"]["table"], table)
    if recovery_table is not None:
        write_table(adata.uns["timecourse"]["recovery"], recovery_table)


@command("permutation-fdr")
def permutation_fdr_cmd(
    data: Annotated[Path, typer.Argument(help="Preprocessed .h5ad.")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad with the results stored.")],
    contrast: Annotated[
        str, typer.Option(help='Two-group contrast, e.g. "withdrawal - control".')
    ] = ("withdrawal - control"),
    groupby: Annotated[str, typer.Option(help="Sample-sheet column of the groups.")] = "phase",
    s0: Annotated[float, typer.Option(help="Fudge factor s0 added to the standard error.")] = 0.1,
    n_permutations: Annotated[int, typer.Option(help="Number of label permutations.")] = 250,
    fdr: Annotated[float, typer.Option(help="FDR level of the volcano threshold curve.")] = 0.05,
    block: Annotated[
        str | None, typer.Option(help="Permute within this column (subject, batch).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the permutations.")] = 0,
    key_added: Annotated[str, typer.Option(help="Key of the results in .uns.")] = "permutation_fdr",
    table: Annotated[Path | None, typer.Option(help="Also write the result table (TSV).")] = None,
) -> None:
    """SAM/Perseus-style permutation FDR with s0 (kom.tl.permutation_fdr)."""
    from .. import get, tl

    _outputs(out, table)
    adata = read_h5ad(data)
    tl.permutation_fdr(
        adata,
        groupby,
        contrast,
        s0=s0,
        n_permutations=n_permutations,
        fdr=fdr,
        block=block,
        seed=seed,
        key_added=key_added,
    )
    write_h5ad(adata, out)
    if table is not None:
        write_table(get.differential(adata, key=key_added), table)


@command("panel-tests")
def panel_tests_cmd(
    data: Annotated[Path, typer.Argument(help="Preprocessed .h5ad (a small panel: blots, marks).")],
    out: Annotated[Path, typer.Argument(help="Output .h5ad with the results stored.")],
    groupby: Annotated[str, typer.Option(help="Sample-sheet column of the groups.")] = "phase",
    test: Annotated[
        list[str] | None,
        typer.Option(help="anova, tukey, dunnett or mixed; repeatable (default: first three)."),
    ] = None,
    control: Annotated[str, typer.Option(help="Reference group of Dunnett's test.")] = "control",
    table_dir: Annotated[
        Path | None, typer.Option(help="Also write one TSV per test here.")
    ] = None,
) -> None:
    """One-way ANOVA, Tukey HSD, Dunnett against control and a mixed model (kom.tl.panel_tests)."""
    from .. import get, tl

    _outputs(out)
    _outputs(table_dir, directory=True)
    adata = read_h5ad(data)
    tests = tuple(test) if test else ("anova", "tukey", "dunnett")
    tl.panel_tests(adata, groupby, tests=tests, control=control)
    write_h5ad(adata, out)
    if table_dir is not None:
        for name in (t for t in adata.uns["panel_tests"] if t != "params"):
            write_table(get.panel_tests(adata, test=name), table_dir / f"{name}.tsv")


@command("power")
def power_cmd(
    data: Annotated[
        Path, typer.Argument(help=".h5ad with differential results (the fitted prior).")
    ],
    out: Annotated[Path, typer.Argument(help="Output table (TSV): power per group size.")],
    log2fc: Annotated[float, typer.Option(help="Target log2 fold change.")] = 1.0,
    alpha: Annotated[float, typer.Option(help="FDR level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Target power.")] = 0.8,
    max_n: Annotated[int, typer.Option(help="Largest group size tried.")] = 20,
    key: Annotated[str, typer.Option(help="Key of the differential results.")] = "differential",
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 0,
) -> None:
    """Animals per phase needed for a target power at an FDR, simulated from the fitted prior
    (kom.tl.power)."""
    from .. import tl

    _outputs(out)
    adata = read_h5ad(data)
    table = tl.power(
        adata,
        key,
        log2fc=log2fc,
        alpha=alpha,
        power=power,
        n_per_group=range(3, max_n + 1),
        seed=seed,
    )
    write_table(table, out)
    logger.info("animals per phase for power %.2f: %s", power, table.attrs.get("n_required"))


@command("plot")
def plot_cmd(
    kind: Annotated[
        str, typer.Argument(help="Plot: volcano, ma, pvalue-histogram, trajectories, pca, ...")
    ],
    data: Annotated[Path, typer.Argument(help="Input .h5ad.")],
    out: Annotated[Path, typer.Argument(help="Output figure (.png, .svg or .pdf by extension).")],
    contrast: Annotated[str | None, typer.Option(help="Contrast of result plots.")] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Feature or gene (trajectories); repeatable.")
    ] = None,
    key: Annotated[str, typer.Option(help="Key of the differential results.")] = "differential",
) -> None:
    """Draw one figure from a .h5ad file and save it (format from the extension)."""
    import matplotlib

    matplotlib.use("Agg")

    from .. import pl
    from ..errors import did_you_mean

    plots = [p for p in pl.__all__ if p != "phase_colors"]  # that one sets colours, draws nothing
    name = kind.replace("-", "_")
    if name not in plots:
        raise InputFormatError(
            did_you_mean(kind, [p.replace("_", "-") for p in plots], what="plot")
        )
    func = getattr(pl, name)
    _outputs(out)
    if out.suffix.lower() not in {".png", ".svg", ".pdf"}:
        raise InputFormatError(f"{str(out)!r}: expected a .png, .svg or .pdf file name.")
    adata = read_h5ad(data)
    params = inspect.signature(func).parameters
    kwargs: dict[str, Any] = {}
    if contrast is not None and "contrast" in params:
        kwargs["contrast"] = contrast
    elif "contrast" in params and params["contrast"].default is None:
        from .._results import get_result

        present = get_result(adata, key).contrasts
        if len(present) > 1:
            raise InputFormatError(
                f"plot {kind}: {str(data)!r} holds {len(present)} contrasts {present}; choose "
                f"one with --contrast, e.g. --contrast {present[-1]!r}."
            )
    if "key" in params:
        kwargs["key"] = key
    if feature and "features" in params:
        kwargs["features"] = feature
    func(adata, **kwargs, save=out)  # written atomically; format from the extension


@command("report")
def report_cmd(
    inputs: Annotated[
        list[str],
        typer.Argument(help="NAME=file.h5ad per modality (or one file.h5ad or study.h5mu)."),
    ],
    out: Annotated[Path, typer.Option(help="Output HTML file.")] = Path("report.html"),
    title: Annotated[str, typer.Option(help="Title of the report.")] = "kratom-omics report",
    key: Annotated[str, typer.Option(help="Key of the differential results.")] = "differential",
    tables_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of the report's TSV tables (default: <out stem>_tables)."),
    ] = None,
    figures_from: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=figures.json: a modality's figures drawn by `kratom-omics report-figures` "
            "(taken from there instead of drawn again; drawn at the same --dpi); repeatable."
        ),
    ] = None,
    dpi: Annotated[int, typer.Option(help="Resolution of the figures.")] = 80,
) -> None:
    """Write the self-contained HTML report (and its tables as TSV beside it)."""
    from .. import report

    _outputs(out)
    _outputs(tables_dir, directory=True)
    drawn: dict[str, str] = {}
    for item in figures_from or []:
        name, sep, path = item.partition("=")
        if not (sep and name and path) or name in drawn:
            raise InputFormatError(
                f"--figures-from {item!r}: expected NAME=figures.json with distinct names, e.g. "
                "--figures-from protein=results/protein/report_figures.json."
            )
        drawn[name] = path
    study: Any
    if len(inputs) == 1 and inputs[0].lower().endswith(".h5mu"):  # a study (kratom-omics study)
        from ..io import read_h5mu

        study = read_h5mu(inputs[0])
    else:
        data: dict[str, Any] = {}
        for item in inputs:
            name, sep, path = item.partition("=")
            if not sep:
                name, path = Path(item).stem, item
            if not name or name in data:
                raise InputFormatError(
                    f"report input {item!r}: expected NAME=file.h5ad with distinct names."
                )
            data[name] = read_h5ad(Path(path))
        # one modality without drawn figures: named by its kind; else by each NAME=
        study = data if len(data) > 1 or drawn else next(iter(data.values()))
    report.html(
        study,
        out,
        title=title,
        key=key,
        tables_dir=tables_dir,
        figures_from=drawn,
        dpi=dpi,
    )
    logger.info("wrote %s", out)


@command("report-figures")
def report_figures_cmd(
    data: Annotated[
        str, typer.Argument(help="NAME=file.h5ad: one modality and its name in the report.")
    ],
    out: Annotated[Path, typer.Option(help="Output figures file (.json).")],
    key: Annotated[str, typer.Option(help="Key of the differential results.")] = "differential",
    dpi: Annotated[int, typer.Option(help="Resolution of the figures.")] = 80,
    volcano: Annotated[
        Path | None,
        typer.Option(help="Also write the volcano plot of --contrast (.png, .svg or .pdf)."),
    ] = None,
    contrast: Annotated[str | None, typer.Option(help="Contrast of the volcano plot.")] = None,
) -> None:
    """Draw one modality's report figures (for `kratom-omics report --figures-from`), so that
    the modalities of a study are drawn at the same time, each by a process of its own."""
    import matplotlib

    matplotlib.use("Agg")

    from .. import report

    _outputs(out, volcano)
    name, sep, path = data.partition("=")
    if not sep:
        name, path = Path(data).stem, data
    if not name or not path:
        raise InputFormatError(
            f"report-figures input {data!r}: expected NAME=file.h5ad, e.g. "
            "protein=results/protein/biomarkers.h5ad."
        )
    report.figures(
        read_h5ad(Path(path)),
        out,
        name=name,
        key=key,
        dpi=dpi,
        volcano=volcano,
        contrast=contrast,
    )


@command("steps")
def steps_cmd(
    commands: Annotated[
        list[str],
        typer.Argument(
            help="The commands, each one quoted argument without 'kratom-omics', e.g. "
            "'load proteinGroups.txt loaded.h5ad' 'preprocess loaded.h5ad pre.h5ad'."
        ),
    ],
) -> None:
    """Run several commands in one process, in order, stopping at the first that fails (its
    error is the error of the whole). Each process start pays the imports (about 1 s); the
    workflow loads and preprocesses a modality so."""
    import shlex

    parsed = []
    for text in commands:
        try:
            args = shlex.split(text)
        except ValueError as exc:
            raise InputFormatError(
                f"step {text!r}: {exc}; quote each step as one argument."
            ) from None
        if not args:
            raise InputFormatError(
                f"step {text!r}: expected a command and its arguments, e.g. "
                "'preprocess loaded.h5ad pre.h5ad'."
            )
        if args[0] == "steps":
            raise InputFormatError(f"step {text!r}: steps do not nest; list the commands instead.")
        parsed.append(args)
    for args in parsed:
        code = main(args)
        if code:
            raise typer.Exit(code)


@command("fetch")
def fetch_cmd(
    accession: Annotated[str, typer.Argument(help="PRIDE (PXD...) or MassIVE (MSV...) accession.")],
    files: Annotated[
        list[str] | None,
        typer.Option(
            help="Name or pattern of the files to get, e.g. '*proteinGroups.txt'; repeatable "
            "(default: the SDRF only)."
        ),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(help="Cache folder (files go to DEST/ACCESSION/); default: the user cache."),
    ] = None,
    sdrf: Annotated[bool, typer.Option(help="Also get the SDRF sample metadata.")] = True,
    list_files: Annotated[
        bool, typer.Option("--list", help="Only list the dataset's files (TSV on stdout).")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="PRIDE API or MassIVE FTP server (default: KRATOM_OMICS_PRIDE_API / "
            "KRATOM_OMICS_MASSIVE_FTP, else the public servers)."
        ),
    ] = None,
) -> None:
    """Download result files and the SDRF of a PRIDE/MassIVE dataset (kom.datasets.fetch); prints
    the local paths. Interrupted downloads resume when run again."""
    from .. import datasets

    _outputs(dest, directory=True)
    if list_files:
        table = datasets.remote_files(accession, base_url=base_url)
        typer.echo(table.to_csv(sep="\t", index=False, lineterminator="\n"), nl=False)
        return
    paths = datasets.fetch(accession, files=files, dest=dest, sdrf=sdrf, base_url=base_url)
    for path in paths.values():
        typer.echo(str(path))


@command("study")
def study_cmd(
    inputs: Annotated[
        list[str],
        typer.Argument(help="NAME=file per modality (tool output or .h5ad), or one config.yaml."),
    ],
    out: Annotated[Path, typer.Option(help="Output .h5mu file.")] = Path("study.h5mu"),
    samples: Annotated[
        Path | None, typer.Option(help="Sample sheet (sheet, SDRF or MSstats annotation).")
    ] = None,
    phases: Annotated[
        str, typer.Option(help="Phases in order, comma-separated; '' accepts any levels.")
    ] = "control,use,withdrawal",
    phase_column: Annotated[
        str | None, typer.Option(help="Sample-sheet column of the groups (e.g. condition).")
    ] = None,
    join: Annotated[
        str, typer.Option(help="exact: every sample in both; inner: common samples.")
    ] = "exact",
) -> None:
    """Read every modality of a study into one MuData with the shared sample sheet
    (kom.io.read_study) and write it as .h5mu."""
    from ..io import read_study
    from ..io._study import write_h5mu

    if join not in ("exact", "inner"):
        raise InputFormatError(f"--join {join!r}; expected 'exact' or 'inner'.")
    _outputs(out)
    config: Any
    if len(inputs) == 1 and "=" not in inputs[0]:
        config = Path(inputs[0])
        if config.suffix.lower() not in (".yaml", ".yml"):
            raise InputFormatError(
                f"study input {inputs[0]!r}: one input is read as a config.yaml; give NAME=file "
                "per modality (e.g. protein=proteinGroups.txt histone=histone.h5ad) otherwise."
            )
    else:
        config = {}
        for item in inputs:
            name, sep, path = item.partition("=")
            if not sep or not name or name in config:
                raise InputFormatError(
                    f"study input {item!r}: expected NAME=file with distinct names (or one config.yaml)."
                )
            config[name] = path
    mdata = read_study(
        config,
        samples,
        phases=_phases(phases),
        phase_column=phase_column,
        join="exact" if join == "exact" else "inner",
    )
    write_h5mu(mdata, out)
    logger.info(
        "wrote %s (%s)", out, ", ".join(f"{k}: {v.n_obs}x{v.n_vars}" for k, v in mdata.mod.items())
    )


def _global_flags_first(args: list[str]) -> list[str]:
    """``--debug`` works anywhere on the line: moved before the command (not after ``--``)."""
    end = args.index("--") if "--" in args else len(args)
    moved = [a for a in args[:end] if a == "--debug"]
    return moved + [a for a in args[:end] if a != "--debug"] + args[end:]


def main(argv: list[str] | None = None) -> int:
    """Run ``kratom-omics`` with ``argv`` (default: the process arguments); return the exit code."""
    args = _global_flags_first(list(sys.argv[1:] if argv is None else argv))
    if not args or {"--help", "-h"} & set(args):
        _complete_help()
    try:
        app(args=args, prog_name="kratom-omics")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
