"""MaxQuant ``proteinGroups.txt``.

Sample columns are found by exact prefix + experiment name (``LFQ intensity S1``, ``Intensity S1``,
``iBAQ S1``). The experiment names come from the per-experiment columns MaxQuant always writes
(``Peptides S1``, ``Unique peptides S1``, ``MS/MS count S1``, ...), so ``Intensity L S1`` (SILAC),
``iBAQ peptides`` and the summary columns ``Intensity``/``iBAQ`` are never taken for samples. Tables
saved from R (``LFQ.intensity.S1``, ``Protein.IDs``, ``Potential.contaminant``) are read too.

Isobaric (TMT, iTRAQ) tables hold one ``Reporter intensity corrected <channel> <experiment>`` column
per reporter channel and experiment (``Reporter intensity corrected <channel>`` when the run had one
experiment); each becomes one sample, a plex is never summed into one sample.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputFormatError, KeyNotFoundError
from ._anndata import r_name
from ._choices import note_choice
from ._columns import choose_quantity, read_columns, require_columns
from ._format import Format, Probe
from ._loader import loader
from ._protein import fill_genes, finish, plus_flag, protein_var
from ._text import open_table
from ._values import as_integer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_maxquant"]

QUANTITIES = {"lfq": "LFQ intensity", "intensity": "Intensity", "ibaq": "iBAQ"}
#: Reporter-ion quantities of isobaric (TMT, iTRAQ) runs.
REPORTER = {"reporter_corrected": "Reporter intensity corrected", "reporter": "Reporter intensity"}
_EXPERIMENT_FAMILIES = (
    "Peptides",
    "Razor + unique peptides",
    "Unique peptides",
    "MS/MS count",
    "Identification type",
    "Sequence coverage",
)
# canonical column -> .var column
_ANNOTATIONS = {
    "Protein IDs": "protein_ids",
    "Majority protein IDs": "majority_protein_ids",
    "Protein names": "protein_names",
    "Gene names": "gene",
    "Fasta headers": "fasta_headers",
    "Razor + unique peptides": "n_peptides",
    "Peptides": "n_peptides_all",
    "Unique peptides": "n_peptides_unique",
    "Sequence coverage [%]": "sequence_coverage",
    "Mol. weight [kDa]": "mol_weight_kda",
    "Q-value": "q_value",
    "Score": "score",
    "Reverse": "is_decoy",
    "Potential contaminant": "is_contaminant",
    "Contaminant": "is_contaminant",
    "Only identified by site": "only_by_site",
    "id": "maxquant_id",
}
_NUMERIC_ANNOTATIONS = (
    "n_peptides",
    "n_peptides_all",
    "n_peptides_unique",
    "sequence_coverage",
    "mol_weight_kda",
    "q_value",
    "score",
    "maxquant_id",
)
# columns only MaxQuant writes beside 'Protein IDs' (a table without 'Majority protein IDs')
_MAXQUANT_MARKS = (
    "Majority protein IDs",
    "Razor + unique peptides",
    "Potential contaminant",
    "Only identified by site",
    "Peptide counts (all)",
    "Fasta headers",
)
_MAXQUANT_PREFIXES = ("LFQ intensity ", "Reporter intensity ", "iBAQ ", "Intensity ")

ExperimentsArg = Mapping[str, "str | Sequence[str]"] | str | os.PathLike | None


def _experiments(header: Sequence[str], sep: str) -> list[str]:
    names: dict[str, None] = {}
    for family in _EXPERIMENT_FAMILIES:
        prefix = (family if sep == " " else r_name(family)) + sep
        for col in header:
            if col.startswith(prefix):
                rest = col[len(prefix) :]
                if family == "Sequence coverage":
                    if not rest.endswith(" [%]") and not rest.endswith("...."):
                        continue
                    rest = rest.removesuffix(" [%]").removesuffix("....")
                names.setdefault(rest, None)
    return list(names)


def _sample_columns(
    header: Sequence[str], prefix: str, sep: str, experiments: Sequence[str]
) -> dict[str, str]:
    """Map sample name -> column for one quantity (``prefix`` already includes a SILAC label)."""
    full = prefix + sep
    found = {c[len(full) :]: c for c in header if c.startswith(full)}
    if experiments:
        return {e: found[e] for e in experiments if e in found}
    label = re.compile(r"^[LMH]([ .]|$)")
    return {
        name: col
        for name, col in found.items()
        if name and not label.match(name) and name.lower() != "peptides"
    }


class _Reporter:
    """The reporter columns of one quantity: ``(experiment or None, channel in the header)``."""

    def __init__(self, header: Sequence[str], prefix: str, sep: str) -> None:
        pattern = re.compile(rf"^{re.escape(prefix + sep)}(\d+)(?:{re.escape(sep)}(.+))?$")
        self.columns: dict[tuple[str | None, int], str] = {}
        for col in header:
            m = pattern.match(col)
            if m:
                self.columns[(m.group(2), int(m.group(1)))] = col

    @property
    def per_experiment(self) -> dict[tuple[str | None, int], str]:
        """The columns of each experiment; the summed ``<prefix> <channel>`` columns only when
        the table has no experiment (MaxQuant writes both when it has several)."""
        split = {k: c for k, c in self.columns.items() if k[0] is not None}
        return split or self.columns


def _reporter_samples(
    columns: dict[tuple[str | None, int], str], source: str
) -> tuple[dict[str, str], pd.DataFrame]:
    """Sample names and ``.obs`` of the reporter columns (see :func:`read_maxquant`)."""
    numbers = sorted({ch for _, ch in columns})
    shift = 1 if 0 in numbers else 0
    if shift:
        note_choice(
            "reporter_channels",
            "0-based",
            source=source,
            why="the reporter columns count channels from 0 (MaxQuant before 2.0); samples are "
            "named and 'channel' numbered from 1",
        )
    names: dict[str, str] = {}
    records = []
    for (experiment, number), col in sorted(
        columns.items(), key=lambda item: (item[0][0] is not None, item[0][0] or "", item[0][1])
    ):
        channel = number + shift
        name = f"channel_{channel}" if experiment is None else f"{experiment}_{channel}"
        names[name] = col
        records.append(
            {
                "experiment": experiment if experiment is not None else np.nan,
                "plex": experiment if experiment is not None else "1",
                "channel": channel,
                "reporter_column": col,
            }
        )
    obs = pd.DataFrame.from_records(records, index=list(names))
    if obs["experiment"].isna().all():
        obs = obs.drop(columns=["experiment"])
    return names, obs


def _experiment_files(experiments: ExperimentsArg, source: str) -> dict[str, list[str]]:
    """``experiments=`` as ``{experiment: [raw files]}`` (a mapping or MaxQuant's tables)."""
    if experiments is None:
        return {}
    if isinstance(experiments, Mapping):
        out: dict[str, list[str]] = {}
        for key, files in experiments.items():
            out[str(key)] = [files] if isinstance(files, str) else [str(f) for f in files]
        return out
    what = "experiments table"
    tf = open_table(experiments, what=what)
    lower = {h.strip().lower(): h for h in tf.header}
    exp_col = lower.get("experiment")
    file_col = next(
        (
            lower[c]
            for c in ("raw file", "raw.file", "name", "data_file", "data file")
            if c in lower
        ),
        None,
    )
    if exp_col is None or file_col is None:
        raise InputFormatError(
            f"{tf.source}: experiments= needs a table with an 'Experiment' column and the raw files "
            "in 'Raw file' (MaxQuant's summary.txt), 'Name' (its experimentalDesign file) or "
            f"'data_file'; found {tf.header[:12]}."
        )
    table, _ = read_columns(tf, text=[exp_col, file_col], numeric=[])
    table = table.dropna()
    table = table[table[file_col].str.lower() != "total"]  # summary.txt's last row
    out = {}
    for exp, raw in zip(table[exp_col], table[file_col], strict=True):
        out.setdefault(str(exp).strip(), []).append(str(raw).strip())
    if not out:
        raise InputFormatError(f"{tf.source}: no experiment is listed; check the file.")
    return out


def _attach_files(
    obs: pd.DataFrame, experiments: ExperimentsArg, source: str, sep: str
) -> pd.DataFrame:
    files = _experiment_files(experiments, source)
    if not files:
        return obs
    if "experiment" not in obs:
        if len(files) > 1:
            raise InputFormatError(
                f"{source}: the table has one set of reporter columns (a single MaxQuant "
                f"experiment) but experiments= names {len(files)} experiments {sorted(files)}."
            )
        only = next(iter(files.values()))
        obs["data_file"] = ";".join(only)
        return obs
    keyed = dict(files)
    if sep == ".":  # names in an R-saved table are R's
        keyed.update({r_name(k): v for k, v in files.items()})
    missing = sorted(set(obs["experiment"]) - set(keyed))
    if missing:
        raise KeyNotFoundError(
            f"{source}: experiments= gives no raw file for experiment(s) {missing}; it names "
            f"{sorted(files)}. Add every experiment of the table."
        )
    present = set(obs["experiment"])
    extra = sorted(k for k in files if k not in present and r_name(k) not in present)
    if extra:
        logging.getLogger("kratom_omics").warning(
            "%s: experiments= names experiment(s) %s that the table does not have", source, extra
        )
    obs["data_file"] = [";".join(keyed[e]) for e in obs["experiment"]]
    note_choice(
        "experiment_files",
        {e: keyed[e] for e in pd.unique(obs["experiment"])},
        source=source,
        why="experiments= maps each MaxQuant experiment to its raw files",
    )
    return obs


@loader
def read_maxquant(
    path: str | os.PathLike,
    *,
    quantity: str | None = None,
    label: str | None = None,
    experiments: ExperimentsArg = None,
    encoding: str | None = None,
) -> AnnData:
    """Read a MaxQuant ``proteinGroups.txt`` into a samples x protein-groups AnnData.

    Parameters
    ----------
    path
        ``proteinGroups.txt`` as written by MaxQuant (any line ends), or a copy saved from R
        (``LFQ.intensity.S1``, tab- or comma-separated, quoted).
    quantity
        Label-free: ``"lfq"`` (``LFQ intensity <sample>``, the default when present),
        ``"intensity"`` (``Intensity <sample>``, the default otherwise) or ``"ibaq"``
        (``iBAQ <sample>``); ``"maxlfq"`` is accepted for ``"lfq"``. Isobaric labelling (TMT,
        iTRAQ): ``"reporter_corrected"`` (``Reporter intensity corrected ...``, corrected for the
        reagents' isotope impurities; the default when present, also ``"corrected"``) or
        ``"reporter"`` (``Reporter intensity ...``, uncorrected; also ``"uncorrected"``).
        ``Reporter intensity count`` columns (numbers of spectra) are never read.
    label
        SILAC channel (``"L"``, ``"M"`` or ``"H"``) to read ``<quantity> <label> <sample>`` columns;
        ``None`` reads the label-summed columns.
    experiments
        Isobaric tables only: the raw file(s) of each MaxQuant experiment (plex), used to match
        an SDRF sample sheet (whose samples are data files and labels): a mapping
        ``{"plex1": "plex1_F1.raw"}`` (a list for fractions), or the path of MaxQuant's
        ``summary.txt`` (``Raw file``, ``Experiment``) or experimental-design file (``Name``,
        ``Experiment``). Not needed when each experiment is named after its one raw file
        (MaxQuant's default when every file is its own experiment) or the table has one
        experiment. Written to ``.obs["data_file"]``.
    encoding
        Text encoding; ``None`` detects it (see :func:`kratom_omics.io.read`).

    Returns
    -------
    AnnData with raw intensities in ``.X`` and ``.layers["raw"]`` (zeros as NaN); ``.var`` indexed
    by the leading majority protein id (made unique) with ``protein_ids``, ``majority_protein_ids``
    (when the table has it; without it the leading id is the first of ``Protein IDs``),
    ``protein_leading``, ``gene`` (all gene names, ``;``-joined, the leading protein id when
    missing), ``gene_leading``, ``protein_names``, ``n_peptides`` (``Razor + unique peptides``,
    the peptides a protein group is quantified from, as DEqMS and limma's count trend use them;
    ``Peptides`` when the table has no razor counts), ``n_peptides_all`` (``Peptides``),
    ``n_peptides_unique`` and the boolean flags ``is_decoy`` (``Reverse``), ``is_contaminant``
    (``Potential contaminant``/``Contaminant``) and ``only_by_site``; ``.obs`` from the sample
    sheet. Proteins are not filtered (see the ``pp`` filters).

    Isobaric tables give one sample per reporter channel and experiment, named
    ``<experiment>_<channel>`` (``plex1_1`` ... ``plex1_10``), or ``channel_<channel>`` when the
    table has one experiment (``Reporter intensity corrected <channel>`` without experiment).
    ``<channel>`` counts from 1 in reagent order (TMT126 = 1, TMT127N = 2, ...): MaxQuant 2.x
    numbers the columns from 1 and is read as written; MaxQuant 1.x numbered them from 0
    (``Reporter intensity corrected 0``), recognised by the 0 and shifted by one, so the names
    and the SDRF's channels agree across versions. When the table has per-experiment columns the
    summed ``Reporter intensity corrected <channel>`` columns (all experiments added) are not
    read. ``.obs`` gets ``experiment``, ``plex`` (the experiment; ``"1"`` for one experiment),
    ``channel`` (1-based), ``reporter_column`` (the column read) and ``data_file`` (from
    ``experiments=``). An SDRF sample sheet is matched by data file and channel (see
    :func:`kratom_omics.io.attach_samples`).
    ``.uns["kratom_omics"]["provenance"]`` records the call and its parameters.
    """
    tf = open_table(path, what="MaxQuant table", encoding=encoding)
    source, header = tf.source, tf.header
    r_style = "Protein.IDs" in header and "Protein IDs" not in header
    sep = "." if r_style else " "

    def col(name: str) -> str:
        return r_name(name) if r_style else name

    require_columns(header, [col("Protein IDs")], source, "MaxQuant proteinGroups")
    has_majority = col("Majority protein IDs") in header
    if not has_majority:
        note_choice(
            "protein_ids",
            col("Protein IDs"),
            source=source,
            why="no 'Majority protein IDs' column; the leading id is the first of 'Protein IDs'",
        )
    if label is not None and str(label).upper() not in {"L", "M", "H"}:
        raise InputFormatError(f"label={label!r}; expected 'L', 'M', 'H' (SILAC channel) or None.")
    lab = "" if label is None else sep + str(label).upper()

    experiment_names = _experiments(header, sep)
    available: dict[str, dict[str, str]] = {
        key: _sample_columns(header, col(prefix) + lab, sep, experiment_names)
        for key, prefix in QUANTITIES.items()
    }
    reporters = {key: _Reporter(header, col(prefix), sep) for key, prefix in REPORTER.items()}
    for key, rep in reporters.items():
        available[key] = {str(k): c for k, c in rep.per_experiment.items()}
    preferred = "reporter_corrected" if available["reporter_corrected"] else "lfq"
    key, columns = choose_quantity(
        quantity,
        available,
        tool="MaxQuant",
        preferred=preferred,
        aliases=FORMAT.quantities,
        source=source,
        wanted=lambda k: (
            f"{col(REPORTER[k])}{sep}<channel>[{sep}<experiment>]"
            if k in REPORTER
            else f"{col(QUANTITIES[k]) + lab}{sep}<sample>"
        ),
        hint=" Pass quantity= one of those (LFQ columns exist only when MaxQuant ran LFQ; "
        "reporter columns only for TMT/iTRAQ runs).",
    )
    obs: pd.DataFrame | None = None
    if key in REPORTER:
        if label is not None:
            raise InputFormatError(
                f"label={label!r} selects a SILAC channel; an isobaric table has reporter "
                "channels instead (every channel becomes a sample). Drop label=."
            )
        rep = reporters[key]
        per_exp = rep.per_experiment
        summed = [c for k, c in rep.columns.items() if k not in per_exp]
        if summed:
            note_choice(
                "reporter_summed_columns",
                len(summed),
                source=source,
                why="the columns without experiment add up all experiments and are not read",
            )
        columns, obs = _reporter_samples(per_exp, source)
        obs = _attach_files(obs, experiments, source, sep)
        plexes = list(pd.unique(obs["plex"]))
        logging.getLogger("kratom_omics").info(
            "%s: %d reporter channel(s) x %d plex(es) read as %d samples (%s)",
            source,
            obs["channel"].nunique(),
            len(plexes),
            len(obs),
            REPORTER[key],
        )
    elif experiments is not None:
        raise InputFormatError(
            f"experiments= maps isobaric experiments to raw files; quantity={key!r} reads "
            "label-free columns, which need no mapping. Drop experiments=."
        )

    names = [*_ANNOTATIONS]
    text = [c for c in (col(name) for name in names) if c in header]
    if col("Potential contaminant") in text and col("Contaminant") in text:
        text.remove(col("Contaminant"))
    annotations, values = read_columns(
        tf, text=text, numeric=list(columns.values()), row_label=col("Protein IDs")
    )
    annotations = annotations.rename(columns={col(k): v for k, v in _ANNOTATIONS.items()})
    if "n_peptides" not in annotations and "n_peptides_all" in annotations:
        annotations["n_peptides"] = annotations["n_peptides_all"]
        note_choice(
            "n_peptides",
            col("Peptides"),
            source=source,
            why="no 'Razor + unique peptides' column; var['n_peptides'] counts all peptides",
        )
    n = len(annotations)
    genes = annotations.get("gene")
    if "fasta_headers" in annotations:
        genes = fill_genes(genes, annotations["fasta_headers"])
    extra: dict[str, pd.Series | np.ndarray] = {
        "only_by_site": plus_flag(annotations.get("only_by_site"), n),
    }
    if has_majority:
        extra["majority_protein_ids"] = annotations["majority_protein_ids"]
    for name in ("protein_names", *_NUMERIC_ANNOTATIONS):
        if name in annotations:
            series = annotations[name]
            if name.startswith("n_peptides") or name == "maxquant_id":
                series = as_integer(series)
            elif name in _NUMERIC_ANNOTATIONS:
                series = pd.to_numeric(series, errors="coerce")
            extra[name] = series
    leading = (
        annotations["majority_protein_ids"].fillna(annotations["protein_ids"])
        if has_majority
        else annotations["protein_ids"]
    )
    var = protein_var(
        annotations["protein_ids"],
        genes=genes,
        leading=leading,
        contaminant=plus_flag(annotations.get("is_contaminant"), n),
        decoy=plus_flag(annotations.get("is_decoy"), n),
        extra=extra,
        source=source,
    )
    values.columns = list(columns)
    parameters: dict[str, Any] = {
        "quantity": key,
        "label": label,
        "columns": list(columns.values()),
    }
    if experiments is not None:
        parameters["experiments"] = (
            str(experiments) if not isinstance(experiments, Mapping) else dict(experiments)
        )
    return finish(
        values, var, source=source, reader="read_maxquant", parameters=parameters, obs=obs
    )


def _detect(pr: Probe) -> str | None:
    """MaxQuant proteinGroups.txt: 'Protein IDs' with 'Majority protein IDs' or other MaxQuant
    columns ('Razor + unique peptides', 'Potential contaminant', 'LFQ intensity <sample>',
    'Reporter intensity ...'; also R's 'Protein.IDs', 'Majority.protein.IDs')"""
    for ids in ("Protein IDs", "Protein.IDs"):
        if ids not in pr.colset:
            continue
        form = (lambda c: c) if ids == "Protein IDs" else r_name
        marks = [form(m) for m in _MAXQUANT_MARKS if form(m) in pr.colset]
        if marks:
            return f"columns {[ids, marks[0]]}"
        prefixes = tuple(
            form(p.strip()) + (" " if ids == "Protein IDs" else ".") for p in _MAXQUANT_PREFIXES
        )
        hit = next((c for c in pr.columns if c.startswith(prefixes)), None)
        if hit is not None:
            return f"columns {[ids, hit]}"
    return None


FORMAT = Format(
    name="maxquant",
    label="MaxQuant",
    reader=read_maxquant,
    detect=_detect,
    modality="protein",
    file_names=(r"proteinGroups",),
    folder_files=("proteinGroups.txt",),
    quantities={
        **{k: k for k in QUANTITIES},
        **{k: k for k in REPORTER},
        "maxlfq": "lfq",
        "corrected": "reporter_corrected",
        "uncorrected": "reporter",
    },
    options=("label", "experiments"),
)
