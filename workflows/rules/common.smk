# Configuration and sample sheet: validated before any job runs.
import re
from pathlib import Path
import shlex

import pandas as pd
from snakemake.logging import logger
from snakemake.utils import validate

import kratom_omics as kom
from kratom_omics._defaults import BIOMARKERS, DIFFERENTIAL, PREPROCESS
from kratom_omics.errors import KratomOmicsError


def q(value):
    """Quote a value for the shell."""
    return shlex.quote(str(value))


# A configuration given with --configfile replaces config/config.yaml as a whole (the Snakefile reads
# config/config.yaml only without one; merged, a protein-only study would still run the example's
# histone and western inputs); keys it leaves out take the schema's defaults below.

# A modality name becomes part of output paths and job commands: refuse anything but a plain name
# before anything else reads it (the schema says the same; this message is the friendlier one).
MODALITY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_bad_names = [str(n) for n in (config.get("modalities") or {}) if not MODALITY_NAME.fullmatch(str(n))]
if _bad_names:
    raise WorkflowError(
        ("modalities: the name " if len(_bad_names) == 1 else "modalities: the names ")
        + ", ".join(repr(n) for n in _bad_names)
        + (" is" if len(_bad_names) == 1 else " are")
        + " not allowed; use letters, digits, '_', '.' and '-' (starting with a letter, digit or "
        "'_'), e.g. 'protein' or 'histone_ms'."
    )

# bigWig tracks are summarised over regions: say so in the configuration's words (the schema's
# rule says it too, less plainly)
for _name, _mod in (config.get("modalities") or {}).items():
    if isinstance(_mod, dict) and str(_mod.get("format", "")).lower() == "bigwig" and not _mod.get("regions"):
        raise WorkflowError(
            f"modalities.{_name}: format: bigwig needs regions: a GTF/GFF3 gene annotation "
            "(promoters or gene bodies) or a BED/peak file to summarise the signal over, e.g. "
            "regions: data/genes.gtf.gz"
        )

validate(config, "../schemas/config.schema.yaml")

# Public files named by `source: <accession>/<file>` are downloaded here (rules/download.smk);
# kom.io.read_study looks for them in the same place.
DOWNLOADS = "resources/public"


def source_path(source):
    """Local path of a `source: <accession>/<file>` entry."""
    accession, _, name = str(source).partition("/")
    return f"{DOWNLOADS}/{accession}/{name}"


# `samples:` is a path, or {path: ..., phase_column: ...}, or {source: ..., phase_column: ...}
_samples_cfg = config["samples"] if isinstance(config["samples"], dict) else {"path": config["samples"]}
SAMPLE_SHEET = _samples_cfg["path"] if "path" in _samples_cfg else source_path(_samples_cfg["source"])
PHASE_COLUMN = _samples_cfg.get("phase_column")
JOIN = config.get("join", "exact")

if Path(SAMPLE_SHEET).exists():
    try:
        SAMPLES = kom.io.read_samples(SAMPLE_SHEET, phases=config["phases"], phase_column=PHASE_COLUMN)
    except KratomOmicsError as exc:
        raise WorkflowError(f"sample sheet: {exc}") from None
    validate(SAMPLES.reset_index(names="sample").astype(str), "../schemas/samples.schema.yaml")
elif "source" in _samples_cfg:
    logger.info(f"sample sheet {SAMPLE_SHEET} will be downloaded; it is checked when the data are loaded")
else:
    raise WorkflowError(
        f"samples: {SAMPLE_SHEET!r} does not exist; set samples in config/config.yaml to your sample "
        "sheet (or SDRF file, or MSstats annotation)."
    )


def samples_flags():
    """The sample-sheet options of the commands that read the sheet."""
    flags = [f"--samples {q(SAMPLE_SHEET)}", f"--phases {q(','.join(config['phases']))}"]
    if PHASE_COLUMN:
        flags.append(f"--phase-column {q(PHASE_COLUMN)}")
    return " ".join(flags)


RESULTS = Path("results").resolve()


def results_path(modality, name):
    """``results/<modality>/<name>``, refused if it would resolve outside ``results/``."""
    path = Path("results", modality, name)
    if not path.resolve().is_relative_to(RESULTS):
        raise WorkflowError(f"modality {modality!r}: output {path} would lie outside results/.")
    return str(path)


MODALITIES = list(config["modalities"])
for _name in MODALITIES:
    results_path(_name, "loaded.h5ad")

# Inputs larger than this are matched against the sample sheet by their load job only.
CHECK_MAX_BYTES = 256 * 2**20


#: what preprocess.reference names for each normalisation that needs it (the package's
#: REFERENCE_METHODS)
NORMALIZE_REFERENCE = {
    "reference_sample": "the reference sample(s), e.g. reference: pool_1",
    "reference_feature": "the reference feature(s), e.g. reference: [Gapdh, Actb]",
    "irs": "the reference channel of every plex (e.g. reference: 10 or TMT131) or the reference "
    "sample(s)",
}


#: the differential settings a modality may set for itself (modalities.<name>.differential)
DIFFERENTIAL_OWN = ("method", "n_peptides", "covariates", "block", "trend", "robust", "lfc")


def modality_differential(mod):
    """A modality's differential settings: the top-level section, its own overrides on top, the
    package's defaults for the rest."""
    d = config.get("differential", {})
    own = mod.get("differential", {})
    out = {key: d.get(key, getattr(DIFFERENTIAL, key, None)) for key in DIFFERENTIAL_OWN}
    out.update({key: own[key] for key in DIFFERENTIAL_OWN if key in own})
    out["covariates"] = list(out["covariates"] or [])
    out["block"] = out["block"] or ""
    return out


def fits_chunked():
    """Whether the differential jobs fit chunk by chunk (a scheduler or a chunk size is set)."""
    d = config.get("differential", {})
    return bool(d.get("scheduler", "")) or d.get("chunk_size") is not None


def method_problems(name, mod):
    """What a modality's moderation method cannot do with its other settings (the package's own
    rules, in the configuration's words)."""
    from kratom_omics.tl._methods._setup import option_conflicts

    s = modality_differential(mod)
    found = option_conflicts(
        s["method"],
        trend=bool(s["trend"]),
        robust=bool(s["robust"]),
        lfc=float(s["lfc"] or 0),
        block=s["block"] or None,
        covariates=s["covariates"],
        chunked=fits_chunked(),
    )
    if not found:
        return []

    # the package's sentences name options as keywords (robust=True): here as settings
    OPTION = r"\b(method|trend|robust|lfc|block|scheduler|chunk_size)=('[^']*'|\w+)"

    def words(m):
        value = m.group(2).strip("'")
        value = {"True": "true", "False": "false", "None": "null"}.get(value, value)
        return f"{m.group(1)}: {value}"

    return [
        f"modalities.{name}: "
        + re.sub(OPTION, words, text).replace("covariates= or formula=", "covariates")
        + f" (Settings of this modality alone go under modalities.{name}.differential.)"
        for text in found
    ]


def extra_problems():
    """Settings that need a package the environment lacks, when the jobs run in this environment
    (not in a conda or container environment of their own): dask for a scheduler or chunk size."""
    from importlib.util import find_spec

    from snakemake.settings.types import DeploymentMethod

    if workflow.deployment_settings.deployment_method & {
        DeploymentMethod.CONDA,
        DeploymentMethod.APPTAINER,
    }:
        return []
    if fits_chunked() and find_spec("dask") is None:
        return [
            "differential.scheduler / chunk_size: fitting chunk by chunk needs dask, which this "
            "environment does not have; install it (pip install 'kratom-omics[workflow,dask]') "
            "or remove them to fit in memory."
        ]
    return []


def config_problems():
    """Everything wrong between the configuration, the sample sheet and the inputs, found before
    any job runs: inputs that do not exist, samples on one side only (each local input is read
    without the sheet and joined to it as its load job will), contrasts naming no phase, and
    covariate or block columns the sheet lacks."""
    import numpy as np

    from kratom_omics._design import parse_contrast
    from kratom_omics.errors import did_you_mean
    from kratom_omics.pp._normalize import REFERENCE_METHODS

    problems = []
    phases = list(config["phases"])
    symbols = {p: np.eye(len(phases))[i] for i, p in enumerate(phases)}
    for c in config["contrasts"]:
        try:
            parse_contrast(c, symbols)
        except KratomOmicsError as exc:
            problems.append(f"contrasts: {exc}")
    sheet = globals().get("SAMPLES")
    if sheet is not None:  # each modality's covariates and block (its own, else the top-level)
        for name, mod in config["modalities"].items():
            s, own = modality_differential(mod), mod.get("differential", {})
            wanted = [("covariates", c) for c in s["covariates"]]
            wanted += [("block", s["block"])] if s["block"] else []
            for what, col in wanted:
                where = f"modalities.{name}.differential" if what in own else "differential"
                problem = (
                    f"{where}.{what}: "
                    + did_you_mean(col, list(sheet.columns), what="column")
                    + f" (the columns of {SAMPLE_SHEET})"
                )
                if col not in sheet.columns and problem not in problems:
                    problems.append(problem)
    problems += extra_problems()
    for name, mod in config["modalities"].items():
        problems += method_problems(name, mod)
        pp = mod.get("preprocess", {})
        method, reference = pp.get("normalize", PREPROCESS.normalize), pp.get("reference")
        if method in REFERENCE_METHODS and reference in (None, "", []):
            problems.append(
                f"modalities.{name}.preprocess: normalize: {method} needs reference: "
                f"{NORMALIZE_REFERENCE.get(method, 'its reference')}."
            )
        elif method not in REFERENCE_METHODS and reference not in (None, "", []):
            problems.append(
                f"modalities.{name}.preprocess: reference is used by normalize: "
                f"{', '.join(REFERENCE_METHODS)}, not by normalize: {method}; remove it."
            )
        if mod.get("regions") and not is_tracks(mod):
            problems.append(
                f"modalities.{name}: regions is for signal tracks (format: bigwig), not for format: "
                f"{mod.get('format')}; remove it or set format: bigwig."
            )
            continue
        if "input" not in mod:
            continue
        path = Path(mod["input"])
        if is_tracks(mod):
            problems += track_problems(name, mod, sheet)
            continue
        if not path.is_file():
            problems.append(
                f"modalities.{name}.input: {str(path)!r} "
                + ("is a directory" if path.is_dir() else "does not exist")
                + "; set it to your tool's output (or name a public file with source: "
                "<accession>/<file>)."
            )
            continue
        if sheet is None or path.stat().st_size > CHECK_MAX_BYTES:
            continue
        try:
            extra = {"sheet": mod["sheet"]} if mod.get("sheet") not in (None, "") else {}
            data = kom.io.read(
                path,
                None,
                format=mod.get("format", "auto"),
                quantity=mod.get("quantity") or None,
                **extra,
            )
            kom.io.attach_samples(data, sheet, phases=None, join=JOIN, source=f"{path}")
        except KratomOmicsError as exc:
            problems.append(f"modalities.{name}: {exc}")
    return problems


# the options of a bigWig modality, passed to its load job (their defaults are read_bigwig's)
TRACK_OPTIONS = ("regions", "feature", "upstream", "downstream", "annotation", "max_distance", "mark")


def is_tracks(mod):
    """Whether a modality is signal tracks (format bigwig, or detected with regions given)."""
    fmt = str(mod.get("format", "auto")).lower()
    return fmt == "bigwig" or (fmt == "auto" and bool(mod.get("regions")))


def track_problems(name, mod, sheet):
    """A bigWig modality's files and samples, checked without reading any signal."""
    problems = []
    for key in ("regions", "annotation"):
        if mod.get(key) and not Path(mod[key]).is_file():
            problems.append(
                f"modalities.{name}.{key}: {mod[key]!r} does not exist; set it to a GTF/GFF3 "
                "annotation or a BED/peak file."
            )
    path = Path(mod["input"])
    if not path.exists():
        return problems + [
            f"modalities.{name}.input: {str(path)!r} does not exist; set it to a sheet whose path "
            "column names one bigWig file per sample, or to a folder of bigWig files."
        ]
    try:
        files = kom.io.track_files(path)
    except KratomOmicsError as exc:
        return problems + [f"modalities.{name}: {exc}"]
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        problems.append(
            f"modalities.{name}: {len(missing)} bigWig file(s) named by {str(path)!r} do not exist: "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )
    if sheet is not None:
        import anndata as ad

        try:
            tracks = ad.AnnData(obs=pd.DataFrame(index=pd.Index(list(files))))
            kom.io.attach_samples(tracks, sheet, phases=None, join=JOIN, source=f"{path}")
        except KratomOmicsError as exc:
            problems.append(f"modalities.{name}: {exc}")
    return problems


def modality_tracks(wildcards):
    """The bigWig files of a track modality (so that a changed track reruns its load job)."""
    mod = modality_config(wildcards)
    if not is_tracks(mod) or "input" not in mod:
        return []
    try:
        return [str(f) for f in kom.io.track_files(Path(mod["input"])).values()]
    except KratomOmicsError:
        return []  # reported by config_problems (or by the load job)


def modality_regions(wildcards):
    """The region and annotation files of a track modality."""
    mod = modality_config(wildcards)
    return [mod[k] for k in ("regions", "annotation") if is_tracks(mod) and mod.get(k)]


def track_flags(wildcards):
    """The load options of a track modality (--regions ..., --mark ...)."""
    mod = modality_config(wildcards)
    if not is_tracks(mod):
        return ""
    return " ".join(
        f"--{key.replace('_', '-')} {q(mod[key])}"
        for key in TRACK_OPTIONS
        if mod.get(key) not in (None, "")
    )


if not workflow.remote_exec:  # a cluster job re-reads the workflow: checked once, at submission
    _problems = config_problems()
    if _problems:
        raise WorkflowError(
            f"{len(_problems)} problem(s) in the configuration, found before running any job:\n  "
            + "\n  ".join(_problems)
        )


def modality_input(wildcards):
    """The tool output of a modality: its input, or the download of its source."""
    mod = modality_config(wildcards)
    return mod["input"] if "input" in mod else source_path(mod["source"])

wildcard_constraints:
    modality="|".join(re.escape(m) for m in MODALITIES),

def modality_config(wildcards):
    return config["modalities"][wildcards.modality]


def all_outputs():
    out = ["results/report.html", "results/tables", "results/study.h5mu"]
    return out + [f"results/figures/{m}_volcano.png" for m in MODALITIES]


# the options of config.modalities.<name>.preprocess; their defaults are the package's (one place)
PREPROCESS_OPTIONS = (
    "remove_flagged", "transform", "pseudocount", "min_valid", "valid_mode", "normalize", "impute",
    "track_normalization",
)


def load_step(wildcards, input, output):
    """The `kratom-omics load` command of a modality (its arguments quoted for `steps`)."""
    mod = modality_config(wildcards)
    flags = [f"--format {q(mod.get('format', 'auto'))}"]
    if mod.get("quantity"):
        flags.append(f"--quantity {q(mod['quantity'])}")
    if mod.get("sheet") not in (None, ""):
        flags.append(f"--sheet {q(str(mod['sheet']))}")
    flags += [track_flags(wildcards), samples_flags(), f"--join {q(JOIN)}"]
    return f"load {q(input.data)} {q(output.loaded)} " + " ".join(f for f in flags if f)


def preprocess_flags(wildcards):
    pp = {key: getattr(PREPROCESS, key) for key in PREPROCESS_OPTIONS}
    pp.update(modality_config(wildcards).get("preprocess", {}))
    flags = ["--remove-flagged" if pp["remove_flagged"] else "--no-remove-flagged"]
    for key in PREPROCESS_OPTIONS[1:]:
        flags.append(f"--{key.replace('_', '-')} {q(pp[key])}")
    reference = pp.get("reference")
    if reference not in (None, "", []):
        names = reference if isinstance(reference, list) else [reference]
        flags.append(f"--reference {q(','.join(str(r) for r in names))}")
    return " ".join(flags)


def biomarker_option(name):
    """``config.biomarkers.<name>``, else the package's default."""
    return config.get("biomarkers", {}).get(name, getattr(BIOMARKERS, name))


# A modality whose input (the tool's output) is this large or larger gets two cores for its
# differential job (the in-memory fit's matrix products use them); a smaller one is fitted in a
# second or two on one core while the other modalities' jobs use the other.
DIFFERENTIAL_TWO_CORES_MB = 64


def differential_threads(wildcards):
    """Cores of a differential job: N for a dask LocalCluster of N workers ('local:N'); 2 for
    the job's thread pool ('threads') or an input of DIFFERENTIAL_TWO_CORES_MB or more (or one
    still to be downloaded), else 1."""
    scheduler = str(config.get("differential", {}).get("scheduler", ""))
    if scheduler.startswith("local:") and scheduler[6:].isdigit():
        return int(scheduler[6:])
    path = Path(modality_input(wildcards))
    if scheduler == "threads" or not path.is_file():
        return 2
    return 2 if path.stat().st_size >= DIFFERENTIAL_TWO_CORES_MB * 2**20 else 1


def differential_flags(wildcards):
    d = config.get("differential", {})
    s = modality_differential(modality_config(wildcards))
    flags = [f"--contrast {q(c)}" for c in config["contrasts"]]
    flags += [f"--covariate {q(c)}" for c in s["covariates"]]
    flags.append("--trend" if s["trend"] else "--no-trend")
    flags.append("--robust" if s["robust"] else "--no-robust")
    flags.append(f"--fdr {q(d.get('fdr', DIFFERENTIAL.fdr))}")
    if s["block"]:
        flags.append(f"--block {q(s['block'])}")
    if s["lfc"]:
        flags.append(f"--lfc {float(s['lfc'])}")
    for key in ("method", "n_peptides"):
        flags.append(f"--{key.replace('_', '-')} {q(s[key])}")
    if d.get("scheduler", ""):
        flags.append(f"--scheduler {q(d['scheduler'])}")
    if d.get("chunk_size") is not None:
        flags.append(f"--chunk-size {int(d['chunk_size'])}")
    return " ".join(flags)
