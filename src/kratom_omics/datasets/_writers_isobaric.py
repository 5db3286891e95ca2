"""Write simulated data as isobaric (TMT) MaxQuant tables and as mzTab files.

:func:`write_maxquant_tmt` spreads the samples of a simulation over TMT plexes (one MaxQuant
experiment each, optionally with a pooled reference channel per plex) and writes the
``Reporter intensity corrected <channel> <experiment>`` columns MaxQuant writes for such runs;
:func:`write_mztab` writes an mzTab 1.0 quantification file the way OpenMS and quantms export one
(``protein_details`` rows, fractions as several runs of one assay, TMT assays sharing a run,
``CONTAMINANT_``/``DECOY_`` accessions). Both return the layout they wrote, so tests know which
column or assay holds which sample.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._files import atomic_write_text
from ..errors import InputFormatError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["write_maxquant_tmt", "write_mztab"]

#: Reporter labels of the TMT plexes, in channel order (channel 1 = TMT126).
TMT_LABELS = {
    6: ("TMT126", "TMT127", "TMT128", "TMT129", "TMT130", "TMT131"),
    10: (
        "TMT126", "TMT127N", "TMT127C", "TMT128N", "TMT128C", "TMT129N", "TMT129C", "TMT130N",
        "TMT130C", "TMT131",
    ),
    11: (
        "TMT126", "TMT127N", "TMT127C", "TMT128N", "TMT128C", "TMT129N", "TMT129C", "TMT130N",
        "TMT130C", "TMT131N", "TMT131C",
    ),
    16: (
        "TMT126", "TMT127N", "TMT127C", "TMT128N", "TMT128C", "TMT129N", "TMT129C", "TMT130N",
        "TMT130C", "TMT131N", "TMT131C", "TMT132N", "TMT132C", "TMT133N", "TMT133C", "TMT134N",
    ),
}  # fmt: skip


def _r_name(name: str) -> str:
    import re

    return re.sub(r"[^0-9A-Za-z._]", ".", name)


def _plex_layout(
    samples: Sequence[str], channels: int, reference: bool, n_plexes: int | None
) -> pd.DataFrame:
    per_plex = channels - (1 if reference else 0)
    if per_plex < 1:
        raise InputFormatError(f"channels={channels} leaves no channel for samples.")
    n = len(samples)
    plexes = -(-n // per_plex) if n_plexes is None else n_plexes
    if plexes * per_plex < n:
        raise InputFormatError(
            f"{n} samples do not fit {plexes} plex(es) of {per_plex} sample channels."
        )
    rows = []
    for p in range(plexes):
        members = list(samples[p * per_plex : (p + 1) * per_plex])
        for k, s in enumerate(members):
            rows.append({"sample": s, "plex": p + 1, "channel": k + 1, "is_reference": False})
        if reference:
            rows.append(
                {
                    "sample": f"plex{p + 1}_pool",
                    "plex": p + 1,
                    "channel": channels,
                    "is_reference": True,
                }
            )
    return pd.DataFrame(rows)


def write_maxquant_tmt(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    channels: Literal[6, 10, 11, 16] = 10,
    reference: bool = True,
    single_experiment: bool = False,
    zero_based: bool = False,
    r_names: bool = False,
    fractions: int = 1,
    plex_sd: float = 0.5,
    summary: str | os.PathLike | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Write a simulated protein AnnData as a MaxQuant ``proteinGroups.txt`` of a TMT experiment.

    The samples fill TMT plexes in order (``channels`` reporter channels each, the last one a
    pooled reference when ``reference``); each plex is one MaxQuant experiment ``plex<k>``
    measured in ``fractions`` raw files ``tmt_plex<k>_F<f>.raw``. Every plex scales each protein
    by its own factor (log2-normal with ``plex_sd``), as the MS2 sampling of a plex does: this is
    what internal reference scaling removes. The reference channel of a plex holds the mean of all
    samples (the same pool in every plex) times that plex's factors.

    Columns: ``Protein IDs``, ``Majority protein IDs``, ``Gene names``, ``Fasta headers``,
    ``Peptides``, ``Razor + unique peptides``, ``Unique peptides``, per experiment
    ``Peptides <experiment>``, then ``Reporter intensity corrected <channel> [<experiment>]``
    (the values; MaxQuant also writes the columns without experiment, summed over experiments),
    ``Reporter intensity <channel> [<experiment>]`` (uncorrected: 4 % of each neighbour channel
    leaks in), ``Reporter intensity count <channel> [<experiment>]``, ``Intensity``,
    ``Intensity <experiment>`` (MS1), ``Reverse``, ``Potential contaminant``, ``id``. Missing
    values are 0.

    Parameters
    ----------
    adata
        A protein simulation (``.layers["raw"]``, ``.var`` with ``gene`` and ``protein_ids``).
    path
        Output file.
    channels
        Plex size: 6, 10, 11 or 16 (TMTpro).
    reference
        Put a pooled reference in the last channel of every plex.
    single_experiment
        One plex without experiment names (``Reporter intensity corrected 1``), as MaxQuant
        writes a run with one experiment; all samples must fit one plex.
    zero_based
        Number the channels from 0, as MaxQuant 1.x did.
    r_names
        Write the header as R's ``write.table`` does after ``read.delim``
        (``Reporter.intensity.corrected.1.plex1``).
    fractions
        Raw files per plex.
    plex_sd
        Standard deviation (log2) of the per-plex, per-protein factors.
    summary
        Also write MaxQuant's ``summary.txt`` (``Raw file``, ``Experiment``, ``Fraction``) here.
    seed
        Seed of the plex factors and counts.

    Returns
    -------
    The layout: one row per written sample (``sample``, ``experiment``, ``plex``, ``channel``
    (1-based), ``label`` (TMT126, ...), ``is_reference``, ``column`` (its corrected reporter
    column), ``data_file`` (``;``-joined raw files)), indexed by the name the loader gives it
    (``<experiment>_<channel>`` or ``channel_<channel>``). ``path`` is written atomically.
    """
    if channels not in TMT_LABELS:
        raise InputFormatError(f"channels={channels}; expected one of {sorted(TMT_LABELS)}.")
    rng = np.random.default_rng(seed)
    raw = np.asarray(adata.layers["raw"], dtype=float)  # samples x features
    samples = [str(s) for s in adata.obs_names]
    layout = _plex_layout(samples, channels, reference, 1 if single_experiment else None)
    n_plexes = int(layout["plex"].max())
    n_feat = raw.shape[1]
    factors = 2.0 ** rng.normal(0.0, plex_sd, (n_plexes, n_feat))
    seen = np.isfinite(raw)
    pool = np.where(seen, raw, 0.0).sum(axis=0) / np.maximum(seen.sum(axis=0), 1)
    pool[~seen.any(axis=0)] = np.nan
    index = {s: i for i, s in enumerate(samples)}
    sep = "." if r_names else " "

    def name(text: str) -> str:
        return _r_name(text) if r_names else text

    def reporter(prefix: str, channel: int, experiment: str | None) -> str:
        number = channel - 1 if zero_based else channel
        parts = [prefix, str(number)] if experiment is None else [prefix, str(number), experiment]
        return sep.join([name(parts[0]), *parts[1:]])

    values: dict[tuple[int, int], np.ndarray] = {}
    for sample, plex, channel, is_ref in zip(
        layout["sample"], layout["plex"], layout["channel"], layout["is_reference"], strict=True
    ):
        base = pool if is_ref else raw[index[str(sample)]]
        v = base * factors[int(plex) - 1]
        values[(int(plex), int(channel))] = np.where(np.isfinite(v), np.round(v, 1), 0.0)
    experiments = {p: None if single_experiment else f"plex{p}" for p in range(1, n_plexes + 1)}
    acc = adata.var["protein_ids"].astype(str).to_numpy()
    genes = adata.var["gene"].astype(str).to_numpy()
    con = ["CON__P02769", "CON__P00761"]
    rev = [f"REV__{a}" for a in acc[:2]]
    ids = [*acc, *con, *rev]
    n_extra = len(con) + len(rev)
    total = n_feat + n_extra
    cols: dict[str, object] = {
        name("Protein IDs"): ids,
        name("Majority protein IDs"): ids,
        name("Gene names"): [*genes, "ALB", "", "", ""],
        name("Fasta headers"): [
            *[
                f">tr|{a}|{g.upper()}_RAT OS=Rattus norvegicus GN={g}"
                for a, g in zip(acc, genes, strict=True)
            ],
            "P02769",
            "P00761",
            "",
            "",
        ],
    }
    peptides = rng.integers(1, 30, total)
    razor = np.maximum(1, peptides - rng.integers(0, 3, total))
    cols[name("Peptides")] = peptides
    cols[name("Razor + unique peptides")] = razor
    cols[name("Unique peptides")] = np.maximum(1, razor - rng.integers(0, 2, total))
    if not single_experiment:
        for p, exp in experiments.items():
            cols[sep.join([name("Peptides"), str(exp)])] = np.maximum(0, peptides - p + 1)

    def padded(v: np.ndarray) -> np.ndarray:
        extra = np.where(rng.random(n_extra) < 0.3, 0.0, np.round(rng.uniform(1e3, 1e5, n_extra)))
        return np.r_[v, extra]

    corrected = {key: padded(v) for key, v in sorted(values.items())}
    uncorrected = {}
    for (p, c), v in corrected.items():
        left = corrected.get((p, c - 1), np.zeros(total))
        right = corrected.get((p, c + 1), np.zeros(total))
        uncorrected[(p, c)] = np.round(0.92 * v + 0.04 * left + 0.04 * right, 1)
    for prefix, block in (
        ("Reporter intensity corrected", corrected),
        ("Reporter intensity", uncorrected),
    ):
        if not single_experiment:  # MaxQuant's summed columns, over all experiments
            for c in range(1, channels + 1):
                summed = sum(
                    (block[(p, c)] for p in experiments if (p, c) in block), np.zeros(total)
                )
                cols[reporter(prefix, c, None)] = summed
        for (p, c), v in block.items():
            cols[reporter(prefix, c, experiments[p])] = v
    for (p, c), v in corrected.items():
        cols[reporter("Reporter intensity count", c, experiments[p])] = np.where(
            v > 0, rng.integers(1, 20, total), 0
        )
    ms1 = {p: sum(v for (q, _), v in corrected.items() if q == p) * 3.1 for p in experiments}
    cols[name("Intensity")] = np.round(sum(ms1.values()), 0)
    if not single_experiment:
        for p, exp in experiments.items():
            cols[sep.join([name("Intensity"), str(exp)])] = np.round(ms1[p], 0)
    cols[name("Reverse")] = [""] * (n_feat + len(con)) + ["+"] * len(rev)
    cols[name("Potential contaminant")] = [""] * n_feat + ["+"] * len(con) + [""] * len(rev)
    cols[name("id")] = np.arange(total)
    table = pd.DataFrame(cols)
    if r_names:
        text = table.to_csv(sep="\t", index=False, lineterminator="\n", quoting=1)
    else:
        text = table.to_csv(sep="\t", index=False, lineterminator="\n")
    atomic_write_text(text, Path(path))

    files = {
        p: [
            f"tmt_plex{p}_F{f}.raw" if fractions > 1 else f"tmt_plex{p}.raw"
            for f in range(1, fractions + 1)
        ]
        for p in experiments
    }
    out = layout.copy()
    out["experiment"] = [experiments[p] for p in out["plex"]]
    out["label"] = [TMT_LABELS[channels][c - 1] for c in out["channel"]]
    out["column"] = [
        reporter("Reporter intensity corrected", c, experiments[p])
        for p, c in zip(out["plex"], out["channel"], strict=True)
    ]
    out["data_file"] = [";".join(files[p]) for p in out["plex"]]
    out.index = pd.Index(
        [
            f"channel_{c}" if e is None else f"{_r_name(e) if r_names else e}_{c}"
            for e, c in zip(out["experiment"], out["channel"], strict=True)
        ]
    )
    if summary is not None:
        rows = [
            {
                "Raw file": f.removesuffix(".raw"),
                "Experiment": experiments[p] or "",
                "Fraction": k + 1,
            }
            for p, fs in files.items()
            for k, f in enumerate(fs)
        ]
        rows.append({"Raw file": "Total", "Experiment": "", "Fraction": ""})
        atomic_write_text(
            pd.DataFrame(rows).to_csv(sep="\t", index=False, lineterminator="\n"), Path(summary)
        )
    return out


def _cell(v: float) -> str:
    return "null" if not np.isfinite(v) else f"{v:.6g}"


def write_mztab(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    labels: Literal["none", "tmt10", "tmt16"] = "none",
    fractions: int = 1,
    study_variables: Literal["samples", "phases", "generic"] = "generic",
    result_type: Literal["new", "old", "none"] = "new",
    run_dir: str = "/data/kratom",
) -> pd.DataFrame:
    """Write a simulated protein AnnData as an mzTab 1.0 quantification file (OpenMS layout).

    Metadata: ``ms_run[k]-location`` per raw file (``file://<run_dir>/<sample>.mzML``;
    ``<sample>_F<f>.mzML`` with fractions, listed as OpenMS lists them: fraction 1 of every
    sample, then fraction 2, ...), ``assay[n]-quantification_reagent`` and
    ``assay[n]-ms_run_ref`` (all fractions of the assay, ``ms_run[1],ms_run[4]``; the TMT assays
    of a plex share its runs), ``study_variable[m]-assay_refs``/``-description``. Protein
    section: ``accession``, ``description`` (with ``GN=``), ``ambiguity_members``,
    ``protein_abundance_assay[n]`` and ``protein_abundance_study_variable[m]`` columns and the
    OpenMS opt_ columns; every 5th protein is an indistinguishable group with the next
    accession (the group's row carries its abundances; the second protein has no row of its
    own but its ``protein_details`` row). ``result_type="new"`` (OpenMS 2.5+) first writes a ``protein_details`` row per
    protein (abundances ``null``) and types the quantified rows ``single_protein`` /
    ``indistinguishable_protein_group`` in ``opt_global_result_type``; ``"old"`` writes
    ``opt_global_protein_group_type`` (``single_protein`` detail rows, then
    ``indistinguishable_proteins`` rows with the abundances); ``"none"`` writes only the
    quantified rows. A contaminant (``sp|CONTAMINANT_P02769|ALBU_BOVIN``, as quantms writes
    them) and a decoy (``DECOY_<accession>``) are added, and a short PSM section.

    Parameters
    ----------
    adata
        A protein simulation (``.layers["raw"]``, ``.var`` with ``gene`` and ``protein_ids``).
    path
        Output file.
    labels
        ``"none"`` (label-free: one assay per sample) or TMT plexes (``"tmt10"``, ``"tmt16"``):
        the samples fill plexes in order, each plex one run (its fractions) and one assay per
        channel, reagent ``[, , TMT reagent 127N, ]`` (a user parameter: the
        PSI-MS accession differs per channel).
    fractions
        Raw files per sample (label-free) or plex (TMT).
    study_variables
        ``"samples"``: one study variable per assay described by the sample's name;
        ``"phases"``: one per ``obs["phase"]`` level (its assays); ``"generic"``: one per assay
        described ``no description given``, as OpenMS writes without a design.
    result_type
        See above.
    run_dir
        Folder of the runs in ``ms_run[k]-location``.

    Returns
    -------
    The layout: one row per assay (``assay``, ``sample``, ``run`` (the run name, fractions
    merged), ``label``, ``data_file``), indexed by the name the loader gives the assay.
    """
    raw = np.asarray(adata.layers["raw"], dtype=float)
    samples = [str(s) for s in adata.obs_names]
    n_feat = raw.shape[1]
    if labels == "none":
        runs = samples
        assays = [(s, s, "") for s in samples]  # (sample, run, label)
        reagent = "[MS, MS:1002038, unlabeled sample, ]"
    else:
        size = 10 if labels == "tmt10" else 16
        n_plex = -(-len(samples) // size)
        runs = [f"tmt_plex{p + 1}" for p in range(n_plex)]
        assays = [(s, runs[i // size], TMT_LABELS[size][i % size]) for i, s in enumerate(samples)]
        reagent = ""
    files = {
        r: [f"{r}_F{f}.mzML" if fractions > 1 else f"{r}.mzML" for f in range(1, fractions + 1)]
        for r in runs
    }
    order = [(r, f) for f in range(fractions) for r in runs]  # OpenMS: fraction-major
    run_index = {key: k + 1 for k, key in enumerate(order)}
    lines = [
        "MTD\tmzTab-version\t1.0.0",
        "MTD\tmzTab-mode\tSummary",
        "MTD\tmzTab-type\tQuantification",
        "MTD\ttitle\tConsensusMap export from OpenMS",
        "MTD\tprotein_search_engine_score[1]\t[MS, MS:1003117, OpenMS:Target-decoy protein q-value, ]",
        "MTD\tquantification_method\t"
        + (
            "[MS, MS:1001834, LC-MS label-free quantitation analysis, ]"
            if labels == "none"
            else "[, , TMT quantitation analysis, ]"
        ),
        "MTD\tprotein-quantification_unit\t[, , Abundance, ]",
    ]
    for (r, f), k in run_index.items():
        lines.append(f"MTD\tms_run[{k}]-format\t[MS, MS:1000584, mzML file, ]")
        lines.append(f"MTD\tms_run[{k}]-location\tfile://{run_dir}/{files[r][f]}")
    for n, (_, r, lab) in enumerate(assays, start=1):
        cell = reagent or f"[, , TMT reagent {lab.removeprefix('TMT')}, ]"
        lines.append(f"MTD\tassay[{n}]-quantification_reagent\t{cell}")
        refs = ",".join(f"ms_run[{run_index[(r, f)]}]" for f in range(fractions))
        lines.append(f"MTD\tassay[{n}]-ms_run_ref\t{refs}")
    if study_variables == "phases":
        phases = [str(p) for p in adata.obs["phase"]]
        levels = list(dict.fromkeys(phases))
        groups = [(lev, [n + 1 for n, p in enumerate(phases) if p == lev]) for lev in levels]
    else:
        groups = [
            (s if study_variables == "samples" else "no description given", [n + 1])
            for n, (s, _, _) in enumerate(assays)
        ]
    for m, (desc, refs_) in enumerate(groups, start=1):
        lines.append(
            f"MTD\tstudy_variable[{m}]-assay_refs\t" + ",".join(f"assay[{n}]" for n in refs_)
        )
        lines.append(f"MTD\tstudy_variable[{m}]-description\t{desc}")
    lines.append("")
    n_assay = len(assays)
    n_sv = len(groups)
    type_col = {
        "new": "opt_global_result_type",
        "old": "opt_global_protein_group_type",
        "none": None,
    }[result_type]
    header = [
        "PRH", "accession", "description", "taxid", "species", "database", "database_version",
        "search_engine", "best_search_engine_score[1]", "ambiguity_members", "modifications",
        "protein_coverage",
        *[f"protein_abundance_assay[{n}]" for n in range(1, n_assay + 1)],
        *[
            c
            for m in range(1, n_sv + 1)
            for c in (
                f"protein_abundance_study_variable[{m}]",
                f"protein_abundance_stdev_study_variable[{m}]",
                f"protein_abundance_std_error_study_variable[{m}]",
            )
        ],
        "opt_global_nr_found_peptides", "opt_global_cv_PRIDE:0000303_decoy_hit",
        *([type_col] if type_col else []),
    ]  # fmt: skip
    lines.append("\t".join(header))
    acc = [
        f"sp|{a}|{g.upper()}_RAT"
        for a, g in zip(
            adata.var["protein_ids"].astype(str), adata.var["gene"].astype(str), strict=True
        )
    ]
    genes = list(adata.var["gene"].astype(str))
    accessions = [*acc, "sp|CONTAMINANT_P02769|ALBU_BOVIN", f"DECOY_{acc[0]}"]
    descs = [
        *[f"Protein {g} OS=Rattus norvegicus OX=10116 GN={g} PE=1 SV=1" for g in genes],
        "Serum albumin OS=Bos taurus OX=9913 GN=ALB PE=1 SV=4",
        "null",
    ]
    level = float(np.nanmedian(raw))
    values = np.vstack([raw.T, np.full(n_assay, level / 10), np.full(n_assay, level / 100)])
    groups_of = [
        [accessions[i], accessions[i + 1]] if i % 5 == 2 and i + 1 < n_feat else [accessions[i]]
        for i in range(len(accessions))
    ]

    def row(i: int, kind: str | None, quantified: bool) -> str:
        members = groups_of[i]
        ab = values[i] if quantified else np.full(n_assay, np.nan)
        sv = []
        for _, refs_ in groups:
            seen = ab[[n - 1 for n in refs_]]
            seen = seen[np.isfinite(seen)]
            sv += [
                _cell(float(seen.mean()) if quantified and seen.size else np.nan),
                "null",
                "null",
            ]
        decoy = "1" if accessions[i].startswith("DECOY_") else "0"
        cells = [
            "PRT", accessions[i], descs[i], "10116", "Rattus norvegicus", "uniprot_rat", "null",
            "null", "0.01", ",".join(members) if quantified else "null", "null", "0.25",
            *[_cell(v) for v in ab], *sv, "3", decoy, *([kind] if kind else []),
        ]  # fmt: skip
        return "\t".join(str(c) for c in cells)

    for i in range(len(accessions)):
        if result_type in ("new", "old"):
            lines.append(
                row(i, "protein_details" if result_type == "new" else "single_protein", False)
            )
    in_group = {i + 1 for i in range(len(accessions)) if len(groups_of[i]) > 1}
    for i in range(len(accessions)):
        if i in in_group:  # quantified within the group of the protein before it
            continue
        multi = len(groups_of[i]) > 1
        if result_type == "new":
            kind = "indistinguishable_protein_group" if multi else "single_protein"
        elif result_type == "old":
            kind = "indistinguishable_proteins"
        else:
            kind = None
        lines.append(row(i, kind, True))
    lines.append("")
    lines.append(
        "PSH\tsequence\tPSM_ID\taccession\tunique\tdatabase\tdatabase_version\tsearch_engine\tsearch_engine_score[1]\tmodifications\tretention_time\tcharge\texp_mass_to_charge\tcalc_mass_to_charge\tspectra_ref\tpre\tpost\tstart\tend"
    )
    for k in range(3):
        lines.append(
            f"PSM\tPEPTIDE{k}K\t{k}\t{accessions[k]}\t1\tuniprot_rat\tnull\t[, , OpenMS, ]\t0.001\t"
            f"null\t{1000 + k}.5\t2\t500.25\t500.25\tms_run[1]:scan={100 + k}\tK\tA\t10\t18"
        )
    atomic_write_text("\n".join(lines) + "\n", Path(path))

    out = pd.DataFrame(
        {
            "assay": [f"assay[{n}]" for n in range(1, n_assay + 1)],
            "sample": [s for s, _, _ in assays],
            "run": [r for _, r, _ in assays],
            "label": [lab or np.nan for _, _, lab in assays],
            "data_file": [";".join(files[r]) for _, r, _ in assays],
        }
    )
    if study_variables == "samples":
        out.index = pd.Index(out["sample"])
    elif labels == "none":
        out.index = pd.Index(out["run"])
    else:
        out.index = pd.Index([f"{r}_{lab}" for _, r, lab in assays])
    return out
